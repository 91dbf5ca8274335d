"""``python -m bench [--quick]``: train once, measure accuracy and speed, write the report.

Order: snapshot the data → train our full model (``rasa train``, timed, alone) → NLU jobs
in two worker processes (test set, cross-validation folds of every pipeline) → the
TF-IDF baseline → speed over REST with the Makefile's settings → server variants (tuning)
→ ``latest.md``, ``results.json`` and the plots. Nothing outside the temporary directory
and the report directory is written; ``models/lwoo.tar.gz`` is never touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import nlu
from bench.load import SpeedPlan, run_speed
from bench.server import (
    BASELINE_ENV,
    Variant,
    bench_pupils,
    memory,
    proc_stats,
    process_tree,
    start_bot,
)
from bot.nlu_eval import ANSWER_THRESHOLD, Prediction
from core.answers import FAQ_INTENT_MAJORITY

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_ROOT / "bench" / "reports"
# The report before the tuning of 2026-11-28, for the report's before/after table.
BEFORE_RESULTS = DEFAULT_OUT / "2026-11-27-diet" / "results.json"
BEFORE_LABEL = "2026-11-27 (DIET + ResponseSelector, before the speed fixes)"
# The last run before the other languages (issue 16: the Dutch results not lower than before).
BEFORE_LANGUAGES_RESULTS = DEFAULT_OUT / "2026-12-02-before-languages" / "results.json"
BEFORE_LANGUAGES_LABEL = "2026-12-02, commit b8e746e, Dutch only"

# Pipeline variants tried on cross-validation in a full run, against config.yml.
# "diet": the pipeline config.yml had before 2026-11-28 (DIET + ResponseSelector on count
# vectors, FallbackClassifier 0.45 / 0.1), so the report shows the change in one run.
DIET_PIPELINE: list[dict[str, Any]] = [
    {"name": "CountVectorsFeaturizer", "analyzer": "word", "use_lemma": True},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4},
    {"name": "DIETClassifier", "epochs": 100, "entity_recognition": False,
     "number_of_transformer_layers": 0, "hidden_layers_sizes": {"text": [256, 128]},
     "constrain_similarities": True, "random_seed": 42},
    {"name": "ResponseSelector", "retrieval_intent": "faq", "epochs": 80,
     "constrain_similarities": True, "random_seed": 42},
]
DIET_TEXT = ("TfidfLabelClassifier → word (lemma) + char 2-4 count vectors, DIETClassifier "
             "(100 epochs, no transformer, hidden [256, 128]) + ResponseSelector (80 epochs); "
             "FallbackClassifier 0.45 / ambiguity 0.1 (config.yml until 2026-11-28)")
NO_LEMMA_TEXT = "TfidfLabelClassifier use_lemma: false (words as typed, no spaCy lemmas)"
CLASSIFIER = "bot.nlu_classifier.TfidfLabelClassifier"


def _diet(config: dict[str, Any]) -> dict[str, Any]:
    pipeline: list[dict[str, Any]] = []
    for component in config["pipeline"]:
        if component["name"] == CLASSIFIER:
            pipeline += [dict(c) for c in DIET_PIPELINE]
        elif component["name"] == "FallbackClassifier":
            pipeline.append({**component, "threshold": 0.45, "ambiguity_threshold": 0.1})
        else:
            pipeline.append(component)
    return {**config, "pipeline": pipeline}


def _no_lemma(config: dict[str, Any]) -> dict[str, Any]:
    return nlu.override_components(config, {CLASSIFIER: {"use_lemma": False}})


# name -> (change, description)
CONFIG_VARIANTS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "diet": (_diet, DIET_TEXT),
    "no-lemma": (_no_lemma, NO_LEMMA_TEXT),
}

QUICK_EPOCHS = 2  # quick mode: CV models
QUICK_SERVED_EPOCHS = 20  # quick mode: the model the servers load

# The speed fixes found by the bench of 2026-11-27 (action responses checked with a
# validator built once, the tracker store's prepared statements and SQLite WAL) are in
# bot/compat.py and bot/tracker_store.py, so every variant has them.
SERVER_VARIANTS = [
    Variant("baseline", dict(BASELINE_ENV), 1, "Makefile: TF threads 1/1, oneDNN off"),
    Variant("tf-threads-default", {"TF_ENABLE_ONEDNN_OPTS": "0"}, 1,
            "TF intra/inter-op threads unset (TensorFlow decides), oneDNN off"),
    Variant("workers-2", dict(BASELINE_ENV), 2,
            "SANIC_WORKERS=2, Redis lock store (127.0.0.1:6379), TF threads 1/1"),
    Variant("baseline-again", dict(BASELINE_ENV), 1,
            "the baseline once more, to show the drift of this machine during the run"),
]


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# --- the machine ---------------------------------------------------------------------------

def _cpu_ticks() -> dict[int, tuple[str, int]]:
    ticks = {}
    for pid, stat in proc_stats():
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        ticks[pid] = (comm, int(fields[11]) + int(fields[12]))
    return ticks


def _descendants(root: int) -> set[int]:
    tree = process_tree()
    found, todo = {root}, [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _describe(pid: int, comm: str) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [Path(a.decode(errors="replace")).name for a in argv[:4] if a]
        words = [w for w in words if not w.startswith("python")][:3]
        return " ".join(words) or comm
    except OSError:
        return comm


@dataclass
class Monitor:
    """Samples the load average and the CPU use of processes that are not ours."""

    interval: float = 20.0
    loads: list[float] = field(default_factory=list)
    foreign: dict[str, float] = field(default_factory=dict)  # description -> CPU seconds
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample_foreign(self, window: float = 2.0) -> dict[str, float]:
        before = _cpu_ticks()
        time.sleep(window)
        after = _cpu_ticks()
        ours = _descendants(os.getpid())
        hz = os.sysconf("SC_CLK_TCK")
        usage: dict[str, float] = {}
        for pid, (comm, ticks) in after.items():
            if pid in ours or pid not in before:
                continue
            used = (ticks - before[pid][1]) / hz
            if used > 0.02 * window:
                name = _describe(pid, comm)
                usage[name] = usage.get(name, 0.0) + used / window
        return usage

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.loads.append(os.getloadavg()[0])
            for name, share in self.sample_foreign().items():
                self.foreign[name] = self.foreign.get(name, 0.0) + share * self.interval

    def start(self) -> Monitor:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class MeasuredRun:
    """One measuring run: when it started, the load before it, the monitor of other
    processes (started) and its temporary folder."""

    started: datetime
    load_before: str
    monitor: Monitor
    foreign_start: dict[str, float]
    tmp: Path

    def meta(self, quick: bool) -> dict[str, Any]:
        """The run's meta data, finished now (after the monitor stopped)."""
        return _meta(self.started, datetime.now(), self.load_before, self.monitor,
                     self.foreign_start, quick)


