"""NLU side of the benchmark: data snapshot, folds, pipeline configs, baseline, metrics.

Every system is scored as the parent experiences it, with the classes of
:mod:`bot.nlu_eval` (``Example``, ``Prediction``, ``Report``):

* **intent accuracy** and **FAQ-answer accuracy** (intent ``faq``, the right topic, and a
  confidence of at least ``ANSWER_THRESHOLD`` so ``action_answer_faq`` answers);
* **out-of-scope recall**: ``out_of_scope`` examples that get intent ``out_of_scope``;
* **false rejects**: in-scope examples answered with ``out_of_scope``, ``nlu_fallback``
  or a clarification ("Bedoelt u …?") instead of an answer.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # (no stubs installed)

from bot.nlu_classifier import build_model, model_input
from bot.nlu_eval import (
    ANSWER_THRESHOLD,
    DUTCH,
    LANGUAGES_DIR,
    NEIGHBOUR_THRESHOLD,
    Example,
    Prediction,
    Report,
    load_examples,
    scope_of,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLARIFY = "clarify"  # nlu_fallback, or intent faq with an unsure answer: "Bedoelt u …?"
OUT_OF_SCOPE = "out_of_scope"
NEIGHBOUR_GENERAL = "neighbour_general"  # a neighbour question, subject unsure: a referral

# The pipeline `rasa init` writes (commented out) in Rasa 3.6's
# rasa/cli/initial_project/config.yml; used when that file cannot be read.
INIT_PIPELINE: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexFeaturizer"},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
    {"name": "DIETClassifier", "epochs": 100},
    {"name": "EntitySynonymMapper"},
    {"name": "ResponseSelector", "epochs": 100},
    {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
]


@dataclass(frozen=True)
class Snapshot:
    """A copy of the training inputs taken at the start, so every system sees the same."""

    root: Path
    config: Path
    domain: Path
    data: Path
    nlu: Path  # data/nlu
    answers: Path  # data/answers
    tests: Path  # tests/nlu


def take_snapshot(tmp: Path) -> Snapshot:
    root = tmp / "snapshot"
    root.mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "config.yml", root / "config.yml")
    shutil.copy2(PROJECT_ROOT / "domain.yml", root / "domain.yml")
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    shutil.copytree(PROJECT_ROOT / "tests" / "nlu", root / "tests_nlu",
                    ignore=shutil.ignore_patterns("*.md"))
    return Snapshot(root, root / "config.yml", root / "domain.yml", root / "data",
                    root / "data" / "nlu", root / "data" / "answers", root / "tests_nlu")


# --- pipeline configs -----------------------------------------------------------------

def init_template_pipeline() -> tuple[list[dict[str, Any]], str]:
    """The commented default pipeline of the installed ``rasa init`` template."""
    try:
        import rasa.cli

        template = Path(rasa.cli.__file__).parent / "initial_project" / "config.yml"
        lines: list[str] = []
        inside = False
        for line in template.read_text(encoding="utf-8").splitlines():
            if line.startswith("pipeline:"):
                inside = True
                continue
            if inside and not line.startswith("#"):
                break
            if inside and not line.startswith("# #") and line.strip() != "#":
                lines.append(line[2:])
        pipeline = yaml.safe_load("\n".join(lines))
        if isinstance(pipeline, list) and pipeline and all("name" in c for c in pipeline):
            return pipeline, str(template.relative_to(template.parents[3]))
    except (OSError, ImportError, yaml.YAMLError, ValueError):
        pass
    return INIT_PIPELINE, "built-in copy (template not readable)"


def read_config(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return path


def default_config(ours: dict[str, Any]) -> dict[str, Any]:
    """Our config with the pipeline replaced by `rasa init`'s default (same language)."""
    pipeline, _ = init_template_pipeline()
    return {**ours, "assistant_id": "bench-rasa-init-default", "pipeline": pipeline}


def override_components(config: dict[str, Any], changes: dict[str, dict[str, Any]]
                        ) -> dict[str, Any]:
    """A copy of ``config`` with ``changes[component name]`` merged into that component."""
    pipeline = [
        {**component, **changes.get(component["name"], {})}
        for component in config["pipeline"]
    ]
    return {**config, "pipeline": pipeline}


