"""The parent's language: switching it, the Dutch original of a translation, and the
simple-Dutch version of an answer.

* ``action_switch_language`` — intent ``switch_language`` ("English please", "in het
  Turks", the widget's menu, a number of the typed menu): the slots ``language`` and
  ``simple_dutch`` were already filled from the entities (bot/language_detector.py or
  the button payload); this normalises them and confirms in the new language, or shows
  the numbered menu when no language was named.
* ``action_show_dutch`` — the "Nederlandse tekst" button under a concept translation:
  the Dutch original of the bot's previous messages (kept in their metadata).
* ``action_say_simpler`` — "Zeg het eenvoudiger" under a Dutch answer: its B1 version.
"""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.localize import localized, tracker_language
from core.language import LANGUAGE_NAMES, MENU_ORDER
from core.localize import lwoo_info
from core.settings import get_settings
from core.texts import text as msg
from core.translations import (
    SIMPLE_DUTCH,
    SOURCE_LANGUAGE,
    base_language,
    render,
    translations,
)


def language_menu_buttons() -> list[dict[str, str]]:
    """One button per language, each named in its own language (typed: the number or the
    name works on every channel)."""
    return [{"title": LANGUAGE_NAMES[code],
             "payload": "/switch_language" + json.dumps({"language": code})}
            for code in MENU_ORDER]


def previous_bot_messages(tracker: Tracker) -> list[dict[str, Any]]:
    """The bot's messages between the last two user messages (what the parent saw)."""
    found: list[dict[str, Any]] = []
    users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            users += 1
            if users == 2:
                break
        elif kind == "bot" and users == 1:
            found.append(event)
    return list(reversed(found))


@localized
class ActionSwitchLanguage(Action):
    def name(self) -> str:
        return "action_switch_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        # a named language: a button payload, or the detector's ``choice`` (not merely
        # the language the request was written in)
        entities = {e.get("entity"): e.get("value")
                    for e in (tracker.latest_message or {}).get("entities") or []
                    if e.get("extractor") != "LanguageDetector" or e.get("choice")}
        if not entities.get("language") and not entities.get("simple_dutch"):
            dispatcher.utter_message(text=msg("language.menu"), buttons=language_menu_buttons())
            return []
        language = tracker_language(tracker)
        events: list[EventType] = []
        if tracker.get_slot("language") == SIMPLE_DUTCH:  # a button payload
            events = [SlotSet("language", SOURCE_LANGUAGE), SlotSet("simple_dutch", "true")]
        elif tracker.get_slot("language") == SOURCE_LANGUAGE and entities.get("language") \
                and not entities.get("simple_dutch"):
            events = [SlotSet("simple_dutch", "false")]
            language = SOURCE_LANGUAGE
        key = "language.simple_switched" if language == SIMPLE_DUTCH else "language.switched"
        dispatcher.utter_message(text=msg(key, language=language))
        return events


@localized
class ActionShowDutch(Action):
    def name(self) -> str:
        return "action_show_dutch"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        originals = [str(lwoo_info(event)["dutch_text"])
                     for event in previous_bot_messages(tracker)
                     if lwoo_info(event).get("dutch_text")]
        if not originals:
            dispatcher.utter_message(text=msg("translation.no_original"))
            return []
        for original in originals:
            dispatcher.utter_message(text=original, lwoo={"shown": SOURCE_LANGUAGE})
        return []


@localized
class ActionSaySimpler(Action):
    def name(self) -> str:
        return "action_say_simpler"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        if base_language(tracker_language(tracker)) != SOURCE_LANGUAGE:
            # simple versions exist in Dutch only: say so in the parent's language
            dispatcher.utter_message(text=msg("simple.not_in_language"))
            return []
        simple = translations(SIMPLE_DUTCH, "responses")
        for event in reversed(tracker.events):
            if event.get("event") != "bot":
                continue
            key = lwoo_info(event).get("key")
            if key and key in simple:
                rendered = render("responses", key, SIMPLE_DUTCH,
                                  get_settings().translation_concepts)
                if rendered.shown == SIMPLE_DUTCH:
                    dispatcher.utter_message(text=rendered.text,
                                             lwoo={"shown": SIMPLE_DUTCH, "key": key})
                    return []
        dispatcher.utter_message(text=msg("simple.none"))
        return []
