"""Shared plumbing for the messaging channels (WhatsApp via Twilio, Telegram).

* :func:`conversation_id`: the Rasa sender id is an HMAC of the provider's user id (a
  key derived from HASH_SECRET for this purpose), so phone numbers and chat ids never
  reach the tracker store or the logs.
* :func:`split_message`: long answers are cut at paragraph, sentence or word boundaries.
* :class:`TtlStore`: "seen this delivery?" (duplicates are processed once) and "which
  buttons did I just offer?" (numbered replies). In memory for one instance; with
  ``REDIS_URL`` set, in Redis so that several instances share it (a cluster *must* use
  Redis, or a retried delivery that lands on another instance is processed twice).
* :class:`PendingDeliveries` and :func:`sweep_pending`: a message accepted from a
  provider that does not retry (Twilio) is kept, encrypted, until it was processed; if
  the node processing it dies, any node picks it up once its lease has expired.
* :class:`ProviderHttp`: one aiohttp session with timeouts for the provider APIs. Its log
  lines name the provider and the HTTP status only: never a URL (the Telegram URL holds
  the bot token), a phone number or a message text.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot.channels.common import no_answer
from core.texts import text as msg

logger = logging.getLogger(__name__)


DEDUPE_TTL = 30 * 24 * 3600  # providers retry for hours; replays are refused 30 days
PROCESSING_LEASE = 30  # seconds a delivery being processed is held (turns take < 5 s)
BUTTONS_TTL = 3600
PENDING_TTL = 3600  # an accepted message not processed within an hour is dropped (logged)
PENDING_ATTEMPTS = 3  # times a pending message is tried before it is given up (logged)
SWEEP_INTERVAL = 5.0  # seconds between two looks for pending messages of dead nodes


def lease_seconds() -> int:
    """CHANNEL_LEASE_SECONDS: how long a delivery being processed is held (default 30)."""
    from core.settings import get_settings

    return get_settings().channel_lease_seconds


# --------------------------------------------------------------------------- ids


CHANNEL_SENDER_PURPOSE = "channel-sender"


def conversation_id(prefix: str, provider_user_id: str, secret: str) -> str:
    """Stable, non-reversible Rasa sender id for a provider user (``wa-…``, ``tg-…``):
    an HMAC with a key derived from HASH_SECRET for this purpose only
    (:func:`core.keys.derive_key`), never with HASH_SECRET itself."""
    from core.keys import derive_key

    digest = hmac.new(
        derive_key(secret, CHANNEL_SENDER_PURPOSE),
        f"{prefix}:{provider_user_id}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"{prefix}-{digest[:32]}"


def hash_secret() -> str:
    """The project's HMAC key (HASH_SECRET, or the key kept in var/)."""
    from core.settings import get_settings

    return get_settings().hash_secret


# --------------------------------------------------------------------------- text


