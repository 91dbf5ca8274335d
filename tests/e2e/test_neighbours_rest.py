"""Issue 13 over the REST channel: subjects next to lwoo, the glossary, complaints."""

from __future__ import annotations

import pytest

from tests.support.bot import BotServer

pytestmark = pytest.mark.e2e

# lwoo-answer sentences that must never answer a neighbouring question
LWOO_MARKERS = ["leerwegondersteunend onderwijs (lwoo) is bedoeld", "opnieuw op leervorderingen",
                "de regering bepaalt niet", "lwoo is geen rugzak", "algemene bekostiging",
                "handelingsplan is een plan"]


@pytest.mark.parametrize("question, expected", [
    ("wat zit er eigenlijk in die nio test?", "kan leren"),
    ("moet mijn kind een tlv hebben voor het vso?", "toelaatbaarheidsverklaring"),
    ("tot hoe oud is mijn zoon leerplichtig?", "kwalificatieplicht"),
    ("waar vind ik het schoolondersteuningsprofiel?", "schoolondersteuningsprofiel"),
])
def test_neighbour_questions_get_their_own_reply(bot: BotServer, question: str,
                                                 expected: str) -> None:
    text = bot.texts(bot.say(bot.new_sender(), question)).lower()
    assert expected in text, text
    assert not any(marker in text for marker in LWOO_MARKERS), text


def test_a_word_from_an_answer_is_explained_right_after_it(bot: BotServer) -> None:
    sender = bot.new_sender()
    bot.say(sender, "Mijn dochter wordt na de zomervakantie opnieuw getoetst, waarom is dat?")
    text = bot.texts(bot.say(sender, "wat bedoelt u met leervorderingen?")).lower()
    assert "technisch lezen" in text and "rekenen" in text, text


def test_a_complaint_gets_empathy_and_the_offer_of_a_person(bot: BotServer) -> None:
    messages = bot.say(bot.new_sender(), "ik ben het totaal niet eens met de beslissing van school")
    text = bot.texts(messages)
    assert "contact" in text and "Bedoelt u" not in text, text
    assert any(b.get("payload") == "/request_human" for m in messages
               for b in m.get("buttons", [])), messages


def test_two_questions_in_one_message_get_both_answers_in_order(bot: BotServer) -> None:
    messages = bot.say(bot.new_sender(),
                       "Is lwoo een rugzak? En waarvoor is het lwoo-budget eigenlijk?")
    text = bot.texts(messages)
    assert "geen rugzak" in text and "kleinere klassen" in text, text
    assert text.index("geen rugzak") < text.index("kleinere klassen")
    sentences = [s for m in messages for s in (m.get("text") or "").split(". ") if s]
    assert len(sentences) == len(set(sentences)), sentences
