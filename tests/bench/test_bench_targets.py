"""The report's targets after issue 16: the accuracy targets stay on the Dutch questions
(as they were set), the other languages are judged by their own gates (the lowest language
named), the Dutch results are compared with the run before the languages, and an NLU-only
run's `rasa train` time is its own."""

from __future__ import annotations

from typing import Any

from bench.report import dutch_before_after, dutch_part, targets


def summary(**values: float) -> dict[str, Any]:
    base = {"n": 10, "intent_accuracy": 0.98, "faq_answer_accuracy": 0.99,
            "not_lwoo_rate": 0.97, "oos_recall": 0.95, "false_reject_rate": 0.01,
            "faq_false_reject_rate": 0.01, "neighbour_accuracy": 0.8}
    return {**base, **values}


def results(test: dict[str, Any], cv: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    return {"systems": {"ours": {"test": test, "cv": cv or test}}, **extra}


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


LANGUAGES = {
    "nl": summary(),
    "en": summary(faq_answer_accuracy=0.95, oos_recall=1.0, not_lwoo_rate=1.0),
    "uk": summary(faq_answer_accuracy=0.917, oos_recall=0.85, not_lwoo_rate=0.96),
}


def pooled() -> dict[str, Any]:
    # pooled over the languages the intent accuracy is below the Dutch target
    return summary(intent_accuracy=0.90, faq_answer_accuracy=0.93,
                   per_language=LANGUAGES)


def test_dutch_part_is_the_dutch_row_only_when_there_are_other_languages():
    assert dutch_part(pooled()) is LANGUAGES["nl"]
    only_dutch = summary(per_language={"nl": summary(intent_accuracy=0.5)})
    assert dutch_part(only_dutch) is only_dutch
    old = summary()  # a run before the languages: no per_language
    assert dutch_part(old) is old
    assert dutch_part(None) == {}


def test_accuracy_targets_are_dutch_and_each_language_has_its_gates():
    rows = by_name(targets(results(pooled())))
    assert rows["Test-set intent accuracy"]["shown"] == "98.0 %"
    assert rows["Test-set intent accuracy"]["met"] is True
    faq = rows["FAQ-answer accuracy, every other language (held-out set per language, "
               "lowest)"]
    assert (faq["shown"], faq["met"]) == ("91.7 % (uk)", True)
    oos = rows["Out-of-scope recall, every other language (held-out set per language, "
               "lowest)"]
    assert (oos["shown"], oos["met"]) == ("85.0 % (uk)", False)


def test_a_run_without_languages_has_no_language_gates_measured():
    rows = by_name(targets(results(summary(intent_accuracy=0.9))))
    assert rows["Test-set intent accuracy"]["met"] is False
    gates = [r for name, r in rows.items() if "every other language" in name]
    assert len(gates) == 3 and all(r["met"] is None for r in gates)
    assert {r["shown"] for r in gates} == {"not measured"}


def test_nlu_only_run_reports_its_own_train_time():
    row = "`rasa train` (full model, no cache)"
    kept = {"full_train_s": 36.9, "full_train_s_nlu_only_run": 190.0}
    assert by_name(targets(results(pooled(), training=kept)))[row]["met"] is False
    full = {"full_train_s": 36.9}
    assert by_name(targets(results(pooled(), training=full)))[row]["shown"] == "36.9 s"


def test_dutch_before_and_after_marks_what_got_worse():
    before = {"label": "before", "link": "x/report.md",
              "test": summary(oos_recall=0.96, false_reject_rate=0.0),
              "cv": summary(false_reject_rate=0.05)}
    now = {"nl": summary(oos_recall=0.94, false_reject_rate=0.0), "en": summary()}
    text = "\n".join(dutch_before_after(results(
        summary(per_language=now),
        summary(false_reject_rate=0.03, per_language={"nl": summary(false_reject_rate=0.03),
                                                      "en": summary()}),
        before_languages=before)))
    assert "| out-of-scope recall | 96.0 % | 94.0 % (worse) |" in text
    # fewer false rejects is better, not worse
    assert "| in-scope false rejects | 0.0 % | 0.0 % | 5.0 % | 3.0 % |" in text
    assert "Worse than before: out-of-scope recall (test set) 96.0 % → 94.0 %." in text
    assert dutch_before_after(results(summary())) == []