def with_epochs(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Quick mode: every trainable classifier with ``epochs`` epochs."""
    return override_components(config, {"DIETClassifier": {"epochs": epochs},
                                        "ResponseSelector": {"epochs": epochs}})


def pipeline_summary(config: dict[str, Any], details: bool = True) -> str:
    parts = []
    for component in config["pipeline"]:
        extras = {k: v for k, v in component.items() if k != "name"}
        name = str(component["name"]).rsplit(".", 1)[-1]
        if details and extras:
            name += "(" + ", ".join(f"{k}={v}" for k, v in extras.items()) + ")"
        parts.append(name)
    return " → ".join(parts)


# --- data and folds ----------------------------------------------------------------------

def training_examples(snapshot: Snapshot) -> list[Example]:
    return load_examples(snapshot.nlu)


def test_examples(snapshot: Snapshot) -> list[Example]:
    return load_examples(snapshot.tests)


def stratified_folds(examples: Sequence[Example], k: int, seed: int = 42
                     ) -> list[tuple[list[int], list[int]]]:
    from sklearn.model_selection import StratifiedKFold

    labels = [e.intent for e in examples]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(list(train), list(test)) for train, test in splitter.split(labels, labels)]


def write_nlu_yaml(examples: Sequence[Example], path: Path) -> Path:
    by_label: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        by_label[example.intent].append(example.text)
    lines = ['version: "3.1"', "nlu:"]
    for label in sorted(by_label):
        lines += [f"- intent: {label}", "  examples: |"]
        lines += [f"    - {' '.join(text.split())}" for text in by_label[label]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_nlu_dir(examples: Sequence[Example], target: Path) -> Path:
    """A folder as ``data/nlu``: the Dutch examples in ``nlu.yml``, every other language in
    ``languages/<lang>.yml`` (issue 16), so :func:`load_examples` gives them their
    language back and ``rasa train`` reads them all."""
    target.mkdir(parents=True, exist_ok=True)
    by_language: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_language[example.language].append(example)
    write_nlu_yaml(by_language.pop(DUTCH, []), target / "nlu.yml")
    for language, part in sorted(by_language.items()):
        write_nlu_yaml(part, target / LANGUAGES_DIR / f"{language}.yml")
    return target


def training_dir(snapshot: Snapshot, examples: Sequence[Example], target: Path) -> Path:
    """A data folder with ``examples`` and the FAQ answers (the ResponseSelector needs them)."""
    target.mkdir(parents=True, exist_ok=True)
    write_nlu_dir(examples, target)
    for answers in sorted(snapshot.answers.glob("*.yml")):
        shutil.copy2(answers, target / f"answers_{answers.name}")
    return target


# --- predictions <-> JSON ------------------------------------------------------------------

def prediction_to_dict(p: Prediction) -> dict[str, Any]:
    return {"text": p.example.text, "label": p.example.intent, "intent": p.intent,
            "intent_confidence": p.intent_confidence, "faq_key": p.faq_key,
            "faq_confidence": p.faq_confidence, "neighbour_key": p.neighbour_key,
            "neighbour_confidence": p.neighbour_confidence,
            "neighbour_first": p.neighbour_first, "language": p.example.language}


def prediction_from_dict(d: dict[str, Any]) -> Prediction:
    return Prediction(Example(d["text"], d["label"], d.get("language") or DUTCH), d["intent"],
                      float(d["intent_confidence"]), d.get("faq_key"),
                      float(d.get("faq_confidence") or 0.0), d.get("neighbour_key"),
                      float(d.get("neighbour_confidence") or 0.0),
                      bool(d.get("neighbour_first")))


# --- metrics -------------------------------------------------------------------------------

def outcome(p: Prediction) -> str:
    """What the parent gets: ``faq/<topic>``, ``neighbour/<subject>`` (or the general
    neighbour referral), ``clarify``, or the intent's own response — the decision of
    ``action_answer_faq`` (two-stage: lwoo or neighbour first, then the topic)."""
    if p.intent == "nlu_fallback":
        return CLARIFY
    if p.intent == "neighbour" or (p.intent == "faq" and p.neighbour_first):
        if p.neighbour_key and p.neighbour_confidence >= NEIGHBOUR_THRESHOLD:
            return p.neighbour_key
        return NEIGHBOUR_GENERAL
    if p.intent == "faq":
        if p.faq_key and p.faq_confidence >= ANSWER_THRESHOLD:
            return p.faq_key
        return CLARIFY
    return p.intent


def scope(label: str) -> str:
    """``in scope`` (the six lwoo answers, status, conversation), ``neighbour`` or
    ``out of scope``: the report gives their results apart."""
    return scope_of(label)


def is_false_reject(p: Prediction) -> bool:
    """A question the parent did not get an answer to: out of scope or "Bedoelt u …?"
    for an in-scope or neighbour question, or a neighbour reply for a lwoo question."""
    got = outcome(p)
    if p.example.intent == OUT_OF_SCOPE:
        return False
    if got in (OUT_OF_SCOPE, CLARIFY):
        return True
    return p.example.intent.startswith("faq/") and not got.startswith("faq/")


def summarize(predictions: Sequence[Prediction], per_language: bool = True
              ) -> dict[str, Any]:
    """The measures; with ``per_language`` also ``per_language``: the same measures
    (without their per-label tables) per language of the examples (issue 16)."""
    report = Report(list(predictions))
    oos = [p for p in predictions if p.example.intent == OUT_OF_SCOPE]
    in_scope = [p for p in predictions if scope(p.example.intent) == "in scope"]
    faq = [p for p in predictions if p.example.intent.startswith("faq/")]
    neighbours = [p for p in predictions if p.example.intent.startswith("neighbour/")]
    oos_answered = [p for p in oos if outcome(p) not in (OUT_OF_SCOPE, CLARIFY)]
    not_lwoo = neighbours + oos
    return {
        "n": len(predictions),
        "intent_accuracy": report.intent_accuracy,
        "faq_answer_accuracy": report.faq_accuracy,
        "neighbour_accuracy": report.neighbour_accuracy,
        "neighbour_n": len(neighbours),
        "not_lwoo_rate": (sum(not outcome(p).startswith("faq/") for p in not_lwoo)
                          / len(not_lwoo)) if not_lwoo else 0.0,
        "oos_recall": report.oos_recall,
        "oos_answered": len(oos_answered) / len(oos) if oos else 0.0,
        # in scope: the six lwoo answers, status and the conversation intents (as before
        # issue 13); the neighbours have their own rate
        "false_reject_rate": (sum(map(is_false_reject, in_scope)) / len(in_scope)
                              if in_scope else 0.0),
        "neighbour_reject_rate": (sum(map(is_false_reject, neighbours)) / len(neighbours)
                                  if neighbours else 0.0),
        "faq_false_reject_rate": (sum(map(is_false_reject, faq)) / len(faq)) if faq else 0.0,
        "per_label": report.per_label(),
        **({"per_language": {
            language: {k: v for k, v in summarize(
                [p for p in predictions if p.example.language == language],
                per_language=False).items() if k != "per_label"}
            for language in report.languages()}} if per_language else {}),
    }


def summarize_folds(folds: Sequence[Sequence[Prediction]]) -> dict[str, Any]:
    """Pooled metrics over all folds plus the spread of the per-fold values."""
    pooled = summarize([p for fold in folds for p in fold])
    per_fold = [summarize(fold) for fold in folds]
    for key in ("intent_accuracy", "faq_answer_accuracy", "oos_recall", "false_reject_rate",
                "faq_false_reject_rate", "neighbour_accuracy", "not_lwoo_rate",
                "neighbour_reject_rate"):
        values = [f[key] for f in per_fold]
        pooled[key + "_sd"] = statistics.pstdev(values) if len(values) > 1 else 0.0
    pooled["folds"] = len(folds)
    return pooled


def confusion(predictions: Sequence[Prediction]) -> tuple[list[str], list[str], list[list[int]]]:
    """Rows: expected labels; columns: expected labels + ``clarify`` (what the parent got)."""
    rows = sorted({p.example.intent for p in predictions},
                  key=lambda label: (not label.startswith("faq/"), label))
    got = Counter((p.example.intent, outcome(p)) for p in predictions)
    extra = sorted({o for _, o in got} - set(rows) - {CLARIFY})
    columns = rows + extra + [CLARIFY]
    return rows, columns, [[got[(r, c)] for c in columns] for r in rows]


def errors(predictions: Sequence[Prediction], limit: int | None = 20) -> list[dict[str, Any]]:
    """The misses (what the parent got differs from the label), with their scope."""
    wrong = [p for p in predictions if outcome(p) != p.example.intent]
    return [{"text": p.example.text, "expected": p.example.intent, "got": outcome(p),
             "scope": scope(p.example.intent), "lwoo_answer": outcome(p).startswith("faq/"),
             "confidence": round(p.faq_confidence if p.intent == "faq" else
                                 p.intent_confidence, 2)} for p in wrong[:limit]]


# --- the scikit-learn baseline ---------------------------------------------------------------

class TfidfMatcher:
    """Plain TF-IDF (words 1-2 + characters 2-4) and logistic regression over the full
    labels (``faq/<topic>`` as separate classes). Always answers its best class: it has no
    threshold, so it never asks "Bedoelt u …?"."""

    def __init__(self) -> None:
        # the same scikit-learn model as TfidfLabelClassifier, on the text as typed
        # (no spaCy lemmas, no Rasa around it)
        self.model = build_model()
        self.train_seconds = 0.0
        self.parse_ms: list[float] = []

    def fit(self, examples: Sequence[Example]) -> TfidfMatcher:
        start = time.perf_counter()
        self.model.fit([model_input(e.text) for e in examples], [e.intent for e in examples])
        self.train_seconds = time.perf_counter() - start
        return self

    def predict(self, examples: Sequence[Example]) -> list[Prediction]:
        predictions = []
        for example in examples:  # one at a time, as a server would
            start = time.perf_counter()
            probabilities = self.model.predict_proba([model_input(example.text)])[0]
            self.parse_ms.append((time.perf_counter() - start) * 1000)
            best = int(probabilities.argmax())
            label = str(self.model.classes_[best])
            confidence = float(probabilities[best])
            intent = label.split("/", 1)[0]
            predictions.append(Prediction(
                example, intent, confidence,
                faq_key=label if intent == "faq" else None,
                faq_confidence=1.0 if intent == "faq" else 0.0,  # always answers
                neighbour_key=label if intent == "neighbour" else None,
                neighbour_confidence=1.0 if intent == "neighbour" else 0.0,
            ))
        return predictions
