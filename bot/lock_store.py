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
  Dutch (``bot.tracker_store.NOT_PROCESSED_MESSAGE``).
* Redis down *after* the turn (returning the ticket): logged only; the turn was
  processed and stored, and the ticket expires after ``TICKET_LOCK_LIFETIME``.
* A stale connection after a Redis restart is retried once (redis-py's own retry).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

import redis  # type: ignore[import-untyped]
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.tracker_store import TurnNotProcessed

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT_S = 2.0


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
            else:
                pipe.set(key, lock.dumps())
            return value

        return self.red.transaction(transaction, key, value_from_callable=True)

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
