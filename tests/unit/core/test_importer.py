"""Importing the school's export: validation, encodings, one transaction, the command."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.admin import import_pupils_command
from core.importer import (
    EXPORT_HEADERS,
    HEADERS,
    NOT_STORED,
    UnreadableFile,
    parse_export,
    read_export,
)
from core.records import LwooStatus, RecordsStore
from tests.support.unit import (
    CANARY_BIRTH_DMY,
    CANARY_EMAIL,
    CANARY_FIRST,
    CANARY_LAST,
    CANARY_NUMBER,
    DEMO_CSV,
    assert_no_canary,
)

TODAY = date(2026, 11, 27)
HEADER = ";".join(EXPORT_HEADERS)
GOOD_ROW = (
    "100400;Renée;Jansen;14-03-2013;1B;BB;toegekend;02-10-2026;;84;30;35;40;25;"
    "ouder@example.org;+31612340009;mevr. Jansen"
)


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def row(**changes: str) -> str:
    """GOOD_ROW with some fields changed, by header name."""
    values = dict(zip(EXPORT_HEADERS, GOOD_ROW.split(";"), strict=True))
    values.update(changes)
    return ";".join(values[name] for name in EXPORT_HEADERS)


def write(tmp_path: Path, data: bytes, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- parsing and validation --


def test_demo_file_is_valid_and_complete() -> None:
    parsed = read_export(DEMO_CSV, today=TODAY)
    assert parsed.errors == () and len(parsed.pupils) == 10 and parsed.rows == 10
    sanne = parsed.pupils[0]
    assert (sanne.pupil_number, sanne.first_name, sanne.last_name) == ("100231", "Sanne",
                                                                       "de Vries")
    assert sanne.birth_date == date(2013, 3, 14) and sanne.lwoo_status is LwooStatus.GRANTED
    assert sanne.mentor == "mevr. Jansen"
    assert parsed.ignored_columns == NOT_STORED
    tess = next(p for p in parsed.pupils if p.first_name == "Tess")
    assert tess.parent_email is None and tess.parent_phone is None
    noah = next(p for p in parsed.pupils if p.first_name == "Noah")
    assert noah.retest_date == date(2026, 12, 8)


def test_iso_and_dutch_dates_are_both_accepted() -> None:
    parsed = parse_export(csv_text(row(), row(leerlingnummer="100401",
                                              geboortedatum="2013-03-14",
                                              status_datum="2026-10-02")), today=TODAY)
    assert parsed.errors == ()
    assert parsed.pupils[0].birth_date == parsed.pupils[1].birth_date == date(2013, 3, 14)
    assert parsed.pupils[0].status_date == date(2026, 10, 2)


@pytest.mark.parametrize(
    ("changes", "field", "reason_part"),
    [
        ({"leerlingnummer": "12345"}, "leerlingnummer", "6 cijfers"),
        ({"leerlingnummer": "12345a"}, "leerlingnummer", "6 cijfers"),
        ({"voornaam": ""}, "voornaam", "leeg"),
        ({"geboortedatum": "31-02-2013"}, "geboortedatum", "geen geldige datum"),
        ({"geboortedatum": "14/03/13"}, "geboortedatum", "geen geldige datum"),
        ({"geboortedatum": "2031-01-01"}, "geboortedatum", "geen mogelijke geboortedatum"),
        ({"geboortedatum": ""}, "geboortedatum", "leeg"),
        ({"lwoo_status": "misschien"}, "lwoo_status", "onbekend statuswoord"),
        ({"lwoo_status": "hertoets_gepland"}, "hertoets_datum", "verplicht"),
        ({"status_datum": "gisteren"}, "status_datum", "geen geldige datum"),
        ({"ouder_email": "ouder-at-example.org"}, "ouder_email", "e-mailadres"),
        ({"ouder_email": "a@b"}, "ouder_email", "e-mailadres"),
        ({"ouder_telefoon": "bel me"}, "ouder_telefoon", "telefoonnummer"),
    ],
)
def test_bad_fields_are_reported_with_line_and_field(
    changes: dict[str, str], field: str, reason_part: str
) -> None:
    parsed = parse_export(csv_text(row(leerlingnummer="100401"), row(**changes)), today=TODAY)
    assert len(parsed.pupils) == 1
    assert [(e.line, e.field) for e in parsed.errors] == [(3, field)]
    assert reason_part in parsed.errors[0].reason
    assert str(parsed.errors[0]).startswith(f"regel 3, veld {field}: ")


def test_optional_fields_may_be_empty() -> None:
    empty = {name: "" for name in EXPORT_HEADERS[7:]}
    parsed = parse_export(csv_text(row(**empty, lwoo_status="niet_aangevraagd")), today=TODAY)
    assert parsed.errors == ()
    pupil = parsed.pupils[0]
    assert (pupil.status_date, pupil.parent_email, pupil.mentor) == (None, None, None)


def test_every_bad_row_is_reported_and_blank_lines_skipped() -> None:
    text = csv_text(
        row(), "", row(leerlingnummer="x"), row(leerlingnummer="100402", geboortedatum="nee"),
        "100403;te;weinig", row(),
    )
    parsed = parse_export(text, today=TODAY)
    assert [(e.line, e.field) for e in parsed.errors] == [
        (4, "leerlingnummer"), (5, "geboortedatum"), (6, None), (7, "leerlingnummer"),
    ]
    assert "komt al voor op regel 2" in parsed.errors[-1].reason
    assert "verkeerd aantal velden" in parsed.errors[2].reason


def test_reasons_never_echo_the_values() -> None:
    bad = row(leerlingnummer=CANARY_NUMBER + "0", voornaam=CANARY_FIRST * 10,
              achternaam=CANARY_LAST, geboortedatum=CANARY_BIRTH_DMY + "x",
              ouder_email=CANARY_EMAIL + ";")
    parsed = parse_export(csv_text(bad), today=TODAY)
    assert parsed.errors
    assert_no_canary("\n".join(str(error) for error in parsed.errors))


def test_header_columns_may_be_reordered_and_extra_ignored() -> None:
    names = list(reversed(HEADERS))  # only the stored columns: the scores may be absent
    values = dict(zip(EXPORT_HEADERS, GOOD_ROW.split(";"), strict=True))
    text = ";".join([*names, "opmerking"]) + "\n" + ";".join(
        [*(values[n] for n in names), "vrije tekst"]) + "\n"
    parsed = parse_export(text, today=TODAY)
    assert parsed.errors == () and parsed.ignored_columns == ("opmerking",)
    assert parsed.pupils[0].first_name == "Renée"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "leeg"),
        (HEADER.replace(";mentor", "") + "\n", "kolommen ontbreken: mentor"),
        (HEADER.replace(";", ",") + "\n", "puntkomma"),
        (HEADER + ";klas\n", "dubbel"),
    ],
)
def test_unusable_header_makes_the_file_unreadable(text: str, reason: str) -> None:
    with pytest.raises(UnreadableFile, match=reason):
        parse_export(text, today=TODAY)


# -- encodings --


@pytest.mark.parametrize(
    ("encode", "encoding_name"),
    [
        (lambda text: text.encode("utf-8"), "UTF-8"),
        (lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"), "UTF-8 met BOM"),
        (lambda text: text.encode("cp1252"), "Windows-1252"),
        (lambda text: text.replace("\n", "\r\n").encode("cp1252"), "Windows-1252"),
        (lambda text: text.encode("utf-16"), "UTF-16"),
    ],
)
def test_encodings_with_and_without_bom(tmp_path: Path, encode, encoding_name: str) -> None:
    path = write(tmp_path, encode(csv_text(row())))
    parsed = read_export(path, today=TODAY)
    assert parsed.errors == () and parsed.encoding == encoding_name
    assert parsed.pupils[0].first_name == "Renée"
    assert parsed.pupils[0].pupil_number == "100400"  # BOM not glued to the first header


def test_windows_1252_bytes_are_really_windows_1252(tmp_path: Path) -> None:
    data = csv_text(row()).encode("cp1252")
    assert b"Ren\xe9e" in data  # é as one byte 0xE9: invalid UTF-8
    assert read_export(write(tmp_path, data), today=TODAY).pupils[0].first_name == "Renée"


def test_undecodable_and_missing_files_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="Windows-1252"):
        read_export(write(tmp_path, csv_text(row()).encode("cp1252") + b"\x81\xff"))
    with pytest.raises(UnreadableFile, match="bestaat niet"):
        read_export(tmp_path / "missing.csv")
    with pytest.raises(UnreadableFile, match="map"):
        read_export(tmp_path)


# -- the command: transaction, idempotency, dry run, exit codes --


def all_pupils(store: RecordsStore) -> list:
    return [store.get_pupil(n) for n in ("100231", "100232", "100318", "100400", "100401")]


def test_import_command_imports_the_demo_file(sqlite_store: RecordsStore, capsys) -> None:
    assert import_pupils_command(str(DEMO_CSV), store=sqlite_store) == 0
    assert sqlite_store.count_pupils() == 10
    out = capsys.readouterr().out
    assert "10 nieuw, 0 gewijzigd, 0 ongewijzigd" in out


def test_import_twice_changes_nothing(sqlite_store: RecordsStore, capsys) -> None:
    assert import_pupils_command(str(DEMO_CSV), store=sqlite_store) == 0
    before = all_pupils(sqlite_store)
    assert import_pupils_command(str(DEMO_CSV), store=sqlite_store) == 0
    assert "0 nieuw, 0 gewijzigd, 10 ongewijzigd" in capsys.readouterr().out
    assert all_pupils(sqlite_store) == before


def test_rejected_row_leaves_the_database_unchanged(
    sqlite_store: RecordsStore, tmp_path: Path, capsys
) -> None:
    assert import_pupils_command(str(DEMO_CSV), store=sqlite_store) == 0
    before = all_pupils(sqlite_store)
    lines = DEMO_CSV.read_text(encoding="utf-8").splitlines()
    changed = [line.replace("mevr. Jansen", "dhr. Ander") for line in lines]
    bad = write(tmp_path, "\n".join([*changed, row(geboortedatum="nooit")]).encode())
    assert import_pupils_command(str(bad), store=sqlite_store) == 1
    out = capsys.readouterr().out
    assert "regel 12, veld geboortedatum" in out and "niets opgeslagen" in out
    assert all_pupils(sqlite_store) == before
    assert sqlite_store.count_pupils() == 10


def test_dry_run_validates_only(sqlite_store: RecordsStore, capsys) -> None:
    assert import_pupils_command(str(DEMO_CSV), dry_run=True, store=sqlite_store) == 0
    assert "niets opgeslagen" in capsys.readouterr().out
    assert sqlite_store.count_pupils() == 0


def test_dry_run_still_reports_rejected_rows(sqlite_store: RecordsStore, tmp_path: Path) -> None:
    bad = write(tmp_path, csv_text(row(lwoo_status="ja")).encode())
    assert import_pupils_command(str(bad), dry_run=True, store=sqlite_store) == 1


def test_unreadable_file_exits_2(sqlite_store: RecordsStore, tmp_path: Path, capsys) -> None:
    assert import_pupils_command(str(tmp_path / "nope.csv"), store=sqlite_store) == 2
    assert "kan niet worden ingelezen" in capsys.readouterr().err


def test_store_down_exits_3_and_writes_nothing(capsys) -> None:
    down = RecordsStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert import_pupils_command(str(DEMO_CSV), store=down) == 3
    assert "niet bereikbaar" in capsys.readouterr().err


def test_command_output_has_no_personal_data(
    sqlite_store: RecordsStore, tmp_path: Path, capsys
) -> None:
    canary = row(leerlingnummer=CANARY_NUMBER, voornaam=CANARY_FIRST, achternaam=CANARY_LAST,
                 ouder_email=CANARY_EMAIL)
    bad = row(leerlingnummer=CANARY_NUMBER, voornaam=CANARY_FIRST,
              geboortedatum=CANARY_BIRTH_DMY + "x")
    for rows, expected in (([canary], 0), ([canary, bad], 1)):
        path = write(tmp_path, csv_text(*rows).encode("cp1252"))
        assert import_pupils_command(str(path), store=sqlite_store) == expected
        captured = capsys.readouterr()
        assert_no_canary(captured.out + captured.err)


def test_default_store_comes_from_settings(settings, capsys) -> None:
    assert import_pupils_command(str(DEMO_CSV)) == 0
    assert RecordsStore.from_settings(settings).count_pupils() == 10
    assert (settings.var_dir / "records.db").exists()


# -- data minimisation (issue 12, item 11) --


def test_test_scores_are_not_stored_and_reported_as_ignored(
    sqlite_store: RecordsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed = parse_export(csv_text(row(nio_score="84", achterstand_rekenen="-5")), today=TODAY)
    assert parsed.errors == ()  # values never stored are not validated either
    assert parsed.ignored_columns == NOT_STORED
    sqlite_store.upsert_pupils(parsed.pupils)
    with sqlite_store._transaction("test") as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns("pupils")]
        stored = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM pupils"))]
    assert not set(columns) & {"nio_score", "delay_spelling", "delay_arithmetic"}
    assert "84" not in repr(stored) and "-5" not in repr(stored)


def test_values_stored_by_earlier_imports_are_removed(store: RecordsStore) -> None:
    """An existing database from before: the score columns and their values go."""
    store.ping()
    with store._transaction("test") as conn:
        legacy_columns = ("nio_score", "delay_technical_reading",
                          "delay_reading_comprehension", "delay_spelling", "delay_arithmetic")
        prefix = f'"{store._schema}".' if store._schema else ""
        for name in legacy_columns:
            conn.exec_driver_sql(f"ALTER TABLE {prefix}pupils ADD COLUMN {name} INTEGER")
        conn.exec_driver_sql(
            f"INSERT INTO {prefix}pupils (pupil_number, first_name, last_name, birth_date, "
            "class_name, track, lwoo_status, nio_score, delay_spelling) VALUES "
            "('100400', 'Renée', 'Jansen', '2013-03-14', '1B', 'BB', 'toegekend', 184, 47)")
    store.dispose()
    store.ping()  # first use after the upgrade runs the migration
    with store._transaction("test") as conn:
        columns = {c["name"] for c in
                   sa.inspect(conn).get_columns("pupils", schema=store._schema)}
        stored = [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {prefix}pupils")]
    assert not columns & set(legacy_columns)
    assert "184" not in repr(stored) and "47" not in repr(stored)
    assert store.get_pupil("100400").first_name == "Renée"  # type: ignore[union-attr]


def test_an_email_address_shared_by_more_than_four_pupils_is_reported(
    tmp_path: Path, sqlite_store: RecordsStore, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row(leerlingnummer=f"1004{i:02d}", ouder_email="INFO@school.example")
            for i in range(5)] + [row(leerlingnummer="100499")]
    parsed = parse_export(csv_text(*rows), today=TODAY)
    assert parsed.errors == () and parsed.shared_emails == ((2, 3, 4, 5, 6),)
    four = parse_export(csv_text(*rows[:4]), today=TODAY)
    assert four.shared_emails == ()
    path = write(tmp_path, csv_text(*rows).encode())
    assert import_pupils_command(str(path), store=sqlite_store) == 0
    out = capsys.readouterr().out
    assert "5 leerlingen hebben hetzelfde ouder-e-mailadres (regels 2, 3, 4, 5, 6)" in out
    assert "school.example" not in out.lower()
