"""The responses in the conversation's language (bot/nlg.py)."""

from __future__ import annotations

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlg import LocalizedNLG
from core.localize import NOTES_SHOWN
from core.translations import render

DOMAIN = Domain.load("domain.yml")


def tracker(*events: object) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "t", [SlotSet("language", "pl"), UserUttered("Chcę sprawdzić status"), *events],
        slots=DOMAIN.slots)


async def test_a_response_in_the_language_with_the_note_on_the_turns_first_message() -> None:
    nlg = LocalizedNLG(domain=DOMAIN)
    note = render("messages", "translation.concept_note", "pl").text
    first = await nlg.generate("utter_status_intro", tracker(), "rest")
    assert first["text"].startswith(render("responses", "utter_status_intro", "pl").text[:20])
    assert first["text"].endswith(note) and first["lwoo"]["note"] == "concept"
    # the form's question after it, in the same turn: no second note nor button
    answered = tracker(BotUttered(first["text"], metadata={"lwoo": first["lwoo"]}))
    question = await nlg.generate("utter_ask_pupil_number", answered, "rest")
    assert note not in question["text"]
    assert "/show_dutch" not in [b["payload"] for b in question.get("buttons") or []]
    # an action's earlier message of this turn, told by the action server
    told = await nlg.generate("utter_ask_pupil_number", tracker(), "rest",
                              **{NOTES_SHOWN: ["concept"]})
    assert note not in told["text"]
    # the parent's next message: a new turn
    later = await nlg.generate("utter_ask_pupil_number",
                               tracker(BotUttered(first["text"],
                                                  metadata={"lwoo": first["lwoo"]}),
                                       UserUttered("123456")), "rest")
    assert later["text"].endswith(note)
