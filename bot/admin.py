"""Operational commands behind ``python -m bot import-pupils | audit | purge``
(``review`` and ``check-content`` live in bot/review.py and bot/content_check.py).

Exit codes: 0 ok; 1 rows rejected (import); 2 file unreadable or bad argument;
3 database not reachable. Output is Dutch, for school staff, and never shows the
content of a pupil row.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core.conversation_log import purge_events
from core.importer import ParsedExport, UnreadableFile, import_export, read_export
from core.records import (
    AuditEvent,
    PurgeCounts,
    RecordsStore,
    StoreUnavailable,
)
from core.settings import Settings, get_settings
from core.texts import staff_text

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_UNREADABLE = 2
EXIT_STORE_DOWN = 3
EXIT_CONFIG = 4

_DURATION = re.compile(r"(\d{1,5})\s*([hdw])", re.ASCII)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _error(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_duration(text: str) -> timedelta:
    """``7d``, ``24h`` or ``2w`` as a timedelta; ValueError with a Dutch message."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(staff_text("admin.bad_period", period=repr(text)))
    return int(match.group(1)) * _UNITS[match.group(2)]


def period(since: str, now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """(start, now) of the period ``since`` ("7d") before ``now``; None (and the Dutch
    reason on stderr) when the period is not understood."""
    current = now or datetime.now(timezone.utc)
    try:
        return current - parse_duration(since), current
    except ValueError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return None


def settings_and_period(
    since: str, settings: Settings | None, now: datetime | None
) -> tuple[Settings, datetime, datetime] | None:
    """The settings (given or configured) and the :func:`period` of a report command;
    None (and the Dutch reason on stderr) when the period is not understood."""
    span = period(since, now)
    return None if span is None else (settings or get_settings(), *span)


# -- import-pupils ----------------------------------------------------------------------


def _report_parsed(parsed: ParsedExport) -> None:
    print(staff_text("import.read", encoding=parsed.encoding, rows=parsed.rows))
    if parsed.ignored_columns:
        print(staff_text("import.ignored_columns", columns=", ".join(parsed.ignored_columns)))
    for error in parsed.errors:
        print("  " + staff_text("import.rejected_row", error=error))
    for lines in parsed.shared_emails:
        print("  " + staff_text("import.shared_email", count=len(lines),
                                lines=", ".join(map(str, lines))))


def import_pupils_command(
    path: str, dry_run: bool = False, *, store: RecordsStore | None = None
) -> int:
    """Validate the export and, unless ``dry_run``, import it in one transaction."""
    try:
        parsed = read_export(Path(path))
    except UnreadableFile as exc:
        _error(staff_text("import.unreadable", path=path, reason=exc))
        return EXIT_UNREADABLE
    _report_parsed(parsed)
    if parsed.errors:
        lines = len({error.line for error in parsed.errors})
        print(staff_text("import.rejected", lines=lines))
        return EXIT_REJECTED
    if dry_run:
        print(staff_text("import.dry_run_ok", rows=len(parsed.pupils)))
        return EXIT_OK
    try:
        counts = import_export(parsed, store or RecordsStore.from_settings(get_settings()))
    except StoreUnavailable:
        _error(staff_text("admin.store_down_nothing_changed"))
        return EXIT_STORE_DOWN
    print(staff_text("import.done", inserted=counts.inserted, updated=counts.updated,
                     unchanged=counts.unchanged))
    return EXIT_OK


# -- audit ------------------------------------------------------------------------------

_AUDIT_HEADER = ("tijd (UTC)", "kanaal", "afzender (hash)", "leerling", "uitkomst")


def _audit_row(event: AuditEvent) -> tuple[str, ...]:
    return (
        f"{event.time:%Y-%m-%d %H:%M:%S}",
        event.channel,
        event.sender_hash[:12],
        event.pupil_number or "-",
        event.outcome,
    )


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table with aligned columns."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths])]
                     + [line(row) for row in rows])


def audit_command(
    since: str, *, store: RecordsStore | None = None, now: datetime | None = None
) -> int:
    """Print the audit trail of the last period (e.g. ``7d``) as a table."""
    try:
        start = (now or _utc_now()) - parse_duration(since)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_UNREADABLE
    try:
        events = (store or RecordsStore.from_settings(get_settings())).audit_since(start)
    except StoreUnavailable:
        _error(staff_text("admin.store_down"))
        return EXIT_STORE_DOWN
    if not events:
        print(staff_text("audit.none", since=f"{start:%Y-%m-%d %H:%M}"))
        return EXIT_OK
    print(format_table(_AUDIT_HEADER, [_audit_row(event) for event in events]))
    print(staff_text("audit.count", rows=len(events), since=f"{start:%Y-%m-%d %H:%M}"))
    return EXIT_OK


