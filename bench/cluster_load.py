"""Single instance vs cluster, under the same load, in one run (loopback only).

``python -m bench.cluster_load`` starts, one after the other:

* **single** — the embedded default (``python -m bot run``: SQLite, in-memory lock, one
  Sanic worker) with nginx in front (the cluster template, one upstream);
* **cluster** — ``python -m bot cluster start``: 2 nodes (action server + Rasa with
  ``SANIC_WORKERS=2``) on PostgreSQL and Redis, nginx in front;

and drives each through nginx with the same asyncio + aiohttp load: N concurrent
conversations (default 50) for D seconds (default 120), each a loop of parent turns with
think time (3-9 s), 70 % FAQ questions and 30 % status questions. Both setups run at
the same time and take turns in slices (default 4 × 30 s each, A B A B ...), so that
the load other processes put on a shared machine falls on both alike. Status conversations are
verified up front with a portal grant in the records database (what a valid parent-portal
login does), so every status turn runs the status action and reads the records DB.

Measured per setup: turns, throughput, latency p50/p95/p99 (all, FAQ, status), errors
(no HTTP 200, empty answer, a Dutch failure message, or a status answer without the
child's name: target 0), peak memory per process (RSS and PSS) and the CPU that other
processes on the machine used meanwhile. Writes ``bench/reports/cluster.md``.

Bounded: a setup stops after D seconds or ``--max-turns`` turns; every request has a
30 s timeout; all servers are stopped in ``finally``. PostgreSQL database
``lwoo_bench_cluster`` and Redis databases 11/12 are used and cleaned up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import percentile
from bench.server import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REPORT = PROJECT_ROOT / "bench" / "reports" / "cluster.md"
DEMO_CSV = PROJECT_ROOT / "bot" / "demo" / "leerlingen.csv"
HASH_SECRET = "bench-cluster-secret-0123456789abcdefgh"
BENCH_DB = "lwoo_bench_cluster"
REDIS_LOCK_DB, REDIS_CHANNEL_DB = 11, 12
REQUEST_TIMEOUT_S = 30.0
START_TIMEOUT_S = 360.0
FAQ_SHARE = 0.7
FAQ_QUESTIONS = (
    "Wat is lwoo?",
    "Is lwoo een rugzak?",
    "Wie beslist over lwoo?",
    "Waar gaat het lwoo-geld naartoe?",
    "Is een handelingsplan verplicht?",
    "Waarom wordt mijn zoon na de zomer opnieuw getoetst?",
)
STATUS_QUESTION = "Kunt u opzoeken of mijn kind lwoo krijgt?"
PUPILS = (("100292", "Mila"), ("100245", "Noah"), ("100251", "Emma"),
          ("100263", "Liam"), ("100270", "Julia"), ("100284", "Finn"))
FAILURE_MARKERS = ("niet verwerkt", "Er ging iets mis", "technische storing",
                   "technisch probleem")


# -- processes and memory -------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, pgid, cpu seconds) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB; PSS splits pages shared between forked workers fairly."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _role(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(a.decode(errors="replace") for a in args if a)
    if "nginx" in text:
        return "nginx master" if "master" in text else "nginx worker"
    if "bot actions" in text:
        return "action server"
    if "bot run" in text:
        return "supervisor (bot run)"
    if "rasa" in text:
        parent = _proc_stat(pid)
        if parent and "rasa" in " ".join(
                a.decode(errors="replace") for a in
                Path(f"/proc/{parent[0]}/cmdline").read_bytes().split(b"\0")):
            return "rasa worker"
        return "rasa main"
    return text[:40]


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


@dataclass
class ProcessSample:
    role: str
    group: str
    rss_kb: int = 0
    pss_kb: int = 0


@dataclass
class Watch:
    """Peak memory of our processes, and CPU: ours vs the whole machine."""

    groups: dict[int, str]  # process group id -> label (node 1, single, ...)
    nginx_master: int | None
    peaks: dict[int, ProcessSample] = field(default_factory=dict)
    cpu_start: dict[int, float] = field(default_factory=dict)
    machine_start: tuple[float, float] = (0.0, 0.0)
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("ours_s", "machine_busy_s", "machine_total_s", "others_s"), 0.0))
    loads: list[float] = field(default_factory=list)  # 1-min load average, per window edge

    def ours(self) -> dict[int, str]:
        found = {}
        for pid in all_pids():
            stat = _proc_stat(pid)
            if stat is None:
                continue
            ppid, pgid, _ = stat
            if pgid in self.groups:
                found[pid] = self.groups[pgid]
            elif self.nginx_master is not None and self.nginx_master in (pid, ppid):
                found[pid] = "nginx"
        return found

    @staticmethod
    def _machine() -> tuple[float, float]:
        """(busy, total) CPU seconds of the whole machine."""
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        ticks = os.sysconf("SC_CLK_TCK")
        idle = values[3] + values[4]
        return (sum(values) - idle) / ticks, sum(values) / ticks

    def begin(self) -> None:
        """Start a measured window (windows add up)."""
        self.cpu_start = {pid: (_proc_stat(pid) or (0, 0, 0.0))[2] for pid in self.ours()}
        self.machine_start = self._machine()
        self.loads.append(os.getloadavg()[0])

    def sample(self) -> None:
        for pid, group in self.ours().items():
            rss, pss = _memory_kb(pid)
            peak = self.peaks.setdefault(pid, ProcessSample(_role(pid), group))
            peak.rss_kb, peak.pss_kb = max(peak.rss_kb, rss), max(peak.pss_kb, pss)

    def end(self) -> None:
        self.sample()
        cpu_end = {pid: (_proc_stat(pid) or (0, 0, 0.0))[2] for pid in self.ours()}
        machine_end = self._machine()
        self.loads.append(os.getloadavg()[0])
        ours = sum(max(0.0, end - self.cpu_start.get(pid, 0.0))
                   for pid, end in cpu_end.items())
        busy = machine_end[0] - self.machine_start[0]
        self.cpu["ours_s"] += ours
        self.cpu["machine_busy_s"] += busy
        self.cpu["machine_total_s"] += machine_end[1] - self.machine_start[1]
        self.cpu["others_s"] += max(0.0, busy - ours)


# -- the load -------------------------------------------------------------------------


@dataclass
class Turn:
    kind: str
    ms: float
    ok: bool
    problem: str = ""


@dataclass
class LoadResult:
    name: str
    conversations: int
    seconds: float = 0.0
    turns: list[Turn] = field(default_factory=list)
    watch: Watch | None = None

    def latencies(self, kind: str | None = None) -> list[float]:
        return [t.ms for t in self.turns if kind is None or t.kind == kind]

    @property
    def errors(self) -> list[Turn]:
        return [t for t in self.turns if not t.ok]


async def conversation(session: aiohttp.ClientSession, url: str, index: int, name: str,
                       deadline: float, think: tuple[float, float], result: LoadResult,
                       budget: list[int], rng: random.Random, first: str = "") -> None:
    """One parent: FAQ and status questions with think time, until the deadline
    (``first``: send only this one message)."""
    sender = f"bench-{name}-{index}"
    first_name = PUPILS[index % len(PUPILS)][1]
    await asyncio.sleep(rng.uniform(0, think[1]))  # do not start all at once
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        kind = "faq" if first or rng.random() < FAQ_SHARE else "status"
        text = first or (rng.choice(FAQ_QUESTIONS) if kind == "faq" else STATUS_QUESTION)
        started = time.monotonic()
        problem = ""
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as resp:
                body: Any = await resp.json(content_type=None) if resp.status == 200 else None
                if resp.status != 200:
                    problem = f"HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            body, problem = None, type(exc).__name__
        ms = (time.monotonic() - started) * 1000
        if not problem:
            answer = "\n".join(str(m.get("text") or "") for m in body or []
                               if isinstance(m, dict))
            if not answer:
                problem = "empty answer"
            elif markers := [m for m in FAILURE_MARKERS if m in answer]:
                problem = f"Dutch failure message ({markers[0]!r})"
            elif kind == "status" and first_name not in answer:
                problem = "status without the child's name"
        if time.monotonic() <= deadline:
            result.turns.append(Turn(kind, ms, not problem, problem))
        await asyncio.sleep(rng.uniform(*think))


@dataclass
class Target:
    """One setup under load: its front URL, its conversations and what was measured."""

    name: str
    url: str
    watch: Watch
    grant: Callable[[], None]
    result: LoadResult
    rngs: list[random.Random] = field(default_factory=list)


async def prepare(session: aiohttp.ClientSession, target: Target, conversations: int,
                  warmup_s: float) -> None:
    """Warm every worker up, start every conversation's session, then verify the
    conversations (a new session starts unverified, like a parent-portal login)."""
    warm = LoadResult(target.name, conversations)
    await asyncio.gather(*(
        conversation(session, target.url, 10_000 + i, target.name,
                     time.monotonic() + warmup_s, (0.1, 0.3), warm, [20], random.Random(i))
        for i in range(8)))
    opened = LoadResult(target.name, conversations)
    await asyncio.gather(*(
        conversation(session, target.url, i, target.name, time.monotonic() + 60, (0, 0),
                     opened, [1], random.Random(i), first="Hallo")
        for i in range(conversations)))
    if opened.errors:
        raise RuntimeError(f"{target.name}: {len(opened.errors)} conversations did not "
                           f"start ({opened.errors[0].problem})")
    await asyncio.get_running_loop().run_in_executor(None, target.grant)
    target.rngs = [random.Random(1000 + i) for i in range(conversations)]


async def load_slice(session: aiohttp.ClientSession, target: Target, seconds: float,
                     think: tuple[float, float], budget: list[int]) -> None:
    """All conversations of one setup, for ``seconds``; adds to its result."""
    deadline = time.monotonic() + seconds
    target.watch.begin()

    async def sampler() -> None:
        while time.monotonic() < deadline:
            target.watch.sample()
            await asyncio.sleep(5)

    started = time.monotonic()
    await asyncio.gather(sampler(), *(
        conversation(session, target.url, i, target.name, deadline, think, target.result,
                     budget, rng) for i, rng in enumerate(target.rngs)))
    target.result.seconds += min(time.monotonic(), deadline) - started
    target.watch.end()


async def run_load(targets: list[Target], conversations: int, seconds: float,
                   slices: int, think: tuple[float, float], max_turns: int,
                   warmup_s: float) -> None:
    """Both setups take turns in ``slices`` slices each (A B A B ...), so that the load
    of other processes on the machine falls on both alike."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=conversations + 10)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        for target in targets:
            await prepare(session, target, conversations, warmup_s)
        budgets = {target.name: [max_turns] for target in targets}
        for number in range(slices):
            for target in targets:
                print(f"    slice {number + 1}/{slices}: {target.name}", flush=True)
                await load_slice(session, target, seconds / slices, think,
                                 budgets[target.name])