def utf16_len(text: str) -> int:
    """Length as WhatsApp and Telegram count it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


_SENTENCE_END = re.compile(r"[.!?…:;]\)?[\"']?\s")


def _fitting_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The largest n such that ``measure(text[:n]) <= limit``."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def _cut_point(window: str) -> int:
    """Where to cut ``window`` (the part that fits): the last paragraph break, line
    break, sentence end or space in its second half; else its end."""
    half = len(window) // 2
    for finder in (
        lambda w: w.rfind("\n\n"),
        lambda w: w.rfind("\n"),
        lambda w: max((m.end() - 1 for m in _SENTENCE_END.finditer(w)), default=-1),
        lambda w: max(w.rfind(" "), w.rfind("\t")),
    ):
        position = finder(window)
        if position >= half:
            return position
    return len(window)


def split_message(
    text: str, limit: int, measure: Callable[[str], int] = utf16_len
) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (as ``measure`` counts), at
    paragraph, sentence or word boundaries when possible. Whitespace at the cuts is
    dropped; nothing else is lost."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    text = text.strip()
    parts: list[str] = []
    while text:
        if measure(text) <= limit:
            parts.append(text)
            break
        window = text[: _fitting_prefix(text, limit, measure)]
        cut = max(_cut_point(window), 1)
        part, text = text[:cut].rstrip(), text[cut:].lstrip()
        if part:
            parts.append(part)
    return parts


def numbered_options(text: str, titles: Sequence[str], language: str | None = None,
                     start: int = 1) -> str:
    """WhatsApp has no buttons: list them as ``1. …`` lines under the text, with the hint
    in the message's language. ``start``: the first number (a second list in the same
    turn goes on where the first ended, so every number shown can be typed)."""
    lines = [f"{index}. {title}" for index, title in enumerate(titles, start=start)]
    parts = (text.strip(), "\n".join(lines), msg("channel.choice_hint", language=language))
    return "\n\n".join(part for part in parts if part)


_NUMBER_REPLY = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def resolve_choice(text: str, offered: Sequence[tuple[str, str]]) -> str | None:
    """The payload of the offered button the parent chose by typing its number (1..N) or
    its exact title; None when ``text`` is not such a choice. Only the buttons offered in
    the bot's previous turn count, so 6-digit pupil numbers, codes and dates never match."""
    if not offered or not isinstance(text, str):
        return None
    match = _NUMBER_REPLY.match(text)
    if match:
        number = int(match.group(1))
        if 1 <= number <= len(offered):
            return offered[number - 1][1]
        return None
    wanted = text.strip().casefold()
    for title, payload in offered:
        if title.strip().casefold() == wanted:
            return payload
    return None


def button_pairs(buttons: Sequence[Any]) -> list[tuple[str, str]]:
    """(title, payload) for each well-formed Rasa button."""
    pairs = []
    for button in buttons:
        if isinstance(button, dict):
            title, payload = button.get("title"), button.get("payload")
            if isinstance(title, str) and isinstance(payload, str) and title and payload:
                pairs.append((title, payload))
    return pairs


# --------------------------------------------------------------------------- store


class TtlStore(Protocol):
    async def add(self, key: str, ttl: int, value: str = "1") -> bool:
        """Record ``key``; True when it was not there yet (first delivery)."""

    async def put(self, key: str, value: str, ttl: int) -> None: ...

    async def get(self, key: str) -> str | None: ...

    async def take(self, key: str) -> str | None:
        """Get and delete."""

    async def keys(self, prefix: str) -> list[str]:
        """The live keys that start with ``prefix`` (few: pending deliveries)."""