# -- purge ------------------------------------------------------------------------------


def _tracker_urls(settings: Settings, skip_sqlite: bool = False) -> list[str]:
    """The SQLite tracker file (if it exists, and SQLite is what is configured) and
    TRACKER_DB_URL (if set)."""
    urls = []
    if not skip_sqlite and settings.tracker_db_path.is_file():
        urls.append(f"sqlite:///{settings.tracker_db_path}")
    if settings.tracker_db_url:
        urls.append(settings.tracker_db_url)
    return urls


def _purge_outbox(outbox: Path, cutoff: datetime) -> int:
    """Delete ``.eml`` files (they hold codes) last written before ``cutoff``."""
    if not outbox.is_dir():
        return 0
    removed = 0
    for message in outbox.glob("*.eml"):
        if message.stat().st_mtime < cutoff.timestamp():
            message.unlink(missing_ok=True)
            removed += 1
    return removed


def _print_purged(counts: PurgeCounts, events: int, mails: int, cutoff: datetime) -> None:
    print(staff_text("purge.done", cutoff=f"{cutoff:%Y-%m-%d %H:%M}",
                     attempts=counts.attempts, sessions=counts.sessions,
                     audit_events=counts.audit_events, events=events,
                     callback_requests=counts.callback_requests,
                     resume_tokens=counts.resume_tokens, mails=mails))


def purge_command(
    older_than: str,
    *,
    store: RecordsStore | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> int:
    """Delete codes, verifications, audit rows, callback requests and conversations older
    than the period."""
    current = now or _utc_now()
    try:
        cutoff = current - parse_duration(older_than)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_UNREADABLE
    settings = settings or get_settings()
    missing = _missing_cluster_database_variables(settings)
    if missing:
        _error(staff_text("purge.cluster_variables_missing", reason=missing[0],
                          variables=" en ".join(missing[1:])))
        return EXIT_CONFIG
    on_postgres = bool(_postgres_configured(settings))
    try:
        counts = (store or RecordsStore.from_settings(settings)).purge(cutoff, current)
        events = sum(purge_events(url, cutoff)
                     for url in _tracker_urls(settings, skip_sqlite=on_postgres))
    except StoreUnavailable:
        _error(staff_text("purge.store_down"))
        return EXIT_STORE_DOWN
    _print_purged(counts, events, _purge_outbox(settings.outbox_dir, cutoff), cutoff)
    files = _purge_old_files(settings.var_dir, cutoff)
    print(staff_text("purge.files", files=files))
    return EXIT_OK


def _postgres_configured(settings: Settings) -> str | None:
    """Why the configuration keeps conversations in PostgreSQL, or None (SQLite)."""
    if settings.is_cluster:
        return "PROFILE=cluster"
    import yaml  # type: ignore[import-untyped]

    from bot.run import endpoints_file

    path = endpoints_file(settings)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    tracker = config.get("tracker_store") if isinstance(config, dict) else None
    dialect = str((tracker or {}).get("dialect", "")) if isinstance(tracker, dict) else ""
    return f"{path.name}: dialect {dialect}" if dialect.startswith("postgres") else None


def _missing_cluster_database_variables(settings: Settings) -> list[str]:
    """[reason, missing variable, ...] when PostgreSQL is configured but the purge would
    not reach it; [] otherwise."""
    reason = _postgres_configured(settings)
    if reason is None:
        return []
    missing = []
    # the cluster profile's defaults do not count: the purge needs them set
    if "TRACKER_DB_URL" not in settings.explicit:
        missing.append("TRACKER_DB_URL")
    if "RECORDS_DB_URL" not in settings.explicit \
            or not settings.records_db_url.startswith("postgres"):
        missing.append("RECORDS_DB_URL")
    return [reason, *missing] if missing else []


def _purge_old_files(var_dir: Path, cutoff: datetime) -> int:
    """Review reports (``var/reports/*``) and log files (``var/logs/*``, rotated ones
    included) last written before ``cutoff``; a log still being written is younger."""
    import shutil

    removed = 0
    for folder in (var_dir / "reports", var_dir / "logs"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.stat().st_mtime >= cutoff.timestamp():
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed
