"""Fixtures for the unit tests of the records store, import and verification."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.mail import OutboxMailer
from core.records import RecordsStore
from core.settings import Settings, get_settings
from core.verification import Verifier, run_inline
from tests.support.ci import running_in_ci
from tests.support.ports import free_port
from tests.support.unit import (
    HASH_SECRET,
    MAIL_FROM,
    RASA_EVENTS_DDL,
    FakeClock,
    canary_pupil,
    demo_pupils,
)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings from a clean environment, everything under ``tmp_path``."""
    for name in ("RECORDS_DB_URL", "TRACKER_DB_PATH", "TRACKER_DB_URL", "MAIL_OUTBOX_DIR",
                 "SMTP_HOST", "PORTAL_JWT_SECRET", "PORTAL_JWT_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("HASH_SECRET", HASH_SECRET)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _new_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> RecordsStore:
    if kind == "sqlite":
        return RecordsStore(f"sqlite:///{tmp_path / 'var' / 'records.db'}")
    url = request.getfixturevalue("postgres_url")
    return RecordsStore(url, schema=f"unit_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsStore]:
    """An empty records store: a SQLite temp file, and PostgreSQL in its own schema."""
    records = _new_store(request.param, request, tmp_path)
    yield records
    records.drop_all()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[RecordsStore]:
    """An empty SQLite records store (for tests about files, output or encodings)."""
    records = RecordsStore(f"sqlite:///{tmp_path / 'var' / 'records.db'}")
    yield records
    records.dispose()


@pytest.fixture
def seeded_store(store: RecordsStore) -> RecordsStore:
    """The store with the demo pupils and the canary pupil."""
    store.upsert_pupils([*demo_pupils(), canary_pupil()])
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def verifier(seeded_store: RecordsStore, outbox_dir: Path, clock: FakeClock) -> Verifier:
    """A verifier on the seeded store, writing mail to the outbox synchronously."""
    return Verifier(
        seeded_store, OutboxMailer(outbox_dir), HASH_SECRET,
        mail_from=MAIL_FROM, clock=clock, dispatch=run_inline,
    )


@pytest.fixture
def postgres_tracker(postgres_url: str) -> Iterator[tuple[str, Any]]:
    """A Rasa ``events`` table in a fresh PostgreSQL schema: (its URL, an engine on it).
    The schema is dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    schema = f"tracker_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    url = sa.engine.make_url(postgres_url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    tracker = sa.create_engine(url, future=True)
    try:
        with tracker.begin() as conn:
            conn.execute(sa.text(RASA_EVENTS_DDL.replace("INTEGER PRIMARY KEY",
                                                         "SERIAL PRIMARY KEY")))
        yield url, tracker
    finally:
        tracker.dispose()
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free port for one test (FAILS under CI=true when
    redis-server is not installed, else SKIPS)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if running_in_ci():
            pytest.fail("redis-server not installed; CI=true requires it", pytrace=False)
        pytest.skip("redis-server not installed; set CI=true to make this a failure")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port, socket_timeout=1)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.exceptions.RedisError:
                import time

                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