# -- setups ---------------------------------------------------------------------------

Setup = tuple[str, "Watch", Callable[[], None]]  # front URL, watch, verify the conversations


def grant_status_conversations(records_url: str, name: str, conversations: int) -> None:
    """Verify the status conversations the way a valid parent-portal login does."""
    from core.mail import OutboxMailer
    from core.records import RecordsStore
    from core.verification import Verifier

    store = RecordsStore(records_url)
    verifier = Verifier(store, OutboxMailer(Path(tempfile.gettempdir()) / "bench-unused"),
                        HASH_SECRET, mail_from="bench@example.invalid")
    expires = datetime.now(timezone.utc) + timedelta(hours=2)
    for i in range(conversations):
        number = PUPILS[i % len(PUPILS)][0]
        verifier.grant_portal(f"bench-{name}-{i}", [number], f"bench-parent-{i}", expires,
                              channel="bench")
    store.dispose()


def _wait_http(url: str, timeout: float, alive: Any) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process stopped while waiting for {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def single_instance(work: Path, conversations: int) -> Iterator[Setup]:
    """`make run`'s set-up (embedded profile) with nginx (one upstream) in front."""
    from bot.cluster import ClusterConfig, Node, _nginx, start_nginx, stop_process_group

    var_dir = work / "single"
    rasa_port, actions_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROFILE", "ENDPOINTS", "RECORDS_DB_URL", "SANIC_WORKERS",
                        "TRACKER_DB_PATH", "MAIL_OUTBOX_DIR")}
    env.update({"VAR_DIR": str(var_dir), "PORT": str(rasa_port),
                "ACTIONS_PORT": str(actions_port), "HASH_SECRET": HASH_SECRET,
                "LOG_LEVEL": "WARNING"})
    var_dir.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "bot", "import-pupils", str(DEMO_CSV)], env=env,
                   cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=120)
    config = ClusterConfig(directory=work / "single-nginx", listen_host="127.0.0.1",
                           port=free_port(), actions_proxy_port=free_port(),
                           nodes=(Node(1, rasa_port, actions_port),),
                           rest_port=free_port())
    with open(work / "single.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env,  # noqa: S603
                                cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    nginx_started = False
    try:
        _wait_http(f"http://127.0.0.1:{rasa_port}/", START_TIMEOUT_S,
                   lambda: proc.poll() is None)
        start_nginx(config)
        nginx_started = True
        master = int((config.directory / "nginx.pid").read_text())
        # REST through nginx's internal listener (the public front answers 404 for it)
        yield config.rest_url, Watch({proc.pid: "single"}, master), partial(
            grant_status_conversations, f"sqlite:///{var_dir / 'records.db'}", "single",
            conversations)
    finally:
        stop_process_group(proc.pid, 30)
        if nginx_started:
            _nginx(config, "-s", "quit")


def _postgres_admin() -> str:
    return os.environ.get("BENCH_POSTGRES_ADMIN_URL",
                          "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _drop_bench_db() -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(_postgres_admin(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextmanager
def cluster(work: Path, conversations: int) -> Iterator[Setup]:
    """`make cluster`'s set-up on free ports, its own database and Redis databases."""
    import redis  # type: ignore[import-untyped]
    import sqlalchemy as sa

    admin = sa.engine.make_url(_postgres_admin())
    records_url = admin.set(database=BENCH_DB).render_as_string(hide_password=False)
    rasa_ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROFILE", "ENDPOINTS", "TRACKER_DB_URL", "MAIL_OUTBOX_DIR",
                        "VAR_DIR", "SANIC_WORKERS", "TICKET_LOCK_LIFETIME")}
    env.update({
        "CLUSTER_DIR": str(work / "cluster"), "CLUSTER_PORT": str(free_port()),
        "CLUSTER_REST_PORT": str(free_port()),
        "CLUSTER_RASA_PORTS": ",".join(map(str, rasa_ports)),
        "CLUSTER_ACTIONS_PORTS": f"{free_port()},{free_port()}",
        "CLUSTER_ACTIONS_PROXY_PORT": str(free_port()),
        "TRACKER_DB_HOST": admin.host or "127.0.0.1", "TRACKER_DB_PORT": str(admin.port or 5432),
        "TRACKER_DB_USER": admin.username or "postgres",
        "TRACKER_DB_PASSWORD": admin.password or "", "TRACKER_DB_NAME": BENCH_DB,
        "RECORDS_DB_URL": records_url, "REDIS_LOCK_DB": str(REDIS_LOCK_DB),
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_CHANNEL_DB}",
        "HASH_SECRET": HASH_SECRET, "LOG_LEVEL": "WARNING",
    })
    command = [sys.executable, "-m", "bot", "cluster"]
    _drop_bench_db()
    try:
        started = subprocess.run([*command, "start", "--demo-pupils"], env=env,  # noqa: S603
                                 cwd=PROJECT_ROOT, capture_output=True, text=True,
                                 timeout=START_TIMEOUT_S + 30, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"cluster did not start:\n{started.stderr[-2000:]}")
        directory = work / "cluster"
        groups = {int((directory / f"node{i}.pid").read_text()): f"node {i}" for i in (1, 2)}
        master = int((directory / "nginx.pid").read_text())
        yield (f"http://127.0.0.1:{env['CLUSTER_REST_PORT']}", Watch(groups, master),
               partial(grant_status_conversations, records_url, "cluster", conversations))
    finally:
        subprocess.run([*command, "stop"], env=env, cwd=PROJECT_ROOT,  # noqa: S603
                       capture_output=True, timeout=120, check=False)
        _drop_bench_db()
        for db in (REDIS_LOCK_DB, REDIS_CHANNEL_DB):
            client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=3)
            try:
                client.flushdb()
            except redis.exceptions.RedisError:
                pass
            finally:
                client.close()


