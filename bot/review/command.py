"""``python -m bot review --since 7d [--out DIR]``: what parents asked, for school staff.

Reads Rasa's tracker store (the ``events`` table: the SQLite file at TRACKER_DB_PATH, or
TRACKER_DB_URL, e.g. PostgreSQL) and writes a self-contained HTML report with PNG charts
beside it, plus CSV files (semicolon-separated, UTF-8, for Excel):

* questions the assistant did not understand, asked back about, or answered with low
  confidence, each with the topic it guessed -> candidates for the training data;
* 👍/👎 feedback, with what the parent said was missing;
* the most-asked FAQ topics; conversations per channel and per day.

Everything a parent typed is masked (:mod:`core.masking`) with the pupils' names from
the records store; without that list no report is made. All HTML is escaped.
Exit codes: 0 ok; 2 bad argument; 3 a database is not reachable.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.admin import EXIT_OK, EXIT_STORE_DOWN, EXIT_UNREADABLE, settings_and_period
from bot.review.analysis import LOW_CONFIDENCE, analyse
from bot.review.report import _local, write_report
from core.conversation_log import read_events
from core.masking import Masker
from core.records import RecordsStore, StoreUnavailable
from core.settings import Settings
from core.texts import staff_text


def _error(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def review_command(
    since: str,
    out: str | None = None,
    *,
    settings: Settings | None = None,
    store: RecordsStore | None = None,
    tracker_url: str | None = None,
    now: datetime | None = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> int:
    """Write the report for the last period (e.g. ``7d``); print where it is."""
    from core.school_calendar import school_timezone

    resolved = settings_and_period(since, settings, now)
    if resolved is None:
        return EXIT_UNREADABLE
    settings, start, current = resolved
    if not 0 < low_confidence <= 1:
        _error(staff_text("review.bad_low_confidence"))
        return EXIT_UNREADABLE
    tz = school_timezone(settings.school_timezone)
    url = tracker_url or settings.tracker_url
    if url.startswith("sqlite") and not tracker_url and not settings.tracker_db_url \
            and not settings.tracker_db_path.is_file():
        conversations: dict[str, list[dict[str, Any]]] = {}
    else:
        try:
            conversations = read_events(url, start)
        except StoreUnavailable:
            _error(staff_text("review.tracker_down"))
            return EXIT_STORE_DOWN
    try:
        names = (store or RecordsStore.from_settings(settings)).pupil_names()
    except StoreUnavailable:
        _error(staff_text("review.pupils_down"))
        return EXIT_STORE_DOWN
    masker = Masker([name for pair in names for name in pair])
    review = analyse(conversations, masker, since=start, until=current, tz=tz,
                     low_confidence=low_confidence)
    folder = Path(out) if out else (
        settings.var_dir / "reports" / f"review-{current.astimezone(tz):%Y-%m-%d-%H%M}"
    )
    try:
        report = write_report(review, folder, tz, current)
    except OSError as exc:
        _error(staff_text("review.not_written", folder=folder, error=exc.strerror))
        return EXIT_UNREADABLE
    print(staff_text("review.written", conversations=review.conversations,
                     since=_local(start, tz), report=report))
    print(staff_text("review.csv_beside", folder=folder))
    return EXIT_OK

