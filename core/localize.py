"""One outgoing message in the parent's language: the step both the NLG (responses) and
the actions (texts they put together) take before a message leaves.

* :func:`localized_response` swaps a Rasa response's Dutch text and button titles for the
  translation (:func:`core.translations.render`).
* :func:`localize_message` then explains the kept Dutch school words the first time,
  adds the one-line note for a concept, outdated or missing translation (with the
  "Nederlandse tekst" button for a concept), the "Zeg het eenvoudiger" button under a
  Dutch answer that has a simple-Dutch version, and the key ``lwoo`` (language, text
  direction, the Dutch original, the note it carries) that Rasa stores as the message's
  metadata.
* :func:`seen_in_session` reads what the parent already saw (:class:`Seen`) from the
  tracker's events: a school word explained earlier is not explained again, and a note is
  shown once per turn, on the turn's first message that needs it (an answer followed by
  the form's next question carries it once; "Nederlandse tekst" gives the whole turn).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.texts import text as msg
from core.translations import (
    SIMPLE_DUTCH,
    SOURCE_LANGUAGE,
    TranslationsError,
    explain_terms,
    render,
    source_texts,
    terms_shown,
    text_direction,
    translations,
)

SHOW_DUTCH_PAYLOAD = "/show_dutch"
SIMPLER_PAYLOAD = "/say_simpler"
ANSWER_PREFIXES = ("utter_faq/", "utter_neighbour/")
NOTE_RANK = {None: 0, "missing": 1, "outdated": 2, "concept": 3}
RLM = "\u200f"  # RIGHT-TO-LEFT MARK
# passed by an action with a response it asks Rasa for: the notes its earlier messages of
# this turn already carry (the NLG, which renders the response, cannot see those yet)
NOTES_SHOWN = "lwoo_notes_shown"


@dataclass
class Seen:
    """What the parent already saw in this session."""

    terms: set[str] = field(default_factory=set)  # kept Dutch terms the bot's texts had
    turn_notes: set[str] = field(default_factory=set)  # notes since the parent's message

    def add(self, text: Any, info: Mapping[str, Any] | None) -> None:
        info = info or {}
        if isinstance(info.get("terms"), list):
            self.terms.update(str(term) for term in info["terms"])
        elif text:  # a message without that metadata (stored before it existed)
            self.terms.update(terms_shown(str(text)))
        note = info.get("note")
        if note:
            self.turn_notes.add(str(note))


def _event_field(event: Any, name: str) -> Any:
    if isinstance(event, Mapping):
        return event.get(name)
    return getattr(event, "type_name" if name == "event" else name, None)


def lwoo_info(event: Any) -> Mapping[str, Any]:
    """The ``lwoo`` metadata of a bot event (see :func:`localize_message`), or ``{}``."""
    return (_event_field(event, "metadata") or {}).get("lwoo") or {}


def seen_in_session(events: Iterable[Any]) -> Seen:
    """:class:`Seen` from a tracker's events: Rasa's event objects (the NLG) or their
    dicts (an action's tracker)."""
    seen = Seen()
    for event in events:
        kind = _event_field(event, "event")
        if kind == "session_started":
            seen = Seen()
        elif kind == "user":
            seen.turn_notes = set()
        elif kind == "bot":
            seen.add(_event_field(event, "text"), lwoo_info(event))
    return seen


def response_note(name: str, language: str, policy: str) -> str | None:
    """The note the NLG will add to the response ``name`` for ``language``."""
    dutch = source_texts("responses").get(name)
    if language == SOURCE_LANGUAGE or dutch is None:
        return None
    return render("responses", name, language, policy, dutch=dutch).note



def localized_response(name: str, response: dict[str, Any], language: str,
                       policy: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The response ``name`` (Rasa's chosen variant, not yet filled) in ``language``, and
    the Dutch response when the parent gets something else (for "Nederlandse tekst")."""
    if language == SOURCE_LANGUAGE or not isinstance(response.get("text"), str):
        return response, None
    dutch = source_texts("responses").get(name)
    if dutch is None:
        return response, None
    rendered = render("responses", name, language, policy, dutch=dutch)
    localized = dict(response)
    localized["text"] = rendered.text
    buttons = response.get("buttons") or []
    if buttons and len(rendered.buttons) == len(buttons):
        localized["buttons"] = [dict(button, title=title)
                                for button, title in zip(buttons, rendered.buttons, strict=False)]
    localized["lwoo"] = {"shown": rendered.shown, "note": rendered.note}
    return localized, (response if rendered.shown != SOURCE_LANGUAGE else None)


def has_simple_version(key: str | None) -> bool:
    return bool(key) and key in translations(SIMPLE_DUTCH, "responses")


def localize_message(message: dict[str, Any], language: str, seen: Seen | None = None,
                     dutch: dict[str, Any] | None = None, key: str | None = None,
                     note: str | None = None, shown: str | None = None) -> dict[str, Any]:
    """``message`` (a Rasa/rasa_sdk message dict) ready to send to a parent of
    ``language``, after what the parent already ``seen`` (which then includes it);
    changed in place and returned."""
    seen = seen if seen is not None else Seen()
    meta = message.pop("lwoo", None) or {}
    shown = meta.get("shown") or shown or language
    key = key or meta.get("key")
    note = max((note, meta.get("note")), key=lambda n: NOTE_RANK.get(n, 0))
    noted: str | None = None
    text = message.get("text")
    if isinstance(text, str) and text:
        if shown != SOURCE_LANGUAGE and shown != SIMPLE_DUTCH:
            text = explain_terms(text, shown, seen.terms)
        buttons = list(message.get("buttons") or [])
        if note is not None and language not in (SOURCE_LANGUAGE, SIMPLE_DUTCH) \
                and note not in seen.turn_notes:
            try:
                text = f"{text}\n\n{msg(f'translation.{note}_note', language=language)}"
                if note == "concept":
                    buttons.append({"title": msg("translation.button_dutch", language=language),
                                    "payload": SHOW_DUTCH_PAYLOAD})
                noted = note
            except TranslationsError:
                pass
        # not under the simple version itself: the button would give the same text again
        if language == SOURCE_LANGUAGE and shown == SOURCE_LANGUAGE and key \
                and key.startswith(ANSWER_PREFIXES) and has_simple_version(key):
            buttons.append({"title": msg("simple.button"), "payload": SIMPLER_PAYLOAD})
        if text_direction(shown) == "rtl":
            # WhatsApp and Telegram take a paragraph's direction from its first letter; a
            # line that starts with a Dutch term ("Lwoo ...") would read left to right
            text = "\n".join(RLM + line if line.strip() and not line.startswith(RLM) else line
                              for line in text.split("\n"))
        message["text"] = text
        if buttons:
            message["buttons"] = buttons
    info: dict[str, Any] = {"language": shown, "dir": text_direction(shown),
                            "requested": language}
    if key:
        info["key"] = key
    if dutch is not None and isinstance(dutch.get("text"), str):
        info["dutch_text"] = dutch["text"]
    if noted:
        info["note"] = noted
    if isinstance(message.get("text"), str):
        info["terms"] = terms_shown(message["text"])
    message["lwoo"] = info
    seen.add(message.get("text"), info)
    return message
