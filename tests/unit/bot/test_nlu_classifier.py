"""bot.nlu_classifier.TfidfLabelClassifier: trains on intents and faq/<topic> labels,
answers in Rasa's intent and response-selector format, survives persist/load and refuses
to load a model file that holds anything but scikit-learn/numpy/scipy objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.faq import candidate_buttons
from bot.nlu_classifier import MODEL_FILE, TfidfLabelClassifier
from core.answers import selected_answer

EXAMPLES: dict[str, list[str]] = {
    "greet": ["hallo", "goedemorgen", "hoi daar", "goedendag", "hey", "goedemiddag"],
    "ask_status": ["heeft mijn kind lwoo", "wat is de status van mijn zoon",
                   "is lwoo voor mijn dochter toegekend", "staat mijn kind als lwoo geregistreerd",
                   "wil de lwoo status van mijn kind weten", "mijn dochter lwoo status"],
    "faq/budget": ["waar gaat het lwoo geld naartoe", "waarvoor is het budget",
                   "wat betaalt de school van lwoo", "hoe wordt het lwoo budget besteed",
                   "wat doet de school met het geld", "waar wordt het budget aan uitgegeven"],
    "faq/hertoets": ["waarom opnieuw toetsen na de zomer", "waarom weer een toets",
                     "mijn kind moet opnieuw getoetst worden waarom",
                     "waarom na de zomervakantie nog een test", "waarom hertoetsen",
                     "opnieuw testen na de vakantie"],
    "neighbour/tlv": ["wat is een tlv", "hoe vraag ik een toelaatbaarheidsverklaring aan",
                      "wie geeft de tlv af", "tlv nodig voor speciaal onderwijs",
                      "toelaatbaarheidsverklaring aanvragen", "is de tlv nog geldig"],
    "neighbour/leerplicht": ["tot welke leeftijd leerplichtig", "wat doet de leerplichtambtenaar",
                             "mag mijn kind met 16 van school", "wat is de kwalificatieplicht",
                             "leerplicht tot 18", "is mijn kind nog leerplichtig"],
}


def _messages() -> list[Message]:
    messages = []
    for label, texts in EXAMPLES.items():
        intent, _, key = label.partition("/")
        for text in texts:
            data: dict[str, Any] = {"text": text, "intent": intent}
            if key:
                data["intent_response_key"] = label
            messages.append(Message(data=data))
    return messages


def _tokenized(messages: list[Message]) -> list[Message]:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    tokenizer.process(messages)
    return messages


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    (tmp_path / "storage").mkdir()
    return LocalModelStorage(tmp_path / "storage")


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name="classifier")


def _trained(storage: LocalModelStorage) -> tuple[TfidfLabelClassifier, Resource]:
    resource = Resource("classifier")
    classifier = TfidfLabelClassifier.create(
        TfidfLabelClassifier.get_default_config(), storage, resource, _context())
    data = TrainingData(training_examples=_tokenized(_messages()),
                        responses={"utter_faq/budget": [{"text": "Het budget ..."}],
                                   "utter_faq/hertoets": [{"text": "Opnieuw ..."}],
                                   "utter_neighbour/tlv": [{"text": "Een tlv ..."}]})
    classifier.train(data)
    return classifier, resource


def _parse(classifier: TfidfLabelClassifier, text: str) -> dict[str, Any]:
    message = _tokenized([Message(data={"text": text})])[0]
    classifier.process([message])
    return message.as_dict(only_output_properties=True)


def test_faq_questions_get_intent_faq_and_a_topic_answer(storage: LocalModelStorage) -> None:
    classifier, _ = _trained(storage)
    parsed = _parse(classifier, "waarvoor gebruikt de school het lwoo budget")
    assert parsed["intent"]["name"] == "faq"
    # the intent's probability is the sum over its labels, so it can be sure while the
    # topics split the rest
    ranking = {entry["name"]: entry["confidence"] for entry in parsed["intent_ranking"]}
    assert set(ranking) == {"greet", "ask_status", "faq", "neighbour"}
    assert sum(ranking.values()) == pytest.approx(1.0)
    selector = parsed["response_selector"]
    assert selector["all_retrieval_intents"] == ["faq", "neighbour"]
    response = selector["faq"]["response"]
    assert response["intent_response_key"] == "faq/budget"
    assert response["utter_action"] == "utter_faq/budget"
    assert response["responses"] == [{"text": "Het budget ..."}]
    topics = selector["faq"]["ranking"]
    assert [t["intent_response_key"] for t in topics] == ["faq/budget", "faq/hertoets"]
    assert sum(t["confidence"] for t in topics) == pytest.approx(1.0)  # given faq
    # what action_answer_faq reads
    assert selected_answer(parsed) == ("budget", pytest.approx(response["confidence"]))
    assert candidate_buttons(parsed)[0]["payload"] == '/faq{"faq_topic": "budget"}'


def test_other_intents_are_classified(storage: LocalModelStorage) -> None:
    classifier, _ = _trained(storage)
    assert _parse(classifier, "goedemorgen hallo")["intent"]["name"] == "greet"
    assert _parse(classifier, "wat is de lwoo status van mijn zoon")["intent"]["name"] \
        == "ask_status"


def test_a_loaded_model_answers_like_the_trained_one(storage: LocalModelStorage) -> None:
    classifier, resource = _trained(storage)
    loaded = TfidfLabelClassifier.load(TfidfLabelClassifier.get_default_config(), storage,
                                       resource, _context())
    for text in ("waarom opnieuw een toets", "hoi", "heeft mijn dochter lwoo"):
        assert _parse(loaded, text) == _parse(classifier, text)


def test_a_model_file_with_foreign_objects_is_not_loaded(
        storage: LocalModelStorage, caplog: pytest.LogCaptureFixture) -> None:
    import collections

    import skops.io as sio

    _, resource = _trained(storage)
    with storage.write_to(resource) as directory:  # replace the model with a foreign object
        sio.dump({"model": collections.OrderedDict(a=1)}, directory / MODEL_FILE)
    loaded = TfidfLabelClassifier.load(TfidfLabelClassifier.get_default_config(), storage,
                                       resource, _context())
    assert loaded.model is None
    assert "refusing to load" in caplog.text
    message = _tokenized([Message(data={"text": "hallo"})])[0]
    loaded.process([message])
    assert message.get("intent") is None  # nothing guessed; FallbackClassifier takes over


def test_neighbour_subjects_get_their_own_response_selector_entry(
        storage: LocalModelStorage) -> None:
    # issue 13: a second retrieval intent, neighbour/<subject>, next to faq/<topic>
    classifier, _ = _trained(storage)
    parsed = _parse(classifier, "hoe vraag ik een tlv aan")
    assert parsed["intent"]["name"] == "neighbour"
    selector = parsed["response_selector"]
    assert set(selector["all_retrieval_intents"]) == {"faq", "neighbour"}
    response = selector["neighbour"]["response"]
    assert response["intent_response_key"] == "neighbour/tlv"
    assert response["utter_action"] == "utter_neighbour/tlv"
    assert response["responses"] == [{"text": "Een tlv ..."}]
    assert abs(sum(r["confidence"] for r in selector["neighbour"]["ranking"]) - 1) < 1e-6
    # the faq entry is still there and still only faq topics
    assert {r["intent_response_key"] for r in selector["faq"]["ranking"]} == {
        "faq/budget", "faq/hertoets"}


def test_two_questions_in_one_message_are_both_labelled_in_order(
        storage: LocalModelStorage) -> None:
    from bot.nlu_classifier import split_questions

    assert split_questions("Waarvoor is het budget? En wat is een tlv?") == [
        "Waarvoor is het budget?", "En wat is een tlv?"]
    assert split_questions("wat is lwoo en waarom moet mijn kind opnieuw getoetst worden") == [
        "wat is lwoo", "waarom moet mijn kind opnieuw getoetst worden"]
    assert split_questions("waarvoor is het lwoo budget") == ["waarvoor is het lwoo budget"]
    # other languages: sentences, with the Arabic question mark as a sentence end too
    assert split_questions("Is lwoo a rugzak? And what is the budget for?") == [
        "Is lwoo a rugzak?", "And what is the budget for?"]
    assert split_questions("هل lwoo هو rugzak؟ ولماذا تستخدم ميزانية lwoo؟") == [
        "هل lwoo هو rugzak؟", "ولماذا تستخدم ميزانية lwoo؟"]
    classifier, _ = _trained(storage)
    parsed = _parse(classifier, "waar gaat het lwoo geld naartoe? en hoe vraag ik een tlv aan?")
    assert parsed["multi_answers"] == ["faq/budget", "neighbour/tlv"]
    assert "multi_answers" not in _parse(classifier, "waar gaat het lwoo geld naartoe")
