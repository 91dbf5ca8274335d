"""Input hygiene shared by every channel.

* Client metadata is never trusted: channels pass only metadata they set themselves.
* A message may be at most MAX_MESSAGE_CHARS long; longer ones get a Dutch reply.
* Slash commands (``/intent{...}``) are how buttons answer. Only the button intents below
  may be sent that way, with only their own entity; any other ``/...`` text is treated as
  ordinary text. Nothing that grants access is ever decided by an intent or entity.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_MESSAGE_CHARS = 1000
TOO_LONG_REPLY = (
    "Uw bericht is te lang voor mij (meer dan 1000 tekens). Wilt u uw vraag korter stellen?"
)
EMPTY_REPLY = "Ik heb geen tekst ontvangen. Typ uw vraag over lwoo, dan help ik u verder."

# button intent -> the entity keys it may carry
BUTTON_INTENTS: dict[str, frozenset[str]] = {
    "faq": frozenset({"faq_topic"}),
    "ask_status": frozenset({"pupil_choice"}),
    "request_human": frozenset(),
    "affirm": frozenset(),
    "deny": frozenset(),
    "stop": frozenset(),
    "feedback": frozenset({"helpful"}),
    "greet": frozenset(),
}
_SLASH = re.compile(r"^/(?P<intent>[A-Za-z_]+)(?P<entities>\{.*\})?$", re.DOTALL)
_ENTITY_VALUE = re.compile(r"^[A-Za-z0-9_\- ]{1,40}$")


def sanitize_text(text: Any) -> str:
    """Return the text Rasa may parse: allowed button payloads pass, other ``/`` text is
    defused so Rasa reads it as words, not as an intent with entities."""
    if not isinstance(text, str):
        return ""
    text = text.replace("\x00", "").strip()
    if not text.startswith("/"):
        return text
    match = _SLASH.match(text)
    if match and match.group("intent") in BUTTON_INTENTS:
        allowed = BUTTON_INTENTS[match.group("intent")]
        raw = match.group("entities")
        if raw is None:
            return text
        try:
            entities = json.loads(raw)
        except ValueError:
            entities = None
        if (
            isinstance(entities, dict)
            and set(entities) <= allowed
            and all(isinstance(v, str) and _ENTITY_VALUE.match(v) for v in entities.values())
        ):
            return "/" + match.group("intent") + json.dumps(entities, ensure_ascii=False)
        return "/" + match.group("intent")
    # not a button: strip the leading slashes so NLU sees plain words
    return text.lstrip("/").strip()


def check_message(text: str) -> str | None:
    """Return a Dutch reply when the message cannot be processed, else None."""
    if not text:
        return EMPTY_REPLY
    if len(text) > MAX_MESSAGE_CHARS:
        return TOO_LONG_REPLY
    return None
