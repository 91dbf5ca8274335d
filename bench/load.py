"""Load over the REST channel with asyncio + aiohttp: loopback only, bounded in turns and time.

Every conversation has a fresh sender id. Scenarios:

* **faq** — conversations of a few FAQ questions (the first turn also starts the session);
* **status** — conversations verified with a one-time code from the outbox (the
  code-check turn shows the status: timed as ``code_check``), which then ask for the
  status again (``status``: the status-lookup turn);
* **tracker length** — one long conversation, to see latency grow with the tracker.
"""

from __future__ import annotations

import asyncio
import email
import itertools
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp

from bench.server import BenchPupil

STATUS_QUESTION = "Kunt u opzoeken of mijn kind lwoo krijgt?"
STATUS_AGAIN = "hoe staat het met de lwoo van mijn kind?"
CODE_SENT = "Als het leerlingnummer en de geboortedatum kloppen"
FAILURE_MARKERS = ("Er ging iets mis", "technisch probleem", "technische storing")
REQUEST_TIMEOUT = 30.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class LevelResult:
    scenario: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def turns(self) -> int:
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "scenario": self.scenario, "concurrency": self.concurrency, "turns": self.turns,
            "errors": self.errors, "elapsed_s": round(self.elapsed_s, 2),
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "mean_ms": round(sum(lat) / len(lat), 1) if lat else 0.0,
            "throughput_msg_s": round(self.turns / self.elapsed_s, 1) if self.elapsed_s else 0.0,
        }


class Client:
    """One aiohttp session to the bot's REST channel (127.0.0.1 only)."""

    def __init__(self, base_url: str, connections: int) -> None:
        host = urlparse(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"bench load goes to loopback only, not {host}")
        self.url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._senders = itertools.count(1)
        self._run = f"{int(time.time())}"

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session:
            await self._session.close()

    def new_sender(self, prefix: str) -> str:
        return f"bench-{prefix}-{self._run}-{next(self._senders)}"

    async def say(self, sender: str, text: str) -> tuple[float, str | None]:
        """One turn: (milliseconds, the bot's text) or (ms, None) on any failure."""
        assert self._session is not None
        start = time.perf_counter()
        try:
            async with self._session.post(self.url, json={"sender": sender, "message": text}
                                          ) as resp:
                body = await resp.json() if resp.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            body = None
        elapsed = (time.perf_counter() - start) * 1000
        if not isinstance(body, list) or not body:
            return elapsed, None
        text_out = "\n".join(str(m.get("text") or "") for m in body if isinstance(m, dict))
        if any(marker in text_out for marker in FAILURE_MARKERS):
            return elapsed, None
        return elapsed, text_out


