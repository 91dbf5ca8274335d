"""RecordsStore on SQLite and PostgreSQL (the ``store`` fixture runs each test on both)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.records import (
    AttemptState,
    AuditEvent,
    RecordsStore,
    SessionGrant,
    StoreUnavailable,
    VerificationMethod,
    create_store_engine,
)
from tests.support.unit import CANARY_NUMBER, START, assert_no_canary, canary_pupil, demo_pupils

LATER = START + timedelta(minutes=10)


def grant(conversation: str, numbers: tuple[str, ...], minutes: int = 60) -> SessionGrant:
    return SessionGrant(conversation, numbers, VerificationMethod.CODE, START,
                        START + timedelta(minutes=minutes))


# -- pupils --


def test_upsert_round_trip_returns_equal_frozen_dataclasses(store: RecordsStore) -> None:
    pupils = demo_pupils()
    counts = store.upsert_pupils(pupils)
    assert (counts.inserted, counts.updated, counts.unchanged) == (10, 0, 0)
    for pupil in pupils:
        assert store.get_pupil(pupil.pupil_number) == pupil
    assert store.get_pupil("000000") is None
    assert store.count_pupils() == 10
    with pytest.raises(AttributeError):
        store.get_pupil("100231").first_name = "x"  # type: ignore[misc, union-attr]


def test_upsert_twice_changes_nothing_and_updates_by_number(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    again = store.upsert_pupils(demo_pupils())
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 10)
    changed = replace(demo_pupils()[0], mentor="dhr. Nieuw")
    counts = store.upsert_pupils([changed])
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 0)
    assert store.get_pupil(changed.pupil_number) == changed


def test_failed_upsert_rolls_back_every_row(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils()[:2])
    duplicate = canary_pupil()
    with pytest.raises(StoreUnavailable) as raised:
        store.upsert_pupils([replace(demo_pupils()[0], mentor="x"), duplicate, duplicate])
    assert_no_canary(str(raised.value))
    assert store.get_pupil(duplicate.pupil_number) is None
    assert store.get_pupil(demo_pupils()[0].pupil_number) == demo_pupils()[0]
    assert store.count_pupils() == 2


def test_pupil_repr_hides_personal_data() -> None:
    assert_no_canary(repr(canary_pupil()))
    assert_no_canary(repr([canary_pupil()]))


def test_siblings_by_parent_email_case_insensitive(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    siblings = store.pupils_with_parent_email("Ouder.DeVries@Example.org")
    assert [p.first_name for p in siblings] == ["Daan", "Sanne"]
    assert store.pupils_with_parent_email("nobody@example.org") == []


def test_get_pupils_skips_unknown_numbers(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    found = store.get_pupils(["100245", "999999", "100231"])
    assert [p.pupil_number for p in found] == ["100245", "100231"]  # by first name


def test_sql_injection_strings_are_plain_values(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    assert store.get_pupil("100231' OR '1'='1") is None
    assert store.pupils_with_parent_email("x' OR 1=1; DROP TABLE pupils; --") == []
    assert store.count_pupils() == 10


# -- attempts --


def test_new_attempt_supersedes_the_pending_one(store: RecordsStore) -> None:
    first = store.start_attempt("conv", "100231", "h1", START, LATER)
    second = store.start_attempt("conv", "100231", None, START, LATER)
    latest = store.latest_attempt("conv")
    assert latest == second and latest.state is AttemptState.PENDING
    assert not store.end_attempt(first.id, AttemptState.VERIFIED)
    assert store.latest_attempt("other") is None


def test_failed_tries_lock_at_the_maximum(store: RecordsStore) -> None:
    attempt = store.start_attempt("conv", "100231", "h", START, LATER)
    states = [store.record_failed_try(attempt.id, 3) for _ in range(3)]
    assert [s.failed_tries for s in states if s] == [1, 2, 3]
    assert states[-1] is not None and states[-1].state is AttemptState.LOCKED
    assert store.record_failed_try(attempt.id, 3) is None


def test_counts_per_conversation_and_typed_pupil(store: RecordsStore) -> None:
    for conversation in ("a", "b"):
        attempt = store.start_attempt(conversation, "999999", None, START, LATER)
        store.record_failed_try(attempt.id, 5)
    store.start_attempt("a", "100231", None, START, LATER)
    since = START - timedelta(hours=1)
    assert store.count_attempts(since, conversation_hash="a") == 2
    assert store.count_attempts(since, pupil_number="999999") == 2
    assert store.count_attempts(START + timedelta(seconds=1), pupil_number="999999") == 0
    assert store.failed_tries_for_pupil("999999", since) == 2
    assert store.failed_tries_for_pupil("100231", since) == 0


# -- verified sessions --


def test_complete_verification_works_once(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    attempt = store.start_attempt("conv", "100231", "h", START, LATER)
    assert store.complete_verification(attempt.id, grant("conv", ("100231", "100232")))
    assert not store.complete_verification(attempt.id, grant("conv", ("100245",)))
    assert [p.pupil_number for p in store.verified_pupils("conv", START)] == [
        "100232", "100231",
    ]
    assert store.latest_attempt("conv").state is AttemptState.VERIFIED  # type: ignore[union-attr]


def test_sessions_expire_and_clear(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    store.grant_session(grant("conv", ("100245",), minutes=60))
    store.grant_session(grant("other", ("100251",)))
    assert len(store.verified_pupils("conv", START + timedelta(minutes=59))) == 1
    assert store.verified_pupils("conv", START + timedelta(minutes=60)) == []
    store.clear_conversation("other")
    assert store.verified_pupils("other", START) == []


def test_grant_replaces_the_previous_one(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    store.grant_session(grant("conv", ("100245",)))
    store.grant_session(grant("conv", ("100251",)))
    assert [p.pupil_number for p in store.verified_pupils("conv", START)] == ["100251"]


# -- audit and purge --


def audit(minutes: int, outcome: str = "code_sent") -> AuditEvent:
    return AuditEvent(START + timedelta(minutes=minutes), "rest", "ab" * 32, "100231", outcome)


def test_audit_is_appended_in_order(store: RecordsStore) -> None:
    store.append_audit(audit(5, "second"))
    store.append_audit(audit(1, "first"))
    rows = store.audit_since(START)
    assert [row.outcome for row in rows] == ["first", "second"]
    assert all(row.id is not None and row.time.tzinfo is not None for row in rows)
    assert store.audit_since(START + timedelta(minutes=2))[0].outcome == "second"


def test_naive_datetimes_are_refused(store: RecordsStore) -> None:
    with pytest.raises(StoreUnavailable):
        store.append_audit(replace(audit(0), time=START.replace(tzinfo=None)))


def test_purge_deletes_only_what_is_older_than_the_cutoff(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    old, young = START - timedelta(days=40), START - timedelta(days=1)
    store.start_attempt("old", "100231", "h", old, old + timedelta(minutes=10))
    store.start_attempt("young", "100231", "h", young, young + timedelta(minutes=10))
    store.grant_session(SessionGrant("old", ("100231",), VerificationMethod.CODE, old,
                                     old + timedelta(hours=1)))
    store.grant_session(grant("fresh", ("100231",)))
    store.append_audit(replace(audit(0), time=old))
    store.append_audit(replace(audit(0), time=young))
    counts = store.purge(START - timedelta(days=30), START)
    assert (counts.attempts, counts.sessions, counts.audit_events) == (1, 1, 1)
    assert store.latest_attempt("old") is None and store.latest_attempt("young") is not None
    assert len(store.verified_pupils("fresh", START)) == 1
    assert [row.time for row in store.audit_since(old - timedelta(days=1))] == [young]


# -- engine, timeouts, faults --


def test_engine_is_created_lazily() -> None:
    records = RecordsStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert records._engine is None  # nothing connects before first use


def test_unreachable_postgres_raises_store_unavailable_fast() -> None:
    records = RecordsStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        records.get_pupil(CANARY_NUMBER)
    assert time.monotonic() - started < 5
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert_no_canary(str(raised.value))


def test_unusable_sqlite_path_raises_store_unavailable(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable):
        RecordsStore(f"sqlite:///{blocker / 'records.db'}").count_pupils()


def test_sqlite_file_is_private_with_busy_timeout(tmp_path) -> None:
    path = tmp_path / "new" / "dir" / "records.db"
    RecordsStore(f"sqlite:///{path}").ping()
    assert path.stat().st_mode & 0o777 == 0o600
    engine = create_store_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar_one() == 3000
    engine.dispose()


def test_postgres_has_statement_and_connect_timeouts(postgres_url: str) -> None:
    engine = create_store_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar_one() == "3s"
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar_one() == "3s"
    engine.dispose()


def test_slow_postgres_statement_becomes_store_unavailable(postgres_url: str) -> None:
    records = RecordsStore(postgres_url, schema=f"unit_{uuid.uuid4().hex[:12]}", timeout_s=1)
    records.ping()
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable), records._transaction("sleep") as conn:
            conn.execute(sa.select(sa.func.pg_sleep(3)))
        assert time.monotonic() - started < 2.5
    finally:
        records.drop_all()


def test_limit_counters_are_atomic_and_purged_after_their_day(store: RecordsStore) -> None:
    from core.records import idempotency_keys, limit_counters

    old_day, today = START - timedelta(days=40), START.replace(hour=0)
    with store.atomic("test") as ops:
        assert [ops.consume("c", today, 2) for _ in range(3)] == [True, True, False]
        assert ops.consume("c", old_day, 1) and ops.count("c", today) == 2
        assert ops.claim("k-old", old_day, timedelta(minutes=2))
        assert ops.claim("k-new", START, timedelta(minutes=2))
        assert not ops.claim("k-new", START + timedelta(minutes=1), timedelta(minutes=2))
        assert ops.claim("k-new", START + timedelta(minutes=2), timedelta(minutes=2))
    store.purge(START - timedelta(days=30), START)
    with store._transaction("test") as conn:
        windows = [r.window_start for r in conn.execute(sa.select(limit_counters))]
        keys = [r.key for r in conn.execute(sa.select(idempotency_keys))]
    assert windows == [today] and keys == ["k-new"]
