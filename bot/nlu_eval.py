"""Evaluate the trained NLU model on a held-out test set (``tests/nlu``).

Counts what a parent would actually get:

* **intent accuracy** — the predicted intent (``faq``, ``ask_status``, ``out_of_scope``…,
  or ``nlu_fallback`` when the FallbackClassifier is unsure) equals the labelled intent;
* **FAQ-answer accuracy** — for ``faq/<topic>`` examples: intent ``faq`` *and* the
  answer selection (``response_selector`` in the parse data) picked ``<topic>`` with at
  least the confidence
  ``action_answer_faq`` needs to answer instead of asking "Bedoelt u …?".

* **neighbour results** (issue 13) — for ``neighbour/<subject>`` examples: the subject
  was recognised (``answer_ok``), and separately whether the parent was *never given a
  lwoo answer* (``no_lwoo_answer``; also counted for ``out_of_scope``). In-scope and
  neighbour results are reported apart, per category, with the misses.

The held-out set must be held out: an example that is also a training example (same
text after lower-casing and collapsing spaces) fails the evaluation
(:func:`training_overlap`).

Writes ``report.json`` and ``report.md`` (per intent / per topic) and fails when a
number is below its minimum.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.answers import ANSWER_CONFIDENCE_THRESHOLD, NEIGHBOUR_CONFIDENCE_THRESHOLD

ANSWER_THRESHOLD = ANSWER_CONFIDENCE_THRESHOLD  # the action server decides with the same numbers
NEIGHBOUR_THRESHOLD = NEIGHBOUR_CONFIDENCE_THRESHOLD


LANGUAGES_DIR = "languages"  # data/nlu/languages/<lang>.yml, tests/nlu/languages/test_<lang>.yml
DUTCH = "nl"


@dataclass
class Example:
    text: str
    intent: str  # "faq/budget" or "greet"
    language: str = DUTCH  # issue 16: "en", "tr", "ar", "pl", "uk" for the languages/ files


@dataclass
class Prediction:
    example: Example
    intent: str
    intent_confidence: float
    faq_key: str | None = None
    faq_confidence: float = 0.0
    neighbour_key: str | None = None
    neighbour_confidence: float = 0.0
    neighbour_first: bool = False  # core.answers.prefers_neighbour: the two-stage decision

    @property
    def base_intent(self) -> str:
        return self.example.intent.split("/", 1)[0]

    @property
    def intent_ok(self) -> bool:
        return self.intent == self.base_intent

    @property
    def gives_lwoo_answer(self) -> bool:
        """The parent would get one of the six lwoo answers (action_answer_faq answers)."""
        return (self.intent == "faq" and not self.neighbour_first
                and self.faq_confidence >= ANSWER_THRESHOLD)

    @property
    def no_lwoo_answer(self) -> bool:
        return not self.gives_lwoo_answer

    @property
    def answer_ok(self) -> bool:
        if self.example.intent.startswith("neighbour/"):
            return ((self.intent == "neighbour" or self.neighbour_first)
                    and self.neighbour_key == self.example.intent
                    and self.neighbour_confidence >= NEIGHBOUR_THRESHOLD)
        if not self.example.intent.startswith("faq/"):
            return self.intent_ok
        return (
            self.intent == "faq" and not self.neighbour_first
            and self.faq_key == self.example.intent
            and self.faq_confidence >= ANSWER_THRESHOLD
        )


@dataclass
class Report:
    predictions: list[Prediction] = field(default_factory=list)

    def _rate(self, preds: list[Prediction], attr: str) -> float:
        return sum(getattr(p, attr) for p in preds) / len(preds) if preds else 0.0

    @property
    def intent_accuracy(self) -> float:
        """Intent accuracy on everything except the neighbours (those are scored by
        ``neighbour_accuracy`` and ``not_lwoo_rate``)."""
        return self._rate([p for p in self.predictions if p.base_intent != "neighbour"],
                          "intent_ok")

    @property
    def faq_accuracy(self) -> float:
        return self._rate([p for p in self.predictions if p.base_intent == "faq"], "answer_ok")

    @property
    def neighbour_accuracy(self) -> float:
        return self._rate([p for p in self.predictions if p.base_intent == "neighbour"],
                          "answer_ok")

    @property
    def not_lwoo_rate(self) -> float:
        """Neighbour and out-of-scope questions NOT answered with a lwoo answer."""
        return self._rate([p for p in self.predictions
                           if p.base_intent in ("neighbour", "out_of_scope")], "no_lwoo_answer")

    @property
    def oos_recall(self) -> float:
        """Out-of-scope questions that got the intent ``out_of_scope`` (issue 16 gates it
        per language; a neighbour reply or a conversation intent does not count)."""
        return self._rate([p for p in self.predictions if p.base_intent == "out_of_scope"],
                          "intent_ok")

    def languages(self) -> list[str]:
        """The languages of the examples, Dutch first."""
        found = {p.example.language for p in self.predictions}
        return sorted(found, key=lambda lang: (lang != DUTCH, lang))

    def of_language(self, language: str) -> Report:
        return Report([p for p in self.predictions if p.example.language == language])

    def per_language(self) -> dict[str, dict[str, float]]:
        """Per language (issue 16): the measures of the whole report, on its examples."""
        result: dict[str, dict[str, float]] = {}
        for language in self.languages():
            part = self.of_language(language)
            result[language] = {
                "n": len(part.predictions),
                "intent_accuracy": part.intent_accuracy,
                "faq_answer_accuracy": part.faq_accuracy,
                "neighbour_answer_accuracy": part.neighbour_accuracy,
                "neighbour_and_out_of_scope_not_lwoo": part.not_lwoo_rate,
                "out_of_scope_recall": part.oos_recall,
            }
        return result

    def per_label(self) -> dict[str, dict[str, float]]:
        groups: dict[str, list[Prediction]] = defaultdict(list)
        for p in self.predictions:
            groups[p.example.intent].append(p)
        return {
            label: {
                "n": len(preds),
                "intent_accuracy": self._rate(preds, "intent_ok"),
                "answer_accuracy": self._rate(preds, "answer_ok"),
                "no_lwoo_answer": self._rate(preds, "no_lwoo_answer"),
            }
            for label, preds in sorted(groups.items())
        }

    def errors(self) -> list[dict[str, Any]]:
        return [
            {"text": p.example.text, "expected": p.example.intent, "intent": p.intent,
             "intent_confidence": round(p.intent_confidence, 3), "faq": p.faq_key,
             "faq_confidence": round(p.faq_confidence, 3), "neighbour": p.neighbour_key,
             "neighbour_confidence": round(p.neighbour_confidence, 3),
             "lwoo_answer": p.gives_lwoo_answer}
            for p in self.predictions if not p.answer_ok
        ]

    def confusion(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for p in self.predictions:
            got = p.faq_key if p.intent == "faq" and p.faq_key else p.intent
            if p.intent == "neighbour" and p.neighbour_key:
                got = p.neighbour_key
            table[p.example.intent][got] += 1
        return {k: dict(v) for k, v in sorted(table.items())}


# the report's sections: the lwoo answers and the bot's own intents, the neighbouring
# subjects, out of scope (issue 13: in-scope and neighbour results apart)
SCOPES = (("In scope", "in scope"), ("Neighbours", "neighbour"), ("Out of scope", "out of scope"))


def scope_of(label: str) -> str:
    if label.startswith("neighbour/"):
        return "neighbour"
    if label == "out_of_scope":
        return "out of scope"
    return "in scope"


def language_of(file: Path) -> str:
    """``nl``, or ``<lang>`` for ``languages/<lang>.yml`` and ``languages/test_<lang>.yml``."""
    if file.parent.name != LANGUAGES_DIR:
        return DUTCH
    stem = file.stem
    return stem[len("test_"):] if stem.startswith("test_") else stem


def nlu_files(data: Path, languages: bool = True) -> list[Path]:
    """The NLU files of a folder (``*.yml``) and, unless ``languages`` is false, those
    of its ``languages/`` folder (issue 16); a file is itself."""
    if not data.is_dir():
        return [data]
    files = sorted(data.glob("*.yml"))
    if languages:
        files += sorted((data / LANGUAGES_DIR).glob("*.yml"))
    return files


def load_examples(data: Path, languages: bool = True) -> list[Example]:
    """Read Rasa YAML NLU files (a file or a folder with its ``languages/`` folder); each
    example carries the language of its file (:func:`language_of`)."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples: list[Example] = []
    for file in nlu_files(data, languages):
        language = language_of(file)
        examples += [
            Example(m.get("text"), m.get_full_intent(), language)
            for m in load_data(str(file)).intent_examples
        ]
    return examples


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def training_overlap(test: list[Example], training: list[Example]) -> list[str]:
    """Held-out examples that are also training examples (lower-cased, spaces collapsed)."""
    seen = {_key(e.text) for e in training}
    return sorted({e.text for e in test if _key(e.text) in seen})