@contextmanager
def measuring(prefix: str, keep: bool = False) -> Iterator[MeasuredRun]:
    """Note the start and the load, sample and start the monitor, make a temporary folder;
    afterwards stop the monitor and remove the folder (unless ``keep``)."""
    started, load_before, monitor = datetime.now(), loadavg(), Monitor()
    foreign_start = monitor.sample_foreign()
    monitor.start()
    run = MeasuredRun(started, load_before, monitor, foreign_start,
                      Path(tempfile.mkdtemp(prefix=prefix)))
    # no key file in var/
    os.environ.setdefault("HASH_SECRET", "bench-secret-0123456789abcdefghijklm")
    try:
        yield run
    finally:
        monitor.stop()
        if not keep:
            shutil.rmtree(run.tmp, ignore_errors=True)


# --- training and NLU jobs ------------------------------------------------------------------

def child_env(threads: str | None = "1") -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false",
                "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    for key, value in BASELINE_ENV.items():
        env.setdefault(key, value)
    if threads:
        env["TF_INTRA_OP_PARALLELISM_THREADS"] = threads
        env["TF_INTER_OP_PARALLELISM_THREADS"] = threads
    return env


def train_full(snap: nlu.Snapshot, config: Path, out: Path, log_path: Path, quick: bool
               ) -> tuple[Path, float]:
    """``rasa train`` as ``make train`` runs it (the Makefile's environment, no cache)."""
    rasa = str(Path(sys.executable).with_name("rasa"))
    cmd = [rasa, "train", "--config", str(config), "--domain", str(snap.domain), "--data",
           str(snap.data), "--out", str(out), "--fixed-model-name", "bench", "--quiet"]
    if quick:
        cmd.append("--skip-validation")
    start = time.monotonic()
    with open(log_path, "wb") as handle:
        subprocess.run(cmd, env=child_env(threads=None), cwd=PROJECT_ROOT, check=True,  # noqa: S603
                       stdout=handle, stderr=subprocess.STDOUT, timeout=1800)
    return out / "bench.tar.gz", time.monotonic() - start


@dataclass
class Workers:
    """Worker processes sharing one job list (see :mod:`bench.worker`)."""

    jobs: list[dict[str, Any]]
    tmp: Path
    procs: list[tuple[subprocess.Popen[bytes], Any]] = field(default_factory=list)

    def start(self, count: int) -> Workers:
        jobs_file = self.tmp / "jobs.json"
        jobs_file.write_text(json.dumps(self.jobs), encoding="utf-8")
        for i in range(count):
            handle = open(self.tmp / f"worker{i}.log", "wb")  # noqa: SIM115 - closed in wait
            self.procs.append((subprocess.Popen(  # noqa: S603 - fixed argv
                [sys.executable, "-m", "bench.worker", str(jobs_file)], env=child_env("1"),
                cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT), handle))
        return self

    def stop(self) -> None:
        for proc, handle in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
            handle.close()

    def wait(self) -> dict[str, dict[str, Any]]:
        """Every evaluation by name: training seconds, model size, predictions, parse times."""
        for proc, _ in self.procs:
            proc.wait(timeout=7200)
        self.stop()
        evaluations = {}
        for job in self.jobs:
            out = Path(job["out"])
            result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {
                "error": "no result (worker died?)"}
            if "error" in result:
                raise RuntimeError(f"NLU job {job['id']} failed: {result['error']} "
                                   f"(logs in {self.tmp}/worker*.log)")
            for name, evaluation in result["evals"].items():
                evaluations[name] = {**evaluation, "train_seconds": result["train_seconds"],
                                     "model_bytes": result["model_bytes"]}
        return evaluations


