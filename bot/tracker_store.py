"""Conversation store for the cluster profile: PostgreSQL that fails loudly.

Rasa 3.6 wraps every tracker store in ``FailSafeTrackerStore``. When the database is
down, that wrapper

* on **retrieve** logs the error and returns ``None``, so the turn starts from an empty
  conversation (the parent's slots and context are gone for that turn), and
* on **save** logs the error and keeps the events in a per-process memory store, which
  the next retrieve never reads and a restart forgets.

The parent has been shown the bot's answer either way; those events never reach
PostgreSQL. ``tests/cluster/test_outages.py`` measures the loss.

:class:`ResilientSQLTrackerStore` is Rasa's ``SQLTrackerStore`` with three changes:

1. **Bounded retries.** Every database call is retried with exponential backoff
   (``retry_seconds`` in total, default 3 s) on connection-type errors; the engine
   has ``pool_pre_ping`` and a connect timeout, so connections that died with a
   PostgreSQL restart are replaced, not used.
2. **Loud failure.** When the database stays down, :class:`TrackerStoreUnavailable`
   is raised and ``FailSafeTrackerStore`` lets it through (patched below, only when this
   store is configured). The turn is not processed; the channel answers
   :data:`NOT_PROCESSED_MESSAGE` in Dutch instead of an answer that will be forgotten.
3. Nothing else: tables, event format and queries are Rasa's own.

Trade-off (docs/cluster.md): during an outage the parent gets "tijdelijke storing"
instead of answers, and a turn whose *save* failed may already have had side effects
(e.g. a code e-mail was sent); when the parent tries again the turn runs again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    create_engine_kwargs,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

logger = logging.getLogger(__name__)

NOT_PROCESSED_MESSAGE = (
    "Er is een tijdelijke storing: uw bericht is niet verwerkt. "
    "Probeert u het over een paar minuten opnieuw."
)
DEFAULT_RETRY_SECONDS = 3.0
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 1.0
CONNECT_TIMEOUT_S = 2

T = TypeVar("T")


class TurnNotProcessed(RasaException):
    """A store the turn depends on is down; nothing of the turn was kept.

    Channels answer :data:`NOT_PROCESSED_MESSAGE` instead of whatever the bot said."""


class TrackerStoreUnavailable(TurnNotProcessed):
    """The conversation database did not answer within the retry budget."""


def _is_transient(error: Exception) -> bool:
    """Connection-type errors worth retrying: the server is down, restarting or the
    pooled connection died. Programming errors (bad SQL, missing table) are not."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    transient = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
                 ConnectionError, TimeoutError)
    return isinstance(error, transient)


class ResilientSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` with bounded retries that raises instead of pretending.

    Configure in endpoints.yml with ``type: bot.tracker_store.ResilientSQLTrackerStore``
    and the usual SQL keys, plus optionally ``retry_seconds``.
    """

    def __init__(self, *args: Any, retry_seconds: float | str = DEFAULT_RETRY_SECONDS,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_seconds = float(retry_seconds)
        # Rasa's engine has no pre-ping and no connect timeout: after a PostgreSQL
        # restart the first use of every pooled connection fails. Same URL and pool
        # settings (schema, pool size from Rasa's env vars), plus both.
        old_engine: sa.engine.Engine = self.engine  # type: ignore[has-type]
        url = old_engine.url
        options = create_engine_kwargs(url)
        options["pool_pre_ping"] = True
        if url.get_backend_name() == "postgresql":
            connect_args = dict(options.get("connect_args", {}))
            connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
            options["connect_args"] = connect_args
        old_engine.dispose()
        self.engine = sa.create_engine(url, **options)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        _let_outages_through_failsafe()

    async def _with_retries(self, operation: str,
                            call: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.retry_seconds
        backoff = FIRST_BACKOFF_S
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.error("conversation store: %s failed %d times (%s); "
                                 "turn not processed", operation, attempt,
                                 type(exc).__name__)
                    raise TrackerStoreUnavailable(
                        f"conversation store unavailable ({operation})") from exc
                logger.warning("conversation store: %s failed (%s); retrying",
                               operation, type(exc).__name__)
                await asyncio.sleep(min(backoff, left))
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._with_retries("retrieve", partial(super().retrieve, sender_id))

    async def retrieve_full_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._with_retries(
            "retrieve", partial(super().retrieve_full_tracker, sender_id))

    async def save(self, tracker: DialogueStateTracker) -> None:
        # Safe to repeat: Rasa's save appends only the events the database lacks.
        await self._with_retries("save", partial(super().save, tracker))

    async def keys(self) -> Iterable[str]:
        return await self._with_retries("keys", super().keys)


_patched = False


def _let_outages_through_failsafe() -> None:
    """Make Rasa's ``FailSafeTrackerStore`` re-raise :class:`TurnNotProcessed` instead of
    falling back to memory (save) or to an empty conversation (retrieve). Other errors
    keep Rasa's behaviour. Idempotent; only applied when this store is configured."""
    global _patched
    if _patched:
        return

    def wrap(original: Callable[[FailSafeTrackerStore, Exception], None]
             ) -> Callable[[FailSafeTrackerStore, Exception], None]:
        def handler(self: FailSafeTrackerStore, error: Exception) -> None:
            if isinstance(error, TurnNotProcessed):
                raise error
            original(self, error)
        return handler

    FailSafeTrackerStore.on_tracker_store_error = wrap(  # type: ignore[method-assign]
        FailSafeTrackerStore.on_tracker_store_error)
    FailSafeTrackerStore.on_tracker_store_retrieve_error = wrap(  # type: ignore[method-assign]
        FailSafeTrackerStore.on_tracker_store_retrieve_error)
    _patched = True
