"""Feedback on an answer: 👍/👎 buttons in the web widget, a word on WhatsApp.

The widget sends ``/feedback{"helpful": "yes"}`` or ``"no"``; typed feedback ("👎",
"dit hielp niet", "goed", "slecht") is the ``feedback`` intent, and a plain "ja"/"nee"
right after an FAQ answer counts as feedback too (data/rules/feedback.yml).

:class:`ActionFeedback` sets ``feedback_helpful`` (True/False; None when the "ja"/"nee"
was not about an answer). On False the rules start ``feedback_form``, which asks what was
missing; that answer is the slot ``feedback_comment``. Both stay in the tracker, where
``python -m bot review`` finds them.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.localize import localized
from core.texts import text as msg

WIDGET_CHANNEL = "socketio"  # the widget shows its own "Bedankt voor uw reactie."


_YES = frozenset({"yes", "ja", "true", "1"})
_NO = frozenset({"no", "nee", "false", "0"})
_NEGATIVE = re.compile(
    r"\b(?:niet|geen|niks|niets|slecht|slechte|nee|onduidelijk|onvoldoende|waardeloos|"
    r"nutteloos|matig|fout|verkeerd|omlaag|jammer)\b|👎|:\(",
    re.IGNORECASE,
)



def contact_offer_buttons() -> list[dict[str, str]]:
    return [{"title": msg("feedback.button_contact_yes"), "payload": "/request_human"},
            {"title": msg("feedback.button_contact_no"), "payload": "/deny"}]


def helpful_from_text(text: str) -> bool:
    """Typed feedback: negative words or 👎 mean "not helpful", anything else helpful."""
    return _NEGATIVE.search(text or "") is None


def answered_faq_last(events: list[dict[str, Any]]) -> bool:
    """Whether the bot's turn before the latest user message answered an FAQ question
    (``action_answer_faq`` set ``faq_topic``; a clarification does not)."""
    users = [i for i, event in enumerate(events) if event.get("event") == "user"]
    if not users:
        return False
    for event in reversed(events[: users[-1]]):
        if event.get("event") == "user":
            return False
        if event.get("event") == "slot" and event.get("name") == "faq_topic":
            return bool(event.get("value"))
    return False


def feedback_value(tracker: Tracker) -> bool | None:
    """True/False for feedback on the last answer; None when the message is no feedback."""
    latest = tracker.latest_message or {}
    intent = (latest.get("intent") or {}).get("name")
    if intent == "feedback":
        entity = next(tracker.get_latest_entity_values("helpful"), None)
        if isinstance(entity, str) and entity.strip().lower() in _YES | _NO:
            return entity.strip().lower() in _YES
        return helpful_from_text(str(latest.get("text") or ""))
    if intent in ("affirm", "deny") and answered_faq_last(tracker.events or []):
        return intent == "affirm"
    return None


@localized
class ActionFeedback(Action):
    """Record whether the answer helped (slot ``feedback_helpful``)."""

    def name(self) -> str:
        return "action_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        helpful = feedback_value(tracker)
        latest = tracker.latest_message or {}
        if helpful is None:
            # "ja"/"nee" after something that was not an answer (e.g. "Bedoelt u …?")
            intent = (latest.get("intent") or {}).get("name")
            dispatcher.utter_message(
                response="utter_affirm" if intent == "affirm" else "utter_ask_rephrase"
            )
            return [SlotSet("feedback_helpful", None)]
        if helpful:
            from_button = str(latest.get("text") or "").startswith("/feedback")
            if not (from_button and tracker.get_latest_input_channel() == WIDGET_CHANNEL):
                dispatcher.utter_message(text=msg("feedback.positive"))
            return [SlotSet("feedback_helpful", True)]
        # feedback_form asks what was missing (utter_ask_feedback_comment)
        return [SlotSet("feedback_helpful", False), SlotSet("feedback_comment", None)]


@localized
class ActionFeedbackDone(Action):
    """After "what was missing?": thank the parent and offer contact with the school."""

    def name(self) -> str:
        return "action_feedback_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        comment = tracker.get_slot("feedback_comment")
        key = "feedback.done" if comment else "feedback.done_without_comment"
        dispatcher.utter_message(text=msg(key), buttons=contact_offer_buttons())
        # the comment stays in the tracker's history (SlotSet event) for the review
        return [SlotSet("feedback_helpful", None), SlotSet("feedback_comment", None)]
