"""Start the action server and Rasa with the bench model, as ``python -m bot run`` does.

Same commands as :mod:`bot.run` (``child_env``, ``rasa_command``, ``wait_until_up``), but
with the freshly trained bench model, a temporary VAR_DIR holding the demo pupils, the
end-to-end canary and fictitious bench pupils (codes land in the outbox there), free
loopback ports, and a bench-only endpoints file (Redis lock store for several workers).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.run import child_env, rasa_command, wait_until_up
from core.settings import PROJECT_ROOT, get_settings

# The test suites' canary pupil and port helper (tests/support), reused as they are.
# Imported by name so mypy does not type-check tests/ through bench/.
CANARY_ROW: str = importlib.import_module("tests.support.canary").CANARY_ROW
free_port: Callable[[], int] = importlib.import_module("tests.support.ports").free_port
DEMO_CSV = PROJECT_ROOT / "bot" / "demo" / "leerlingen.csv"

BENCH_PUPIL_BASE = 910000  # fictitious pupil numbers 910000… for the status conversations
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class BenchPupil:
    number: str
    birth_date: str  # as a parent types it
    email: str
    first_name: str


def _letters(i: int) -> str:
    return LETTERS[i // 26 % 26].upper() + LETTERS[i % 26]


def bench_pupils(count: int) -> list[BenchPupil]:
    return [BenchPupil(str(BENCH_PUPIL_BASE + i), "15-01-2013",
                       f"bench.parent.{i}@example.invalid", f"Benchkind{_letters(i).lower()}")
            for i in range(count)]


def pupils_csv(path: Path, pupils: list[BenchPupil]) -> Path:
    rows = [DEMO_CSV.read_text(encoding="utf-8").rstrip("\n"), CANARY_ROW]
    rows += [f"{p.number};{p.first_name.capitalize()};Benchtest;2013-01-15;1A;BB;toegekend;"
             f"2026-10-02;;80;30;30;30;30;{p.email};+31600{i:06d};mevr. Benchmentor"
             for i, p in enumerate(pupils)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


ENDPOINTS = """\
action_endpoint:
  url: ${{ACTION_ENDPOINT_URL}}
  token: ${{ACTION_SERVER_TOKEN}}
tracker_store:
  type: bot.tracker_store.ResilientSQLTrackerStore
  dialect: "sqlite"
  db: ${{TRACKER_DB_PATH}}
