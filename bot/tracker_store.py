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
   :func:`not_processed_message` in Dutch instead of an answer that will be forgotten.
3. **Speed** (bench/reports/latest.md): Rasa builds its three queries per turn with the
   ORM (about 1 ms each in SQLAlchemy's statement caching alone) and inserts events one
   ORM object at a time. We run the *same* SQL as prepared Core statements built once,
   and insert a turn's events in one ``executemany``. SQLite (embedded default) runs in
   WAL mode with ``synchronous=NORMAL`` on pooled connections: one write per turn
   instead of three ``fdatasync`` calls, and readers (``python -m bot review``) do not
   block the bot; a crash of the machine (not of Rasa) can lose the last turns.
4. **Off the event loop, with deadlines.** Every database call runs in a bounded thread
   pool (``db_threads``); the event loop waits at most ``retry_seconds`` per call and
   ``turn_seconds`` per turn (retrieve + save), so with PostgreSQL hung (SIGSTOP, a
   table lock, a black hole) parents get the Dutch message within 5 s and health checks
   keep answering. PostgreSQL connections get statement, lock and idle-in-transaction
   timeouts, TCP keepalives and ``tcp_user_timeout``; SQLite a busy timeout. A save
   whose caller gave up rolls back, or deletes its rows if its COMMIT was under way.
5. Nothing else: tables, columns, event format and query semantics are Rasa's own
   (``tests/unit/bot/test_tracker_store.py`` checks that Rasa's store reads what we write and
   that we read what it writes, on SQLite and PostgreSQL).

Trade-off (docs/cluster.md): during an outage the parent gets "tijdelijke storing"
instead of answers, and a turn whose *save* failed may already have had side effects
(e.g. a code e-mail was sent); when the parent tries again the turn runs again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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

from bot import store_privacy
from core.texts import text as msg

logger = logging.getLogger(__name__)



def not_processed_message() -> str:
    """What a parent hears instead of an answer that would be forgotten (Dutch)."""
    return msg("conversation.not_processed")


DEFAULT_RETRY_SECONDS = 3.0  # one retrieve or save, retries included
DEFAULT_TURN_SECONDS = 4.0  # a turn's retrieve + save: the parent is answered within 5 s
MIN_SAVE_SECONDS = 1.0
DEFAULT_DB_THREADS = 4
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 1.0
CONNECT_TIMEOUT_S = 2
POOL_TIMEOUT_S = 2
SQLITE_BUSY_TIMEOUT_S = 2.0
STATEMENT_TIMEOUT_MS = 2000
LOCK_TIMEOUT_MS = 1000
IDLE_IN_TRANSACTION_MS = 10_000
KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 2
TCP_USER_TIMEOUT_MS = 5000

T = TypeVar("T")


class TurnNotProcessed(RasaException):
    """A store the turn depends on is down; nothing of the turn was kept.

    Channels answer :func:`not_processed_message` instead of whatever the bot said."""


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
    """``SQLTrackerStore`` with bounded retries that raises instead of pretending, and
    whose database work never runs on Rasa's event loop.

    Configure in endpoints.yml with ``type: bot.tracker_store.ResilientSQLTrackerStore``
    and the usual SQL keys, plus optionally ``retry_seconds`` (budget of one call),
    ``turn_seconds`` (budget of a whole turn's retrieve + save) and ``db_threads``
    (size of the store's thread pool).
    """

    def __init__(self, *args: Any, retry_seconds: float | str = DEFAULT_RETRY_SECONDS,
                 turn_seconds: float | str = DEFAULT_TURN_SECONDS,
                 db_threads: int | str = DEFAULT_DB_THREADS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_seconds = float(retry_seconds)
        self.turn_seconds = float(turn_seconds)
        # Rasa's engine has no pre-ping, no connect timeout and no statement timeout:
        # after a PostgreSQL restart the first use of every pooled connection fails,
        # and a database that hangs holds a connection forever. Same URL and pool
        # settings (schema, pool size from Rasa's env vars), plus those.
        old_engine: sa.engine.Engine = self.engine  # type: ignore[has-type]
        url = old_engine.url
        options = create_engine_kwargs(url)
        options["pool_pre_ping"] = True
        if url.get_backend_name() == "postgresql":
            options["pool_timeout"] = POOL_TIMEOUT_S
            options["connect_args"] = postgres_connect_args(
                options.get("connect_args", {}))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool);
            # pooled ones keep their WAL setting and skip the reconnect. The store's
            # threads share the pool (one connection per thread at a time).
            options["poolclass"] = sa.pool.QueuePool
            options["pool_timeout"] = POOL_TIMEOUT_S
            options["connect_args"] = {**options.get("connect_args", {}),
                                       "check_same_thread": False,
                                       "timeout": SQLITE_BUSY_TIMEOUT_S}
        old_engine.dispose()
        self.engine = sa.create_engine(url, **options)
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._statements = _Statements(self.SQLEvent.__table__)
        self._returning = url.get_backend_name() == "postgresql"
        # Every database call runs here, never on the event loop: a hung database
        # blocks at most these threads; calls queued behind them are cancelled at
        # their deadline and never run.
        self._executor = ThreadPoolExecutor(max_workers=max(1, int(db_threads)),
                                            thread_name_prefix="tracker-store")
        self._turn_started: dict[str, float] = {}
        _let_outages_through_failsafe()

    # -- running database work off the event loop, with a deadline ------------------

    async def _in_thread(self, call: Callable[[_Call], T], deadline: float) -> T:
        """Run ``call`` in the store's pool; give up at ``deadline`` (monotonic).

        A call that is still queued at the deadline is cancelled. A call that is running
        is marked abandoned: a save then rolls back instead of committing, or, when its
        COMMIT was already on its way, deletes the rows it wrote (:meth:`_save_sync`), so
        a turn the parent was told was not processed is not stored later either."""
        state = _Call()
        future = self._executor.submit(call, state)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future),
                                          timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            if state.abandon():
                raise
            # finished just as we gave up: its result counts
            return future.result(timeout=1)

    async def _with_retries(self, operation: str, call: Callable[[_Call], T],
                            budget: float | None = None) -> T:
        deadline = time.monotonic() + (self.retry_seconds if budget is None else budget)
        backoff = FIRST_BACKOFF_S
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._in_thread(call, deadline)
            except asyncio.TimeoutError as exc:
                logger.error("conversation store: %s did not finish in time (database "
                             "hung?); turn not processed", operation)
                raise TrackerStoreUnavailable(
                    f"conversation store unavailable ({operation})") from exc
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

    def _turn_budget(self, sender_id: str) -> float:
        """What is left for this turn's save: ``turn_seconds`` since the turn's first
        retrieve, at most ``retry_seconds``, at least MIN_SAVE_SECONDS."""
        started = self._turn_started.get(sender_id)
        if started is None:
            return self.retry_seconds
        left = self.turn_seconds - (time.monotonic() - started)
        return max(MIN_SAVE_SECONDS, min(self.retry_seconds, left))

    def _mark_turn_start(self, sender_id: str) -> None:
        now = time.monotonic()
        if len(self._turn_started) > 10_000:  # turns that never saved: keep it small
            self._turn_started = {k: v for k, v in self._turn_started.items()
                                  if now - v < 60}
        self._turn_started[sender_id] = now

    # -- Rasa's tracker store interface -----------------------------------------------

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        self._mark_turn_start(sender_id)
        return await self._with_retries(
            "retrieve", partial(self._retrieve_sync, sender_id, False))

    async def retrieve_full_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._with_retries(
            "retrieve", partial(self._retrieve_sync, sender_id, True))

    def _retrieve_sync(self, sender_id: str, fetch_events_from_all_sessions: bool,
                       _state: _Call) -> Optional[DialogueStateTracker]:
        """Rasa's ``SQLTrackerStore._retrieve`` with the query prepared once."""
        query = (self._statements.all_sessions if fetch_events_from_all_sessions
                 else self._statements.latest_session)
        with self.engine.connect() as connection:
            rows = connection.execute(query, {"sender_id": sender_id}).scalars().all()
        events = [store_privacy.reveal(json.loads(data)) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)  # no-op without an event broker
        # Safe to repeat: only the events the database lacks are appended. The events
        # are copied here, on the event loop, before a thread reads them.
        events = list(tracker.events)
        await self._with_retries("save", partial(self._save_sync, tracker.sender_id, events),
                                 budget=self._turn_budget(tracker.sender_id))

    def _save_sync(self, sender_id: str, events: list[Any], state: _Call) -> None:
        """Rasa's ``SQLTrackerStore.save`` (count what is stored since the session
        started, append the rest) in one transaction.

        All or nothing for the turn: the transaction commits only when the caller is
        still waiting. If the caller gave up while the COMMIT was under way (the parent
        was told "niet verwerkt"), the rows are deleted again as soon as the database
        answers."""
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                stored = connection.execute(self._statements.count_latest_session,
                                            {"sender_id": sender_id}).scalar_one()
                rows = _protected_rows(sender_id, events, stored)
                ids = self._insert(connection, sender_id, rows) if rows else []
                if not state.may_commit():
                    transaction.rollback()
                    return
                transaction.commit()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
            if ids and not state.finish():
                self._undo_late_commit(connection, ids)

    def _insert(self, connection: sa.engine.Connection, sender_id: str,
                rows: list[dict[str, Any]]) -> list[int]:
        """Insert the turn's events; return their ids (to undo a commit nobody waited
        for)."""
        if self._returning:  # PostgreSQL: one statement, ids from RETURNING
            result = connection.execute(self._statements.insert.values(rows)
                                        .returning(self._statements.id_column))
            return [int(row[0]) for row in result]
        # SQLite: one writer at a time, so the ids after the last one we saw are ours
        before = connection.execute(self._statements.max_id,
                                    {"sender_id": sender_id}).scalar() or 0
        connection.execute(self._statements.insert, rows)
        return [int(i) for i in connection.execute(
            self._statements.ids_after, {"sender_id": sender_id, "after": before}).scalars()]

    def _undo_late_commit(self, connection: sa.engine.Connection, ids: list[int]) -> None:
        try:
            with connection.begin():
                connection.execute(self._statements.delete_ids, {"ids": ids})
            logger.warning("conversation store: a turn committed after its deadline was "
                           "removed again (the parent was told it was not processed)")
        except Exception as exc:  # noqa: BLE001 - logged, nothing else to do
            logger.error("conversation store: could not remove a turn that committed "
                         "after its deadline (%s)", type(exc).__name__)

    async def keys(self) -> Iterable[str]:
        def keys_sync(_state: _Call) -> list[str]:
            with self.engine.connect() as connection:
                return list(connection.execute(self._statements.senders).scalars())

        return await self._with_retries("keys", keys_sync)


