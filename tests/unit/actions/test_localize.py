"""Every action answers in the conversation's language (actions/localize.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions
from actions.language import ActionShowDutch, ActionSwitchLanguage
from actions.localize import localized
from core.localize import NOTES_SHOWN
from core.texts import text as msg
from core.translations import render


def action_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(actions.__path__):
        module = importlib.import_module(f"actions.{info.name}")
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, Action) and cls.__module__ == module.__name__]
    return found


def test_every_action_is_localized() -> None:
    classes = action_classes()
    assert len(classes) >= 20
    assert [c.__name__ for c in classes if not getattr(c, "__lwoo_localized__", False)] == []


def tracker(slots: dict, events: list | None = None, entities: list | None = None,
            text: str = "") -> Tracker:
    return Tracker("t", slots, {"text": text, "entities": entities or [],
                                "intent": {"name": "switch_language"}},
                   events or [], False, None, {}, "action_listen")


@pytest.mark.parametrize("language", ["en", "tr", "ar", "pl", "uk"])
async def test_switching_confirms_in_the_new_language(language: str) -> None:
    dispatcher = CollectingDispatcher()
    await ActionSwitchLanguage().run(dispatcher, tracker(
        {"language": language}, entities=[{"entity": "language", "value": language}]), {})
    [message] = dispatcher.messages
    assert render("messages", "language.switched", language).text[:25] in message["text"]
    assert message["lwoo"]["language"] == language


async def test_simple_dutch_from_the_menu_button_is_normalised() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSwitchLanguage().run(dispatcher, tracker(
        {"language": "nl-b1"}, entities=[{"entity": "language", "value": "nl-b1"}]), {})
    assert {(e["name"], e["value"]) for e in events} == {("language", "nl"),
                                                         ("simple_dutch", "true")}


async def test_no_language_named_gives_the_menu() -> None:
    dispatcher = CollectingDispatcher()
    written_in = {"entity": "language", "value": "nl", "extractor": "LanguageDetector",
                  "choice": False}  # "kan ik een andere taal kiezen?" is Dutch, not a choice
    await ActionSwitchLanguage().run(dispatcher, tracker({"language": "nl"},
                                                         entities=[written_in]), {})
    [message] = dispatcher.messages
    assert len(message["buttons"]) == 7
    assert message["buttons"][2]["payload"] == '/switch_language{"language": "en"}'


async def test_the_dutch_original_of_the_previous_turn() -> None:
    events = [{"event": "user", "text": "what is lwoo"},
              {"event": "bot", "text": "Lwoo is ...",
               "metadata": {"lwoo": {"dutch_text": "Lwoo is bedoeld voor ..."}}},
              {"event": "user", "text": "/show_dutch"}]
    dispatcher = CollectingDispatcher()
    await ActionShowDutch().run(dispatcher, tracker({"language": "en"}, events), {})
    [message] = dispatcher.messages
    assert message["text"] == "Lwoo is bedoeld voor ..."  # no English explanations in it
    assert message["lwoo"]["language"] == "nl"


async def test_an_action_text_is_translated_and_keeps_its_dutch_original() -> None:
    @localized
    class Wrong(Action):
        def name(self) -> str:
            return "action_test_wrong_code"

        async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
            dispatcher.utter_message(text=msg("status.wrong_code", tries=3))
            return []

    dispatcher = CollectingDispatcher()
    await Wrong().run(dispatcher, tracker({"language": "pl"}), {})
    [message] = dispatcher.messages
    polish = render("messages", "status.wrong_code", "pl").text.format(tries=3)
    assert message["text"].startswith(polish)
    assert message["lwoo"] == {"language": "pl", "dir": "ltr", "requested": "pl",
                               "dutch_text": msg("status.wrong_code", tries=3),
                               "note": "concept", "terms": []}
    assert message["buttons"][-1]["payload"] == "/show_dutch"  # a concept translation


@localized
class TwoTexts(Action):
    """An action that answers and then asks (and, when told, hands a response to Rasa)."""

    def __init__(self, response: str | None = None) -> None:
        self.response = response

    def name(self) -> str:
        return "action_test_two_texts"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        if self.response:
            dispatcher.utter_message(response=self.response)
        dispatcher.utter_message(text=msg("status.wrong_code", tries=3))
        dispatcher.utter_message(text=msg("status.code_requested"))
        return []


def note_count(messages: list[dict], language: str) -> int:
    note = render("messages", "translation.concept_note", language).text
    return sum((m.get("text") or "").count(note) for m in messages)


async def test_an_actions_messages_carry_the_note_once() -> None:
    dispatcher = CollectingDispatcher()
    await TwoTexts().run(dispatcher, tracker({"language": "tr"}), {})
    first, second = dispatcher.messages
    assert note_count([first], "tr") == 1 and note_count([second], "tr") == 0
    assert [b["payload"] for b in first["buttons"]] == ["/show_dutch"]
    assert not second.get("buttons")
    assert second["lwoo"]["dutch_text"]  # "Nederlandse tekst" still gives it


async def test_no_second_note_after_an_earlier_message_of_the_turn() -> None:
    events = [{"event": "user", "text": "kod"},
              {"event": "bot", "text": "...", "metadata": {"lwoo": {"note": "concept"}}}]
    dispatcher = CollectingDispatcher()
    await TwoTexts().run(dispatcher, tracker({"language": "tr"}, events), {})
    assert note_count(dispatcher.messages, "tr") == 0
    # the parent's next message starts a new turn: the note is back
    dispatcher = CollectingDispatcher()
    await TwoTexts().run(dispatcher, tracker({"language": "tr"}, [
        *events, {"event": "user", "text": "123"}]), {})
    assert note_count(dispatcher.messages, "tr") == 1


async def test_a_response_for_rasa_counts_as_the_turns_note() -> None:
    dispatcher = CollectingDispatcher()
    await TwoTexts("utter_faq/rugzak").run(dispatcher, tracker({"language": "uk"}), {})
    response, first, second = dispatcher.messages
    assert NOTES_SHOWN not in response  # the NLG adds the note to this one
    assert note_count([first, second], "uk") == 0
    # a response after a noted message is told so (the NLG then leaves the note out)
    dispatcher = CollectingDispatcher()
    events = [{"event": "user", "text": "?"},
              {"event": "bot", "text": "...", "metadata": {"lwoo": {"note": "concept"}}}]
    await TwoTexts("utter_faq/rugzak").run(dispatcher, tracker({"language": "uk"}, events), {})
    assert dispatcher.messages[0][NOTES_SHOWN] == ["concept"]
