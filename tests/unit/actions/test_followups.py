"""Contextual follow-ups (issue 14): answered for the last topic from
data/answers/followups.yml, honestly when the school's text has no answer."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.followups import KINDS, ActionFollowup, followup_answer, followup_texts
from core.answers import FAQ_TOPICS
from core.records import LwooStatus

NOT_IN_TEXT = "Dat staat niet in de informatie die ik heb"


def test_every_topic_and_kind_has_an_answer_or_the_honest_one() -> None:
    for topic in FAQ_TOPICS:
        for kind in KINDS:
            text = followup_answer(kind, topic, None)
            assert text and "Bedoelt u" not in text and " je " not in f" {text} ", (topic,
                                                                                  kind)
    assert set(followup_texts()) - {"not_in_text", "status"} == set(FAQ_TOPICS)


def test_every_status_is_explained() -> None:
    for value in LwooStatus:
        assert followup_answer("meaning", None, value.value) != followup_texts()["not_in_text"]


def test_unknown_is_honest_and_names_who_knows() -> None:
    text = followup_answer("duration", "regering", None)
    assert NOT_IN_TEXT in str(text) and "zorgcoördinator" in str(text)


def tracker(intent: str, topic: str | None, events: list[dict[str, Any]] | None = None,
            status: str | None = None) -> Tracker:
    return Tracker("c", {"faq_topic": topic, "status_shown": status},
                   {"intent": {"name": intent}, "text": "?"}, events or [], False, None, {},
                   "action_listen")


@pytest.mark.parametrize("intent,topic,words", [
    ("followup_required", "handelingsplan", "wettelijk verplicht"),
    ("followup_normal", "hertoets", "helemaal niet erg"),
    ("followup_for_whom", "wat_is_lwoo", "vmbo-leerlingen"),
    ("followup_cost", "budget", "algemene bekostiging"),
    ("followup_this_school", "budget", "Compaen vmbo"),
    ("followup_duration", "hertoets", "paar weken"),
])
async def test_answered_in_the_context_of_the_last_topic(intent: str, topic: str,
                                                         words: str) -> None:
    d = CollectingDispatcher()
    await ActionFollowup().run(d, tracker(intent, topic), {})
    assert words in d.messages[0]["text"]


async def test_without_a_topic_asks_which_topic() -> None:
    d = CollectingDispatcher()
    await ActionFollowup().run(d, tracker("followup_required", None), {})
    assert d.messages[0]["response"] == "utter_which_topic"


async def test_meaning_right_after_a_status_explains_the_status() -> None:
    events = [{"event": "action", "name": "action_listen"}, {"event": "user"},
              {"event": "action", "name": "action_verification_done"},
              {"event": "action", "name": "action_listen"}, {"event": "user"}]
    d = CollectingDispatcher()
    await ActionFollowup().run(d, tracker("followup_meaning", "budget", events,
                                          "hertoets_gepland"), {})
    assert "opnieuw een toets" in d.messages[0]["text"]
    # later on (another answer in between) it is about the last topic again
    events[2]["name"] = "action_answer_faq"
    d = CollectingDispatcher()
    await ActionFollowup().run(d, tracker("followup_meaning", "budget", events,
                                          "hertoets_gepland"), {})
    assert "geld" in d.messages[0]["text"]


@pytest.mark.parametrize("intent", ["followup_normal", "followup_required", "followup_cost",
                                    "followup_duration"])
async def test_a_follow_up_right_after_a_status_is_about_the_status(intent: str) -> None:
    """"is dat normaal?" right after the status is not answered about the last FAQ topic."""
    events = [{"event": "action", "name": "action_listen"}, {"event": "user"},
              {"event": "action", "name": "action_verification_done"},
              {"event": "action", "name": "action_listen"}, {"event": "user"}]
    d = CollectingDispatcher()
    await ActionFollowup().run(d, tracker(intent, "handelingsplan", events,
                                          "hertoets_gepland"), {})
    text = d.messages[0]["text"]
    assert "handelingsplan" not in text.lower()
    if intent == "followup_normal":
        assert "opnieuw een toets" in text
    else:
        assert text.startswith("Dat staat niet in de informatie die ik heb")
