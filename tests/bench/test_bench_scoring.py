"""The bench scores what the parent gets from action_answer_faq (issue 13): the two-stage
decision, neighbour replies, false rejects and lwoo answers to neighbour questions."""

from __future__ import annotations

from bench import nlu
from bot.nlu_eval import ANSWER_THRESHOLD, NEIGHBOUR_THRESHOLD, Example, Prediction


def pred(label: str, intent: str, faq: str | None = None, faq_conf: float = 0.0,
         neighbour: str | None = None, neighbour_conf: float = 0.0,
         first: bool = False) -> Prediction:
    return Prediction(Example("vraag", label), intent, 0.9, faq, faq_conf, neighbour,
                      neighbour_conf, first)


def test_outcome_follows_the_two_stage_decision():
    sure = ANSWER_THRESHOLD + 0.1
    assert nlu.outcome(pred("faq/budget", "faq", "faq/budget", sure)) == "faq/budget"
    assert nlu.outcome(pred("faq/budget", "faq", "faq/budget", ANSWER_THRESHOLD - 0.1)) == \
        nlu.CLARIFY
    # faq without the majority and neighbour the runner-up: the neighbour reply
    assert nlu.outcome(pred("neighbour/nio", "faq", "faq/hertoets", 0.9, "neighbour/nio",
                            NEIGHBOUR_THRESHOLD + 0.1, first=True)) == "neighbour/nio"
    assert nlu.outcome(pred("neighbour/nio", "neighbour", None, 0.0, "neighbour/nio",
                            NEIGHBOUR_THRESHOLD - 0.1)) == nlu.NEIGHBOUR_GENERAL
    assert nlu.outcome(pred("greet", "nlu_fallback")) == nlu.CLARIFY


def test_summary_counts_false_rejects_and_lwoo_answers_apart():
    predictions = [
        pred("faq/budget", "faq", "faq/budget", 0.9),  # answered
        pred("faq/rugzak", "faq", "faq/rugzak", 0.1),  # "Bedoelt u …?": a false reject
        pred("faq/rugzak", "neighbour", None, 0.0, "neighbour/tlv", 0.9),  # wrong reply
        pred("neighbour/nio", "faq", "faq/hertoets", 0.9),  # a lwoo answer to a neighbour
        pred("neighbour/opp", "neighbour", None, 0.0, "neighbour/opp", 0.9),  # right
        pred("out_of_scope", "out_of_scope"),
    ]
    summary = nlu.summarize(predictions)
    assert summary["faq_false_reject_rate"] == 2 / 3
    assert summary["false_reject_rate"] == 2 / 3  # in scope: the three faq questions
    assert summary["neighbour_reject_rate"] == 0.0  # a lwoo answer, not a rejection
    assert summary["not_lwoo_rate"] == 2 / 3
    assert summary["neighbour_accuracy"] == 1 / 2
    misses = nlu.errors(predictions, limit=None)
    assert {(m["expected"], m["scope"], m["lwoo_answer"]) for m in misses} == {
        ("faq/rugzak", "in scope", False), ("neighbour/nio", "neighbour", True)}


def test_predictions_keep_the_neighbour_fields_through_json():
    p = pred("neighbour/nio", "faq", "faq/hertoets", 0.6, "neighbour/nio", 0.7, first=True)
    again = nlu.prediction_from_dict(nlu.prediction_to_dict(p))
    assert (again.neighbour_key, again.neighbour_confidence, again.neighbour_first) == (
        "neighbour/nio", 0.7, True)
