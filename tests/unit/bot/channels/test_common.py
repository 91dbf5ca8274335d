"""Input hygiene shared by the channels."""

from __future__ import annotations

from bot.channels.common import MAX_MESSAGE_CHARS, check_message, sanitize_text
from bot.channels.rest import parse_body


def test_button_payloads_pass():
    assert sanitize_text('/faq{"faq_topic": "budget"}') == '/faq{"faq_topic": "budget"}'
    assert sanitize_text("/ask_status") == "/ask_status"
    assert sanitize_text('/ask_status{"pupil_choice": "2"}') == '/ask_status{"pupil_choice": "2"}'


def test_other_slash_commands_become_plain_text():
    assert sanitize_text('/inform{"pupil_number": "100231"}') == 'inform{"pupil_number": "100231"}'
    assert not sanitize_text("/nlu_fallback").startswith("/")
    assert not sanitize_text("//restart").startswith("/")


def test_button_intent_with_foreign_entities_loses_them():
    # a forged slot through an allowed intent is dropped, the intent stays
    assert sanitize_text('/ask_status{"needs_verification": false}') == "/ask_status"
    assert sanitize_text('/faq{"faq_topic": "x", "otp_code": "1"}') == "/faq"
    assert sanitize_text("/faq{not json}") == "/faq"
    assert sanitize_text('/faq{"faq_topic": "a\'; DROP TABLE pupils;--"}') == "/faq"


def test_message_checks_are_dutch():
    assert "te lang" in (check_message("x" * (MAX_MESSAGE_CHARS + 1)) or "")
    assert check_message("") is not None
    assert check_message("wat is lwoo") is None
    assert sanitize_text(None) == ""
    assert sanitize_text("a\x00b") == "ab"


def test_rest_body_validation():
    assert parse_body({"sender": "ouder-1", "message": "hoi"}) == ("ouder-1", "hoi")
    assert parse_body({"sender": "../etc", "message": "hoi"}) is None
    assert parse_body({"sender": "a" * 65, "message": "hoi"}) is None
    assert parse_body({"sender": "x", "message": 5}) is None
    assert parse_body(["x"]) is None
