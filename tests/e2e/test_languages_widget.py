"""Parents in their own language in the website widget (socket.io, issue 16): each
language's answer, every message labelled with its language and direction, the menu
payload, and a conversation that switches halfway. The browser rendering (right to left,
axe-core, the screenshot) is in test_widget_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.translations import render, text_direction
from tests.e2e.test_languages_rest import LANGUAGES, QUESTIONS, opening, simplified
from tests.support.bot import BotServer
from tests.support.widget_client import SocketioTestClient

pytestmark = pytest.mark.e2e

SCHOOL_ORIGIN = "https://www.compaen.example"
BOT_ENV = {"ALLOWED_ORIGINS": SCHOOL_ORIGIN}


@pytest.fixture
def widget(server: BotServer) -> Iterator[SocketioTestClient]:
    client = SocketioTestClient(server.base_url, origin=SCHOOL_ORIGIN)
    client.confirm()
    yield client
    client.close()


def turn(client: SocketioTestClient, text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The bot's messages of one turn and its turn_done."""
    client.sio.emit("user_uttered", {"message": text})
    events = client.wait_for("turn_done")
    return [data for name, data in events if name == "bot_uttered"], events[-1][1]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_answer_in_each_language_is_labelled_with_it(
        widget: SocketioTestClient, language: str) -> None:
    messages, done = turn(widget, QUESTIONS[language]["hertoets"])
    text = simplified("\n".join(m.get("text", "") for m in messages))
    assert opening(language, "responses", "utter_faq/hertoets") in text, text
    for message in messages:  # every part: the widget sets lang and dir from it
        assert message["metadata"]["language"] == language
    assert done["language"] == language
    assert text_direction(language) == ("rtl" if language == "ar" else "ltr")


def test_the_menu_payload_switches_and_a_conversation_goes_back(
        widget: SocketioTestClient) -> None:
    messages, _ = turn(widget, "Waarom wordt mijn kind na de zomer opnieuw getoetst?")
    assert all(m["metadata"]["language"] == "nl" for m in messages)
    messages, done = turn(widget, '/switch_language{"language": "ar"}')
    text = simplified("\n".join(m.get("text", "") for m in messages))
    assert opening("ar", "messages", "language.switched") in text
    assert done["language"] == "ar"
    messages, _ = turn(widget, "شكرا")
    assert render("responses", "utter_thanks", "ar").text[:15] in messages[0]["text"]
    messages, done = turn(widget, "Ik wil toch liever verder in het Nederlands, graag")
    assert done["language"] == "nl"
