"""Glossary: a parent who asks what a word from our answers means gets its explanation."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.glossary import ActionExplainTerm
from core.glossary import find_term, load_glossary, lookup_term

TERMS = load_glossary()


@pytest.mark.parametrize("question, term", [
    ("wat is een NIO-score?", "NIO-score"),
    ("Wat bedoelt u met leervorderingen?", "leervorderingen"),
    ("wat zijn REC's", "REC"),
    ("wat is een rec eigenlijk", "REC"),
    ("wat betekent leerlinggebonden financiering", "leerlinggebonden financiering"),
    ("wat is lgf", "leerlinggebonden financiering"),
    ("basisberoepsgerichte leerweg, wat is dat?", "basisberoepsgerichte leerweg"),
    ("wat is een samenwerkingsverband", "samenwerkingsverband"),
    ("en wat zijn overdrachtsgegevens dan", "overdrachtsgegevens"),
    ("wie is de zorgcoördinator", "zorgcoördinator"),
    ("wat is een OPP", "OPP"),
    # typing errors and missing accents: fuzzy match, not a list of sentences
    ("wat betekent leervorderingne", "leervorderingen"),
    ("wie is de zorgcoordinater", "zorgcoördinator"),
    ("wat is een samenwerkingsferband", "samenwerkingsverband"),
])
def test_terms_are_found_in_many_phrasings(question, term):
    found = find_term(question, TERMS)
    assert found is not None and found.term == term


@pytest.mark.parametrize("question", [
    "wat is de hoofdstad van frankrijk", "wat bedoelt u", "wat is dat", "", "???",
])
def test_no_term_no_explanation(question):
    assert find_term(question, TERMS) is None
    assert lookup_term(question) is None


def test_longest_phrase_wins():
    # "financiering" alone is "bekostiging"; the full phrase is the rugzak term
    found = find_term("wat is leerlinggebonden financiering", TERMS)
    assert found is not None and found.term == "leerlinggebonden financiering"


def test_every_term_our_answers_use_is_in_the_glossary():
    answers = (Path(__file__).resolve().parents[3] / "data" / "answers" / "faq.yml").read_text(
        encoding="utf-8").lower()
    for word in ["nio-score", "leervorderingen", "rec's", "leerlinggebonden financiering",
                 "basisberoepsgerichte leerweg", "samenwerkingsverband",
                 "overdrachtsgegevens", "handelingsplan", "zorgcoördinator", "opp"]:
        assert word in answers, word  # the answers really use it ...
        assert find_term(f"wat is {word}", TERMS) is not None, word  # ... and we explain it


def test_broken_glossary_is_refused(tmp_path):
    path = tmp_path / "glossary.yml"
    path.write_text("glossary:\n  - term: X\n", encoding="utf-8")
    with pytest.raises(ValueError, match="explanation"):
        load_glossary(path)


async def test_action_explains_the_term_or_says_it_does_not_know():
    dispatcher = CollectingDispatcher()
    t = Tracker("unit", {}, {"text": "wat bedoelt u met leervorderingen?"}, [], False, None,
                {}, "action_listen")
    await ActionExplainTerm().run(dispatcher, t, {})
    assert "lezen" in dispatcher.messages[0]["text"]
    dispatcher = CollectingDispatcher()
    t = Tracker("unit", {}, {"text": "wat betekent flapdrol"}, [], False, None, {},
                "action_listen")
    await ActionExplainTerm().run(dispatcher, t, {})
    assert dispatcher.messages[0]["response"] == "utter_term_unknown"


async def test_unknown_word_with_a_clear_neighbour_subject_gets_that_reply():
    dispatcher = CollectingDispatcher()
    latest = {"text": "wat is een vso-school", "response_selector": {"neighbour": {
        "response": {"intent_response_key": "neighbour/speciaal_onderwijs", "confidence": 0.8},
        "ranking": []}}}
    t = Tracker("unit", {}, latest, [], False, None, {}, "action_listen")
    await ActionExplainTerm().run(dispatcher, t, {})
    assert dispatcher.messages[0]["response"] == "utter_neighbour/speciaal_onderwijs"
