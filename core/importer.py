"""Reading and validating the school's pupil export (``leerlingen.csv``).

The export as it really comes: semicolon separated, UTF-8 or Windows-1252, with or
without BOM, with the Dutch headers of ``bot/demo/leerlingen.csv`` (in any order; extra
columns are ignored). Only the columns in :data:`HEADERS` are read and stored; the test
scores (:data:`NOT_STORED`) and any other column are reported as ignored. Every row is
validated; a rejected row is reported with its line number, the field and a Dutch
reason, never with the value itself (personal data).

``read_export(path)`` parses and validates; ``import_export(parsed, store)`` writes all
rows in one transaction. Nothing is written when any row is rejected.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from core.formats import normalize_pupil_number, parse_date
from core.records import LwooStatus, Pupil, RecordsStore, UpsertCounts
from core.texts import staff_text

if TYPE_CHECKING:
    from _csv import _reader

HEADERS: tuple[str, ...] = (
    "leerlingnummer", "voornaam", "achternaam", "geboortedatum", "klas", "leerweg",
    "lwoo_status", "status_datum", "hertoets_datum", "ouder_email", "ouder_telefoon",
    "mentor",
)
"""The columns the assistant uses: required, validated and stored."""

NOT_STORED: tuple[str, ...] = (
    "nio_score", "achterstand_technisch_lezen", "achterstand_begrijpend_lezen",
    "achterstand_spelling", "achterstand_rekenen",
)
"""Test scores in the school's export. The assistant never uses them (data
minimisation): they are neither read nor stored, and the import names them as ignored."""

EXPORT_HEADERS: tuple[str, ...] = HEADERS[:9] + NOT_STORED + HEADERS[9:]
"""The school's export as it comes (``bot/demo/leerlingen.csv``)."""

MAX_FILE_BYTES = 20 * 1024 * 1024
EARLIEST_BIRTH_DATE = date(1990, 1, 1)

_EMAIL = re.compile(r"[^@\s;,<>\"']+@[^@\s;,<>\"']+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{5,19}")


class UnreadableFile(Exception):
    """The file cannot be read as a pupil export; the message is Dutch, without data."""


@dataclass(frozen=True)
class RowError:
    """A rejected row: line number, field (None for the whole row) and Dutch reason."""

    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        if self.field:
            return staff_text("import.row_field_error", line=self.line, field=self.field,
                              reason=self.reason)
        return staff_text("import.row_error", line=self.line, reason=self.reason)


MAX_PUPILS_PER_EMAIL = 4
"""More pupils than this on one parent e-mail address looks like a placeholder in the
export (e.g. the school's own address). Such an address never receives codes and never
grants access (see :mod:`core.verification`); the import reports it."""


def shared_email_lines(pupils: Sequence[Pupil], lines: Sequence[int]) -> list[tuple[int, ...]]:
    """Line numbers of each group of more than MAX_PUPILS_PER_EMAIL pupils sharing one
    parent e-mail address (the address itself is not reported)."""
    groups: dict[str, list[int]] = {}
    for pupil, line in zip(pupils, lines, strict=True):
        if pupil.parent_email:
            groups.setdefault(pupil.parent_email.strip().lower(), []).append(line)
    return [tuple(group) for group in groups.values() if len(group) > MAX_PUPILS_PER_EMAIL]


@dataclass(frozen=True)
class ParsedExport:
    """The validated content of an export file."""

    pupils: tuple[Pupil, ...]
    errors: tuple[RowError, ...]
    encoding: str
    ignored_columns: tuple[str, ...] = ()
    shared_emails: tuple[tuple[int, ...], ...] = ()  # line numbers per shared address

    @property
    def rows(self) -> int:
        """Number of non-empty data rows."""
        return len(self.pupils) + len({error.line for error in self.errors})


# -- decoding ---------------------------------------------------------------------------


