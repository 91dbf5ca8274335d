"""bot.tracker_store.ResilientSQLTrackerStore keeps Rasa's conversation format: Rasa's own
SQLTrackerStore reads what it writes and the other way round, row for row, on SQLite
(the embedded default) and PostgreSQL (the cluster)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import ResilientSQLTrackerStore

DOMAIN = Domain.from_dict({"slots": {"faq_topic": {"type": "text", "influence_conversation":
                                                   False, "mappings": [{"type": "custom"}]}},
                           "intents": ["faq", "greet"]})


def _events(start: float) -> list[Any]:
    """Two sessions: the second starts at ``start + 100``."""
    return [
        ActionExecuted("action_session_start", timestamp=start),
        SessionStarted(timestamp=start + 1),
        ActionExecuted("action_listen", timestamp=start + 2),
        UserUttered("Wat is lwoo?", {"name": "faq", "confidence": 0.97},
                    timestamp=start + 3),
        ActionExecuted("action_answer_faq", timestamp=start + 4),
        BotUttered("Lwoo is ...", timestamp=start + 5),
        SlotSet("faq_topic", "wat_is_lwoo", timestamp=start + 6),
        ActionExecuted("action_session_start", timestamp=start + 100),
        SessionStarted(timestamp=start + 101),
        ActionExecuted("action_listen", timestamp=start + 102),
        UserUttered("hallo", {"name": "greet", "confidence": 0.9}, timestamp=start + 103),
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Keyword arguments for two empty tracker stores (Rasa's endpoint keys)."""
    if request.param == "sqlite":
        yield [{"dialect": "sqlite", "db": str(tmp_path / f"{name}.db")} for name in "ab"]
        return
    url = sa.engine.make_url(request.getfixturevalue("postgres_url"))
    schemas = [f"tracker_{uuid.uuid4().hex[:12]}" for _ in "ab"]
    admin = sa.create_engine(url, future=True)
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(sa.schema.CreateSchema(schema))
    base = {"dialect": "postgresql", "host": url.host, "port": url.port,
            "db": url.database, "username": url.username, "password": url.password}
    try:
        yield [{**base, "_schema": schema} for schema in schemas]
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def _open(kind: type[SQLTrackerStore], options: dict[str, Any],
          monkeypatch: pytest.MonkeyPatch) -> SQLTrackerStore:
    options = dict(options)
    schema = options.pop("_schema", None)
    if schema:  # Rasa reads the schema from the environment when it builds its engine
        monkeypatch.setenv("POSTGRESQL_SCHEMA", schema)
    else:
        monkeypatch.delenv("POSTGRESQL_SCHEMA", raising=False)
    return kind(DOMAIN, **options)


def _rows(store: SQLTrackerStore) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
            "FROM events ORDER BY id"))]


async def test_rasa_and_our_store_read_each_others_conversations(
        two_databases: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _open(ResilientSQLTrackerStore, two_databases[0], monkeypatch)
    rasa = _open(SQLTrackerStore, two_databases[1], monkeypatch)
    events = _events(1_700_000_000.0)
    # saved as turns are: a new conversation, then the retrieved tracker (its latest
    # session, from SessionStarted on) with a new session appended; only what is new
    # is appended
    for store in (ours, rasa):
        await store.save(DialogueStateTracker.from_events("parent-1", events[:7],
                                                          DOMAIN.slots))
        await store.save(DialogueStateTracker.from_events("parent-1", events[1:],
                                                          DOMAIN.slots))
        await store.save(DialogueStateTracker.from_events("parent-2", events[:4],
                                                          DOMAIN.slots))

    assert _rows(ours) == _rows(rasa)  # the same rows, column for column
    assert len(_rows(ours)) == len(events) + 4

    ours_reader = _open(ResilientSQLTrackerStore, two_databases[1], monkeypatch)
    rasa_reader = _open(SQLTrackerStore, two_databases[0], monkeypatch)
    for sender in ("parent-1", "parent-2", "nobody"):
        mine, theirs = await ours_reader.retrieve(sender), await rasa_reader.retrieve(sender)
        if sender == "nobody":
            assert mine is None and theirs is None
            continue
        assert mine is not None and theirs is not None
        assert list(mine.events) == list(theirs.events)
        full_mine = await ours_reader.retrieve_full_tracker(sender)
        full_theirs = await rasa_reader.retrieve_full_tracker(sender)
        assert full_mine is not None and full_theirs is not None
        assert list(full_mine.events) == list(full_theirs.events)
    latest = await ours_reader.retrieve("parent-1")
    assert latest is not None
    assert [e.type_name for e in latest.events][:2] == ["session_started", "action"]
    assert latest.latest_message.text == "hallo"  # only the latest session
    full = await ours_reader.retrieve_full_tracker("parent-1")
    assert full is not None and len(full.events) == len(events)
    for store in (ours, rasa, ours_reader, rasa_reader):
        store.engine.dispose()


async def test_sqlite_conversations_are_kept_in_wal_mode(tmp_path: Path) -> None:
    store = ResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "c.db"))
    await store.save(DialogueStateTracker.from_events("wal-parent", _events(1.0)[:4],
                                                      DOMAIN.slots))
    stored = await store.retrieve("wal-parent")
    assert stored is not None and stored.latest_message.text == "Wat is lwoo?"
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.engine.dispose()


@pytest.mark.parametrize("hang_in", ["insert", "commit"])
async def test_a_turn_the_parent_was_told_was_not_processed_is_not_kept(
        two_databases: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
        hang_in: str) -> None:
    """The database hangs during a save (before the COMMIT, or with the COMMIT on its
    way). The caller gives up at its deadline and the parent is told "niet verwerkt";
    when the database answers again the turn is rolled back or deleted, never kept."""
    import asyncio
    import threading
    import time

    from bot.tracker_store import TrackerStoreUnavailable

    store = _open(ResilientSQLTrackerStore, two_databases[0], monkeypatch)
    assert isinstance(store, ResilientSQLTrackerStore)
    events = _events(1_700_000_000.0)
    await store.save(DialogueStateTracker.from_events("slow", events[:4], DOMAIN.slots))
    released = threading.Event()

    def hang(*_args: Any) -> None:
        released.wait(timeout=10)

    if hang_in == "commit":  # fires just before the DBAPI commit
        sa.event.listen(store.engine, "commit", hang)
    else:
        def before_insert(_conn: Any, clauseelement: Any, *_args: Any) -> None:
            if getattr(clauseelement, "is_insert", False):
                hang()
        sa.event.listen(store.engine, "before_execute", before_insert)
    tracker = DialogueStateTracker.from_events("slow", events[:7], DOMAIN.slots)
    started = time.monotonic()
    store.turn_seconds = store.retry_seconds = 0.5
    with pytest.raises(TrackerStoreUnavailable):
        await store.save(tracker)
    assert time.monotonic() - started < 1.5
    released.set()
    await asyncio.sleep(0.5)  # the worker finishes: rolls back or undoes its commit
    store._executor.shutdown(wait=True)
    with store.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = 'slow'"))
        assert count.scalar() == 4  # only the first, acknowledged turn
    store.engine.dispose()
