"""Typed alternatives to every button (issue 14): the title, the place in the list,
yes/no in everyday Dutch; only buttons the bot offered in its last turn."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.typed_choices import last_buttons, resolve

CHILDREN = [("Sanne", '/ask_status{"pupil_choice": "1"}'),
            ("Daan", '/ask_status{"pupil_choice": "2"}')]
YES_NO = [("Ja, dat is goed", "/affirm"), ("Nee, liever niet", "/deny")]
GREET = [("Wat is lwoo?", '/faq{"faq_topic": "wat_is_lwoo"}'),
         ("Waarom opnieuw toetsen?", '/faq{"faq_topic": "hertoets"}'),
         ("Status van mijn kind", "/ask_status")]


@pytest.mark.parametrize("text,index", [
    ("Daan", 1), ("daan", 1), ("Sanne!", 0), ("die van Daan", 1), ("Daan graag", 1),
    ("2", 1), ("1.", 0), ("nummer 2", 1), ("de eerste", 0), ("tweede", 1), ("de 2e", 1),
    ("de laatste", 1), ("optie 1", 0),
])
def test_choose_a_child_by_typing(text: str, index: int) -> None:
    assert resolve(text, CHILDREN) == CHILDREN[index][1]


@pytest.mark.parametrize("text", ["ja hoor", "jawel", "klopt", "Ja!", "ja graag", "prima",
                                  "is goed", "Ja, dat is goed"])
def test_everyday_yes(text: str) -> None:
    assert resolve(text, YES_NO) == "/affirm"


@pytest.mark.parametrize("text", ["nee hoor", "neen", "liever niet", "Nee.", "nee bedankt",
                                  "nee, liever niet"])
def test_everyday_no(text: str) -> None:
    assert resolve(text, YES_NO) == "/deny"


def test_feedback_buttons_by_yes_no() -> None:
    buttons = [("👍", '/feedback{"helpful": "yes"}'), ("👎", '/feedback{"helpful": "no"}')]
    assert resolve("ja hoor", buttons) == buttons[0][1]
    assert resolve("neen", buttons) == buttons[1][1]


@pytest.mark.parametrize("text,index", [("wat is lwoo", 0), ("1", 0), ("de derde", 2),
                                        ("Status van mijn kind", 2)])
def test_menu_buttons(text: str, index: int) -> None:
    assert resolve(text, GREET) == GREET[index][1]


@pytest.mark.parametrize("text", [
    "waarom wordt mijn zoon opnieuw getoetst na de zomer", "ja", "9", "Piet",
    "/ask_status{\"pupil_choice\": \"1\"}", "wat is het verschil tussen Sanne en Daan dan",
])
def test_no_guessing(text: str) -> None:
    assert resolve(text, GREET if text != "Piet" else CHILDREN) is None


def test_one_option_other_child_by_yes_or_de_andere() -> None:
    only = CHILDREN[1:]
    assert resolve("ja", only) == only[0][1]
    assert resolve("en de andere?", only) == only[0][1]
    assert resolve("nee", only) is None


def test_nothing_without_buttons() -> None:
    assert resolve("1", []) is None


class Ev:
    def __init__(self, type_name: str, buttons: list[dict[str, str]] | None = None) -> None:
        self.type_name = type_name
        self.data = {"buttons": buttons} if buttons is not None else {}


def test_only_the_last_bot_turn_counts() -> None:
    old = Ev("bot", [{"title": "Oud", "payload": "/deny"}])
    new = Ev("bot", [{"title": t, "payload": p} for t, p in CHILDREN])
    assert last_buttons([old, Ev("user"), Ev("action"), new, Ev("action")]) == CHILDREN
    assert last_buttons([new, Ev("user")]) == []


def test_every_domain_response_with_buttons_can_be_answered_by_typing() -> None:
    domain = yaml.safe_load((Path(__file__).resolve().parents[3] / "domain.yml").read_text())
    checked = 0
    for name, variants in domain["responses"].items():
        for variant in variants:
            buttons = [(b["title"], b["payload"].replace("{{", "{").replace("}}", "}"))
                       for b in variant.get("buttons") or []]
            for position, (title, payload) in enumerate(buttons, start=1):
                assert resolve(title, buttons) == payload, (name, title)
                assert resolve(str(position), buttons) == payload, (name, position)
                checked += 1
            if any(p == "/affirm" for _, p in buttons) and any(p == "/deny" for _, p in buttons):
                assert resolve("ja hoor", buttons) == "/affirm", name
                assert resolve("neen", buttons) == "/deny", name
    assert checked >= 20


def test_ok_after_a_translated_answer_is_not_the_dutch_text_button() -> None:
    from bot.typed_choices import resolve

    assert resolve("ok", [("Dutch text", "/show_dutch")]) is None
    assert resolve("ja", [("Zeg het eenvoudiger", "/say_simpler")]) is None
    assert resolve("Dutch text", [("Dutch text", "/show_dutch")]) == "/show_dutch"
