"""Every action answers in the conversation's language: the ``@localized`` class decorator.

While an action runs, :func:`core.texts.text` answers in the conversation's language
(slots ``language``/``simple_dutch``); afterwards each message the action put together
passes :func:`core.localize.localize_message` (the Dutch school words explained the first
time, the note for an unreviewed translation once per turn, the Dutch original kept in the
message's metadata for "Nederlandse tekst"). Responses the action asks Rasa for
(``utter_message(response=...)``) are localised by the NLG (:mod:`bot.nlg`) instead.
A unit test checks that every action class carries the decorator.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from core.language import conversation_language
from core.localize import NOTES_SHOWN, localize_message, response_note, seen_in_session
from core.settings import get_settings
from core.texts import speaking

ActionType = TypeVar("ActionType", bound=type)


def tracker_language(tracker: Tracker) -> str:
    return conversation_language(tracker.get_slot("language"), tracker.get_slot("simple_dutch"))


def localized(cls: ActionType) -> ActionType:
    """Class decorator: ``run`` answers in the conversation's language."""
    original = cls.run  # type: ignore[attr-defined]

    @functools.wraps(original)
    async def run(self: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> Any:
        language = tracker_language(tracker)
        before = len(dispatcher.messages)
        with speaking(language) as spoken:
            events = await original(self, dispatcher, tracker, domain)
        seen = seen_in_session(tracker.events)
        policy = get_settings().translation_concepts
        for message in dispatcher.messages[before:]:
            if message.get("response"):
                # the NLG localises it, after this action: tell it which notes this turn's
                # earlier messages carry, and count the one it will add
                if seen.turn_notes:
                    message[NOTES_SHOWN] = sorted(seen.turn_notes)
                note = response_note(str(message["response"]), language, policy)
                if note:
                    seen.turn_notes.add(note)
                continue
            if not isinstance(message.get("text"), str):
                continue
            localized_text = message["text"]
            dutch_text = spoken.dutch(localized_text)
            # every piece fell back to Dutch: the message is Dutch (with the note)
            shown = language if localized_text != dutch_text or not spoken.pieces else "nl"
            localize_message(message, language, seen,
                             dutch={"text": dutch_text} if dutch_text != localized_text else None,
                             note=spoken.note, shown=shown)
        return events

    cls.run = run  # type: ignore[attr-defined]
    cls.__lwoo_localized__ = True  # type: ignore[attr-defined]
    return cls