class _Call:
    """Hand-shake between the event loop (which may give up) and the thread doing the
    work (which may be about to commit). Exactly one of them wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._finished = False

    def abandon(self) -> bool:
        """The caller gives up. False when the work already finished (use its result)."""
        with self._lock:
            if self._finished:
                return False
            self._abandoned = True
            return True

    def may_commit(self) -> bool:
        with self._lock:
            return not self._abandoned

    def finish(self) -> bool:
        """The work is done. False when the caller had already given up."""
        with self._lock:
            if self._abandoned:
                return False
            self._finished = True
            return True


def postgres_connect_args(existing: dict[str, Any]) -> dict[str, Any]:
    """libpq settings for every PostgreSQL connection of the conversation store.

    The server ends statements after STATEMENT_TIMEOUT_MS and lock waits after
    LOCK_TIMEOUT_MS; the client gives up connecting after CONNECT_TIMEOUT_S and notices
    a dead peer through TCP keepalives and ``tcp_user_timeout``. A server that is stopped
    (SIGSTOP) enforces none of this; the caller's deadline (:meth:`ResilientSQLTrackerStore.
    _in_thread`) covers that case."""
    args = dict(existing)
    timeouts = (f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                f"-c lock_timeout={LOCK_TIMEOUT_MS} "
                f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}")
    args["options"] = f"{args['options']} {timeouts}" if args.get("options") else timeouts
    args.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    args.setdefault("keepalives", 1)
    args.setdefault("keepalives_idle", KEEPALIVE_IDLE_S)
    args.setdefault("keepalives_interval", KEEPALIVE_INTERVAL_S)
    args.setdefault("keepalives_count", KEEPALIVE_COUNT)
    args.setdefault("tcp_user_timeout", TCP_USER_TIMEOUT_MS)
    return args


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
        self.id_column = events.c.id
        self.max_id = sa.select(sa.func.max(events.c.id)).where(of_sender)
        self.ids_after = sa.select(events.c.id).where(
            of_sender, events.c.id > sa.bindparam("after"))
        self.delete_ids = events.delete().where(
            events.c.id.in_(sa.bindparam("ids", expanding=True)))
        self.senders = sa.select(events.c.sender_id).distinct()


def _protected_rows(sender_id: str, events: list[Any], stored: int) -> list[dict[str, Any]]:
    """The rows of the events after the first ``stored``, verification data masked or
    encrypted (:mod:`bot.store_privacy`); the form state is followed from the start."""
    form = store_privacy.FormState()
    rows = []
    for index, event in enumerate(events):
        if index >= stored:
            rows.append(_event_row(sender_id, event, form.in_verification))
        form.see(event)
    return rows


def _event_row(sender_id: str, event: Any, in_verification: bool = False) -> dict[str, Any]:
    """The row Rasa's ``SQLTrackerStore.save`` writes for an event, with the data that
    must not be stored in clear text masked or encrypted."""
    data = store_privacy.protect(event.as_dict(), in_verification)
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