lock_store:
{lock_store}
"""
IN_MEMORY_LOCKS = "  type: in_memory"
REDIS_LOCKS = """\
  type: redis
  url: 127.0.0.1
  port: 6379
  db: 0
  key_prefix: {prefix}"""


@dataclass
class Variant:
    """One way of running the servers (environment and worker count)."""

    name: str
    env: dict[str, str]
    workers: int = 1
    description: str = ""
    rasa_env: dict[str, str] = field(default_factory=dict)  # the Rasa process only


# The Makefile's exports: what `make run` uses.
BASELINE_ENV = {
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


@dataclass
class RunningBot:
    base_url: str
    var_dir: Path
    rasa: subprocess.Popen[bytes]
    actions: subprocess.Popen[bytes]
    timings: dict[str, float] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for proc in (self.rasa, self.actions):
            if proc.poll() is None:
                try:  # its own process group: Rasa's Sanic workers stop with it
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in (self.rasa, self.actions):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _first_answer(base: str, timeout: float) -> bool:
    import json

    deadline = time.monotonic() + timeout
    body = json.dumps({"sender": f"bench-ready-{os.getpid()}", "message": "Wat is lwoo?"})
    while time.monotonic() < deadline:
        req = urllib.request.Request(base + "/webhooks/rest/webhook", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
                if resp.status == 200 and json.loads(resp.read()):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def start_bot(model: Path, variant: Variant, work: Path, pupils: list[BenchPupil]) -> RunningBot:
    """Import the pupils, start the action server, then Rasa; time each step."""
    work.mkdir(parents=True, exist_ok=True)
    var_dir = work / "var"
    (var_dir / "logs").mkdir(parents=True, exist_ok=True)
    settings = dataclasses.replace(
        get_settings(), var_dir=var_dir, port=free_port(), actions_port=free_port(),
        tracker_db_path=var_dir / "conversations.db", outbox_dir=var_dir / "outbox",
        bind_host="127.0.0.1", actions_host="127.0.0.1",
    )
    env = child_env(settings)
    for name in ("SMTP_HOST", "RECORDS_DB_URL", "TRACKER_DB_PATH", "MAIL_OUTBOX_DIR",
                 "SANIC_WORKERS", *BASELINE_ENV):
        env.pop(name, None)
    env.update({
        "VAR_DIR": str(var_dir), "PORT": str(settings.port),
        "ACTIONS_PORT": str(settings.actions_port), "BIND_HOST": "127.0.0.1",
        "ACTIONS_HOST": "127.0.0.1", "TRACKER_DB_PATH": str(settings.tracker_db_path),
        "HASH_SECRET": "bench-secret-0123456789abcdefghijklm", "LOG_LEVEL": "WARNING",
        "SANIC_WORKERS": str(variant.workers), **variant.env,
    })
    lock_store = IN_MEMORY_LOCKS if variant.workers == 1 else REDIS_LOCKS.format(
        prefix=f"lwoo-bench-{os.getpid()}-{variant.name}")
    endpoints = work / "endpoints.yml"
    endpoints.write_text(ENDPOINTS.format(lock_store=lock_store), encoding="utf-8")

    csv = pupils_csv(work / "pupils.csv", pupils)
    subprocess.run([sys.executable, "-m", "bot", "import-pupils", str(csv)], env=env,  # noqa: S603
                   cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=120)

    actions_log, rasa_log = work / "actions.out", work / "rasa.out"
    timings: dict[str, float] = {}
    start = time.monotonic()
    with open(actions_log, "wb") as out:
        actions = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "bot", "actions"], env=env, cwd=PROJECT_ROOT,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{settings.port}"
    bot = RunningBot(base, var_dir, actions, actions, timings, [actions_log, rasa_log])
    health = f"http://127.0.0.1:{settings.actions_port}/health"
    if not wait_until_up(health, 90, actions):
        bot.stop()
        raise RuntimeError(f"action server did not start; see {actions_log}")
    timings["actions_ready_s"] = time.monotonic() - start

    cmd = rasa_command(settings, in_terminal=False, model=model)
    cmd[cmd.index("--endpoints") + 1] = str(endpoints)
    rasa_start = time.monotonic()
    with open(rasa_log, "wb") as out:
        bot.rasa = subprocess.Popen(cmd, env={**env, **variant.rasa_env}, cwd=PROJECT_ROOT,  # noqa: S603
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    if not wait_until_up(base + "/", 240, bot.rasa):
        bot.stop()
        raise RuntimeError(f"Rasa did not start; see {rasa_log}")
    timings["rasa_ready_s"] = time.monotonic() - rasa_start
    if not _first_answer(base, 60):
        bot.stop()
        raise RuntimeError(f"Rasa gave no answer; see {rasa_log}")
    timings["ready_s"] = time.monotonic() - start  # both servers up + first answer given
    return bot


# --- memory ------------------------------------------------------------------------------

def proc_stats() -> Iterator[tuple[int, str]]:
    """(pid, contents of /proc/<pid>/stat) of every process still there."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text()
        except OSError:
            continue


def process_tree() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for pid, stat in proc_stats():
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(pid)
    return tree


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(bot: RunningBot) -> dict[str, object]:
    """RSS now and peak (VmHWM) in MB: Rasa's main process, each worker, the action server."""
    tree = process_tree()

    def family(pid: int) -> list[int]:
        found = [pid]
        for child in tree.get(pid, []):
            found += family(child)
        return found

    def mb(kb: int) -> float:
        return round(kb / 1024, 1)

    rasa_pids = family(bot.rasa.pid)
    # Sanic's workers are the children that hold a model; the main process is one too
    # when there is a single worker.
    processes = [{"pid": pid, "rss_mb": mb(_status_kb(pid, "VmRSS")),
                  "peak_mb": mb(_status_kb(pid, "VmHWM"))} for pid in rasa_pids]
    processes = [p for p in processes if p["rss_mb"]]
    actions = family(bot.actions.pid)
    return {
        "rasa_processes": processes,
        "rasa_max_rss_mb": max((p["rss_mb"] for p in processes), default=0.0),
        "rasa_max_peak_mb": max((p["peak_mb"] for p in processes), default=0.0),
        "rasa_total_rss_mb": round(sum(p["rss_mb"] for p in processes), 1),
        "actions_rss_mb": mb(sum(_status_kb(pid, "VmRSS") for pid in actions)),
        "actions_peak_mb": mb(max((_status_kb(pid, "VmHWM") for pid in actions), default=0)),
    }