async def predict(model: str, examples: list[Example]) -> Report:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines with the texts

    from core.answers import prefers_neighbour

    agent = Agent.load(model)
    report = Report()
    for example in examples:
        parsed = await agent.parse_message(example.text)
        selector = (parsed.get("response_selector") or {}).get("faq") or {}
        response = selector.get("response") or {}
        neighbour = ((parsed.get("response_selector") or {}).get("neighbour") or {}).get(
            "response") or {}
        report.predictions.append(Prediction(
            example=example,
            intent=(parsed.get("intent") or {}).get("name") or "",
            intent_confidence=float((parsed.get("intent") or {}).get("confidence") or 0),
            faq_key=response.get("intent_response_key"),
            faq_confidence=float(response.get("confidence") or 0),
            neighbour_key=neighbour.get("intent_response_key"),
            neighbour_confidence=float(neighbour.get("confidence") or 0),
            neighbour_first=prefers_neighbour(parsed),
        ))
    return report


def _label_sections(report: Report, heading: str = "##") -> list[str]:
    """Per scope (in scope, neighbours, out of scope): the per-label table and the misses."""
    lines: list[str] = []
    per_label = report.per_label()
    errors = report.errors()
    for title, group in SCOPES:
        labels = [label for label in per_label if scope_of(label) == group]
        if not labels:
            continue
        n = sum(int(per_label[label]["n"]) for label in labels)
        lines += ["", f"{heading} {title} ({n} examples)", "",
                  "| label | n | intent acc. | answer acc. | no lwoo answer |",
                  "|---|---|---|---|---|"]
        for label in labels:
            row = per_label[label]
            lines.append(f"| {label} | {row['n']} | {row['intent_accuracy']:.1%} | "
                         f"{row['answer_accuracy']:.1%} | {row['no_lwoo_answer']:.1%} |")
        misses = [e for e in errors if scope_of(e["expected"]) == group]
        lines += ["", f"Misses ({len(misses)}):" if misses else "Misses: none."]
        lines += [f"  - {e['text']!r}: expected {e['expected']}, got {e['intent']} "
                  f"({e['intent_confidence']}) / {e['faq']} ({e['faq_confidence']}) / "
                  f"{e['neighbour']} ({e['neighbour_confidence']})"
                  f"{' — LWOO ANSWER' if e['lwoo_answer'] else ''}"
                  for e in misses]
    return lines


