"""Redis lock store for the cluster profile: Rasa's ticket lock, updated atomically.

Rasa 3.6's ``RedisLockStore`` keeps one ``TicketLock`` (JSON) per conversation and
changes it with a plain GET, a change in Python and a SET. Two instances that take a
ticket for the same conversation at the same moment both read "no ticket", both write
ticket 0 and both process their message at once: the second save then overwrites part
of the first turn (``tests/cluster/test_cluster.py`` sends such pairs).

:class:`AtomicRedisLockStore` does every read-modify-write inside a Redis optimistic
transaction (``WATCH``/``MULTI``/``EXEC``, redis-py's ``Redis.transaction``), so tickets
are issued and returned strictly one after the other. Same keys, same JSON, same ticket
algorithm as Rasa, so it can run next to stock instances.

Failures:

* Redis down or paused *before* the turn (taking or waiting for a ticket):
  :class:`LockStoreUnavailable`; the turn is not processed and the channel says so in
  Dutch (``bot.tracker_store.not_processed_message``).
* Redis down *after* the turn (returning the ticket): logged only; the turn was
  processed and stored, and the ticket expires after ``TICKET_LOCK_LIFETIME``.
* A stale connection after a Redis restart is retried once (redis-py's own retry).
* Redis that hangs (paused, SIGSTOP, a network black hole): every Redis call runs in a
  small thread pool, never on Rasa's event loop, and ends after ``socket_timeout`` (also
  the connect timeout; TCP keepalives on). A call still queued at its deadline is
  cancelled, so other conversations and health checks are served meanwhile and the
  parent gets the Dutch message within about ``socket_timeout`` + 0.5 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Optional, TypeVar

import redis  # type: ignore[import-untyped]
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.tracker_store import TurnNotProcessed

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT_S = 2.0
LOCK_THREADS = 8
LOCK_KEY_TTL_S = 3600  # tickets live TICKET_LOCK_LIFETIME (30 s); the key at most 1 h
CLEANUP_WAIT_S = 0.5  # the answer is not held back longer for returning a ticket
T = TypeVar("T")


class LockStoreUnavailable(TurnNotProcessed):
    """Redis did not answer while taking or waiting for a ticket."""


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose ticket updates are Redis transactions.

    Configure with ``type: bot.lock_store.AtomicRedisLockStore`` and the keys of Rasa's
    ``redis`` lock store (``url``, ``port``, ``db``, ``password``, ``key_prefix``,
    ``socket_timeout``, ...).
    """

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {**endpoint_config.kwargs, **kwargs}
            kwargs.setdefault("host", endpoint_config.url or "localhost")
        kwargs.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT_S)
        kwargs["socket_timeout"] = float(kwargs["socket_timeout"])
        if not kwargs.get("password"):
            kwargs["password"] = None
        super().__init__(**kwargs)
        # One retry on a dropped connection (a Redis restart), none on a timeout.
        self.red.connection_pool.connection_kwargs["retry_on_error"] = [
            redis.exceptions.ConnectionError]
        self.red.connection_pool.connection_kwargs["socket_keepalive"] = True
        self._socket_timeout = kwargs["socket_timeout"]
        self._executor = ThreadPoolExecutor(max_workers=LOCK_THREADS,
                                            thread_name_prefix="lock-store")

    async def _off_loop(self, call: Callable[..., T], *args: Any) -> T:
        """Run a (blocking) Redis call in the pool; LockStoreUnavailable when it does
        not finish within the socket timeout (+0.5 s for the queue)."""
        future = self._executor.submit(call, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future),
                                          timeout=self._socket_timeout + 0.5)
        except asyncio.TimeoutError as exc:
            logger.error("lock store: Redis did not answer in time")
            raise LockStoreUnavailable("lock store unavailable (timeout)") from exc

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's ``LockStore.lock`` with every Redis call off the event loop."""
        ticket = await self._off_loop(self.issue_ticket, conversation_id, lock_lifetime)
        try:
            yield await self._acquire_lock_off_loop(conversation_id, ticket,
                                                    wait_time_in_seconds)
        finally:
            cleanup = asyncio.wrap_future(
                self._executor.submit(self.cleanup, conversation_id, ticket))
            # usually done in a millisecond; when Redis hangs the ticket is returned
            # in the background (or expires), the answer is not held back
            await asyncio.wait([cleanup], timeout=CLEANUP_WAIT_S)

    async def _acquire_lock_off_loop(self, conversation_id: str, ticket: int,
                                     wait_time_in_seconds: float) -> TicketLock:
        """Rasa's ``LockStore._acquire_lock``, the Redis calls in the pool."""
        while True:
            lock = await self._off_loop(self.get_lock, conversation_id)
            if not lock:
                break
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            await self._off_loop(self.update_lock, conversation_id)
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    @staticmethod
    def _parse(raw: Optional[bytes], conversation_id: str) -> TicketLock:
        if raw:
            return TicketLock.from_dict(json.loads(raw))
        return TicketLock(conversation_id)

    def _update(self, conversation_id: str, change: Any) -> Any:
        """Run ``change(lock)`` on the stored lock inside WATCH/MULTI/EXEC; the lock is
        written back (or deleted when ``change`` returns ``(value, True)``)."""
        key = self._key(conversation_id)

        def transaction(pipe: Any) -> Any:
            lock = self._parse(pipe.get(key), conversation_id)
            value, delete = change(lock)
            pipe.multi()
            if delete:
                pipe.delete(key)
            else:  # every key expires (a lock of a process that died is never kept)
                pipe.set(key, lock.dumps(), ex=LOCK_KEY_TTL_S)
            return value

        return self.red.transaction(transaction, key, value_from_callable=True)

    def save_lock(self, lock: TicketLock) -> None:
        self.red.set(self._key(lock.conversation_id), lock.dumps(), ex=LOCK_KEY_TTL_S)

    # -- before the turn: failures mean "not processed" -----------------------------

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return int(self._update(
                conversation_id, lambda lock: (lock.issue_ticket(lock_lifetime), False)))
        except redis.exceptions.RedisError as exc:
            logger.error("lock store: cannot issue a ticket (%s)", type(exc).__name__)
            raise LockStoreUnavailable("lock store unavailable (issue)") from exc

    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        try:
            return super().get_lock(conversation_id)
        except redis.exceptions.RedisError as exc:
            logger.error("lock store: cannot read a lock (%s)", type(exc).__name__)
            raise LockStoreUnavailable("lock store unavailable (read)") from exc

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: TicketLock) -> tuple[None, bool]:
            lock.remove_expired_tickets()
            return None, False

        try:
            self._update(conversation_id, drop_expired)
        except redis.exceptions.RedisError as exc:
            logger.error("lock store: cannot update a lock (%s)", type(exc).__name__)
            raise LockStoreUnavailable("lock store unavailable (update)") from exc

    # -- after the turn: the turn is done, a lost ticket expires by itself -------------

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self.cleanup(conversation_id, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        def remove(lock: TicketLock) -> tuple[None, bool]:
            lock.remove_ticket_for(ticket_number)
            return None, not lock.is_someone_waiting()

        try:
            self._update(conversation_id, remove)
        except redis.exceptions.RedisError as exc:
            logger.warning("lock store: ticket not returned (%s); it expires by itself",
                           type(exc).__name__)