def predictions_of(result: dict[str, Any]) -> list[Prediction]:
    return [nlu.prediction_from_dict(d) for d in result["predictions"]]


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --- the run ---------------------------------------------------------------------------------

def quick_plan() -> SpeedPlan:
    return SpeedPlan(levels=(1, 10), faq_turns={1: 20, 10: 40},
                     status_conversations={1: 2, 10: 3}, status_asks=2, max_seconds=15,
                     warmup_turns=5, tracker_turns=6,
                     status_questions=("/ask_status", "/ask_status"))


def variant_plan() -> SpeedPlan:
    return SpeedPlan(levels=(1, 10, 50), faq_turns={1: 60, 10: 200, 50: 400},
                     max_seconds=30, warmup_turns=20)


def speed_run(model: Path, variant: Variant, work: Path, faq_texts: list[str],
              plan: SpeedPlan, status: bool, tracker: bool) -> dict[str, Any]:
    pupils = bench_pupils(plan.pupils_needed)
    bot = start_bot(model, variant, work, pupils)
    try:
        speed = asyncio.run(run_speed(bot.base_url, bot.var_dir, faq_texts, pupils, plan,
                                      status=status, tracker=tracker))
        speed["memory"] = memory(bot)
        speed["timings"] = {k: round(v, 2) for k, v in bot.timings.items()}
    finally:
        bot.stop()
    speed["action_failures"] = action_failures(bot.var_dir / "logs" / "rasa.log")
    return speed


def action_failures(rasa_log: Path) -> dict[str, int]:
    """Custom-action calls that failed (mostly ACTION_TIMEOUT under overload) or that the
    circuit breaker of bot/compat.py skipped, from Rasa's log."""
    text = rasa_log.read_text(errors="replace") if rasa_log.exists() else ""
    return {"failed": len(re.findall(r"custom action \S+ failed", text)),
            "skipped": len(re.findall(r"custom action \S+ skipped", text))}


ADVICE = {
    "workers-2": "Needs a lock store other than in_memory (the cluster profile's Redis) and "
                 "about 1 GB RSS per worker.",
}


def run_variants(model: Path, tmp: Path, faq_texts: list[str]) -> list[dict[str, Any]]:
    variants: list[dict[str, Any]] = []
    for variant in SERVER_VARIANTS:
        log(f"tuning variant {variant.name}")
        try:
            v_speed = speed_run(model, variant, tmp / f"variant-{variant.name}", faq_texts,
                                variant_plan(), status=False, tracker=False)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            variants.append({"name": variant.name, "description": variant.description,
                             "workers": variant.workers, "error": str(exc), "speed": {}})
            continue
        variants.append({"name": variant.name, "description": variant.description,
                         "workers": variant.workers, "speed": v_speed,
                         "timings": v_speed.pop("timings"), "memory": v_speed.pop("memory")})
    return variants


