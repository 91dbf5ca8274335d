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


@dataclass
class Example:
    text: str
    intent: str  # "faq/budget" or "greet"


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


def load_examples(data: Path) -> list[Example]:
    """Read Rasa YAML NLU files (a file or a folder)."""
    from rasa.shared.nlu.training_data.loading import load_data

    files = sorted(data.glob("*.yml")) if data.is_dir() else [data]
    examples: list[Example] = []
    for file in files:
        examples += [
            Example(m.get("text"), m.get_full_intent())
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


def write_report(report: Report, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "n": len(report.predictions),
        "intent_accuracy": report.intent_accuracy,
        "faq_answer_accuracy": report.faq_accuracy,
        "neighbour_answer_accuracy": report.neighbour_accuracy,
        "neighbour_and_out_of_scope_not_lwoo": report.not_lwoo_rate,
        "per_label": report.per_label(),
        "confusion": report.confusion(),
        "errors": report.errors(),
    }
    (out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False),
                                     encoding="utf-8")
    lines = [
        f"NLU evaluation on {len(report.predictions)} held-out examples",
        f"  intent accuracy (all but neighbours): {report.intent_accuracy:.1%}",
        f"  in scope — FAQ-answer accuracy: {report.faq_accuracy:.1%}",
        f"  neighbours — own reply (subject right): {report.neighbour_accuracy:.1%}",
        f"  neighbours + out of scope — no lwoo answer: {report.not_lwoo_rate:.1%}",
    ]
    per_label = report.per_label()
    errors = report.errors()
    for title, group in SCOPES:
        labels = [label for label in per_label if scope_of(label) == group]
        if not labels:
            continue
        n = sum(int(per_label[label]["n"]) for label in labels)
        lines += ["", f"## {title} ({n} examples)", "",
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
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    return text


def nlu_eval_command(model: str, data: str, out: str, min_intent: float, min_faq: float,
                     min_not_lwoo: float = 0.0, training: str | None = "data/nlu") -> int:
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
    failed = []
    if report.intent_accuracy < min_intent:
        failed.append(f"intent accuracy {report.intent_accuracy:.1%} < {min_intent:.0%}")
    if report.faq_accuracy < min_faq:
        failed.append(f"FAQ-answer accuracy {report.faq_accuracy:.1%} < {min_faq:.0%}")
    if report.not_lwoo_rate < min_not_lwoo:
        failed.append(f"neighbour/out-of-scope without lwoo answer {report.not_lwoo_rate:.1%} "
                      f"< {min_not_lwoo:.0%}")
    if failed:
        print("NLU evaluation FAILED: " + "; ".join(failed), flush=True)
        return 1
    print("NLU evaluation passed.", flush=True)
    return 0
