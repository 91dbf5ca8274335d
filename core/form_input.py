"""What a parent types into the verification form, the way people really type it.

One message may hold the pupil number, the birth date, or both (in either order, with
words around them), a one-time code with spaces or dashes, or a correction ("oeps, dat
moet 100293 zijn", "de datum klopt niet, het is 15-03-2013"). :func:`read_form_input`
finds those values; the form (``actions/status.py``) decides which slot each one fills.

Dates: ``14-03-2013``, ``14/3/2013``, ``14.3.2013``, ``14-3-13``, ``14 maart 2013``,
``14 mrt 2013``, ``14 mrt. '13``, ``2013-03-14``. Impossible dates (31-02-2013) and dates
that cannot be a pupil's birth date (in the future, or more than 30 years ago) are
reported as a bad date, never silently accepted. The school's export keeps the stricter
:func:`core.formats.parse_date`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

# month spellings -> month number ("mrt" is the usual Dutch abbreviation of maart)
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("januari", "jan"), ("februari", "feb", "febr"), ("maart", "mrt", "mar", "maa"),
        ("april", "apr"), ("mei",), ("juni", "jun"), ("juli", "jul"),
        ("augustus", "aug"), ("september", "sep", "sept"), ("oktober", "okt", "oct"),
        ("november", "nov"), ("december", "dec"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _number

_MONTH_WORDS = "|".join(sorted(_MONTHS, key=len, reverse=True))
# re.ASCII: \d is 0-9 only (NFKC already turned full-width digits into 0-9)
_ISO = re.compile(r"(?<![\d])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d])", re.ASCII)
_DMY = re.compile(r"(?<![\d])(\d{1,2})\s?[-/.]\s?(\d{1,2})\s?[-/.]\s?(\d{4}|\d{2})(?![\d])",
                  re.ASCII)
_WORD_DATE = re.compile(
    rf"(?<![\d])(\d{{1,2}})\s*(?:e\s+)?({_MONTH_WORDS})\b\.?\s*'?(\d{{4}}|\d{{2}})(?![\d])",
    re.ASCII,
)
_MONTH_ONLY = re.compile(rf"\b({_MONTH_WORDS})\b", re.ASCII)
# six digits, optionally in groups separated by one space or dash: "404 141", "404-141"
_SIX = re.compile(r"(?<![\d])(\d(?:[ -]?\d){5})(?![\d]|[ -]\d)", re.ASCII)
_DIGITS = re.compile(r"\d+", re.ASCII)

NUMBER_WORDS = ("leerlingnummer", "leerling nummer", "leerlingnr", "nummer", "lln", "llnr")
DATE_WORDS = ("geboortedatum", "geboren", "datum", "verjaardag", "jarig")
CODE_WORDS = ("code", "pincode", "mail")
CORRECTION_WORDS = (
    "oeps", "sorry", "fout", "verkeerd", "klopt niet", "niet goed", "moet", "bedoel",
    "typfout", "tikfout", "vergist", "correctie", "verbeter", "eigenlijk", "toch",
    "nee het is", "nee, het is", "niet juist", "anders",
)


@dataclass
class FormInput:
    """Values found in one message."""

    numbers: list[str] = field(default_factory=list)  # 6-digit numbers, digits only
    dates: list[str] = field(default_factory=list)  # valid dates, ISO (parse_date reads it)
    bad_date: bool = False  # something date-like that is not a possible birth date
    stray_digits: bool = False  # digits that are neither a 6-digit number nor a date
    mentions_number: bool = False
    mentions_date: bool = False
    mentions_code: bool = False
    correction: bool = False

    @property
    def has_values(self) -> bool:
        return bool(self.numbers or self.dates)

    @property
    def looks_like_input(self) -> bool:
        """Digits or a date-like text that could not be read: a failed answer."""
        return self.bad_date or self.stray_digits


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def _year(text: str, today: date) -> int:
    year = int(text)
    if len(text) == 2:  # "13" -> 2013, "98" -> 1998
        year += 2000 if 2000 + year <= today.year else 1900
    return year


def _birth_date(year: int, month: int, day: int, today: date) -> date | None:
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    if value > today or value.year < today.year - 30:
        return None
    return value


def read_form_input(text: str, today: date | None = None) -> FormInput:
    """Find pupil numbers / codes and birth dates in what the parent typed."""
    today = today or date.today()
    value = _normalize(text or "")
    found = FormInput()
    rest = value
    spans: list[tuple[int, int]] = []
    for pattern, order in ((_ISO, "ymd"), (_WORD_DATE, "dMy"), (_DMY, "dmy")):
        for match in pattern.finditer(value):
            if any(start < match.end() and match.start() < end for start, end in spans):
                continue
            spans.append(match.span())
            a, b, c = match.groups()
            if order == "ymd":
                parsed = _birth_date(int(a), int(b), int(c), today)
            elif order == "dMy":
                parsed = _birth_date(_year(c, today), _MONTHS[b], int(a), today)
            else:
                parsed = _birth_date(_year(c, today), int(b), int(a), today)
            if parsed is None:
                found.bad_date = True
            else:
                found.dates.append(parsed.isoformat())
    for start, end in sorted(spans, reverse=True):
        rest = rest[:start] + " " + rest[end:]
    if not spans and _MONTH_ONLY.search(value) and _DIGITS.search(value):
        found.bad_date = True  # "14 maart" without a year
    for match in _SIX.finditer(rest):
        found.numbers.append(re.sub(r"[ -]", "", match.group(1)))
    rest = _SIX.sub(" ", rest)
    found.stray_digits = bool(_DIGITS.search(rest)) and not found.bad_date
    found.mentions_number = any(word in value for word in NUMBER_WORDS)
    found.mentions_date = any(word in value for word in DATE_WORDS)
    found.mentions_code = any(word in value for word in CODE_WORDS)
    found.correction = any(word in value for word in CORRECTION_WORDS)
    return found
