"""Portal JWTs: pinned algorithm, exp/aud/iss, pupils claim, one exception type."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.portal import InvalidPortalToken, PortalClaims, verify_portal_token
from core.settings import Settings
from tests.support.unit import CANARY_EMAIL

SECRET = "portal-test-secret-with-at-least-32-bytes!"
AUD, ISS = "lwoo-assistent", "compaen-ouderportaal"


@pytest.fixture
def hs_settings(settings: Settings) -> Settings:
    return replace(settings, portal_jwt_secret=SECRET, portal_jwt_audience=AUD,
                   portal_jwt_issuer=ISS)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture
def rs_settings(settings: Settings, rsa_key: rsa.RSAPrivateKey) -> Settings:
    return replace(settings, portal_jwt_public_key=public_pem(rsa_key),
                   portal_jwt_audience=AUD, portal_jwt_issuer=ISS)


def claims(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "sub": "ouder-4711", "pupils": ["100231", "100232"], "aud": AUD, "iss": ISS,
        "iat": int(time.time()), "exp": int(time.time()) + 300,
        "jti": "token-0001-abcdef",
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def hs_token(**changes: object) -> str:
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_hs256_token(hs_settings: Settings) -> None:
    result = verify_portal_token(hs_token(), hs_settings)
    assert isinstance(result, PortalClaims)
    assert result.parent_ref == "ouder-4711"
    assert result.pupil_numbers == ("100231", "100232")
    assert result.expires_at.timestamp() > time.time()


def test_valid_rs256_token(rs_settings: Settings, rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(pupils=["100245"]), rsa_key, algorithm="RS256")
    assert verify_portal_token(token, rs_settings).pupil_numbers == ("100245",)


def test_rs256_key_with_escaped_newlines(settings: Settings, rsa_key) -> None:
    one_line = public_pem(rsa_key).replace("\n", "\\n")
    configured = replace(settings, portal_jwt_public_key=one_line, portal_jwt_audience=AUD,
                         portal_jwt_issuer=ISS)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert verify_portal_token(token, configured).parent_ref == "ouder-4711"


@pytest.mark.parametrize(
    "token_changes",
    [
        {"exp": int(time.time()) - 60},
        {"exp": None},
        {"aud": "another-app"},
        {"aud": None},
        {"iss": "evil-portal"},
        {"iss": None},
        {"sub": None},
        {"sub": ""},
        {"pupils": None},
        {"pupils": []},
        {"pupils": "100231"},
        {"pupils": ["12345"]},
        {"pupils": [100231]},
        {"pupils": ["100231' OR '1'='1"]},
        {"pupils": [f"{100000 + i}" for i in range(21)]},
        {"jti": None},  # replay protection needs it
        {"jti": "short"},
        {"iat": None},  # the lifetime cannot be checked without it
        {"iat": "yesterday"},
        {"iat": int(time.time()) - 300, "exp": int(time.time()) + 601},  # lives > 15 min
        {"exp": int(time.time()) + 86400},  # a day
        {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3900},  # "issued" later
    ],
)
def test_bad_claims_are_refused(hs_settings: Settings, token_changes: dict) -> None:
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(hs_token(**token_changes), hs_settings)


def test_alg_none_is_refused(hs_settings: Settings) -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(unsigned, hs_settings)


def test_tampered_payload_is_refused(hs_settings: Settings) -> None:
    header, _, signature = hs_token().split(".")
    forged = f"{header}.{b64(claims(pupils=['100245']))}.{signature}"
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(forged, hs_settings)


def test_wrong_secret_is_refused(hs_settings: Settings) -> None:
    token = jwt.encode(claims(), "another-secret-that-is-also-32-bytes-long", algorithm="HS256")
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(token, hs_settings)


def test_algorithm_confusion_is_refused(rs_settings: Settings, rsa_key) -> None:
    # HS256 "signed" with the public key as secret: classic RS256 -> HS256 confusion.
    header = b64({"alg": "HS256", "typ": "JWT"})
    body = b64(claims())
    import hashlib
    import hmac
    mac = hmac.new(public_pem(rsa_key).encode(), f"{header}.{body}".encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(f"{header}.{body}.{signature}", rs_settings)


def test_hs256_token_refused_when_rs256_configured(rs_settings: Settings) -> None:
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(hs_token(), rs_settings)


def test_short_secret_is_refused(hs_settings: Settings) -> None:
    weak = replace(hs_settings, portal_jwt_secret="short")
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = jwt.encode(claims(), "short", algorithm="HS256")
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(token, weak)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 5000])
def test_garbage_is_refused(hs_settings: Settings, token: str) -> None:
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(token, hs_settings)


def test_not_configured_refuses_everything(settings: Settings) -> None:
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(hs_token(), settings)


def test_error_message_reveals_nothing(hs_settings: Settings) -> None:
    with pytest.raises(InvalidPortalToken) as raised:
        verify_portal_token(hs_token(iss="evil", sub=CANARY_EMAIL), hs_settings)
    assert str(raised.value) == "invalid portal token"
    assert raised.value.__cause__ is None


def test_maximum_lifetime_is_configurable(hs_settings: Settings) -> None:
    now = int(time.time())
    long_lived = hs_token(iat=now, exp=now + 3600)
    with pytest.raises(InvalidPortalToken):
        verify_portal_token(long_lived, hs_settings)
    assert hs_settings.portal_token_max_lifetime == 900
    hour = replace(hs_settings, portal_token_max_lifetime=3600)
    assert verify_portal_token(long_lived, hour).parent_ref == "ouder-4711"
    assert verify_portal_token(hs_token(iat=now, exp=now + 900), hs_settings).pupil_numbers
