"""FAQ actions: answer when sure, ask "Bedoelt u …?" when not, offer contact on a second
miss (no fallback loops)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq, ActionClarify, candidate_buttons
from core.answers import ANSWER_CONFIDENCE_THRESHOLD, topic_title


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
    t = tracker(parse("faq", 0.95, [("hertoets", 0.36), ("wat_is_lwoo", 0.33), ("budget", 0.1)]))
    events = await ActionAnswerFaq().run(dispatcher, t, {})
    (message,) = dispatcher.messages
    assert "Bedoelt u" in message["text"]
    titles = [b["title"] for b in message["buttons"]]
    assert titles == [topic_title("hertoets"), topic_title("wat_is_lwoo"), "Iets anders"]
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
    assert titles == ["De lwoo-status van mijn kind", topic_title("budget")]


def test_candidates_never_empty():
    assert candidate_buttons({"intent_ranking": []}) == [
        {"title": topic_title("wat_is_lwoo"), "payload": '/faq{"faq_topic": "wat_is_lwoo"}'}
    ]


# --- issue 13: subjects next to lwoo never get a lwoo answer -----------------------------

def neighbour_parse(intent: str, conf: float, ranking: list[tuple[str, float]],
                    faq: list[tuple[str, float]], subject: tuple[str, float]) -> dict[str, Any]:
    data = parse(intent, conf, faq, ranking=ranking)
    data["response_selector"]["neighbour"] = {
        "response": {"intent_response_key": f"neighbour/{subject[0]}", "confidence": subject[1]},
        "ranking": [{"intent_response_key": f"neighbour/{subject[0]}", "confidence": subject[1]}],
    }
    return data


async def test_neighbour_intent_gets_its_own_reply(dispatcher):
    from actions.faq import ActionAnswerNeighbour

    t = tracker(neighbour_parse("neighbour", 0.8, [("neighbour", 0.8), ("faq", 0.15)],
                                [("hertoets", 0.9)], ("nio", 0.7)), {"faq_topic": "rugzak"})
    events = await ActionAnswerNeighbour().run(dispatcher, t, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_neighbour/nio"]
    # an older lwoo topic is forgotten: "waarom?" must not answer about the rugzak
    assert slot_events(events) == {"faq_topic": None, "fallback_count": 0}


async def test_unsure_neighbour_subject_gets_a_general_referral_not_bedoelt_u(dispatcher):
    from actions.faq import ActionAnswerNeighbour

    t = tracker(neighbour_parse("neighbour", 0.6, [("neighbour", 0.6), ("faq", 0.3)],
                                [("wat_is_lwoo", 0.9)], ("sop", 0.2)))
    await ActionAnswerNeighbour().run(dispatcher, t, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_neighbour_general"]
    assert not any(m.get("buttons") and "Bedoelt" in (m.get("text") or "")
                   for m in dispatcher.messages)


async def test_faq_without_majority_and_neighbour_runner_up_is_a_neighbour_question(dispatcher):
    # two-stage decision: lwoo-or-neighbour first. faq wins the intent with 0.38 but
    # neighbour is close behind: no lwoo answer (the issue: NIO question -> hertoets)
    t = tracker(neighbour_parse("faq", 0.38, [("faq", 0.38), ("neighbour", 0.34),
                                              ("out_of_scope", 0.15)],
                                [("hertoets", 0.85)], ("nio", 0.75)))
    await ActionAnswerFaq().run(dispatcher, t, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_neighbour/nio"]


async def test_faq_majority_still_answers_the_lwoo_topic(dispatcher):
    t = tracker(neighbour_parse("faq", 0.62, [("faq", 0.62), ("neighbour", 0.3)],
                                [("hertoets", 0.85)], ("nio", 0.75)))
    await ActionAnswerFaq().run(dispatcher, t, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq/hertoets"]


# --- issue 13: two questions in one message ------------------------------------------------

DOMAIN = {"responses": {
    "utter_faq/budget": [{"text": "Lwoo is algemene bekostiging. Goed om te weten: X."}],
    "utter_faq/rugzak": [{"text": "Nee, lwoo is geen rugzak. Goed om te weten: X."}],
    "utter_neighbour/tlv": [{"text": "Een tlv is nodig voor het vso. Vraag de zorgcoördinator."}],
}}


async def test_two_questions_get_both_answers_in_order_without_a_repeated_sentence(dispatcher):
    latest = parse("faq", 0.9, [("budget", 0.6), ("rugzak", 0.4)])
    latest["multi_answers"] = ["faq/rugzak", "faq/budget"]
    events = await ActionAnswerFaq().run(dispatcher, tracker(latest), DOMAIN)
    texts = [m["text"] for m in dispatcher.messages]
    assert texts == ["Nee, lwoo is geen rugzak. Goed om te weten: X.",
                     "Lwoo is algemene bekostiging."]  # the shared note only once
    assert slot_events(events)["faq_topic"] == "budget"


async def test_a_topic_and_a_neighbour_in_one_message(dispatcher):
    from actions.faq import ActionAnswerNeighbour

    latest = parse("neighbour", 0.6, ranking=[("neighbour", 0.6), ("faq", 0.4)])
    latest["multi_answers"] = ["neighbour/tlv", "faq/budget"]
    await ActionAnswerNeighbour().run(dispatcher, tracker(latest), DOMAIN)
    texts = [m["text"] for m in dispatcher.messages]
    assert texts[0].startswith("Een tlv") and texts[1].startswith("Lwoo is algemene")


async def test_one_question_is_answered_as_before(dispatcher):
    latest = parse("faq", 0.9, [("budget", 0.9)])
    latest["multi_answers"] = ["faq/budget"]
    await ActionAnswerFaq().run(dispatcher, tracker(latest), DOMAIN)
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq/budget"]


async def test_two_questions_in_another_language_get_the_answers_in_it(dispatcher):
    """The domain's responses are Dutch; two questions in one English message used to get
    both answers in Dutch (with English explanations of the Dutch terms in them). Now each
    answer is the English translation, the shared sentence once, the Dutch original kept
    for "Dutch text", the concept note once."""
    from core.translations import render, source_texts

    responses = {key: [{"text": item.text}] for key, item in source_texts("responses").items()
                 if key in ("utter_faq/rugzak", "utter_faq/budget")}
    latest = parse("faq", 0.9, [("budget", 0.6), ("rugzak", 0.4)])
    latest["multi_answers"] = ["faq/rugzak", "faq/budget"]
    await ActionAnswerFaq().run(dispatcher, tracker(latest, {"language": "en"}),
                                {"responses": responses})
    english = [render("responses", key, "en").text for key in
               ("utter_faq/rugzak", "utter_faq/budget")]
    # without the explanations of the kept Dutch terms the bot adds
    texts = [re.sub(r" \([^)]*\)", "", m["text"]) for m in dispatcher.messages]
    assert len(texts) == 2
    for shown, translation in zip(texts, english, strict=True):
        assert translation.split(".")[0] in shown  # the English opening
    dutch = [responses[key][0]["text"] for key in ("utter_faq/rugzak", "utter_faq/budget")]
    assert not any(d.split(".")[0] in " ".join(texts) for d in dutch), texts
    infos = [m["lwoo"] for m in dispatcher.messages]
    assert all(info.get("language") == "en" for info in infos), infos
    originals = [str(info.get("dutch_text", "")) for info in infos]
    assert originals[0].startswith(dutch[0].split(".")[0]), originals
    assert originals[1].startswith(dutch[1].split(".")[0]), originals
    # the note for the unchecked translation and its "Dutch text" button: once
    assert sum("buttons" in m and bool(m["buttons"]) for m in dispatcher.messages) == 1
