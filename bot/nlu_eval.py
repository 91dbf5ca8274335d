"""Evaluate the trained NLU model on a held-out test set (``tests/nlu``).

Counts what a parent would actually get:

* **intent accuracy** — the predicted intent (``faq``, ``ask_status``, ``out_of_scope``…,
  or ``nlu_fallback`` when the FallbackClassifier is unsure) equals the labelled intent;
* **FAQ-answer accuracy** — for ``faq/<topic>`` examples: intent ``faq`` *and* the
  answer selection (``response_selector`` in the parse data) picked ``<topic>`` with at
  least the confidence
  ``action_answer_faq`` needs to answer instead of asking "Bedoelt u …?".

Writes ``report.json`` and ``report.md`` (per intent / per topic) and fails when either
number is below its minimum.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANSWER_THRESHOLD = 0.5  # keep equal to actions.faq.ANSWER_CONFIDENCE_THRESHOLD


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

    @property
    def base_intent(self) -> str:
        return self.example.intent.split("/", 1)[0]

    @property
    def intent_ok(self) -> bool:
        return self.intent == self.base_intent

    @property
    def answer_ok(self) -> bool:
        if not self.example.intent.startswith("faq/"):
            return self.intent_ok
        return (
            self.intent == "faq"
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
        return self._rate(self.predictions, "intent_ok")

    @property
    def faq_accuracy(self) -> float:
        return self._rate([p for p in self.predictions if p.base_intent == "faq"], "answer_ok")

    def per_label(self) -> dict[str, dict[str, float]]:
        groups: dict[str, list[Prediction]] = defaultdict(list)
        for p in self.predictions:
            groups[p.example.intent].append(p)
        return {
            label: {
                "n": len(preds),
                "intent_accuracy": self._rate(preds, "intent_ok"),
                "answer_accuracy": self._rate(preds, "answer_ok"),
            }
            for label, preds in sorted(groups.items())
        }

    def errors(self) -> list[dict[str, Any]]:
        return [
            {"text": p.example.text, "expected": p.example.intent, "intent": p.intent,
             "intent_confidence": round(p.intent_confidence, 3), "faq": p.faq_key,
             "faq_confidence": round(p.faq_confidence, 3)}
            for p in self.predictions if not p.answer_ok
        ]

    def confusion(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for p in self.predictions:
            got = p.faq_key if p.intent == "faq" and p.faq_key else p.intent
            table[p.example.intent][got] += 1
        return {k: dict(v) for k, v in sorted(table.items())}


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


async def predict(model: str, examples: list[Example]) -> Report:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines with the texts

    agent = Agent.load(model)
    report = Report()
    for example in examples:
        parsed = await agent.parse_message(example.text)
        selector = (parsed.get("response_selector") or {}).get("faq") or {}
        response = selector.get("response") or {}
        report.predictions.append(Prediction(
            example=example,
            intent=(parsed.get("intent") or {}).get("name") or "",
            intent_confidence=float((parsed.get("intent") or {}).get("confidence") or 0),
            faq_key=response.get("intent_response_key"),
            faq_confidence=float(response.get("confidence") or 0),
        ))
    return report


def write_report(report: Report, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "n": len(report.predictions),
        "intent_accuracy": report.intent_accuracy,
        "faq_answer_accuracy": report.faq_accuracy,
        "per_label": report.per_label(),
        "confusion": report.confusion(),
        "errors": report.errors(),
    }
    (out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False),
                                     encoding="utf-8")
    lines = [
        f"NLU evaluation on {len(report.predictions)} held-out examples",
        f"  intent accuracy:     {report.intent_accuracy:.1%}",
        f"  FAQ-answer accuracy: {report.faq_accuracy:.1%}",
        "",
        "| label | n | intent acc. | answer acc. |",
        "|---|---|---|---|",
    ]
    for label, row in report.per_label().items():
        lines.append(f"| {label} | {row['n']} | {row['intent_accuracy']:.1%} | "
                     f"{row['answer_accuracy']:.1%} |")
    if report.errors():
        lines += ["", "Misclassified:"]
        lines += [f"  - {e['text']!r}: expected {e['expected']}, got {e['intent']} "
                  f"({e['intent_confidence']}) / {e['faq']} ({e['faq_confidence']})"
                  for e in report.errors()]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    return text


def nlu_eval_command(model: str, data: str, out: str, min_intent: float, min_faq: float) -> int:
    report = asyncio.run(predict(model, load_examples(Path(data))))
    print(write_report(report, Path(out)), flush=True)
    failed = []
    if report.intent_accuracy < min_intent:
        failed.append(f"intent accuracy {report.intent_accuracy:.1%} < {min_intent:.0%}")
    if report.faq_accuracy < min_faq:
        failed.append(f"FAQ-answer accuracy {report.faq_accuracy:.1%} < {min_faq:.0%}")
    if failed:
        print("NLU evaluation FAILED: " + "; ".join(failed), flush=True)
        return 1
    print("NLU evaluation passed.", flush=True)
    return 0
