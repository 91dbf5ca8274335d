"""The held-out NLU set (tests/nlu) is held out: no example is also a training example
(issue 13: 34 were shared word for word). `make test` runs this and `make test-nlu`
refuses an overlap too (bot/nlu_eval.py)."""

from __future__ import annotations

from pathlib import Path

from bot.nlu_eval import Example, load_examples, training_overlap

ROOT = Path(__file__).resolve().parents[3]


def test_no_held_out_example_is_a_training_example():
    held_out = load_examples(ROOT / "tests" / "nlu")
    training = load_examples(ROOT / "data" / "nlu")
    assert training_overlap(held_out, training) == []


def test_overlap_is_found_after_lower_casing_and_spaces():
    test = [Example("Wat is een  TLV", "neighbour/tlv"), Example("iets nieuws", "out_of_scope")]
    train = [Example("wat is een tlv", "out_of_scope")]
    assert training_overlap(test, train) == ["Wat is een  TLV"]


def test_held_out_set_has_neighbours_per_subject():
    held_out = load_examples(ROOT / "tests" / "nlu", languages=False)
    subjects = {e.intent for e in held_out if e.intent.startswith("neighbour/")}
    assert len(subjects) >= 12


def test_held_out_set_is_at_least_half_neighbours():
    """Issue 13 item 5: at least 150 held-out questions, half of them neighbours (the
    Dutch set; the other languages: tests/unit/bot/test_nlu_languages.py)."""
    held_out = load_examples(ROOT / "tests" / "nlu", languages=False)
    neighbours = [e for e in held_out if e.intent.startswith("neighbour/")]
    assert len(held_out) >= 150
    assert 2 * len(neighbours) >= len(held_out)


def test_evaluation_and_bench_use_the_thresholds_of_the_actions():
    """The held-out evaluation and the bench score what action_answer_faq does."""
    import bench.cv_neighbours as cv
    import bot.nlu_eval as nlu_eval
    import core.answers as faq

    assert nlu_eval.ANSWER_THRESHOLD == faq.ANSWER_CONFIDENCE_THRESHOLD
    assert nlu_eval.NEIGHBOUR_THRESHOLD == faq.NEIGHBOUR_CONFIDENCE_THRESHOLD
    assert cv.FAQ_INTENT_MAJORITY == faq.FAQ_INTENT_MAJORITY
