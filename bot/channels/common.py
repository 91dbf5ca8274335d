"""Input hygiene shared by every channel.

* Client metadata is never trusted: channels pass only metadata they set themselves.
* A message may be at most MAX_MESSAGE_CHARS long; longer ones get a Dutch reply.
* Every HTTP request body may be at most MAX_BODY_BYTES (64 KB): Sanic answers 413 while
  reading, before any handler parses it (:func:`limit_body_size`).
* Slash commands (``/intent{...}``) are how buttons answer. Only the button intents below
  may be sent that way, with only their own entity; any other ``/...`` text is treated as
  ordinary text. Nothing that grants access is ever decided by an intent or entity.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict, deque
from typing import Any

from sanic import Blueprint

from core.texts import text as msg

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000
MAX_BODY_BYTES = 64 * 1024


def too_long_reply() -> str:
    return msg("channel.too_long", limit=MAX_MESSAGE_CHARS)


def no_answer() -> str:
    """What a parent hears when a turn gave no answer at all (Dutch)."""
    return msg("channel.no_answer")


# button intent -> the entity keys it may carry
BUTTON_INTENTS: dict[str, frozenset[str]] = {
    "faq": frozenset({"faq_topic"}),
    "ask_status": frozenset({"pupil_choice"}),
    "request_human": frozenset(),
    "affirm": frozenset(),
    "deny": frozenset(),
    "stop": frozenset(),
    "feedback": frozenset({"helpful"}),
    "greet": frozenset(),
    "switch_language": frozenset({"language"}),  # the widget's language menu (issue 16)
}
_SLASH = re.compile(r"^/(?P<intent>[A-Za-z_]+)(?P<entities>\{.*\})?$", re.DOTALL)
_ENTITY_VALUE = re.compile(r"^[A-Za-z0-9_\- ]{1,40}$")


def sanitize_text(text: Any) -> str:
    """Return the text Rasa may parse: allowed button payloads pass, other ``/`` text is
    defused so Rasa reads it as words, not as an intent with entities."""
    if not isinstance(text, str):
        return ""
    text = text.replace("\x00", "").strip()
    if not text.startswith("/"):
        return text
    match = _SLASH.match(text)
    if match and match.group("intent") in BUTTON_INTENTS:
        allowed = BUTTON_INTENTS[match.group("intent")]
        raw = match.group("entities")
        if raw is None:
            return text
        try:
            entities = json.loads(raw)
        except ValueError:
            entities = None
        if (
            isinstance(entities, dict)
            and set(entities) <= allowed
            and all(isinstance(v, str) and _ENTITY_VALUE.match(v) for v in entities.values())
        ):
            return "/" + match.group("intent") + json.dumps(entities, ensure_ascii=False)
        return "/" + match.group("intent")
    # not a button: strip the leading slashes so NLU sees plain words
    return text.lstrip("/").strip()


def check_message(text: str) -> str | None:
    """Return a Dutch reply when the message cannot be processed, else None."""
    if not text:
        return msg("channel.empty")
    if len(text) > MAX_MESSAGE_CHARS:
        return too_long_reply()
    return None


def limit_body_size(app: Any, limit: int = MAX_BODY_BYTES) -> None:
    """Make Sanic refuse request bodies over ``limit`` bytes with 413, on every route of
    the Rasa process (REST, webhooks, socket.io's HTTP, the web files).

    Sanic checks REQUEST_MAX_SIZE while it reads a body (a too large Content-Length at
    once, a chunked body as soon as it grows past the limit), so no handler runs and
    nothing is parsed. Its HTTP protocol reads the value per connection: set it before the
    server accepts any (channel blueprints are registered before the server starts).
    """
    app.config.REQUEST_MAX_SIZE = limit


class BodyLimitedBlueprint(Blueprint):
    """A blueprint that applies :func:`limit_body_size` to the app it is registered on."""

    def register(self, app: Any, options: dict[str, Any]) -> None:
        limit_body_size(app)
        super().register(app, options)


class KeyedRateLimiter:
    """At most ``limit`` events per ``window_s`` seconds per key (sliding window).

    Memory stays bounded: at most ``max_keys`` keys are tracked, the least recently used
    are forgotten first (an attacker rotating keys is caught by a coarser key, such as
    the client address, that it cannot rotate as cheaply).
    """

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one event for ``key``; False (and not counted) when over the limit."""
        if self.limit <= 0:
            return True
        now = time.monotonic() if now is None else now
        times = self._events.pop(key, None) or deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        self._events[key] = times
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return allowed


class SharedRateLimiter:
    """At most ``limit`` events per key per one-minute window, counted in Redis
    (``INCR`` + ``EXPIRE`` in one transaction), so every node and Sanic worker of a
    cluster shares one budget: the bound is ``limit`` per window, not ``limit`` times
    the number of processes. Fixed windows: a burst across a window boundary can get up
    to twice ``limit``. Keys are stored as HMACs (a key derived from HASH_SECRET), never
    as sender ids or addresses, and expire after two windows. When Redis fails, the
    process's own :class:`KeyedRateLimiter` decides (per process again, logged)."""

    PREFIX = "lwoo:rest:rate:"

    def __init__(self, url: str, kind: str, limit: int, secret: str,
                 window_s: int = 60) -> None:
        from core.keys import derive_key

        self.limit = limit
        self.window_s = window_s
        self._kind = kind
        self._url = url
        self._key = derive_key(secret, "rest-rate-limit")
        self._client: Any = None  # made in the worker process that uses it
        self._fallback = KeyedRateLimiter(limit, float(window_s))

    @property
    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis  # type: ignore[import-untyped]

            self._client = aioredis.from_url(self._url, socket_timeout=1.0,
                                             socket_connect_timeout=1.0,
                                             decode_responses=True)
        return self._client

    def _name(self, key: str, now: float) -> str:
        import hashlib
        import hmac

        digest = hmac.new(self._key, f"{self._kind}\x00{key}".encode(),
                          hashlib.sha256).hexdigest()[:32]
        return f"{self.PREFIX}{self._kind}:{digest}:{int(now // self.window_s)}"

    async def allow(self, key: str) -> bool:
        if self.limit <= 0:
            return True
        name = self._name(key, time.time())
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, 2 * self.window_s)
                count, _ = await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - any redis fault: this process decides
            logger.warning("redis unavailable for the REST rate limit (%s); per process",
                           type(exc).__name__)
            return self._fallback.allow(key)
        return int(count) <= self.limit


class LocalRateLimiter:
    """:class:`KeyedRateLimiter` behind the same async ``allow`` as the shared one."""

    def __init__(self, limit: int) -> None:
        self._limiter = KeyedRateLimiter(limit)

    async def allow(self, key: str) -> bool:
        return self._limiter.allow(key)
