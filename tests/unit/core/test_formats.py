"""Parsing what parents type and what the export holds."""

from __future__ import annotations

from datetime import date

import pytest

from core.formats import normalize_code, normalize_pupil_number, parse_date


@pytest.mark.parametrize(
    "text",
    ["2013-03-14", "14-03-2013", "14-3-2013", "14/03/2013", "14.03.2013", " 14 maart 2013 ",
     "14 Maart 2013", "14\u00a0maart\u00a02013"],
)
def test_dates_parents_and_schools_write(text: str) -> None:
    assert parse_date(text) == date(2013, 3, 14)


@pytest.mark.parametrize(
    "text", ["", "14-03-13", "2013-02-30", "31-04-2013", "14 mrt 2013", "gisteren",
             "2013-03-14T00:00", "14-03-2013; DROP TABLE pupils"],
)
def test_not_a_date(text: str) -> None:
    assert parse_date(text) is None


def test_pupil_numbers() -> None:
    assert normalize_pupil_number(" 100 231 ") == "100231"
    assert normalize_pupil_number("１００２３１") == "100231"  # full-width digits (NFKC)
    for bad in ("10023", "1002311", "10023a", "", "١٠٠٢٣١", "100231\n100232"):
        assert normalize_pupil_number(bad) is None


def test_codes() -> None:
    assert normalize_code("123-456") == "123456"
    assert normalize_code(" 123 456 ") == "123456"
    for bad in ("12345", "abcdef", "1234567", "/code{\"x\":1}"):
        assert normalize_code(bad) is None
