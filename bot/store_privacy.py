"""Verification data never reaches the conversation store in clear text.

Applied at the store boundary by :class:`bot.tracker_store.ResilientSQLTrackerStore`, so
the embedded SQLite store and the cluster's PostgreSQL are covered alike; the bot's
in-memory tracker of the running turn is untouched, so the forms work as before.

* **User events** (what the parent typed): ``text``, ``parse_data.text`` and the
  entities' ``value``/``text`` are masked before they are written: pupil numbers, codes
  and other runs of 5+ digits -> ``[nummer]``, dates -> ``[datum]``, e-mail addresses
  and phone numbers (:class:`core.masking.Masker`, without name guessing). While the
  verification form is active, *every* digit is masked as well (a code typed as
  "404 141", a date as "29 2 12").
* **Slots** that hold verification or contact data (:data:`SECRET_SLOTS`) are stored
  encrypted (Fernet: AES-128-CBC + HMAC-SHA256, key derived from ``HASH_SECRET`` for this
  purpose only) and decrypted when the conversation is loaded, because the form reads
  the pupil number typed in the previous turn. A value that cannot be decrypted (the
  key changed) loads as empty: the form asks again.

Masking is one-way: the staff review (``python -m bot review``) sees ``[nummer]`` where
the parent typed a number, as it always did after its own masking.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import logging
import re
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from core.masking import NUMBER, Masker

logger = logging.getLogger(__name__)

VERIFICATION_FORM = "verification_form"
SECRET_SLOTS = frozenset({"pupil_number", "birth_date", "otp_code", "callback_contact"})
ENCRYPTED_PREFIX = "lwoo-enc:v1:"
_KEY_PURPOSE = b"lwoo conversation store: slot encryption v1"
_ANY_DIGITS = re.compile(r"\d(?:[\d\s./\-]*\d)?")
_MASKER = Masker(guess_names=False)


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    key = hmac.new(secret.encode("utf-8"), _KEY_PURPOSE, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _secret() -> str:
    from core.settings import get_settings

    return get_settings().hash_secret


def mask_typed(text: str, in_verification: bool) -> str:
    masked = _MASKER.mask(text)
    if in_verification:
        masked = _ANY_DIGITS.sub(NUMBER, masked)
    return masked


def _mask_user_event(data: dict[str, Any], in_verification: bool) -> None:
    if isinstance(data.get("text"), str):
        data["text"] = mask_typed(data["text"], in_verification)
    parse = data.get("parse_data")
    if not isinstance(parse, dict):
        return
    # as_dict() shares parse_data with the live event: mask a copy, never the tracker
    parse = data["parse_data"] = copy.deepcopy(parse)
    if isinstance(parse.get("text"), str):
        parse["text"] = mask_typed(parse["text"], in_verification)
    for entity in parse.get("entities") or []:
        if not isinstance(entity, dict):
            continue
        for key in ("value", "text"):
            if isinstance(entity.get(key), str):
                entity[key] = mask_typed(entity[key], True)
            elif entity.get(key) is not None and key == "value":
                entity[key] = NUMBER  # a number or structure extracted from the text


def encrypt_value(value: Any, secret: str | None = None) -> str:
    import json

    token = _fernet(secret or _secret()).encrypt(json.dumps(value).encode("utf-8"))
    return ENCRYPTED_PREFIX + token.decode("ascii")


def decrypt_value(value: Any, secret: str | None = None) -> Any:
    """The clear value of a stored slot value; non-encrypted values as they are."""
    import json

    if not isinstance(value, str) or not value.startswith(ENCRYPTED_PREFIX):
        return value
    try:
        clear = _fernet(secret or _secret()).decrypt(
            value[len(ENCRYPTED_PREFIX):].encode("ascii"))
    except (InvalidToken, ValueError):
        logger.warning("conversation store: a stored slot value could not be decrypted "
                       "(HASH_SECRET changed?); it loads as empty")
        return None
    return json.loads(clear)


def protect(data: dict[str, Any], in_verification: bool) -> dict[str, Any]:
    """The event dict (``Event.as_dict()``) as it may be stored; changed in place."""
    kind = data.get("event")
    if kind == "user":
        _mask_user_event(data, in_verification)
    elif kind == "slot" and data.get("name") in SECRET_SLOTS and data.get("value") is not None:
        data["value"] = encrypt_value(data["value"])
    return data


def reveal(data: dict[str, Any]) -> dict[str, Any]:
    """A stored event dict as the bot needs it (secret slots decrypted); in place."""
    if data.get("event") == "slot" and data.get("name") in SECRET_SLOTS:
        data["value"] = decrypt_value(data.get("value"))
    return data


class FormState:
    """Follows ``active_loop`` events to know whether a user event was typed into the
    verification form."""

    def __init__(self) -> None:
        self.active_loop: str | None = None

    def see(self, event: Any) -> None:
        if getattr(event, "type_name", None) == "active_loop":
            self.active_loop = getattr(event, "name", None)
        elif getattr(event, "type_name", None) in ("restart", "session_started"):
            self.active_loop = None

    @property
    def in_verification(self) -> bool:
        return self.active_loop == VERIFICATION_FORM