async def faq_level(client: Client, texts: Sequence[str], concurrency: int, max_turns: int,
                    max_seconds: float, turns_per_conversation: int = 3) -> LevelResult:
    result = LevelResult("faq", concurrency)
    pool = itertools.cycle(texts)
    started = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    async def user() -> None:
        nonlocal started
        while started < max_turns and time.perf_counter() < deadline:
            sender = client.new_sender("faq")
            for _ in range(turns_per_conversation):
                if started >= max_turns or time.perf_counter() >= deadline:
                    return
                started += 1
                ms, answer = await client.say(sender, next(pool))
                if answer is None:
                    result.errors += 1
                else:
                    result.latencies_ms.append(ms)

    await asyncio.gather(*(user() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - start
    return result


class Outbox:
    """The one-time codes in the bench VAR_DIR's outbox, read incrementally."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: set[str] = set()
        self._codes: dict[str, list[str]] = {}

    def _scan(self) -> None:
        if not self.directory.exists():
            return
        for path in self.directory.glob("*.eml"):
            if path.name in self._seen:
                continue
            try:
                msg = email.message_from_bytes(path.read_bytes())
            except OSError:
                continue
            body = msg.get_payload(decode=True)
            if body is None and msg.is_multipart():
                part = msg.get_payload(0)
                body = part.get_payload(decode=True) if not isinstance(part, str) else None
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
            found = re.search(r"\b(\d{6})\b", text)
            if not found:
                continue  # still being written: read it again next time
            self._seen.add(path.name)
            self._codes.setdefault(str(msg["To"]), []).append(found.group(1))

    async def code_for(self, address: str, timeout: float = 15.0) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._scan()
            for to, codes in self._codes.items():
                if address in to and codes:
                    return codes.pop(0)
            await asyncio.sleep(0.05)
        return None


async def verify(client: Client, outbox: Outbox, pupil: BenchPupil, question: str
                 ) -> tuple[str | None, float | None]:
    """A fresh conversation verified for ``pupil``: (sender, code-check turn ms)."""
    sender = client.new_sender("status")
    for text in (question, pupil.number):
        _, answer = await client.say(sender, text)
        if answer is None:
            return None, None
    _, answer = await client.say(sender, pupil.birth_date)
    if answer is None or CODE_SENT not in answer:
        return None, None
    code = await outbox.code_for(pupil.email)
    if code is None:
        return None, None
    ms, answer = await client.say(sender, code)
    if answer is None or pupil.first_name.lower() not in answer.lower():
        return None, None
    return sender, ms


async def status_level(client: Client, outbox: Outbox, pupils: Iterator[BenchPupil],
                       concurrency: int, conversations: int, asks: int, max_seconds: float,
                       questions: tuple[str, str] = (STATUS_QUESTION, STATUS_AGAIN)
                       ) -> tuple[LevelResult, LevelResult]:
    """Verify ``conversations`` conversations (10 at a time), then ``concurrency`` users ask
    for the status ``asks`` times in each. Returns (status turns, code-check turns)."""
    checks = LevelResult("code_check", min(concurrency, 10))
    gate = asyncio.Semaphore(10)

    async def one(pupil: BenchPupil) -> str | None:
        async with gate:
            sender, ms = await verify(client, outbox, pupil, questions[0])
        if sender is None or ms is None:
            checks.errors += 1
            return None
        checks.latencies_ms.append(ms)
        return sender

    begin = time.perf_counter()
    senders = [s for s in await asyncio.gather(*(one(next(pupils))
                                                 for _ in range(conversations))) if s]
    checks.elapsed_s = time.perf_counter() - begin
    result = LevelResult("status", concurrency)
    queue = [(sender, i) for i in range(asks) for sender in senders]
    start = time.perf_counter()
    deadline = start + max_seconds
    locks = {sender: asyncio.Lock() for sender in senders}  # one turn at a time per sender

    async def user() -> None:
        while queue and time.perf_counter() < deadline:
            sender, _ = queue.pop(0)
            async with locks[sender]:
                ms, answer = await client.say(sender, questions[1])
            if answer is None or "lwoo" not in answer.lower():
                result.errors += 1
            else:
                result.latencies_ms.append(ms)

    await asyncio.gather(*(user() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - start
    return result, checks


async def tracker_growth(client: Client, texts: Sequence[str], turns: int) -> list[float]:
    """Latency of each turn of one long conversation (ms; a failed turn counts as 0)."""
    sender = client.new_sender("long")
    pool = itertools.cycle(texts)
    latencies = []
    for _ in range(turns):
        ms, answer = await client.say(sender, next(pool))
        latencies.append(ms if answer is not None else 0.0)
    return latencies


@dataclass
class SpeedPlan:
    """How much load: turns per level and the time cap per level."""

    levels: tuple[int, ...] = (1, 10, 50)
    faq_turns: dict[int, int] = field(default_factory=lambda: {1: 200, 10: 600, 50: 1500})
    status_conversations: dict[int, int] = field(default_factory=lambda: {1: 10, 10: 20, 50: 50})
    status_asks: int = 5
    max_seconds: float = 60.0
    warmup_turns: int = 20
    tracker_turns: int = 40
    # typed questions; the quick mode's barely trained model gets the button payload
    status_questions: tuple[str, str] = (STATUS_QUESTION, STATUS_AGAIN)

    def asdict(self) -> dict[str, Any]:
        return {k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()})
                for k, v in asdict(self).items()}

    @property
    def pupils_needed(self) -> int:
        return sum(self.status_conversations.get(c, 0) for c in self.levels) + 5


async def run_speed(base_url: str, var_dir: Path, faq_texts: Sequence[str],
                    pupils: Sequence[BenchPupil], plan: SpeedPlan, status: bool = True,
                    tracker: bool = False) -> dict[str, Any]:
    outbox = Outbox(var_dir / "outbox")
    pupil_iter = iter(pupils)
    out: dict[str, Any] = {"levels": [], "plan": plan.asdict()}
    async with Client(base_url, connections=max(plan.levels) + 10) as client:
        await faq_level(client, faq_texts, 1, plan.warmup_turns, plan.max_seconds)
        for concurrency in plan.levels:
            level = await faq_level(client, faq_texts, concurrency,
                                    plan.faq_turns.get(concurrency, 100), plan.max_seconds)
            out["levels"].append(level.summary())
        if status:
            for concurrency in plan.levels:
                asked, checks = await status_level(
                    client, outbox, pupil_iter, concurrency,
                    plan.status_conversations.get(concurrency, concurrency),
                    plan.status_asks, plan.max_seconds, plan.status_questions)
                out["levels"] += [asked.summary(), checks.summary()]
        if tracker:
            out["tracker_ms"] = [round(ms, 1) for ms in
                                 await tracker_growth(client, faq_texts, plan.tracker_turns)]
    return out
