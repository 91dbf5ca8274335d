"""Conversation store (SQLite embedded, PostgreSQL in the cluster) that fails loudly.

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
3. **Speed** (bench/reports/latest.md): Rasa builds its three queries per turn with the
   ORM (about 1 ms each in SQLAlchemy's statement caching alone) and inserts events one
   ORM object at a time. We run the *same* SQL as prepared Core statements built once,
   and insert a turn's events in one ``executemany``. SQLite (embedded default) runs in
   WAL mode with ``synchronous=NORMAL`` on pooled connections: one write per turn
   instead of three ``fdatasync`` calls, and readers (``python -m bot review``) do not
   block the bot; a crash of the machine (not of Rasa) can lose the last turns.
4. Nothing else: tables, columns, event format and query semantics are Rasa's own
   (``tests/unit/test_tracker_store.py`` checks that Rasa's store reads what we write and
   that we read what it writes, on SQLite and PostgreSQL).

Trade-off (docs/cluster.md): during an outage the parent gets "tijdelijke storing"
instead of answers, and a turn whose *save* failed may already have had side effects
(e.g. a code e-mail was sent); when the parent tries again the turn runs again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
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
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import INTENT_NAME_KEY

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
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool);
            # pooled ones keep their WAL setting and skip the reconnect. Rasa calls the
            # store from its event loop thread only.
            options["poolclass"] = sa.pool.QueuePool
            options["connect_args"] = {**options.get("connect_args", {}),
                                       "check_same_thread": False}
        old_engine.dispose()
        self.engine = sa.create_engine(url, **options)
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._statements = _Statements(self.SQLEvent.__table__)
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
        return await self._with_retries(
            "retrieve", partial(self._retrieve, sender_id, fetch_events_from_all_sessions=False))

    async def retrieve_full_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._with_retries(
            "retrieve", partial(self._retrieve, sender_id, fetch_events_from_all_sessions=True))

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool
                        ) -> Optional[DialogueStateTracker]:
        """Rasa's ``SQLTrackerStore._retrieve`` with the query prepared once."""
        query = (self._statements.all_sessions if fetch_events_from_all_sessions
                 else self._statements.latest_session)
        with self.engine.connect() as connection:
            rows = connection.execute(query, {"sender_id": sender_id}).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)  # no-op without an event broker
        # Safe to repeat: only the events the database lacks are appended.
        await self._with_retries("save", partial(self._append_new_events, tracker))

    async def _append_new_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's ``SQLTrackerStore.save`` (count what is stored since the session
        started, append the rest) in one transaction and one ``executemany``."""
        with self.engine.begin() as connection:
            stored = connection.execute(self._statements.count_latest_session,
                                        {"sender_id": tracker.sender_id}).scalar_one()
            rows = [_event_row(tracker.sender_id, event)
                    for event in itertools.islice(tracker.events, stored, None)]
            if rows:
                connection.execute(self._statements.insert, rows)

    async def keys(self) -> Iterable[str]:
        return await self._with_retries("keys", super().keys)


class _Statements:
    """The statements of Rasa's ``SQLTrackerStore._event_query`` and ``save``, built once
    (SQLAlchemy then reuses their compiled form)."""

    def __init__(self, events: sa.Table) -> None:
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender,
                   events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        of_sender = events.c.sender_id == sender
        # events after the latest SessionStarted, or all when there is none
        in_latest_session = sa.and_(of_sender, sa.or_(events.c.timestamp >= session_start,
                                                      session_start.is_(None)))
        self.latest_session = (sa.select(events.c.data).where(in_latest_session)
                               .order_by(events.c.id))
        self.all_sessions = sa.select(events.c.data).where(of_sender).order_by(events.c.id)
        self.count_latest_session = (sa.select(sa.func.count()).select_from(events)
                                     .where(in_latest_session))
        self.insert = events.insert()


def _event_row(sender_id: str, event: Any) -> dict[str, Any]:
    """The row Rasa's ``SQLTrackerStore.save`` writes for an event."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


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
