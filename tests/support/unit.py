"""Helpers for the unit tests: the canary pupil as a record, a fake clock, reading the
outbox."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from email import policy
from pathlib import Path

from core.importer import read_export
from core.records import LwooStatus, Pupil
from tests.support.canary import (  # noqa: F401 - unit tests import the canary from here
    CANARY_BIRTH,
    CANARY_BIRTH_DMY,
    CANARY_EMAIL,
    CANARY_FIRST,
    CANARY_LAST,
    CANARY_MENTOR,
    CANARY_NUMBER,
    CANARY_PHONE,
    CANARY_STRINGS,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_CSV = PROJECT_ROOT / "bot" / "demo" / "leerlingen.csv"
HASH_SECRET = "unit-test-hash-secret-0123456789abcdef"
MAIL_FROM = "LWOO-assistent <noreply@compaen.example>"
START = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def canary_pupil(**changes: object) -> Pupil:
    """The canary pupil."""
    pupil = Pupil(
        pupil_number=CANARY_NUMBER,
        first_name=CANARY_FIRST,
        last_name=CANARY_LAST,
        birth_date=CANARY_BIRTH,
        class_name="1B",
        track="BB",
        lwoo_status=LwooStatus.GRANTED,
        status_date=date(2026, 10, 2),
        retest_date=None,
        parent_email=CANARY_EMAIL,
        parent_phone=CANARY_PHONE,
        mentor=CANARY_MENTOR,
    )
    return replace(pupil, **changes)  # type: ignore[arg-type]


def assert_no_canary(text: str) -> None:
    """Fail when any canary value appears in ``text``."""
    for value in CANARY_STRINGS:
        assert value not in text, f"personal data ({value!r}) leaked"


@dataclass
class FakeClock:
    """An injectable clock that only moves when told to."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class SentMail:
    path: Path
    to: str
    subject: str
    body: str

    @property
    def code(self) -> str:
        match = re.search(r"^\s+(\d{6})\s*$", self.body, re.MULTILINE)
        assert match, "no 6-digit code in the e-mail"
        return match.group(1)


def read_outbox(directory: Path) -> list[SentMail]:
    """The ``.eml`` files in the outbox, oldest first."""
    mails = []
    for path in sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        mails.append(SentMail(path, str(message["To"]), str(message["Subject"]),
                              body.get_content()))
    return mails


def demo_pupils() -> tuple[Pupil, ...]:
    """The fictitious demo pupils of bot/demo/leerlingen.csv."""
    parsed = read_export(DEMO_CSV, today=date(2026, 11, 27))
    assert not parsed.errors
    return parsed.pupils

# Rasa 3.6's SQL tracker store table, as the purge and the review read it
RASA_EVENTS_DDL = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
    "action_name VARCHAR(255), data TEXT)"
)