class MemoryStore:
    """Bounded in-process store with expiry (one instance only)."""

    def __init__(self, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def _purge(self) -> None:
        now = self._clock()
        while self._data:
            key, (expires, _) = next(iter(self._data.items()))
            if expires > now and len(self._data) <= self._max:
                break
            del self._data[key]

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._data[key]
            return None
        return entry[1]

    async def add(self, key: str, ttl: int, value: str = "1") -> bool:
        if self._live(key) is not None:
            return False
        await self.put(key, value, ttl)
        return True

    async def put(self, key: str, value: str, ttl: int) -> None:
        self._data.pop(key, None)
        self._data[key] = (self._clock() + ttl, value)  # newest last; TTLs are per kind
        self._purge()

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def take(self, key: str) -> str | None:
        value = self._live(key)
        self._data.pop(key, None)
        return value

    async def keys(self, prefix: str) -> list[str]:
        return [key for key in list(self._data)
                if key.startswith(prefix) and self._live(key) is not None]


class RedisStore:
    """Shared store for several instances. When Redis fails, falls back to memory (a
    duplicate may then be answered twice, but no parent is left without an answer)."""

    PREFIX = "lwoo:channels:"
    INDEXED = "pending:"  # keys listed by :meth:`keys`: a sorted set, never a SCAN
    INDEX = PREFIX + "index:pending"

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis  # type: ignore[import-untyped]

        self._redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                        socket_keepalive=True,
                                        decode_responses=True)
        self._fallback = MemoryStore()

    def _failed(self, exc: Exception) -> None:
        logger.warning("redis unavailable for the channel store (%s); using memory",
                       type(exc).__name__)

    async def add(self, key: str, ttl: int, value: str = "1") -> bool:
        try:
            return bool(await self._redis.set(self.PREFIX + key, value, nx=True, ex=ttl))
        except Exception as exc:  # noqa: BLE001 - any redis fault: fall back
            self._failed(exc)
            return await self._fallback.add(key, ttl, value)

    async def put(self, key: str, value: str, ttl: int) -> None:
        try:
            if key.startswith(self.INDEXED):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.set(self.PREFIX + key, value, ex=ttl)
                    pipe.zadd(self.INDEX, {key: time.time() + ttl})
                    pipe.expire(self.INDEX, DEDUPE_TTL)
                    await pipe.execute()
                return
            await self._redis.set(self.PREFIX + key, value, ex=ttl)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            await self._fallback.put(key, value, ttl)

    async def get(self, key: str) -> str | None:
        try:
            value = await self._redis.get(self.PREFIX + key)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return await self._fallback.get(key)
        return value if isinstance(value, str) else None

    async def take(self, key: str) -> str | None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self.PREFIX + key)
                pipe.delete(self.PREFIX + key)
                if key.startswith(self.INDEXED):
                    pipe.zrem(self.INDEX, key)
                value, *_ = await pipe.execute()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return await self._fallback.take(key)
        return value if isinstance(value, str) else None

    async def keys(self, prefix: str) -> list[str]:
        if not prefix.startswith(self.INDEXED):
            raise ValueError(f"only keys under {self.INDEXED!r} are listed")
        try:
            now = time.time()
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self.INDEX, "-inf", now)
                pipe.zrangebyscore(self.INDEX, now, "+inf")
                _, members = await pipe.execute()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return await self._fallback.keys(prefix)
        return [m for m in members if isinstance(m, str) and m.startswith(prefix)]


class SqliteStore:
    """Single-instance store that survives a restart: a SQLite file under ``var/``
    (``channels.db``, mode 0600). Expired rows are dropped as they are met and in bulk
    now and then; every row has an expiry."""

    def __init__(self, path: str) -> None:
        import sqlite3
        import threading

        self._path = path
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(path, timeout=2.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, "
                         "value TEXT NOT NULL, expires REAL NOT NULL)")
        self._lock = threading.Lock()
        self._writes = 0

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            now = time.time()
            self._writes += 1
            if self._writes % 1000 == 0:
                self._db.execute("DELETE FROM entries WHERE expires <= ?", (now,))
            self._db.execute("DELETE FROM entries WHERE key = ? AND expires <= ?",
                             (args[0], now))
            cursor = self._db.execute(sql, args)
            return cursor

    async def add(self, key: str, ttl: int, value: str = "1") -> bool:
        cursor = await asyncio.to_thread(
            self._run, "INSERT OR IGNORE INTO entries VALUES (?, ?, ?)",
            (key, value, time.time() + ttl))
        return bool(cursor.rowcount == 1)

    async def put(self, key: str, value: str, ttl: int) -> None:
        await asyncio.to_thread(self._run, "INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
                                (key, value, time.time() + ttl))

    async def get(self, key: str) -> str | None:
        cursor = await asyncio.to_thread(self._run,
                                         "SELECT value FROM entries WHERE key = ?", (key,))
        row = cursor.fetchone()
        return str(row[0]) if row else None

    async def take(self, key: str) -> str | None:
        cursor = await asyncio.to_thread(
            self._run, "DELETE FROM entries WHERE key = ? RETURNING value", (key,))
        row = cursor.fetchone()
        return str(row[0]) if row else None

    async def keys(self, prefix: str) -> list[str]:
        def select() -> list[str]:
            with self._lock:
                # a range instead of LIKE: no wildcard in a key can widen it
                rows = self._db.execute(
                    "SELECT key FROM entries WHERE key >= ? AND key < ? AND expires > ?",
                    (prefix, prefix + "\U0010ffff", time.time())).fetchall()
            return [str(row[0]) for row in rows]

        return await asyncio.to_thread(select)