def _verdicts(conclusion_lines: list[str]) -> dict[str, str]:
    """variant name -> verdict, from the lines :func:`conclusions` wrote."""
    found = {}
    for line in conclusion_lines:
        match = re.match(r"([\w+-]+): FAQ p50 .* — (better|worse|mixed|no clear difference)\.",
                         line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def across_runs(first: list[str], second: list[str]) -> list[str]:
    """Keep a server setting only when both runs call it better."""
    one, two = _verdicts(first), _verdicts(second)
    lines = []
    for name in one:
        if name in two:
            keep = one[name] == two[name] == "better"
            lines.append(f"Across both runs, {name}: {one[name]} / {two[name]} — "
                         + ("keep it." if keep else "no change on this evidence."))
    return lines


def conclusions(results: dict[str, Any], server_variants: list[dict[str, Any]] | None = None,
                pipeline: bool = True) -> list[str]:
    from bench.report import best_throughput, level

    out = []
    if server_variants is None:
        server_variants = (results.get("tuning") or {}).get("variants", [])
    variants = {v["name"]: v for v in server_variants}
    base = [variants[n] for n in ("baseline", "baseline-again") if n in variants]

    def mean(key: str, rows: list[dict[str, Any]], scenario: str = "faq", conc: int = 10
             ) -> float:
        values = [(level(r.get("speed"), scenario, conc) or {}).get(key, 0.0) for r in rows]
        return sum(values) / len(values) if values else 0.0

    if base:
        tp = sum(best_throughput(b.get("speed")) or 0 for b in base) / len(base)
        tps = [best_throughput(b.get("speed")) or 0 for b in base]
        drift = (max(tps) - min(tps)) / tp * 100 if tp and len(tps) > 1 else 0.0
        bar = max(10.0, 2 * drift)
        out.append(f"Baseline (mean of its {len(base)} runs, first and last): FAQ p50 at 1 user "
                   f"{mean('p50_ms', base, conc=1):.0f} ms, p95 at 10 users "
                   f"{mean('p95_ms', base):.0f} ms, best {tp:.1f} msg/s; the two baseline runs "
                   f"differ by {drift:.0f} % in throughput (other load on the machine), so only "
                   f"changes beyond ±{bar:.0f} % count.")
        for name, v in variants.items():
            if name.startswith("baseline") or not v.get("speed"):
                continue
            vtp = best_throughput(v.get("speed")) or 0
            change = (vtp / tp - 1) * 100 if tp else 0
            p50_1 = mean("p50_ms", [v], conc=1)
            p50_change = (p50_1 / mean("p50_ms", base, conc=1) - 1) * 100 if base else 0
            up = change > bar or p50_change < -bar
            down = change < -bar or p50_change > bar
            verdict = ("mixed" if up and down else "better" if up else "worse" if down
                       else "no clear difference")
            out.append(f"{name}: FAQ p50 at 1 user {p50_1:.0f} ms ({p50_change:+.0f} %), p95 at "
                       f"10 users {mean('p95_ms', [v]):.0f} ms, best {vtp:.1f} msg/s "
                       f"({change:+.0f} %) — {verdict}."
                       + (f" {ADVICE[name]}" if verdict == "better" and name in ADVICE else ""))
    ours = results["systems"]["ours"]
    for variant in (results.get("tuning") or {}).get("config_variants", []):
        if not pipeline or variant["name"] == "ours" or not ours.get("cv"):
            continue
        cv, ref = variant["cv"], ours["cv"]
        better = (cv["intent_accuracy"] >= ref["intent_accuracy"]
                  and cv["faq_answer_accuracy"] >= ref["faq_answer_accuracy"]
                  and cv["false_reject_rate"] <= ref["false_reject_rate"]
                  and cv["oos_recall"] >= ref["oos_recall"])
        faster = (variant.get("train_s") or 0) < (ours.get("train_s") or 0)
        verdict = ("equal or better on every cross-validation measure and faster to train: "
                   "a candidate for config.yml" if better and faster else
                   "not better on every cross-validation measure: keep config.yml as it is"
                   if not better else "not faster: keep config.yml as it is")
        out.append(f"Pipeline variant {variant['name']} ({variant['change']}): CV intent "
                   f"{cv['intent_accuracy']:.1%} vs {ref['intent_accuracy']:.1%}, CV FAQ "
                   f"answer {cv['faq_answer_accuracy']:.1%} vs {ref['faq_answer_accuracy']:.1%}"
                   f", OOS recall {cv['oos_recall']:.1%} vs {ref['oos_recall']:.1%}, false "
                   f"rejects {cv['false_reject_rate']:.1%} vs {ref['false_reject_rate']:.1%}, "
                   f"NLU training {variant.get('train_s') or 0:.0f} s vs "
                   f"{ours.get('train_s') or 0:.0f} s — {verdict}.")
    tracker = (results.get("speed") or {}).get("tracker_ms") or []
    if pipeline and len(tracker) >= 7:
        third = (len(tracker) - 1) // 3  # turn 1 also starts the session: left out
        first = statistics.median(tracker[1:third + 1])
        last = statistics.median(tracker[-third:])
        out.append(f"Tracker length: the median FAQ turn went from {first:.0f} ms (turns 2–"
                   f"{third + 1}) to {last:.0f} ms (the last {third}) in one conversation of "
                   f"{len(tracker)} turns. Rasa loads only the current session's events, so "
                   "session_expiration_time (60 min in domain.yml) only matters for parents "
                   "who come back within the hour; a long single session is what grows.")
    return out


def before_languages(path: Path, out: Path) -> dict[str, Any]:
    """Our pipeline's measures in the run of ``path`` (without the per-label tables), for
    the report's Dutch before/after table."""
    ours = json.loads(path.read_text(encoding="utf-8"))["systems"]["ours"]
    return {"label": BEFORE_LANGUAGES_LABEL,
            "link": os.path.relpath(path.parent / "report.md", out),
            **{part: {k: v for k, v in (ours.get(part) or {}).items() if k != "per_label"}
               for part in ("test", "cv")}}


def _write_results(results: dict[str, Any], out: Path) -> Path:
    """The conclusions (of a speed re-run too, and across both runs), then latest.md, the
    plots and results.json in ``out``."""
    from bench.report import write_report

    results["side_notes"] = _side_notes(results["systems"])
    results["tuning"]["conclusions"] = conclusions(results)
    rerun = results.get("rerun")
    if rerun:
        rerun["conclusions"] = conclusions(results, rerun.get("variants", []), pipeline=False)
        rerun["conclusions"] += across_runs(results["tuning"]["conclusions"],
                                            rerun["conclusions"])
    from bench.report import targets

    if not results["meta"].get("quick") and BEFORE_LANGUAGES_RESULTS.exists():
        results["before_languages"] = before_languages(BEFORE_LANGUAGES_RESULTS, out)
    results["targets"] = targets(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False),
                                      encoding="utf-8")  # first: kept if the report fails
    path = write_report(results, out)
    log(f"report: {path}")
    return path


