"""The language entities of a message (bot/language_detector.py)."""

from __future__ import annotations

from bot.language_detector import language_entities


def values(text: str, intent: str | None = None) -> dict[str, tuple[str, bool]]:
    return {e["entity"]: (e["value"], e["choice"]) for e in language_entities(text, intent)}


def test_a_clear_message_gives_the_language_it_is_written_in() -> None:
    assert values("Why does my son have to take the test again after the summer?") == {
        "language": ("en", False)}
    assert values("ok") == {}  # short: the conversation keeps its language


def test_a_request_names_the_language_as_a_choice() -> None:
    assert values("can you answer in Turkish please?", "switch_language") == {
        "language": ("tr", True)}
    assert values("eenvoudig Nederlands graag", "switch_language") == {
        "language": ("nl", True), "simple_dutch": ("true", True)}
    assert values("gewoon Nederlands", "switch_language") == {
        "language": ("nl", True), "simple_dutch": ("false", True)}
    # a request without a language: only the language it was written in, not a choice
    assert values("kan ik een andere taal kiezen alstublieft?", "switch_language") == {
        "language": ("nl", False)}


def test_a_menu_name_typed_alone_is_a_choice_whatever_the_intent() -> None:
    assert values("Polski", "nlu_fallback") == {"language": ("pl", True)}
    assert values("mijn zoon heeft moeite met Engels en rekenen", "faq") == {
        "language": ("nl", False)}
