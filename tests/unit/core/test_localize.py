"""One outgoing message in the parent's language (core/localize.py)."""

from __future__ import annotations

from core.localize import RLM, localize_message, localized_response
from core.translations import render, source_texts


def test_a_response_is_swapped_for_its_translation_with_buttons_and_a_note() -> None:
    dutch = {"text": source_texts("responses")["utter_faq/rugzak"].text,
             "buttons": [{"title": t, "payload": f"/p{i}"}
                         for i, t in enumerate(source_texts("responses")["utter_faq/rugzak"]
                                               .buttons)]}
    localized, original = localized_response("utter_faq/rugzak", dutch, "en", "show")
    assert original is dutch
    expected = render("responses", "utter_faq/rugzak", "en")
    assert localized["text"] == expected.text
    assert [b["title"] for b in localized["buttons"]] == list(expected.buttons)
    assert [b["payload"] for b in localized["buttons"]] == ["/p0", "/p1"][:len(dutch["buttons"])]
    message = localize_message(localized, "en", key="utter_faq/rugzak", dutch=original)
    assert message["text"].endswith(render("messages", "translation.concept_note", "en").text)
    assert message["buttons"][-1]["payload"] == "/show_dutch"
    assert message["lwoo"]["language"] == "en" and message["lwoo"]["dir"] == "ltr"
    assert message["lwoo"]["dutch_text"] == dutch["text"]


def test_dutch_stays_dutch_and_an_answer_offers_simple_dutch() -> None:
    text = source_texts("responses")["utter_faq/budget"].text
    message = localize_message({"text": text}, "nl", key="utter_faq/budget")
    assert message["text"] == text
    assert [b["payload"] for b in message["buttons"]] == ["/say_simpler"]
    assert "dutch_text" not in message["lwoo"]


def test_arabic_lines_start_right_to_left_for_whatsapp_and_telegram() -> None:
    message = localize_message({"text": "Lwoo مخصص للتلاميذ\n\nmentor يعرف"}, "ar",
                               shown="ar")
    assert all(line.startswith(RLM) for line in message["text"].split("\n") if line)
    assert message["lwoo"]["dir"] == "rtl"