def render_command(out: Path = DEFAULT_OUT) -> int:
    """Rewrite latest.md and the plots from ``out/results.json`` (no new measurements)."""
    _write_results(json.loads((out / "results.json").read_text(encoding="utf-8")), out)
    return 0


def rerun_speed_command(model: Path, out: Path = DEFAULT_OUT, keep: bool = False) -> int:
    """Measure speed and the server variants again with a model of an earlier full run
    (``--keep``), e.g. when the machine was busy during that run; both are reported."""
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    with measuring("lwoo-bench-rerun-", keep) as run:
        faq_texts = [e.text for e in nlu.load_examples(PROJECT_ROOT / "data" / "nlu",
                                                       languages=False)
                     if e.intent.startswith("faq/")]
        log(f"speed re-run with {model}; load average {run.load_before}")
        speed = speed_run(model, SERVER_VARIANTS[0], run.tmp / "speed", faq_texts,
                          SpeedPlan(), status=True, tracker=True)
        variants = run_variants(model, run.tmp, faq_texts)
    results["rerun"] = {"meta": run.meta(False), "speed": speed, "variants": variants}
    _write_results(results, out)
    return 0


def bench_command(quick: bool, out: Path = DEFAULT_OUT, keep: bool = False,
                  server_tuning: bool | None = None, nlu_only: bool = False) -> int:
    """The full run; ``nlu_only``: the accuracy part only (our model, the pipelines on
    the test set and on cross-validation), speed and tuning kept from ``out``'s last full
    run and marked with its date."""
    previous: dict[str, Any] | None = None
    if nlu_only:
        previous_file = out / "results.json"
        previous = (json.loads(previous_file.read_text(encoding="utf-8"))
                    if previous_file.exists() else {})
        server_tuning = False
    with measuring("lwoo-bench-", keep) as run:
        # timings without cache
        os.environ["RASA_CACHE_DIRECTORY"] = str(run.tmp / "rasa-cache")
        os.environ["RASA_MAX_CACHE_SIZE"] = "0"
        server_tuning = (not quick) if server_tuning is None else server_tuning
        mode = "quick" if quick else "NLU-only" if nlu_only else "full"
        log(f"{mode} run in {run.tmp}; load average {run.load_before}")
        results = _run(quick, run.tmp, server_tuning, previous)
    results["meta"].update(run.meta(quick))
    if previous is not None:
        results["meta"]["nlu_only"] = True
        previous_meta = previous.get("meta") or {}
        results["meta"]["speed_from"] = (previous_meta.get("speed_from")  # an NLU-only run
                                         or previous_meta.get("started", "?"))
        if previous.get("rerun"):
            results["rerun"] = previous["rerun"]
        if previous.get("training"):  # rasa train of the full run (alone on the machine)
            results["training"]["full_train_s_nlu_only_run"] = results["training"][
                "full_train_s"]
            results["training"]["full_train_s"] = previous["training"]["full_train_s"]
    from bench.report import targets

    if not quick and BEFORE_RESULTS.exists():  # the before/after table of the report
        before = json.loads(BEFORE_RESULTS.read_text(encoding="utf-8"))
        results["before"] = {"label": BEFORE_LABEL,
                             "link": os.path.relpath(BEFORE_RESULTS.parent / "report.md", out),
                             "targets": targets(before)}
    _write_results(results, out)
    for target in results["targets"]:
        mark = "ok " if target["met"] else "-- " if target["met"] is None else "NO "
        log(f"  {mark}{target['name']}: {target['shown']} (goal {target['target']})")
    return 0


