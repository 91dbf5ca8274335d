"""Parsing and formatting of the values parents and the school's export use.

Shared by the importer (CSV cells) and the verification (what a parent types), so both
accept exactly the same spellings.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

DUTCH_MONTHS: tuple[str, ...] = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)

# re.ASCII: \d means 0-9 only, not every Unicode digit.
_PUPIL_NUMBER = re.compile(r"\d{6}", re.ASCII)
_CODE = re.compile(r"\d{6}", re.ASCII)
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_DMY_DATE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", re.ASCII)
_DUTCH_DATE = re.compile(r"(\d{1,2}) ([a-z]+) (\d{4})", re.ASCII)
_SPACES = re.compile(r"\s+")


def _normalize(text: str) -> str:
    """NFKC (full-width digits become 0-9, no-break spaces become spaces)."""
    return unicodedata.normalize("NFKC", text)


def _compact(text: str) -> str:
    """Remove all whitespace."""
    return _SPACES.sub("", _normalize(text))


def normalize_pupil_number(text: str) -> str | None:
    """Return the 6-digit pupil number in ``text`` (spaces ignored), or None."""
    compact = _compact(text)
    return compact if _PUPIL_NUMBER.fullmatch(compact) else None


def normalize_code(text: str) -> str | None:
    """Return the 6-digit one-time code in ``text`` (spaces and dashes ignored), or None."""
    compact = _compact(text).replace("-", "")
    return compact if _CODE.fullmatch(compact) else None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """Parse ``2013-03-14``, ``14-03-2013`` (also with / or .) or ``14 maart 2013``.

    Returns None for anything else, including impossible dates like 31-02-2013.
    """
    value = _SPACES.sub(" ", _normalize(text)).strip().lower()
    if match := _ISO_DATE.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
        return _safe_date(year, month, day)
    if match := _DMY_DATE.fullmatch(value):
        day, month, year = (int(part) for part in match.groups())
        return _safe_date(year, month, day)
    if (match := _DUTCH_DATE.fullmatch(value)) and match.group(2) in DUTCH_MONTHS:
        month = DUTCH_MONTHS.index(match.group(2)) + 1
        return _safe_date(int(match.group(3)), month, int(match.group(1)))
    return None


def local_date(value: date) -> str:
    """``value`` as a parent of the conversation's language reads it ("14 March 2027"):
    the month names are the text ``formats.months`` (core.texts.speaking)."""
    from core.texts import text

    months = text("formats.months").split()
    if len(months) != 12:
        return dutch_date(value)
    return f"{value.day} {months[value.month - 1]} {value.year}"


def dutch_date(value: date) -> str:
    """Format a date the Dutch way: ``2 oktober 2026``."""
    return f"{value.day} {DUTCH_MONTHS[value.month - 1]} {value.year}"
