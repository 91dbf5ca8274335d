"""Short follow-up questions answered in the context of the last answer.

"moet dat?", "is dat normaal?", "voor wie is dat?", "hoe lang duurt dat?", "wat kost
dat?", "hoe doen jullie dat?", "wat betekent dat?" only make sense after an answer. The
rules (data/rules/followups.yml) send every ``followup_<kind>`` intent to
:class:`ActionFollowup`, which answers from ``data/answers/followups.yml`` for the last
FAQ topic (slot ``faq_topic``), or, for "wat betekent dat?" right after a child's
status, explains that status. Where the school's text has no answer the parent hears
so honestly, with whom to ask; never a "Bedoelt u …?" with unrelated topics.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.localize import localized
from core.texts import translated

FOLLOWUPS_FILE = Path(__file__).resolve().parents[1] / "data" / "answers" / "followups.yml"
KINDS = ("required", "normal", "for_whom", "duration", "cost", "this_school", "meaning")
STATUS_ACTIONS = {"action_status_start", "action_verification_done"}


@lru_cache(maxsize=1)
def followup_texts() -> dict[str, Any]:
    with open(FOLLOWUPS_FILE, encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle)["followups"])


def kind_of(intent: str | None) -> str | None:
    if intent and intent.startswith("followup_") and intent[len("followup_"):] in KINDS:
        return intent[len("followup_"):]
    return None


def status_just_shown(tracker: Tracker) -> str | None:
    """The status shown in the bot's previous turn (slot ``status_shown``), if any."""
    shown = tracker.get_slot("status_shown")
    if not shown:
        return None
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return None
            seen_user = True
        elif event.get("event") == "action" and seen_user:
            name = event.get("name")
            if name in STATUS_ACTIONS:
                return str(shown)
            if name not in ("action_listen", "action_extract_slots"):
                return None
    return None


def followup_answer(kind: str | None, topic: str | None, status: str | None) -> str | None:
    """The text for this follow-up, the honest "not in my information" text, or None
    when there is no context at all (the caller asks which topic is meant)."""
    texts = followup_texts()

    def say(key: str) -> str:  # in the conversation's language (core.texts.speaking)
        value: Any = texts
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return translated("followups", key, " ".join(str(value).split()))

    if status and kind is not None:
        # right after a status the question is about that status, not the last FAQ topic:
        # "wat betekent dat?" / "is dat normaal?" get the plain-Dutch explanation, other
        # follow-ups the honest answer (the mentor knows the details of the own child)
        if kind in ("meaning", "normal") and texts["status"].get(status):
            return say(f"status.{status}")
        return say("not_in_text")
    if not topic or kind is None:
        return None
    if (texts.get(topic) or {}).get(kind):
        return say(f"{topic}.{kind}")
    return say("not_in_text")


@localized
class ActionFollowup(Action):
    """Answer a short follow-up in the context of the last answer."""

    def name(self) -> str:
        return "action_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        text = followup_answer(kind_of(intent), tracker.get_slot("faq_topic"),
                               status_just_shown(tracker))
        if text is None:
            dispatcher.utter_message(response="utter_which_topic")
        else:
            dispatcher.utter_message(text=text)
        return []
