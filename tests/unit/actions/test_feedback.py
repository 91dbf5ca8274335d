"""Feedback on an answer: buttons, typed words, "ja"/"nee" right after an answer."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import (
    ActionFeedback,
    ActionFeedbackDone,
    answered_faq_last,
    helpful_from_text,
)

ANSWER = [
    {"event": "user", "text": "wat is lwoo"},
    {"event": "action", "name": "action_answer_faq"},
    {"event": "bot", "text": "Leerwegondersteunend onderwijs ..."},
    {"event": "slot", "name": "faq_topic", "value": "wat_is_lwoo"},
    {"event": "slot", "name": "fallback_count", "value": 0},
    {"event": "action", "name": "action_listen"},
]
CLARIFICATION = [
    {"event": "user", "text": "iets met geld"},
    {"event": "action", "name": "action_answer_faq"},
    {"event": "bot", "text": "Ik weet niet zeker wat u bedoelt."},
    {"event": "slot", "name": "fallback_count", "value": 1},
    {"event": "action", "name": "action_listen"},
]


def tracker(text: str, intent: str, history: list[dict[str, Any]], channel: str = "rest",
            entities: list[dict[str, Any]] | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0},
              "entities": entities or []}
    events = [*history, {"event": "user", "text": text, "input_channel": channel,
                         "parse_data": latest}]
    return Tracker("s", {}, latest, events, False, None, {}, "action_listen")


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize(("text", "helpful"), [
    ("👍", True), ("goed", True), ("dit hielp", True), ("goed antwoord", True),
    ("👎", False), ("slecht", False), ("dit hielp niet", False), ("daar heb ik niks aan", False),
    ("onduidelijk antwoord", False), ("niet nuttig", False),
])
def test_typed_feedback(text: str, helpful: bool) -> None:
    assert helpful_from_text(text) is helpful


def test_only_an_answer_counts_as_answered() -> None:
    assert answered_faq_last([*ANSWER, {"event": "user", "text": "ja"}])
    assert not answered_faq_last([*CLARIFICATION, {"event": "user", "text": "nee"}])
    assert not answered_faq_last([{"event": "user", "text": "ja"}])


async def test_button_yes_on_the_widget_is_silent_elsewhere_thanked() -> None:
    yes = [{"entity": "helpful", "value": "yes"}]
    for channel, expected in (("socketio", 0), ("rest", 1)):
        dispatcher = CollectingDispatcher()
        events = await ActionFeedback().run(
            dispatcher, tracker('/feedback{"helpful": "yes"}', "feedback", ANSWER, channel, yes),
            {})
        assert slots(events) == {"feedback_helpful": True}
        assert len(dispatcher.messages) == expected


async def test_button_no_asks_what_was_missing() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionFeedback().run(
        dispatcher, tracker('/feedback{"helpful": "no"}', "feedback", ANSWER, "socketio",
                            [{"entity": "helpful", "value": "no"}]), {})
    assert slots(events) == {"feedback_helpful": False, "feedback_comment": None}
    assert dispatcher.messages == []  # feedback_form asks utter_ask_feedback_comment


@pytest.mark.parametrize(("text", "intent", "history", "expected", "response"), [
    ("ja", "affirm", ANSWER, True, None),
    ("nee", "deny", ANSWER, False, None),
    ("nee", "deny", CLARIFICATION, None, "utter_ask_rephrase"),
    ("ja", "affirm", CLARIFICATION, None, "utter_affirm"),
    ("dit hielp niet", "feedback", CLARIFICATION, False, None),
])
async def test_yes_and_no_after_an_answer(text: str, intent: str, history: list[dict[str, Any]],
                                          expected: bool | None, response: str | None) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionFeedback().run(dispatcher, tracker(text, intent, history), {})
    assert slots(events)["feedback_helpful"] is expected
    if response:
        assert [m["response"] for m in dispatcher.messages] == [response]


async def test_done_offers_contact_and_clears_the_slots() -> None:
    for comment, start in (("Ik miste de kosten", "Dank u wel"), (None, "Goed.")):
        dispatcher = CollectingDispatcher()
        t = Tracker("s", {"feedback_comment": comment}, {}, [], False, None, {}, "feedback_form")
        events = await ActionFeedbackDone().run(dispatcher, t, {})
        [message] = dispatcher.messages
        assert message["text"].startswith(start)
        assert [b["payload"] for b in message["buttons"]] == ["/request_human", "/deny"]
        assert slots(events) == {"feedback_helpful": None, "feedback_comment": None}