# -- report ---------------------------------------------------------------------------


def _row(result: LoadResult, kind: str | None) -> str:
    values = result.latencies(kind)
    label = kind or "all"
    return (f"| {result.name} | {label} | {len(values)} | "
            f"{len(values) / result.seconds if result.seconds else 0:.1f} | "
            f"{percentile(values, 50):.0f} | {percentile(values, 95):.0f} | "
            f"{percentile(values, 99):.0f} | "
            f"{sum(1 for t in result.turns if not t.ok and (kind is None or t.kind == kind))} |")


READING = [
    "How to read: an error is a turn without HTTP 200, with an empty answer, with a Dutch "
    "failure message, or a status answer without the child's name. 'technische storing' "
    "means a custom action (FAQ and status answers are custom actions) did not answer "
    "within ACTION_TIMEOUT (3 s), so the parent got the Dutch technical-problem message "
    "(bot/compat.py; it then skips the action server for 5 s). turns/s is what "
    "the conversations asked for at their think time: a setup that answers more slowly "
    "gets fewer turns in the same time.",
]


def report(results: list[LoadResult], args: argparse.Namespace, started: datetime) -> str:
    lines = [
        "# Load: single instance vs cluster (bench/cluster_load.py)",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores, loopback only. "
        f"{args.conversations} concurrent conversations per setup for {args.duration:.0f} s "
        f"through nginx (both setups up at once, taking turns in {args.slices} slices each, "
        f"so other processes' load falls on both alike), think time "
        f"{args.think_min:.0f}-{args.think_max:.0f} s between turns, "
        f"{FAQ_SHARE:.0%} FAQ / {1 - FAQ_SHARE:.0%} status turns (status conversations "
        "verified up front with a portal grant, so each status turn runs the status action "
        "and reads the records database). Regenerate: `python -m bench.cluster_load`.",
        "",
        "* **single**: `python -m bot run` (embedded default: SQLite conversations and "
        "records, in-memory lock store, 1 Sanic worker), nginx in front.",
        "* **cluster**: `python -m bot cluster start` (2 nodes, each an action server + Rasa "
        "with 2 Sanic workers; PostgreSQL conversations and records, Redis lock store), "
        "nginx in front.",
        "",
        "## Latency and errors",
        "",
        "| setup | turns | count | turns/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for kind in (None, "faq", "status"):
            lines.append(_row(result, kind))
    problems: dict[tuple[str, str], int] = {}
    for result in results:
        for turn in result.errors:
            key = (result.name, turn.problem)
            problems[key] = problems.get(key, 0) + 1
    lines += ["", "Errors: " + (", ".join(f"{n}× {p} ({s})" for (s, p), n in problems.items())
                                if problems else "none (target 0).")]
    lines += ["", *READING]
    lines += ["", "## Memory per process (peak during the load)", "",
              "PSS divides pages that forked Sanic workers share; the PSS total is what the "
              "setup really occupies. RSS counts shared pages in every process.", "",
              "| setup | group | process | RSS MB | PSS MB |", "|---|---|---|---:|---:|"]
    for result in results:
        assert result.watch is not None
        samples = sorted(result.watch.peaks.values(), key=lambda s: (s.group, s.role))
        for sample in samples:
            lines.append(f"| {result.name} | {sample.group} | {sample.role} | "
                         f"{sample.rss_kb / 1024:.0f} | {sample.pss_kb / 1024:.0f} |")
        lines.append(f"| {result.name} | **total** | {len(samples)} processes | "
                     f"{sum(s.rss_kb for s in samples) / 1024:.0f} | "
                     f"**{sum(s.pss_kb for s in samples) / 1024:.0f}** |")
    lines += ["", "## Machine load during each measurement", "",
              "Other sessions shared this machine. CPU seconds over the measured window "
              "(machine capacity = cores × seconds):", "",
              "| setup | our processes | other processes | machine capacity | "
              "1-min load average |", "|---|---:|---:|---:|---|"]
    for result in results:
        assert result.watch is not None
        cpu, loads = result.watch.cpu, result.watch.loads
        lines.append(
            f"| {result.name} | {cpu['ours_s']:.0f} s | {cpu['others_s']:.0f} s | "
            f"{cpu['machine_total_s']:.0f} s | {min(loads):.1f}–{max(loads):.1f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_load",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per setup")
    # a parent reads the answer and types the next question: 3-9 s
    parser.add_argument("--think-min", type=float, default=3.0)
    parser.add_argument("--think-max", type=float, default=9.0)
    parser.add_argument("--slices", type=int, default=4,
                        help="the setups take turns in this many slices each")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--max-turns", type=int, default=20_000, help="per setup")
    parser.add_argument("--only", choices=["single", "cluster"], default=None)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if not (1 <= args.conversations <= 200 and 1 <= args.duration <= 600
            and 1 <= args.slices <= 20):
        parser.error("at most 200 conversations, 600 s per setup and 20 slices")
    started = datetime.now(timezone.utc)
    setups = [("single", single_instance), ("cluster", cluster)]
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="lwoo-cluster-bench-") as tmp, ExitStack() as stack:
        for name, setup in setups:
            if args.only and name != args.only:
                continue
            print(f"==> {name}: starting", flush=True)
            front, watch, grant = stack.enter_context(setup(Path(tmp), args.conversations))
            targets.append(Target(name, front + "/webhooks/rest/webhook", watch, grant,
                                  LoadResult(name, args.conversations, watch=watch)))
        print(f"==> {args.conversations} conversations, {args.duration:.0f} s per setup in "
              f"{args.slices} slices each", flush=True)
        asyncio.run(run_load(targets, args.conversations, args.duration, args.slices,
                             (args.think_min, args.think_max), args.max_turns, args.warmup))
    results = [target.result for target in targets]
    for result in results:
        print(f"    {result.name}: {len(result.turns)} turns, p95 "
              f"{percentile(result.latencies(), 95):.0f} ms, {len(result.errors)} errors",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, args, started), encoding="utf-8")
    print(f"Report: {args.out}", flush=True)
    return 0 if all(not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
