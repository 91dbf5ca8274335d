"""The training and held-out examples of the other languages (issue 16) are in their
language: lingua-language-detector (its models ship in the wheel) must detect every
example of ``data/nlu/languages/<lang>.yml`` and ``tests/nlu/languages/test_<lang>.yml``
as ``<lang>``. Dutch school words inside ("lwoo", "mentor", "handelingsplan": the terms
that stay Dutch in every translation, and the names of the neighbouring subjects) are left
out before the check, so one long Dutch word does not outweigh the sentence; what is left
must be in its language. An example of fewer than three words (after that) may be
undetermined (the detector is unsure), but not surely another language.

Also: every language has examples of every intent of the domain, and the held-out sets
are held out (no example is a training example of any language)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from bot.nlu_eval import Example, language_of, load_examples, training_overlap

ROOT = Path(__file__).resolve().parents[3]
TRAINING = ROOT / "data" / "nlu" / "languages"
HELD_OUT = ROOT / "tests" / "nlu" / "languages"
LANGUAGES = ("en", "tr", "ar", "pl", "uk")
# the six languages the bot tells apart. Not Russian: lingua 2.1.1 reads short Ukrainian
# ("що таке lwoo", "щиро дякую", "коли це буде готово") as Russian.
DETECTED = ("nl", "en", "tr", "ar", "pl", "uk")
SHORT = 3  # fewer words: may be undetermined
SHORT_MIN_DISTANCE = 0.25  # a short example is "surely" a language at this distance
# the intents every language must cover (button-only intents are never typed)
# Dutch school words parents keep in every language (docs/intents.md, "Other languages")
DUTCH_SCHOOL_WORDS = re.compile(
    r"\b(lwoo|vmbo|handelingsplan\w*|rugzak\w*|samenwerkingsverband\w*|nio\w*|opp|mentor"
    r"|zorgco[oö]rdinator|leerweg\w*|basisschool|doorstroomtoets\w*|schooladvies|cito\w*"
    r"|ontwikkelingsperspectief\w*|passend onderwijs|zorgplicht|toelaatbaarheidsverklaring"
    r"|tlv|pro|praktijkonderwijs|vso|leerplicht\w*|schoolondersteuningsprofiel|sop"
    r"|leervordering\w*|leerachterstand|lgf|rec|basis|kader|gemengde|theoretische"
    r"|remedial teaching|rt|zaanstreek|compaen)\b", re.IGNORECASE)
BUTTON_ONLY = {"choose_topic", "something_else", "choose_pupil", "nlu_fallback"}


@lru_cache(maxsize=2)
def detector(minimum_distance: float = 0.0):  # type: ignore[no-untyped-def]
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                 for code in DETECTED]
    return (LanguageDetectorBuilder.from_languages(*languages)
            .with_minimum_relative_distance(minimum_distance).build())


def detected(text: str, minimum_distance: float = 0.0) -> str | None:
    language = detector(minimum_distance).detect_language_of(text)
    return language.iso_code_639_1.name.lower() if language else None


def without_school_words(text: str) -> str:
    return " ".join(DUTCH_SCHOOL_WORDS.sub(" ", text).split())


def wrong_language(examples: list[Example]) -> list[str]:
    """The examples not detected as their file's language."""
    wrong = []
    for example in examples:
        text = without_school_words(example.text)
        if len(text.split()) < SHORT:
            got = detected(text, SHORT_MIN_DISTANCE) if text else None
            if got not in (None, example.language):
                wrong.append(f"{example.text!r} (short) -> {got}")
        elif (got := detected(text)) != example.language:
            wrong.append(f"{example.text!r} -> {got}")
    return wrong


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yml"))


def domain_intents() -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}


def test_every_language_has_training_and_held_out_examples():
    assert sorted(language_of(f) for f in files(TRAINING)) == sorted(LANGUAGES)
    assert sorted(language_of(f) for f in files(HELD_OUT)) == sorted(LANGUAGES)


@pytest.mark.parametrize("path", files(TRAINING) + files(HELD_OUT), ids=lambda p: p.name)
def test_every_example_is_detected_as_its_language(path: Path):
    examples = load_examples(path)
    assert examples, path
    assert {e.language for e in examples} == {language_of(path)}
    assert wrong_language(examples) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_intent_has_training_examples_in_every_language(language: str):
    examples = load_examples(TRAINING / f"{language}.yml")
    base = {e.intent.split("/", 1)[0] for e in examples}
    assert sorted(domain_intents() - BUTTON_ONLY - base) == []
    dutch = load_examples(ROOT / "data" / "nlu", languages=False)
    labels = {e.intent for e in dutch if "/" in e.intent}  # faq/<topic>, neighbour/<subject>
    assert sorted(labels - {e.intent for e in examples}) == []


def test_no_held_out_example_of_any_language_is_a_training_example():
    held_out = load_examples(ROOT / "tests" / "nlu")
    training = load_examples(ROOT / "data" / "nlu")
    assert {e.language for e in training} >= set(LANGUAGES)
    assert {e.language for e in held_out} >= set(LANGUAGES)
    assert training_overlap(held_out, training) == []


def test_the_check_finds_an_example_in_another_language():
    examples = [Example("wat is lwoo precies en wie krijgt het", "faq/wat_is_lwoo", "en"),
                Example("what is lwoo exactly and who gets it", "faq/wat_is_lwoo", "en"),
                Example("what is a handelingsplan", "faq/handelingsplan", "en"),
                Example("dank u wel", "thanks", "en"),
                Example("ok", "affirm", "tr")]
    assert wrong_language(examples) == ["'wat is lwoo precies en wie krijgt het' -> nl",
                                        "'dank u wel' -> nl"]
    assert without_school_words("what is a Handelingsplan, mentor?") == "what is a , ?"
