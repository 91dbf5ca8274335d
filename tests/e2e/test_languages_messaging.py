"""Parents in their own language on WhatsApp and Telegram (issue 16): the answer in the
language, Arabic that reads right to left (every line starts with a right-to-left mark,
because both apps take a paragraph's direction from its first letter and an Arabic
answer may start with a Dutch term), and the language menu as typed numbers on WhatsApp
(parents there cannot tap)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import pytest

from core.translations import render
from tests.e2e.test_languages_rest import QUESTIONS, opening, simplified
from tests.e2e.test_messaging_channels import post_telegram, telegram_message, telegram_update
from tests.support.bot import BotServer, start_bot, stop_bot
from tests.support.messaging import messaging_env, new_chat, new_phone, whatsapp_say
from tests.support.provider_standin import ProviderStandIn

pytestmark = pytest.mark.e2e

RLM = "\u200f"


@pytest.fixture(scope="module")
def bot(standin: ProviderStandIn, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[BotServer]:
    server = start_bot(tmp_path_factory.mktemp("languages-messaging"),
                       messaging_env(standin.url))
    yield server
    stop_bot(server)


def reads_right_to_left(text: str) -> bool:
    """Every non-empty line's first strong character is right to left (what WhatsApp and
    Telegram use for the line's direction)."""
    for line in text.split("\n"):
        strong = next((unicodedata.bidirectional(c) for c in line
                       if unicodedata.bidirectional(c) in ("L", "R", "AL", "RLM")
                       or c == RLM), None)
        if line.strip() and strong not in ("R", "AL") and not line.startswith(RLM):
            return False
    return True


@pytest.mark.parametrize("language", ["ar", "en", "pl"])
def test_whatsapp_answers_in_the_parents_language(bot: BotServer, standin: ProviderStandIn,
                                                  language: str) -> None:
    text = whatsapp_say(bot, standin, new_phone(), QUESTIONS[language]["rugzak"])
    assert opening(language, "responses", "utter_faq/rugzak") in simplified(text), text
    if language == "ar":
        assert reads_right_to_left(text), text
        assert text.startswith(RLM)  # "لا، lwoo ..." and lines starting with "Lwoo"


def test_telegram_arabic_reads_right_to_left(bot: BotServer,
                                             standin: ProviderStandIn) -> None:
    chat = new_chat()
    mark = standin.mark()
    status, _ = post_telegram(bot, telegram_update(chat, message=telegram_message(
        chat, QUESTIONS["ar"]["hertoets"])))
    assert status == 200
    text = "\n".join(r.text for r in standin.sent_to(str(chat), mark))
    assert opening("ar", "responses", "utter_faq/hertoets") in simplified(text), text
    assert reads_right_to_left(text), text


def test_the_language_menu_by_number_on_whatsapp(bot: BotServer,
                                                 standin: ProviderStandIn) -> None:
    phone = new_phone()
    menu = whatsapp_say(bot, standin, phone, "andere taal alstublieft")
    assert "English" in menu and "Türkçe" in menu and "العربية" in menu
    line = next(line for line in menu.splitlines() if "Українська" in line)
    number = "".join(c for c in line.split("Українська")[0] if c.isdigit())
    chosen = whatsapp_say(bot, standin, phone, number)
    assert opening("uk", "messages", "language.switched") in simplified(chosen), chosen
    thanks = whatsapp_say(bot, standin, phone, "ok")  # short: stays Ukrainian
    assert render("responses", "utter_affirm", "uk").text[:12] in thanks or \
        render("responses", "utter_thanks", "uk").text[:12] in thanks, thanks


def test_every_number_of_a_translated_answer_can_be_typed_on_whatsapp(
        bot: BotServer, standin: ProviderStandIn) -> None:
    """A translated answer on WhatsApp: its options and the concept note's "Dutch text"
    are numbered 1..n in the turn, and typing the number shown for "Dutch text" gives the
    Dutch original (parents there cannot tap). Two lists in one turn are numbered on:
    tests/unit/bot/channels/test_messaging.py."""
    phone = new_phone()
    answer = whatsapp_say(bot, standin, phone, QUESTIONS["en"]["rugzak"])
    numbers = [line.split(". ", 1)[0] for line in answer.splitlines()
               if line.split(". ", 1)[0].isdigit()]
    assert numbers == [str(n) for n in range(1, len(numbers) + 1)], answer
    dutch = render("messages", "translation.button_dutch", "en").text
    line = next(line for line in answer.splitlines() if line.endswith(f". {dutch}"))
    original = whatsapp_say(bot, standin, phone, line.split(". ", 1)[0])
    source = render("responses", "utter_faq/rugzak", "nl").text
    assert simplified(source)[:50] in simplified(original), original