_store: TtlStore | None = None


def get_store() -> TtlStore:
    """The process-wide store: Redis when REDIS_URL is set (several instances), else a
    SQLite file in VAR_DIR (one instance; remembers deliveries across a restart)."""
    global _store
    if _store is None:
        from core.settings import get_settings

        url = get_settings().redis_url
        if url:
            _store = RedisStore(url)
        else:
            from core.settings import get_settings

            _store = SqliteStore(str(get_settings().var_dir / "channels.db"))
    return _store


class ButtonMemory:
    """The buttons offered in the bot's last turn, per conversation (server-side)."""

    def __init__(self, channel: str, store: TtlStore) -> None:
        self._channel = channel
        self._store = store

    def _key(self, conversation: str) -> str:
        return f"buttons:{self._channel}:{conversation}"

    async def remember(self, conversation: str, pairs: Sequence[tuple[str, str]]) -> None:
        await self._store.put(self._key(conversation), json.dumps(list(pairs)), BUTTONS_TTL)

    async def take(self, conversation: str) -> list[tuple[str, str]]:
        raw = await self._store.take(self._key(conversation))
        try:
            loaded = json.loads(raw) if raw else []
        except ValueError:
            return []
        return [(str(t), str(p)) for t, p in loaded if isinstance(t, str) and isinstance(p, str)]


PROCESSING = "processing"
DONE = "done"


