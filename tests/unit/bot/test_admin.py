"""``audit --since`` and ``purge --older-than`` (records, tracker events, outbox)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.__main__ import main
from bot.admin import audit_command, format_table, parse_duration, purge_command
from core.conversation_log import purge_events
from core.records import (
    AuditEvent,
    RecordsStore,
    SessionGrant,
    VerificationMethod,
)
from core.settings import load_settings
from tests.support.unit import RASA_EVENTS_DDL, START, demo_pupils

OLD = START - timedelta(days=40)
YOUNG = START - timedelta(days=2)
def test_parse_duration() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration(" 24H ") == timedelta(hours=24)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("", "7", "0d", "-1d", "7 dagen", "1y"):
        with pytest.raises(ValueError, match="Ongeldige periode"):
            parse_duration(bad)


def test_format_table_aligns_columns() -> None:
    table = format_table(("a", "bb"), [("xxx", "y")])
    assert table.splitlines() == ["a    bb", "---  --", "xxx  y"]


def test_audit_prints_a_table(sqlite_store: RecordsStore, capsys) -> None:
    sqlite_store.append_audit(AuditEvent(YOUNG, "telegram", "f" * 64, "100231", "code_sent"))
    sqlite_store.append_audit(AuditEvent(OLD, "rest", "e" * 64, None, "no_match"))
    assert audit_command("7d", store=sqlite_store, now=START) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["tijd", "(UTC)", "kanaal", "afzender", "(hash)", "leerling",
                              "uitkomst"]
    assert out[2].split() == [f"{YOUNG:%Y-%m-%d}", f"{YOUNG:%H:%M:%S}", "telegram",
                              "f" * 12, "100231", "code_sent"]
    assert "1 regel(s)" in out[-1] and len(out) == 4


def test_audit_empty_and_bad_period(sqlite_store: RecordsStore, capsys) -> None:
    assert audit_command("7d", store=sqlite_store, now=START) == 0
    assert "Geen audit-regels" in capsys.readouterr().out
    assert audit_command("zeven dagen", store=sqlite_store) == 2


def test_audit_store_down(capsys) -> None:
    down = RecordsStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert audit_command("7d", store=down) == 3
    assert "niet bereikbaar" in capsys.readouterr().err


def test_cli_dispatches_audit(settings, capsys) -> None:
    assert main(["audit", "--since", "1d"]) == 0
    assert "Geen audit-regels" in capsys.readouterr().out


# -- purge --


def seed_tracker(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(RASA_EVENTS_DDL)
        conn.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            [("old", "user", OLD.timestamp(), "{}"), ("young", "user", YOUNG.timestamp(), "{}")],
        )


def tracker_senders(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT sender_id FROM events")]


def seed_records(store: RecordsStore) -> None:
    store.upsert_pupils(demo_pupils())
    for when, who in ((OLD, "old"), (YOUNG, "young")):
        store.start_attempt(who, "100231", "h" * 64, when, when + timedelta(minutes=10))
        store.grant_session(SessionGrant(who, ("100231",), VerificationMethod.CODE, when,
                                         START + timedelta(minutes=30)))
        store.append_audit(AuditEvent(when, "rest", "a" * 64, "100231", "code_sent"))


def seed_outbox(outbox: Path) -> None:
    outbox.mkdir(parents=True)
    for name, when in (("old.eml", OLD), ("young.eml", YOUNG)):
        (outbox / name).write_text("code")
        os.utime(outbox / name, (when.timestamp(), when.timestamp()))


def test_purge_removes_old_data_everywhere(settings, capsys) -> None:
    store = RecordsStore.from_settings(settings)
    seed_records(store)
    seed_tracker(settings.tracker_db_path)
    seed_outbox(settings.outbox_dir)
    assert purge_command("30d", store=store, settings=settings, now=START) == 0
    out = capsys.readouterr().out
    assert "1 code-aanvragen, 1 verificaties, 1 audit-regels, 1 gespreksgebeurtenissen" in out
    assert "1 e-mails" in out
    assert store.latest_attempt("old") is None and store.latest_attempt("young") is not None
    assert store.verified_pupils("old", START) == []
    assert len(store.verified_pupils("young", START)) == 1
    assert [e.time for e in store.audit_since(OLD - timedelta(days=1))] == [YOUNG]
    assert tracker_senders(settings.tracker_db_path) == ["young"]
    assert [p.name for p in settings.outbox_dir.iterdir()] == ["young.eml"]
    assert store.count_pupils() == 10  # pupils are never purged


def test_purge_without_tracker_db_does_not_create_it(settings, capsys) -> None:
    assert purge_command("30d", settings=settings, now=START) == 0
    assert not settings.tracker_db_path.exists()
    assert "0 gespreksgebeurtenissen" in capsys.readouterr().out


def test_purge_tracker_without_events_table(settings) -> None:
    sqlite3.connect(settings.tracker_db_path).close()
    assert purge_events(f"sqlite:///{settings.tracker_db_path}", START) == 0


def test_purge_bad_period_and_store_down(settings, capsys) -> None:
    assert purge_command("30", settings=settings) == 2
    down = RecordsStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert purge_command("30d", store=down, settings=settings) == 3


def test_purge_tracker_in_postgres(settings, postgres_url: str, postgres_tracker,
                                   monkeypatch) -> None:
    url, tracker = postgres_tracker
    with tracker.begin() as conn:
        conn.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp) "
                             "VALUES ('old', 'user', :old), ('young', 'user', :young)"),
                     {"old": OLD.timestamp(), "young": YOUNG.timestamp()})
    monkeypatch.setenv("TRACKER_DB_URL", url)
    store = RecordsStore(postgres_url, schema=f"unit_{uuid.uuid4().hex[:12]}")
    settings = load_settings(os.environ)
    assert purge_command("30d", store=store, settings=settings, now=START) == 0
    store.drop_all()
    with tracker.connect() as conn:
        assert conn.execute(sa.text("SELECT sender_id FROM events")).scalars().all() == [
            "young"]


def test_cli_dispatches_purge(settings, capsys) -> None:
    assert main(["purge", "--older-than", "30d"]) == 0
    assert "Verwijderd" in capsys.readouterr().out


def test_purge_keeps_sessions_that_are_still_valid(settings) -> None:
    store = RecordsStore.from_settings(settings)
    store.upsert_pupils(demo_pupils())
    store.grant_session(replace(SessionGrant("x", ("100231",), VerificationMethod.PORTAL,
                                             START, START + timedelta(minutes=5))))
    assert store.purge(START - timedelta(days=30), START).sessions == 0
    assert store.purge(START - timedelta(days=30), START + timedelta(minutes=5)).sessions == 1


@pytest.mark.parametrize("how", ["profile", "endpoints"])
def test_purge_refuses_when_postgres_is_configured_but_not_given(
        settings, capsys, monkeypatch, tmp_path: Path, how: str) -> None:
    """PROFILE=cluster (or an endpoints file with a PostgreSQL tracker store) without
    TRACKER_DB_URL / RECORDS_DB_URL: nothing is purged, not even the local SQLite."""
    for name in ("PROFILE", "ENDPOINTS", "TRACKER_DB_URL", "RECORDS_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    if how == "profile":
        monkeypatch.setenv("PROFILE", "cluster")
    else:
        endpoints = tmp_path / "endpoints.yml"
        endpoints.write_text("tracker_store:\n  type: bot.tracker_store.ResilientSQLTrackerStore"
                             "\n  dialect: postgresql\n  url: db.example\n")
        monkeypatch.setenv("ENDPOINTS", str(endpoints))
    settings = replace(load_settings(os.environ), records_db_url=settings.records_db_url)
    store = RecordsStore.from_settings(settings)
    seed_records(store)
    seed_tracker(settings.tracker_db_path)
    assert purge_command("30d", store=store, settings=settings, now=START) == 4
    err = capsys.readouterr().err
    assert "TRACKER_DB_URL" in err and "RECORDS_DB_URL" in err and "niets opgeruimd" in err
    assert sorted(tracker_senders(settings.tracker_db_path)) == ["old", "young"]
    assert store.latest_attempt("old") is not None


def test_purge_removes_old_reports_and_logs(settings, capsys) -> None:
    old_report = settings.var_dir / "reports" / "review-old"
    old_report.mkdir(parents=True)
    (old_report / "report.html").write_text("x")
    logs = settings.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "rasa.log.1").write_text("old")
    (logs / "rasa.log").write_text("current")
    for path in (old_report, logs / "rasa.log.1"):
        os.utime(path, (OLD.timestamp(), OLD.timestamp()))
    assert purge_command("30d", settings=settings, now=START) == 0
    assert not old_report.exists() and not (logs / "rasa.log.1").exists()
    assert (logs / "rasa.log").exists()
    assert "2 oude rapporten en logbestanden" in capsys.readouterr().out
