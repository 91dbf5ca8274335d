"""FAQ actions: answer when sure, ask "Bedoelt u …?" when not, offer contact on a second
miss (no fallback loops)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import (
    ANSWER_CONFIDENCE_THRESHOLD,
    FAQ_TOPICS,
    ActionAnswerFaq,
    ActionClarify,
    candidate_buttons,
)


def parse(intent: str, conf: float, faq: list[tuple[str, float]] | None = None,
          entities: list[dict[str, Any]] | None = None,
          ranking: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "intent": {"name": intent, "confidence": conf},
        "entities": entities or [],
        "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or [(intent, conf)])],
        "text": "vraag",
    }
    if faq:
        data["response_selector"] = {"faq": {
            "response": {"intent_response_key": f"faq/{faq[0][0]}", "confidence": faq[0][1]},
            "ranking": [{"intent_response_key": f"faq/{t}", "confidence": c} for t, c in faq],
        }}
    return data


def tracker(latest: dict[str, Any], slots: dict[str, Any] | None = None) -> Tracker:
    return Tracker("unit", slots or {}, latest, [], False, None, {}, "action_listen")


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


async def test_confident_answer_is_given_and_topic_remembered(dispatcher):
    t = tracker(parse("faq", 0.97, [("budget", 0.93), ("rugzak", 0.04)]))
    events = await ActionAnswerFaq().run(dispatcher, t, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq/budget"]
    assert slot_events(events) == {"faq_topic": "budget", "fallback_count": 0}


async def test_unsure_answer_asks_with_two_topic_buttons_and_iets_anders(dispatcher):
    # the intent is sure (faq), but the answer selection is not: rasa#9723
    t = tracker(parse("faq", 0.95, [("hertoets", 0.41), ("wat_is_lwoo", 0.38), ("budget", 0.1)]))
    events = await ActionAnswerFaq().run(dispatcher, t, {})
    (message,) = dispatcher.messages
    assert "Bedoelt u" in message["text"]
    titles = [b["title"] for b in message["buttons"]]
    assert titles == [FAQ_TOPICS["hertoets"], FAQ_TOPICS["wat_is_lwoo"], "Iets anders"]
    assert message["buttons"][0]["payload"] == '/faq{"faq_topic": "hertoets"}'
    assert slot_events(events) == {"fallback_count": 1}


async def test_threshold_is_inclusive(dispatcher):
    t = tracker(parse("faq", 0.9, [("rugzak", ANSWER_CONFIDENCE_THRESHOLD)]))
    await ActionAnswerFaq().run(dispatcher, t, {})
    assert dispatcher.messages[0]["response"] == "utter_faq/rugzak"


async def test_button_topic_is_answered_without_looking_at_nlu(dispatcher):
    t = tracker(parse("faq", 1.0, entities=[{"entity": "faq_topic", "value": "regering"}]))
    events = await ActionAnswerFaq().run(dispatcher, t, {})
    assert dispatcher.messages[0]["response"] == "utter_faq/regering"
    assert slot_events(events)["faq_topic"] == "regering"


async def test_unknown_button_topic_asks_which_topic(dispatcher):
    t = tracker(parse("faq", 1.0, entities=[{"entity": "faq_topic", "value": "vakantie"}]))
    events = await ActionAnswerFaq().run(dispatcher, t, {})
    assert dispatcher.messages[0]["response"] == "utter_which_topic"
    assert events == []


async def test_second_miss_offers_contact_and_resets(dispatcher):
    t = tracker(parse("nlu_fallback", 0.3), slots={"fallback_count": 1})
    events = await ActionClarify().run(dispatcher, t, {})
    assert dispatcher.messages[0]["response"] == "utter_offer_contact"
    assert slot_events(events) == {"fallback_count": 0}


def test_candidates_mix_faq_topics_and_status():
    data = parse("nlu_fallback", 0.4, [("budget", 0.5), ("rugzak", 0.2)],
                 ranking=[("nlu_fallback", 0.4), ("ask_status", 0.35), ("faq", 0.3)])
    titles = [b["title"] for b in candidate_buttons(data)]
    assert titles == ["De lwoo-status van mijn kind", FAQ_TOPICS["budget"]]


def test_candidates_never_empty():
    assert candidate_buttons({"intent_ranking": []}) == [
        {"title": FAQ_TOPICS["wat_is_lwoo"], "payload": '/faq{"faq_topic": "wat_is_lwoo"}'}
    ]