class Delivery(str, enum.Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # done before (a retry, or a replay): answer 200, do nothing
    BUSY = "busy"  # being processed right now (its lease is held by a node)
    FAILED = "failed"  # processing raised: answer 500, the provider's retry is processed


def _delivery_keys(channel: str, delivery_ids: Sequence[str]) -> list[str]:
    return [f"delivery:{channel}:{delivery_id}" for delivery_id in delivery_ids if delivery_id]


async def already_done(store: TtlStore, channel: str, delivery_ids: Sequence[str]) -> bool:
    """True when the delivery was processed before under any of its ids."""
    for key in _delivery_keys(channel, delivery_ids):
        if await store.get(key) == DONE:
            return True
    return False


async def process_once(store: TtlStore, channel: str, delivery_ids: Sequence[str],
                       work: Callable[[], Awaitable[None]],
                       lease: int | None = None) -> Delivery:
    """Run ``work`` for a provider delivery at most once, and at least once.

    ``delivery_ids``: every id the delivery is known by (Twilio: the idempotency token
    and the MessageSid; Telegram: the update_id); the first one is claimed. A delivery
    is marked done only after ``work`` returned; while it runs it holds a lease of
    ``lease`` seconds (CHANNEL_LEASE_SECONDS, default 30), renewed while the turn runs:
    a node that dies mid-turn frees it when the lease ends. If ``work`` raises, the
    claim is released so the provider's retry is processed. Done deliveries are
    remembered for DEDUPE_TTL (30 days: far longer than any provider retries), so a
    captured request replayed later, also after a restart, is refused."""
    keys = _delivery_keys(channel, delivery_ids)
    if not keys:
        await work()
        return Delivery.PROCESSED
    for key in keys[1:]:
        if await store.get(key) == DONE:
            return Delivery.DUPLICATE
    held = lease if lease is not None else lease_seconds()
    if not await store.add(keys[0], held, PROCESSING):
        return Delivery.DUPLICATE if await store.get(keys[0]) == DONE else Delivery.BUSY
    heartbeat = asyncio.ensure_future(_keep_lease(store, keys[0], held))
    try:
        await work()
    except BaseException:
        await _stop(heartbeat)
        await store.take(keys[0])
        raise
    await _stop(heartbeat)
    for key in keys:
        await store.put(key, DONE, DEDUPE_TTL)
    return Delivery.PROCESSED


async def _keep_lease(store: TtlStore, key: str, lease: int) -> None:
    """Renew the lease every third of its length while the turn runs, so that only a
    node that stopped loses it: a long turn (waiting for the conversation lock of a dead
    node, up to TICKET_LOCK_LIFETIME) is never taken over and run twice."""
    while True:
        await asyncio.sleep(max(lease / 3, 0.5))
        try:
            await store.put(key, PROCESSING, lease)
        except Exception as exc:  # noqa: BLE001 - the stores fall back themselves
            logger.warning("could not renew a delivery lease (%s)", type(exc).__name__)


async def _stop(task: asyncio.Future[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class PendingDeliveries:
    """Messages accepted from a provider that does not retry, kept until processed.

    Twilio retries a webhook only within its 15 s total timeout (connection overrides
    ``#rc=…&rp=…``; by default only a failed connection, once), never after a node died
    mid-turn, so the webhook keeps what the turn needs *before* it starts, and
    :func:`sweep_pending` on every node processes a pending message whose lease has
    expired. Entries are encrypted (Fernet, a key derived from HASH_SECRET for this
    purpose: the phone number is in them) and expire after PENDING_TTL."""

    def __init__(self, store: TtlStore, channel: str, secret: str) -> None:
        import base64

        from cryptography.fernet import Fernet

        from core.keys import derive_key

        self._store = store
        self._channel = channel
        self._prefix = f"pending:{channel}:"
        self._fernet = Fernet(base64.urlsafe_b64encode(
            derive_key(secret, f"channel-pending:{channel}")))

    async def accept(self, delivery_ids: Sequence[str], fields: dict[str, str]) -> None:
        """Keep a message (its ids and form fields) until :meth:`forget`."""
        record = {"ids": list(delivery_ids), "fields": fields, "accepted": time.time(),
                  "attempts": 0}
        await self._write(delivery_ids[0], record)

    async def _write(self, primary: str, record: dict[str, Any]) -> None:
        token = self._fernet.encrypt(json.dumps(record).encode("utf-8")).decode("ascii")
        await self._store.put(self._prefix + primary, token, PENDING_TTL)

    async def forget(self, primary: str) -> None:
        await self._store.take(self._prefix + primary)

    async def due(self, older_than: float) -> list[dict[str, Any]]:
        """Pending messages accepted more than ``older_than`` seconds ago."""
        from cryptography.fernet import InvalidToken

        found = []
        now = time.time()
        for key in await self._store.keys(self._prefix):
            raw = await self._store.get(key)
            if raw is None:
                continue
            try:
                record = json.loads(self._fernet.decrypt(raw.encode("ascii")))
            except (InvalidToken, ValueError):  # HASH_SECRET rotated, or garbage
                await self._store.take(key)
                continue
            if now - float(record.get("accepted", now)) >= older_than:
                found.append(record)
        return found

    async def attempted(self, record: dict[str, Any]) -> None:
        record["attempts"] = int(record.get("attempts", 0)) + 1
        await self._write(record["ids"][0], record)


async def sweep_pending(store: TtlStore, pending: PendingDeliveries, channel: str,
                        work_for: Callable[[dict[str, str]], Callable[[], Awaitable[None]]],
                        lease: int | None = None) -> int:
    """Process the pending messages whose lease has expired (their node died, or the
    turn raised): each at most once (the same claim as :func:`process_once`), at most
    PENDING_ATTEMPTS times. Returns how many were processed."""
    held = lease if lease is not None else lease_seconds()
    processed = 0
    for record in await pending.due(older_than=held):
        ids = [str(i) for i in record.get("ids", []) if i]
        if not ids:
            continue
        if await already_done(store, channel, ids):
            await pending.forget(ids[0])
            continue
        if int(record.get("attempts", 0)) >= PENDING_ATTEMPTS:
            logger.error("%s: a pending message was given up after %d attempts",
                         channel, PENDING_ATTEMPTS)
            await pending.forget(ids[0])
            continue
        if await store.get(_delivery_keys(channel, ids)[0]) == PROCESSING:
            continue  # its lease is still held: a node is processing it
        await pending.attempted(record)
        try:
            outcome = await process_once(store, channel, ids, work_for(record["fields"]),
                                         lease=held)
        except Exception as exc:  # noqa: BLE001 - stays pending, tried again later
            logger.error("%s: a pending message failed again (%s)", channel,
                         type(exc).__name__)
            continue
        if outcome is not Delivery.BUSY:
            await pending.forget(ids[0])
        if outcome is Delivery.PROCESSED:
            processed += 1
            logger.info("%s: a pending message of a node that stopped was processed",
                        channel)
    return processed


async def sweep_forever(sweep: Callable[[], Awaitable[int]],
                        interval: float = SWEEP_INTERVAL) -> None:
    """Run ``sweep`` every ``interval`` seconds until cancelled; never dies of an error."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            logger.error("pending-message sweep failed (%s)", type(exc).__name__)


# --------------------------------------------------------------------------- http


@dataclass
class ProviderResponse:
    status: int
    body: Any


class ProviderHttp:
    """POSTs to a provider API with timeouts and one retry on 429/5xx/connection errors."""

    def __init__(self, provider: str, timeout: float = 10.0, retry_delay: float = 1.0) -> None:
        self._provider = provider
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._retry_delay = retry_delay
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post(self, url: str, what: str, **kwargs: Any) -> ProviderResponse | None:
        """POST and return the response, or None when it failed (logged without PII)."""
        for attempt in (1, 2):
            try:
                async with self._get_session().post(url, **kwargs) as resp:
                    text = await resp.text()
                    try:
                        body: Any = json.loads(text) if text else None
                    except ValueError:
                        body = None
                    if resp.status < 400:
                        return ProviderResponse(resp.status, body)
                    logger.error("%s %s failed: HTTP %s", self._provider, what, resp.status)
                    if resp.status != 429 and resp.status < 500:
                        return ProviderResponse(resp.status, body)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                logger.error("%s %s failed: %s", self._provider, what, type(exc).__name__)
            if attempt == 1:
                await asyncio.sleep(self._retry_delay)
        return None


def credential(credentials: dict[str, Any] | None, key: str) -> str:
    """A value from credentials.yml; an unexpanded ``${VAR}`` counts as unset."""
    raw = str((credentials or {}).get(key) or "").strip()
    return "" if raw.startswith("${") else raw


async def run_turn(
    on_new_message: Callable[[Any], Awaitable[Any]],
    out: Any,
    conversation: str,
    channel: str,
    raw: str,
    say: Callable[[str], Awaitable[None]],
) -> None:
    """One parent message through Rasa, the same way on every messaging channel: input
    hygiene, a Dutch reply when the turn was not kept (cluster store down) or produced
    nothing, and no message text in the log."""
    from rasa.core.channels.channel import UserMessage

    from bot.channels.common import check_message, sanitize_text
    from bot.tracker_store import TurnNotProcessed, not_processed_message

    text = sanitize_text(raw)
    problem = check_message(text)
    if problem:
        await say(problem)
        return
    try:
        await on_new_message(
            UserMessage(text, out, conversation, input_channel=channel, metadata={})
        )
    except TurnNotProcessed:  # cluster: a store is down; even after an answer: not kept
        await say(not_processed_message())
        return
    except Exception as exc:  # noqa: BLE001 - the parent must still get an answer
        logger.error("%s turn failed: %s", channel, type(exc).__name__)
    if not out.sent:
        await say(no_answer())
