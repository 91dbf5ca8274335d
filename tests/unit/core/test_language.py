"""The language of a message: clear messages set it, short ones keep the conversation's."""

from __future__ import annotations

import pytest

from core.language import (
    LANGUAGE_NAMES,
    MENU_ORDER,
    conversation_language,
    detect,
    named_language,
    only_language_name,
)

# (message, language) in my own words, per language; none of these is training data
CLEAR = [
    ("Mijn dochter gaat na de zomer naar het vmbo, wat houdt lwoo in?", "nl"),
    ("My daughter starts at the vmbo after the summer, what does lwoo mean?", "en"),
    ("Kızım yazdan sonra vmbo'ya başlıyor, lwoo ne demek?", "tr"),
    ("ابنتي ستبدأ في vmbo بعد الصيف، ماذا يعني lwoo؟", "ar"),
    ("Moja córka po wakacjach idzie do vmbo, co oznacza lwoo?", "pl"),
    ("Моя донька після літа йде до vmbo, що означає lwoo?", "uk"),
]


@pytest.mark.parametrize(("message", "language"), CLEAR)
def test_a_clear_message_sets_its_language(message: str, language: str) -> None:
    assert detect(message).language == language


@pytest.mark.parametrize("message", ["ok", "ja graag", "123456", "14-03-2013", "wat is lwoo",
                                     "thanks!", "👍", ""])
def test_short_or_number_messages_keep_the_conversation_language(message: str) -> None:
    assert detect(message).language is None


@pytest.mark.parametrize(("message", "language"), [("شكرا", "ar"), ("дякую", "uk")])
def test_arabic_and_cyrillic_script_are_clear_from_one_word(message: str, language: str
                                                            ) -> None:
    assert detect(message).language == language


@pytest.mark.parametrize(("message", "language"), [
    ("can you answer in English?", "en"), ("kunt u in het Turks antwoorden", "tr"),
    ("po polsku proszę", "pl"), ("українською, будь ласка", "uk"),
    ("بالعربية من فضلك", "ar"), ("eenvoudig Nederlands graag", "nl-b1"),
    ("gewoon Nederlands", "nl"), ("Nederlands", "nl")])
def test_a_named_language_is_a_choice(message: str, language: str) -> None:
    assert named_language(message) == language


def test_only_a_language_name_alone_is_a_choice_outside_the_switch_intent() -> None:
    assert only_language_name("English") == "en"
    assert only_language_name("Türkçe lütfen") == "tr"
    assert only_language_name("mijn zoon heeft hulp nodig bij Engels") is None
    for code in MENU_ORDER:  # every menu button, typed
        assert only_language_name(LANGUAGE_NAMES[code]) == code


def test_conversation_language_from_the_slots() -> None:
    assert conversation_language(None) == "nl"
    assert conversation_language("en", "true") == "en"
    assert conversation_language("nl", "true") == "nl-b1"
    assert conversation_language("klingon") == "nl"
