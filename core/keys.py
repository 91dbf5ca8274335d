"""One way to derive a key per purpose from HASH_SECRET.

``derive_key(secret, purpose) = HMAC-SHA256(secret, "lwoo-assistent key v1\\0" + purpose)``:
one leaked derived key or value says nothing about HASH_SECRET or the other purposes.
Used by the verifier (``core/verification.py``: conversation ids, codes, parent
references, retry keys, portal ``jti``s) and the messaging channels (sender ids of
WhatsApp/Telegram conversations, pending messages).
"""

from __future__ import annotations

import hashlib
import hmac

_LABEL = "lwoo-assistent key v1\x00"


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """The 32-byte key for ``purpose`` (a short fixed name such as ``"code"``)."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise ValueError("an empty secret derives no key")
    return hmac.new(secret, f"{_LABEL}{purpose}".encode(), hashlib.sha256).digest()