def decode_export(raw: bytes) -> tuple[str, str]:
    """Decode the bytes; returns (text, Dutch name of the encoding)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(raw, "utf-16", "UTF-16")
    if raw.startswith(codecs.BOM_UTF8):
        return _decode(raw[len(codecs.BOM_UTF8) :], "utf-8", "UTF-8 met BOM")
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return _decode(raw, "cp1252", "Windows-1252")


def _decode(raw: bytes, codec: str, name: str) -> tuple[str, str]:
    try:
        return raw.decode(codec), name
    except UnicodeDecodeError:
        raise UnreadableFile(staff_text("import.bad_encoding", encoding=name)) from None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UnreadableFile(staff_text("import.too_large",
                                             megabytes=MAX_FILE_BYTES // (1024 * 1024)))
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(staff_text("import.no_such_file")) from None
    except IsADirectoryError:
        raise UnreadableFile(staff_text("import.a_folder")) from None
    except OSError:
        raise UnreadableFile(staff_text("import.cannot_open")) from None


# -- header -----------------------------------------------------------------------------


def _column_map(header: Sequence[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    names = [name.strip().lower() for name in header]
    if len(names) == 1 and "," in names[0]:
        raise UnreadableFile(staff_text("import.not_semicolons"))
    duplicates = sorted({name for name in names if names.count(name) > 1 and name})
    if duplicates:
        raise UnreadableFile(staff_text("import.duplicate_columns",
                                        columns=", ".join(duplicates)))
    missing = [name for name in HEADERS if name not in names]
    if missing:
        raise UnreadableFile(staff_text("import.missing_columns", columns=", ".join(missing)))
    ignored = tuple(name for name in names if name not in HEADERS)
    return {name: names.index(name) for name in HEADERS}, ignored


# -- rows -------------------------------------------------------------------------------


class _RowParser:
    """Validates the cells of one row, collecting every problem."""

    def __init__(self, cells: Mapping[str, str], line: int) -> None:
        self._cells = cells
        self._line = line
        self.errors: list[RowError] = []

    def _fail(self, field: str, reason: str) -> None:
        self.errors.append(RowError(self._line, field, reason))

    def raw(self, field: str) -> str:
        return self._cells[field].strip()

    def text(self, field: str, max_length: int = 100) -> str:
        value = self.raw(field)
        if not value:
            self._fail(field, staff_text("import.empty"))
        elif len(value) > max_length:
            self._fail(field, staff_text("import.too_long", length=max_length))
        return value

    def optional_text(self, field: str, max_length: int = 100) -> str | None:
        return self.text(field, max_length) if self.raw(field) else None

    def pupil_number(self, field: str) -> str:
        value = normalize_pupil_number(self.raw(field))
        if value is None:
            self._fail(field, staff_text("import.bad_pupil_number"))
        return value or ""

    def optional_date(self, field: str) -> date | None:
        if not self.raw(field):
            return None
        value = parse_date(self.raw(field))
        if value is None:
            self._fail(field, staff_text("import.bad_date"))
        return value

    def birth_date(self, field: str, today: date) -> date:
        value = self.optional_date(field)
        if value is None and not self.raw(field):
            self._fail(field, staff_text("import.empty"))
        elif value is not None and not EARLIEST_BIRTH_DATE <= value <= today:
            self._fail(field, staff_text("import.impossible_birth_date"))
        return value or date.min

    def status(self, field: str) -> LwooStatus:
        value = self.raw(field).lower()
        try:
            return LwooStatus(value)
        except ValueError:
            words = ", ".join(status.value for status in LwooStatus)
            self._fail(field, staff_text("import.unknown_status", allowed=words))
            return LwooStatus.NOT_REQUESTED

    def matching(
        self, field: str, pattern: re.Pattern[str], reason: str, max_length: int
    ) -> str | None:
        value = self.raw(field)
        if not value:
            return None
        if len(value) > max_length or not pattern.fullmatch(value):
            self._fail(field, reason)
        return value

    def require(self, field: str, present: bool, reason: str) -> None:
        if not present:
            self._fail(field, reason)


def _pupil_from_cells(row: _RowParser, today: date) -> Pupil:
    status = row.status("lwoo_status")
    retest_date = row.optional_date("hertoets_datum")
    if status is LwooStatus.RETEST_PLANNED:
        row.require("hertoets_datum", bool(row.raw("hertoets_datum")),
                    staff_text("import.retest_date_required"))
    return Pupil(
        pupil_number=row.pupil_number("leerlingnummer"),
        first_name=row.text("voornaam"),
        last_name=row.text("achternaam"),
        birth_date=row.birth_date("geboortedatum", today),
        class_name=row.text("klas", 20),
        track=row.text("leerweg", 20),
        lwoo_status=status,
        status_date=row.optional_date("status_datum"),
        retest_date=retest_date,
        parent_email=row.matching("ouder_email", _EMAIL, staff_text("import.bad_email"), 254),
        parent_phone=row.matching("ouder_telefoon", _PHONE, staff_text("import.bad_phone"), 32),
        mentor=row.optional_text("mentor"),
    )


def _cells(values: Sequence[str], columns: Mapping[str, int]) -> dict[str, str]:
    return {name: values[index] for name, index in columns.items()}


def parse_export(text: str, encoding: str = "UTF-8", today: date | None = None) -> ParsedExport:
    """Validate the decoded CSV text. Raises UnreadableFile for an unusable header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        header = next(reader, None)
        if header is None:
            raise UnreadableFile(staff_text("import.empty_file"))
        columns, ignored = _column_map(header)
        pupils, lines, errors = _parse_rows(reader, columns, len(header),
                                            today or date.today())
    except csv.Error:
        raise UnreadableFile(staff_text("import.not_csv")) from None
    shared = tuple(shared_email_lines(pupils, lines))
    return ParsedExport(tuple(pupils), tuple(errors), encoding, ignored, shared)


def _parse_rows(
    reader: _reader, columns: Mapping[str, int], width: int, today: date
) -> tuple[list[Pupil], list[int], list[RowError]]:
    pupils: list[Pupil] = []
    lines: list[int] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != width:
            reason = staff_text("import.wrong_field_count", found=len(values), expected=width)
            errors.append(RowError(line, None, reason))
            continue
        row = _RowParser(_cells(values, columns), line)
        pupil = _pupil_from_cells(row, today)
        _check_duplicate(row, pupil.pupil_number, first_line, line)
        if row.errors:
            errors.extend(row.errors)
        else:
            pupils.append(pupil)
            lines.append(line)
    return pupils, lines, errors


def _check_duplicate(row: _RowParser, number: str, first_line: dict[str, int], line: int) -> None:
    if not number:
        return
    if number in first_line:
        row.require("leerlingnummer", False,
                    staff_text("import.duplicate_pupil", line=first_line[number]))
    else:
        first_line[number] = line


def read_export(path: Path, today: date | None = None) -> ParsedExport:
    """Read, decode and validate an export file. Raises UnreadableFile."""
    text, encoding = decode_export(_read_bytes(path))
    return parse_export(text, encoding, today)


def import_export(parsed: ParsedExport, store: RecordsStore) -> UpsertCounts:
    """Write every pupil in one transaction; refuses an export with rejected rows."""
    if parsed.errors:
        raise ValueError("an export with rejected rows cannot be imported")
    return store.upsert_pupils(parsed.pupils)