def language_table(report: Report) -> list[str]:
    """One row per language: the gated measures side by side (issue 16)."""
    lines = ["| language | n | intent acc. (all but neighbours) | FAQ answer | "
             "neighbour own reply | neighbours + out of scope: no lwoo answer | "
             "out-of-scope recall |",
             "|---|---|---|---|---|---|---|"]
    for language, row in report.per_language().items():
        lines.append(f"| {language} | {row['n']} | {row['intent_accuracy']:.1%} | "
                     f"{row['faq_answer_accuracy']:.1%} | "
                     f"{row['neighbour_answer_accuracy']:.1%} | "
                     f"{row['neighbour_and_out_of_scope_not_lwoo']:.1%} | "
                     f"{row['out_of_scope_recall']:.1%} |")
    return lines


def write_report(report: Report, out: Path) -> str:
    """``report.json`` and ``report.md``. The headline numbers and the sections per
    scope are Dutch (the numbers of before issue 16); every other language has its
    row in the language table and a section of its own."""
    out.mkdir(parents=True, exist_ok=True)
    dutch = report.of_language(DUTCH)
    data = {
        "n": len(dutch.predictions),
        "intent_accuracy": dutch.intent_accuracy,
        "faq_answer_accuracy": dutch.faq_accuracy,
        "neighbour_answer_accuracy": dutch.neighbour_accuracy,
        "neighbour_and_out_of_scope_not_lwoo": dutch.not_lwoo_rate,
        "out_of_scope_recall": dutch.oos_recall,
        "per_label": dutch.per_label(),
        "confusion": dutch.confusion(),
        "errors": dutch.errors(),
        "per_language": report.per_language(),
        "languages": {
            language: {"per_label": report.of_language(language).per_label(),
                       "errors": report.of_language(language).errors()}
            for language in report.languages() if language != DUTCH
        },
    }
    (out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False),
                                     encoding="utf-8")
    lines = [
        f"NLU evaluation on {len(dutch.predictions)} held-out Dutch examples",
        f"  intent accuracy (all but neighbours): {dutch.intent_accuracy:.1%}",
        f"  in scope — FAQ-answer accuracy: {dutch.faq_accuracy:.1%}",
        f"  neighbours — own reply (subject right): {dutch.neighbour_accuracy:.1%}",
        f"  neighbours + out of scope — no lwoo answer: {dutch.not_lwoo_rate:.1%}",
        f"  out of scope — recall (intent out_of_scope): {dutch.oos_recall:.1%}",
    ]
    if len(report.languages()) > 1 or DUTCH not in report.languages():
        lines += ["", f"## Per language ({len(report.predictions)} examples)", ""]
        lines += language_table(report)
    lines += _label_sections(dutch)
    for language in report.languages():
        if language == DUTCH:
            continue
        part = report.of_language(language)
        lines += ["", f"## Language {language} ({len(part.predictions)} examples)"]
        lines += _label_sections(part, heading="###")
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    return text


