"""Portal tokens: the parent portal vouches for a parent and the pupils they may see.

The widget inside the school's parent portal gets a short-lived JWT, signed with
``PORTAL_JWT_SECRET`` (HS256) or with the private key matching ``PORTAL_JWT_PUBLIC_KEY``
(RS256; takes precedence when both are set). Exactly one algorithm is accepted, so
``alg: none`` and algorithm confusion (an HS256 token signed with the public key) fail.
``exp``, ``iat``, ``jti``, ``aud``, ``iss`` and ``sub`` are required; a token may live at most
``PORTAL_TOKEN_MAX_LIFETIME`` seconds (``exp - iat``, default 15 minutes) and must not be
issued in the future; ``pupils`` is a list of 6-digit pupil numbers. Anything wrong
raises :class:`InvalidPortalToken`, with no detail on purpose. The ``jti`` (at least 8
characters) makes a token usable by ONE conversation: ``Verifier.grant_portal`` records
it in the records database (shared by all nodes) and refuses a replay elsewhere.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import jwt

if TYPE_CHECKING:
    from core.settings import Settings

MAX_TOKEN_LENGTH = 4096
MAX_PUPILS = 20
MAX_PARENT_REF_LENGTH = 200
LEEWAY_S = 10
_PUPIL_NUMBER = re.compile(r"[0-9]{6}")


class InvalidPortalToken(Exception):
    """The portal token is missing, malformed, expired, forged or not for us."""


@dataclass(frozen=True)
class PortalClaims:
    """What a valid portal token says."""

    parent_ref: str
    pupil_numbers: tuple[str, ...]
    expires_at: datetime
    token_id: str = ""  # the token's ``jti``: usable by one conversation only


def _key_and_algorithm(settings: Settings) -> tuple[str, str]:
    if settings.portal_jwt_public_key:
        # A PEM key in one environment line usually has literal "\n" sequences.
        return settings.portal_jwt_public_key.replace("\\n", "\n"), "RS256"
    if settings.portal_jwt_secret:
        return settings.portal_jwt_secret, "HS256"
    raise InvalidPortalToken("portal tokens are not configured")


def _decode(token: str, settings: Settings) -> dict[str, Any]:
    key, algorithm = _key_and_algorithm(settings)
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.portal_jwt_audience,
            issuer=settings.portal_jwt_issuer,
            leeway=LEEWAY_S,
            options={
                "require": ["exp", "iat", "aud", "iss", "sub", "jti"],
                "enforce_minimum_key_length": True,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        raise InvalidPortalToken("invalid portal token") from None


def _pupil_numbers(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_PUPILS:
        raise InvalidPortalToken("invalid pupils claim")
    if not all(isinstance(item, str) and _PUPIL_NUMBER.fullmatch(item) for item in value):
        raise InvalidPortalToken("invalid pupils claim")
    return tuple(dict.fromkeys(value))


def _parent_ref(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PARENT_REF_LENGTH:
        raise InvalidPortalToken("invalid sub claim")
    return value


def _timestamp(payload: Mapping[str, Any], name: str) -> float:
    value = payload[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidPortalToken(f"invalid {name} claim")
    return float(value)


def _check_lifetime(payload: Mapping[str, Any], max_lifetime_s: int, now: float) -> None:
    """A captured token is useful only briefly: ``exp - iat`` is bounded, and a token
    "issued" in the future (to stretch that bound) is refused."""
    issued, expires = _timestamp(payload, "iat"), _timestamp(payload, "exp")
    if issued > now + LEEWAY_S or expires - issued > max_lifetime_s:
        raise InvalidPortalToken("portal token lives too long")


def _token_id(value: object) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= MAX_PARENT_REF_LENGTH:
        raise InvalidPortalToken("invalid jti claim")
    return value


def _claims(payload: Mapping[str, Any]) -> PortalClaims:
    expires = _timestamp(payload, "exp")
    return PortalClaims(
        parent_ref=_parent_ref(payload["sub"]),
        pupil_numbers=_pupil_numbers(payload.get("pupils")),
        expires_at=datetime.fromtimestamp(expires, tz=timezone.utc),
        token_id=_token_id(payload.get("jti")),
    )


def verify_portal_token(token: str, settings: Settings) -> PortalClaims:
    """Check signature, algorithm, ``exp``, ``aud`` and ``iss``; return the claims.

    Raises InvalidPortalToken on anything wrong (including no key configured).
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidPortalToken("invalid portal token")
    payload = _decode(token, settings)
    _check_lifetime(payload, settings.portal_token_max_lifetime, time.time())
    return _claims(payload)
