"""One outgoing message in the parent's language (core/localize.py)."""

from __future__ import annotations

from rasa.shared.core.events import BotUttered, SessionStarted, UserUttered

from core.localize import RLM, Seen, localize_message, localized_response, seen_in_session
from core.translations import render, source_texts, terms


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


def test_the_simple_version_does_not_offer_itself_again() -> None:
    """"Zeg het eenvoudiger" gives the B1 text of the last answer; under that text the
    button would only give the same text again."""
    simple = render("responses", "utter_faq/budget", "nl-b1").text
    message = localize_message({"text": simple, "lwoo": {"shown": "nl-b1",
                                                          "key": "utter_faq/budget"}}, "nl")
    assert "/say_simpler" not in [b["payload"] for b in message.get("buttons") or []]
    assert message["lwoo"]["language"] == "nl-b1"


def test_arabic_lines_start_right_to_left_for_whatsapp_and_telegram() -> None:
    message = localize_message({"text": "Lwoo مخصص للتلاميذ\n\nmentor يعرف"}, "ar",
                               shown="ar")
    assert all(line.startswith(RLM) for line in message["text"].split("\n") if line)
    assert message["lwoo"]["dir"] == "rtl"


def concept(language: str = "en") -> dict:
    localized, _ = localized_response(
        "utter_faq/rugzak", {"text": source_texts("responses")["utter_faq/rugzak"].text},
        language, "show")
    return localized


def test_the_note_and_its_button_once_per_turn() -> None:
    note = render("messages", "translation.concept_note", "en").text
    seen = Seen()
    answer = localize_message(concept(), "en", seen, key="utter_faq/rugzak")
    question = localize_message({"text": "What is the pupil number?"}, "en", seen,
                                note="concept")
    assert answer["text"].endswith(note) and answer["lwoo"]["note"] == "concept"
    assert note not in question["text"] and "buttons" not in question
    assert "note" not in question["lwoo"]
    # the parent writes again: the next turn's first message carries it again
    events = [{"event": "user", "text": "what is lwoo"},
              {"event": "bot", "text": answer["text"], "metadata": {"lwoo": answer["lwoo"]}},
              {"event": "bot", "text": question["text"], "metadata": {"lwoo": question["lwoo"]}}]
    assert seen_in_session(events).turn_notes == {"concept"}
    later = seen_in_session([*events, {"event": "user", "text": "123456"}])
    assert later.turn_notes == set() and {"rugzak", "lwoo"} <= later.terms
    again = localize_message({"text": "And the date of birth?"}, "en", later, note="concept")
    assert again["text"].endswith(note)
    assert [b["payload"] for b in again["buttons"]] == ["/show_dutch"]


def test_a_different_note_in_the_same_turn_is_still_shown() -> None:
    seen = Seen()
    localize_message(concept(), "en", seen, key="utter_faq/rugzak")
    outdated = localize_message({"text": "Lwoo is ..."}, "en", seen, note="outdated",
                                shown="nl")
    assert outdated["text"].endswith(render("messages", "translation.outdated_note", "en").text)


def test_seen_reads_rasas_event_objects_and_starts_again_with_a_session() -> None:
    events = [BotUttered("Lwoo (extra support) is ...", metadata={"lwoo": {"note": "concept"}}),
              SessionStarted(),
              UserUttered("what is a rugzak"),
              BotUttered("A rugzak (...) was ...", metadata={"lwoo": {"note": "concept"}})]
    seen = seen_in_session(events)  # no "terms" in the metadata: read from the text
    assert seen.terms == {"rugzak"} and seen.turn_notes == {"concept"}


def test_a_term_explained_once_is_known_from_the_metadata() -> None:
    seen = Seen()
    first = localize_message(concept(), "en", seen, key="utter_faq/rugzak")
    assert terms("en")["rugzak"] in first["text"] and "rugzak" in first["lwoo"]["terms"]
    events = [{"event": "bot", "text": "...", "metadata": {"lwoo": first["lwoo"]}}]
    later = localize_message(concept(), "en", seen_in_session(events), key="utter_faq/rugzak")
    assert terms("en")["rugzak"] not in later["text"]
