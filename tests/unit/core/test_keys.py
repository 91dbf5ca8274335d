"""One key derivation (core/keys.py) for every purpose."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from core.keys import derive_key
from core.records import RecordsStore
from core.verification import Verifier

SECRET = "unit-secret-0123456789abcdefghijklmn"


def test_the_verifier_derives_its_keys_as_before(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Moving the derivation to core/keys.py changed no verifier key: pending codes,
    grants and audit hashes from before stay valid."""
    store = RecordsStore(f"sqlite:///{tmp_path / 'r.db'}")
    verifier = Verifier(store, None, SECRET, mail_from="x@example.invalid")  # type: ignore[arg-type]
    before = hmac.new(SECRET.encode(), b"lwoo-assistent key v1\x00conversation",
                      hashlib.sha256).digest()
    assert verifier._key("conversation") == before == derive_key(SECRET, "conversation")
    assert verifier.sender_hash("web-1") == hmac.new(before, b"web-1",
                                                      hashlib.sha256).hexdigest()


def test_keys_differ_per_purpose_and_secret() -> None:
    keys = {derive_key(SECRET, p) for p in ("code", "conversation", "channel-sender")}
    assert len(keys) == 3
    assert derive_key(SECRET, "code") != derive_key(SECRET + "x", "code")
    assert derive_key(SECRET.encode(), "code") == derive_key(SECRET, "code")
    with pytest.raises(ValueError):
        derive_key("", "code")