def gate_failures(report: Report, min_intent: float, min_faq: float, min_not_lwoo: float,
                  min_language_faq: float = 0.0, min_language_not_lwoo: float = 0.0,
                  min_language_oos: float = 0.0) -> list[str]:
    """What is below its minimum: the Dutch gates on the Dutch examples, and per other
    language (issue 16) the FAQ-answer accuracy, the share of neighbour and
    out-of-scope questions without a lwoo answer and the out-of-scope recall."""
    failed: list[str] = []
    dutch = report.of_language(DUTCH)
    if dutch.predictions:
        if dutch.intent_accuracy < min_intent:
            failed.append(f"intent accuracy {dutch.intent_accuracy:.1%} < {min_intent:.0%}")
        if dutch.faq_accuracy < min_faq:
            failed.append(f"FAQ-answer accuracy {dutch.faq_accuracy:.1%} < {min_faq:.0%}")
        if dutch.not_lwoo_rate < min_not_lwoo:
            failed.append(f"neighbour/out-of-scope without lwoo answer "
                          f"{dutch.not_lwoo_rate:.1%} < {min_not_lwoo:.0%}")
    for language in report.languages():
        if language == DUTCH:
            continue
        part = report.of_language(language)
        kinds = {p.base_intent for p in part.predictions}
        if not {"faq"} & kinds or not {"neighbour", "out_of_scope"} & kinds:
            failed.append(f"{language}: the held-out set needs lwoo questions and neighbour "
                          f"or out-of-scope questions")
            continue
        if min_language_oos and "out_of_scope" not in kinds:
            failed.append(f"{language}: the held-out set needs out-of-scope questions")
            continue
        if part.faq_accuracy < min_language_faq:
            failed.append(f"{language}: FAQ-answer accuracy {part.faq_accuracy:.1%} "
                          f"< {min_language_faq:.0%}")
        if part.not_lwoo_rate < min_language_not_lwoo:
            failed.append(f"{language}: neighbour/out-of-scope without lwoo answer "
                          f"{part.not_lwoo_rate:.1%} < {min_language_not_lwoo:.0%}")
        if part.oos_recall < min_language_oos:
            failed.append(f"{language}: out-of-scope recall {part.oos_recall:.1%} "
                          f"< {min_language_oos:.0%}")
    return failed


def nlu_eval_command(model: str, data: str, out: str, min_intent: float, min_faq: float,
                     min_not_lwoo: float = 0.0, training: str | None = "data/nlu",
                     min_language_faq: float = 0.0, min_language_not_lwoo: float = 0.0,
                     min_language_oos: float = 0.0) -> int:
    examples = load_examples(Path(data))
    if training:
        overlap = training_overlap(examples, load_examples(Path(training)))
        if overlap:
            print(f"NLU evaluation FAILED: {len(overlap)} held-out example(s) are also "
                  f"training examples in {training} (remove them from one of both):", flush=True)
            for text in overlap:
                print(f"  - {text!r}", flush=True)
            return 1
    report = asyncio.run(predict(model, examples))
    print(write_report(report, Path(out)), flush=True)
    failed = gate_failures(report, min_intent, min_faq, min_not_lwoo,
                           min_language_faq, min_language_not_lwoo, min_language_oos)
    if failed:
        print("NLU evaluation FAILED: " + "; ".join(failed), flush=True)
        return 1
    print("NLU evaluation passed.", flush=True)
    return 0