def _meta(started: datetime, finished: datetime, load_before: str, monitor: Monitor,
          foreign_start: dict[str, float], quick: bool) -> dict[str, Any]:
    from importlib.metadata import version

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,  # noqa: S607
                            capture_output=True, text=True, check=False).stdout.strip()
    # the report folder is the bench's own output (an earlier run's report not yet
    # committed is not a change to what was measured)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ".",  # noqa: S607
                            f":(exclude){DEFAULT_OUT.relative_to(PROJECT_ROOT)}"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True,
                           check=False).stdout.strip()
    # a process that used less than a second of CPU in the whole run did not share it
    busy = sorted(((name, seconds) for name, seconds in monitor.foreign.items()
                   if seconds >= 1.0), key=lambda kv: -kv[1])[:6]
    at_start = sorted(foreign_start.items(), key=lambda kv: -kv[1])[:4]
    if busy or at_start:
        note = ("yes — this machine was shared. At the start: " + (", ".join(
            f"{name} ({share:.0%} CPU)" for name, share in at_start) or "none") +
            ". CPU time of other processes during the run: " + (", ".join(
                f"{name} {seconds:.0f} s" for name, seconds in busy) or "none") + ".")
    else:
        note = "none seen (sampled every 20 s)"
    if monitor.loads:
        note += (f" Load average (1 min) during the run: mean {statistics.mean(monitor.loads):.2f}"
                 f", max {max(monitor.loads):.2f}.")
    return {
        "started": f"{started:%Y-%m-%d %H:%M}", "finished": f"{finished:%H:%M}",
        "duration_s": (finished - started).total_seconds(), "quick": quick,
        "commit": commit + (" (with uncommitted changes of others in the tree)" if dirty
                            else ""),
        "cpus": os.cpu_count(), "memory_gb": os.sysconf("SC_PAGE_SIZE")
        * os.sysconf("SC_PHYS_PAGES") / 1024**3,
        "rasa": version("rasa"), "tensorflow": version("tensorflow"),
        "load_before": load_before, "load_after": loadavg(),
        "other_processes_note": note, "answer_threshold": ANSWER_THRESHOLD,
        "faq_intent_majority": FAQ_INTENT_MAJORITY,
    }


