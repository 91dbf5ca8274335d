"""Train and evaluate Rasa NLU models in a separate process: ``python -m bench.worker JOBS``.

``JOBS`` is a JSON list of jobs. Several workers may share one list: a worker claims a job
by creating ``<out>.claim`` exclusively, so each job runs once. A job trains an NLU model
(``train_data`` set) or loads one (``model``, after the file ``wait_for`` exists), parses
the examples of each of its test sets (``evals``: ``[[name, path], …]``) one at a time,
and writes ``out`` (JSON: training seconds, model size, per test set the predictions and
parse times).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.nlu import prediction_to_dict
from bot.nlu_eval import Example, Prediction, load_examples


def claim(out: Path) -> bool:
    try:
        os.close(os.open(str(out) + ".claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return True
    except FileExistsError:
        return False


def train(job: dict[str, Any]) -> tuple[str, float]:
    from rasa.model_training import train_nlu

    start = time.perf_counter()
    model = train_nlu(config=job["config"], nlu_data=job["train_data"],
                      output=job["model_dir"], domain=job["domain"],
                      fixed_model_name=job["id"])
    if not model:
        raise RuntimeError(f"training failed for {job['id']}")
    return str(model), time.perf_counter() - start


async def evaluate(model: str, test_sets: list[tuple[str, list[Example]]]
                   ) -> dict[str, tuple[list[Prediction], list[float]]]:
    """Like :func:`bot.nlu_eval.predict`, with the time of each parse."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(model)
    await agent.parse_message("warm-up")  # the first call builds the TF graph
    results = {}
    for name, examples in test_sets:
        predictions: list[Prediction] = []
        parse_ms: list[float] = []
        for example in examples:
            start = time.perf_counter()
            parsed = await agent.parse_message(example.text)
            parse_ms.append((time.perf_counter() - start) * 1000)
            # ours: retrieval_intent faq; rasa init's ResponseSelector answers under "default"
            predictions.append(prediction_of(example, parsed))
        results[name] = (predictions, parse_ms)
    return results


def prediction_of(example: Example, parsed: dict[str, Any]) -> Prediction:
    """What the parse means for the parent, with the issue-13 two-stage decision.

    Ours has one answer selection per retrieval intent (``faq``, ``neighbour``); rasa
    init's ResponseSelector answers every retrieval intent under ``default`` (its key says
    which: ``faq/…`` or ``neighbour/…``)."""
    from core.answers import prefers_neighbour

    selectors = parsed.get("response_selector") or {}
    faq = (selectors.get("faq") or {}).get("response") or {}
    neighbour = (selectors.get("neighbour") or {}).get("response") or {}
    default = (selectors.get("default") or {}).get("response") or {}
    key = str(default.get("intent_response_key") or "")
    if not faq and key.startswith("faq/"):
        faq = default
    if not neighbour and key.startswith("neighbour/"):
        neighbour = default
    intent = parsed.get("intent") or {}
    return Prediction(
        example=example,
        intent=intent.get("name") or "",
        intent_confidence=float(intent.get("confidence") or 0),
        faq_key=faq.get("intent_response_key"),
        faq_confidence=float(faq.get("confidence") or 0),
        neighbour_key=neighbour.get("intent_response_key"),
        neighbour_confidence=float(neighbour.get("confidence") or 0),
        neighbour_first=prefers_neighbour(parsed),
    )


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    train_seconds = None
    model = job.get("model")
    if job.get("train_data"):
        model, train_seconds = train(job)
    deadline = time.monotonic() + 3600
    while job.get("wait_for") and not Path(job["wait_for"]).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{job['wait_for']} did not appear")
        time.sleep(1)
    assert model
    test_sets = [(name, load_examples(Path(test))) for name, test in job["evals"]]
    evals = {
        name: {"parse_ms": parse_ms, "predictions": [prediction_to_dict(p) for p in preds]}
        for name, (preds, parse_ms) in asyncio.run(evaluate(model, test_sets)).items()
    }
    return {
        "id": job["id"],
        "train_seconds": train_seconds,
        "model_bytes": Path(model).stat().st_size,
        "evals": evals,
    }


def main(jobs_file: str) -> int:
    logging.basicConfig(level=logging.WARNING)
    jobs = json.loads(Path(jobs_file).read_text(encoding="utf-8"))
    failed = 0
    for job in jobs:
        out = Path(job["out"])
        if not claim(out):
            continue
        print(f"[bench.worker {os.getpid()}] {job['id']}: start", flush=True)
        try:
            result = run_job(job)
        except Exception as exc:  # report the failure in the result; the run goes on
            failed += 1
            result = {"id": job["id"], "error": f"{type(exc).__name__}: {exc}"}
        out.write_text(json.dumps(result), encoding="utf-8")
        print(f"[bench.worker {os.getpid()}] {job['id']}: done "
              f"({result.get('train_seconds') or 0:.0f} s training)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