def _run(quick: bool, tmp: Path, server_tuning: bool,
         previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure everything; with ``previous`` (NLU only) the speed and server-tuning
    results are taken from that earlier full run instead of measured."""
    snap = nlu.take_snapshot(tmp)
    ours_cfg = nlu.read_config(snap.config)
    configs = {"ours": ours_cfg, "default": nlu.default_config(ours_cfg)}
    if not quick:
        for name, (change, _) in CONFIG_VARIANTS.items():
            configs[name] = change(ours_cfg)
    full_cfg = ours_cfg
    if quick:  # the served model must still get a conversation through the status form
        configs = {k: nlu.with_epochs(v, QUICK_EPOCHS) for k, v in configs.items()}
        full_cfg = nlu.with_epochs(ours_cfg, QUICK_SERVED_EPOCHS)
    paths = {k: nlu.write_config(v, tmp / f"config_{k}.yml") for k, v in configs.items()}
    paths["full"] = nlu.write_config(full_cfg, tmp / "config_full.yml")

    train_examples = nlu.training_examples(snap)
    test_examples = nlu.test_examples(snap)
    k = 2 if quick else 5
    # quick: one fold over half of the examples (train on a quarter, test on a quarter)
    cv_examples = train_examples[::2] if quick else train_examples
    folds = nlu.stratified_folds(cv_examples, k)[:1 if quick else k]
    results_dir = tmp / "results"
    results_dir.mkdir()
    model_dir = tmp / "models"
    model = model_dir / "bench.tar.gz"
    model_done = tmp / "model.done"

    def job(job_id: str, config: str, evals: list[tuple[str, Path]],
            train_data: Path | None = None) -> dict[str, Any]:
        return {"id": job_id, "config": str(paths[config]), "domain": str(snap.domain),
                "train_data": str(train_data) if train_data else None,
                "model": None if train_data else str(model),
                "wait_for": None if train_data else str(model_done),
                "model_dir": str(tmp / "nlu-models"), "out": str(results_dir / f"{job_id}.json"),
                "evals": [[name, str(path)] for name, path in evals]}

    # NLU only: the TensorFlow pipelines (rasa init's default, the previous DIET one) take
    # 10-15 min per model on a shared 2-core machine, so they get the held-out set only
    cv_configs = [name for name in configs
                  if previous is None or name not in ("default", "diet")]
    jobs = []
    for i, (train_idx, test_idx) in enumerate(folds, 1):
        fold_dir = tmp / f"fold{i}"
        nlu.training_dir(snap, [cv_examples[j] for j in train_idx], fold_dir / "train")
        fold_test = nlu.write_nlu_dir([cv_examples[j] for j in test_idx],
                                      fold_dir / "test")
        for name in cv_configs:
            evals = [(f"{name}-fold{i}", fold_test)]
            if quick and i == 1 and name == "default":
                evals.append(("default-test", snap.tests))  # quick: no model on all data
            jobs.append(job(f"{name}-fold{i}", name, evals, train_data=fold_dir / "train"))
    if not quick:
        all_data = nlu.training_dir(snap, train_examples, tmp / "data-all")
        jobs.append(job("default-all", "default", [("default-test", snap.tests)],
                        train_data=all_data))
        if "diet" in configs:  # the previous pipeline on the held-out set too (issue 13)
            jobs.append(job("diet-all", "diet", [("diet-test", snap.tests)],
                            train_data=all_data))
    # the slowest first, so the two workers finish together; ours-test waits for the model
    jobs.sort(key=lambda j: j["id"].split("-")[0] not in ("default", "diet"))
    jobs.append(job("ours-test", "ours", [("ours-test", snap.tests)]))

    workers = Workers(jobs, tmp)
    try:
        if quick:  # timings mean nothing in quick mode: train while the workers run
            workers.start(1)
        log("training our full model (rasa train, no cache)")
        model, full_train_s = train_full(snap, paths["full"], model_dir, tmp / "train.log",
                                         quick)
        model_done.touch()
        log(f"trained in {full_train_s:.0f} s")
        if not quick:
            workers.start(2)
        log(f"{len(jobs)} NLU jobs in {len(workers.procs)} worker process(es) "
            f"({len(folds)} of {k} folds, {len(configs)} pipelines)")
        done = workers.wait()
    finally:
        workers.stop()
    log("NLU jobs done")

    def fold_results(name: str) -> list[dict[str, Any]]:
        if name not in cv_configs:
            return []
        return [done[f"{name}-fold{i}"] for i in range(1, len(folds) + 1)]

    systems: dict[str, dict[str, Any]] = {}
    labels = {"ours": "our pipeline (config.yml)", "default": "rasa init default",
              "tfidf": "TF-IDF + logistic regression",
              "diet": "previous pipeline (DIET + ResponseSelector, until 2026-11-28)"}
    for name in ("ours", "default") + (("diet",) if "diet-test" in done else ()):
        folds_out = fold_results(name)
        test_out = done[f"{name}-test"]
        trained = folds_out or [test_out]  # without CV: the model trained on all data
        systems[name] = {
            "label": labels[name], "pipeline": nlu.pipeline_summary(configs[name]),
            "components": nlu.pipeline_summary(configs[name], details=False),
            "test": nlu.summarize(predictions_of(test_out)),
            "cv": (nlu.summarize_folds([predictions_of(f) for f in folds_out])
                   if folds_out else {}),
            "train_s": statistics.mean(f["train_seconds"] or 0 for f in trained),
            "model_mb": statistics.mean(f["model_bytes"] for f in trained) / 1024**2,
            "parse_ms_p50": p50(test_out["parse_ms"]),
        }

    log("TF-IDF baseline")
    tfidf_folds, fit_s = [], []
    for train_idx, test_idx in folds:
        matcher = nlu.TfidfMatcher().fit([cv_examples[j] for j in train_idx])
        tfidf_folds.append(matcher.predict([cv_examples[j] for j in test_idx]))
        fit_s.append(matcher.train_seconds)
    matcher = nlu.TfidfMatcher().fit(train_examples)
    systems["tfidf"] = {
        "label": labels["tfidf"],
        "pipeline": "TfidfVectorizer words 1-2 + char_wb 2-4 → LogisticRegression(C=30), "
                    "argmax over the full labels, no threshold",
        "components": "TF-IDF → LogisticRegression",
        "test": nlu.summarize(matcher.predict(test_examples)),
        "cv": nlu.summarize_folds(tfidf_folds), "train_s": statistics.mean(fit_s),
        "model_mb": None, "parse_ms_p50": p50(matcher.parse_ms),
    }
    ours_test = predictions_of(done["ours-test"])
    rows, columns, matrix = nlu.confusion(ours_test)
    ours_cv = [p for f in fold_results("ours") for p in predictions_of(f)]
    test_errors = nlu.errors(ours_test, limit=None)

    config_variants = []
    for name, (_, text) in CONFIG_VARIANTS.items():
        if name not in cv_configs:
            continue
        variant_folds = fold_results(name)
        config_variants.append({
            "name": name, "change": text,
            "cv": nlu.summarize_folds([predictions_of(f) for f in variant_folds]),
            "train_s": statistics.mean(f["train_seconds"] for f in variant_folds),
            "model_mb": statistics.mean(f["model_bytes"] for f in variant_folds) / 1024**2,
            "parse_ms_p50": p50([ms for f in variant_folds for ms in f["parse_ms"]]),
        })
    if config_variants:
        ours_folds = fold_results("ours")
        config_variants.insert(0, {
            "name": "ours", "change": "config.yml as it is",
            "cv": systems["ours"]["cv"], "train_s": systems["ours"]["train_s"],
            "model_mb": systems["ours"]["model_mb"],
            "parse_ms_p50": p50([ms for f in ours_folds for ms in f["parse_ms"]]),
        })

    # the speed runs send the Dutch FAQ questions (as before issue 16)
    faq_texts = [e.text for e in train_examples
                 if e.intent.startswith("faq/") and e.language == "nl"]
    plan = quick_plan() if quick else SpeedPlan()
    if previous is not None:
        log("NLU only: speed and server tuning kept from the last full run")
        speed = previous.get("speed") or {}
        variants = (previous.get("tuning") or {}).get("variants") or []
    else:
        log("speed over REST (baseline settings)")
        speed = speed_run(model, SERVER_VARIANTS[0], tmp / "speed", faq_texts, plan,
                          status=True, tracker=True)
        variants = run_variants(model, tmp, faq_texts) if server_tuning else []

    side_notes = _side_notes(systems)
    return {
        "meta": {},
        "training": {"full_train_s": full_train_s, "model_mb": model.stat().st_size / 1024**2},
        "systems": systems,
        "confusion": {"rows": rows, "columns": columns, "matrix": matrix,
                      "title": "Our pipeline on the test set (what the parent got)"},
        "cv_errors": nlu.errors(ours_cv, limit=None),
        "test_errors": test_errors,
        "speed": speed,
        "tuning": {"variants": variants, "config_variants": config_variants},
        "side_notes": side_notes,
        "method": _method(quick, k, len(folds), len(cv_examples), plan) + ([
            "NLU only (`python -m bench --nlu-only`): rasa init's default and the previous "
            "DIET pipeline were trained once on all of data/nlu and evaluated on the "
            "held-out set only (their cross-validation would take hours on this shared "
            "machine); speed and server tuning are those of the last full run."]
            if previous is not None else []),
    }


SIDE_METRICS = (  # key, name, higher is better
    ("intent_accuracy", "intent accuracy", True),
    ("faq_answer_accuracy", "FAQ-answer accuracy", True),
    ("oos_recall", "out-of-scope recall", True),
    ("oos_answered", "out-of-scope questions answered", False),
    ("false_reject_rate", "false rejects", False),
    ("faq_false_reject_rate", "FAQ false rejects", False),
    ("neighbour_accuracy", "neighbour subject right", True),
    ("not_lwoo_rate", "neighbour/out-of-scope never a lwoo answer", True),
)


def _side_notes(systems: dict[str, dict[str, Any]]) -> list[str]:
    """Plain facts: where our pipeline is better or worse than each other system, and at
    what cost (differences under 1 point are called equal)."""
    ours = systems["ours"]
    notes = []
    for other in [name for name in ("diet", "default", "tfidf") if name in systems]:
        theirs = systems[other]
        for part, where in (("cv", "cross-validation"), ("test", "the test set")):
            if not theirs.get(part):  # NLU only: no cross-validation of the TF pipelines
                continue
            better, worse, equal = [], [], []
            for key, name, higher in SIDE_METRICS:
                if key not in ours[part] or key not in theirs[part]:
                    continue
                diff = (ours[part][key] - theirs[part][key]) * 100
                text = f"{name} {ours[part][key]:.1%} vs {theirs[part][key]:.1%}"
                if abs(diff) < 1:
                    equal.append(name)
                elif (diff > 0) == higher:
                    better.append(text)
                else:
                    worse.append(text)
            notes.append(
                f"Our pipeline vs {theirs['label']} on {where}: better in "
                f"{'; '.join(better) or 'nothing'}; worse in {'; '.join(worse) or 'nothing'}"
                + (f"; equal (< 1 point) in {', '.join(equal)}" if equal else "") + ".")
        model = (f", model {ours['model_mb']:.0f} MB vs {theirs['model_mb']:.0f} MB"
                 if theirs.get("model_mb") else "")
        notes.append(f"Cost, ours vs {theirs['label']}: NLU training {ours['train_s']:.0f} s vs "
                     f"{theirs['train_s']:.0f} s per model, NLU parse p50 "
                     f"{ours['parse_ms_p50']:.1f} ms vs {theirs['parse_ms_p50']:.1f} ms{model}.")
    return [f"* {n}" for n in notes]


def _method(quick: bool, k: int, used: int, n_cv: int, plan: SpeedPlan) -> list[str]:
    items = [
        "Inputs: a snapshot of config.yml, domain.yml, data/ and tests/nlu/ taken at the "
        "start; all systems see the same snapshot and the same folds (StratifiedKFold, "
        f"seed 42, by full label). Cross-validation: {used} of {k} folds over {n_cv} "
        "examples.",
        "Our model: `rasa train` with config.yml into a temporary directory (Rasa's "
        "training cache off: RASA_MAX_CACHE_SIZE=0), used for the test set and for the speed "
        "runs. Other models: `rasa.model_training.train_nlu` in worker processes (two side "
        "by side, TF threads 1/1 each; so their training times are slower than alone).",
        "The rasa init default: the pipeline commented in "
        f"{nlu.init_template_pipeline()[1]} with language nl and our policies; no "
        "random_seed (as in the template), so its numbers vary a little between runs.",
        "Scoring reuses bot/nlu_eval.py (load_examples, Prediction, Report) with the answer "
        f"threshold {ANSWER_THRESHOLD} of actions/faq.py.",
        f"Speed plan: {json.dumps(plan.asdict())}; a level stops at its turn count or after "
        f"{plan.max_seconds:.0f} s. Percentiles: nearest rank. An error is a non-200 reply, a "
        "timeout (30 s), an empty reply or the channel's technical-problem text.",
        "RSS from /proc (VmRSS now, VmHWM peak) for Rasa's process tree and the action "
        "server; start-up = action server up (health) + Rasa up (`/`) + the first answer.",
    ]
    if quick:
        items.append(f"QUICK: {QUICK_EPOCHS} epochs for every classifier "
                     f"({QUICK_SERVED_EPOCHS} for the served model); one of 2 folds over half "
                     "of the examples (train on a quarter, test on a quarter; the rasa init "
                     "default's test-set model is that fold's model); a small load; no server "
                     "variants; training side by side.")
    return items
