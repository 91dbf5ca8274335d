"""What parents type into the verification form (issue 14): several values in one
message, every common Dutch date, codes with spaces or dashes, corrections."""

from __future__ import annotations

from datetime import date

import pytest

from core.form_input import read_form_input

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize("text", [
    "14-03-2013", "14/3/2013", "14-3-13", "14 maart 2013", "2013-03-14", "14 mrt 2013",
    "14 mrt. '13", "14.03.2013", "14 Maart 2013", "geboren op 14 maart 2013",
    "ze is jarig op 14-3-2013", "14e maart 2013", "14 / 03 / 2013",
])
def test_every_common_dutch_date(text: str) -> None:
    found = read_form_input(text, TODAY)
    assert found.dates == ["2013-03-14"], text
    assert not found.numbers and not found.bad_date


@pytest.mark.parametrize("text", [
    "100292 28-10-2012", "28-10-2012 100292", "leerlingnummer 100292, geboren 28 oktober 2012",
    "Het is 28/10/2012 en zijn nummer is 100 292", "100-292 28-10-12",
    "mijn dochter heeft nummer 100292 en is geboren op 2012-10-28",
])
def test_number_and_date_together_in_either_order(text: str) -> None:
    found = read_form_input(text, TODAY)
    assert found.numbers == ["100292"], text
    assert found.dates == ["2012-10-28"], text


@pytest.mark.parametrize("text", ["404 141", "404-141", "404141", "de code is 404 141",
                                  "４０４１４１"])
def test_codes_with_spaces_or_dashes(text: str) -> None:
    assert read_form_input(text, TODAY).numbers == ["404141"]


@pytest.mark.parametrize("text", ["31-02-2013", "14-03-2031", "2013-13-01", "14 maart",
                                  "01-01-1950"])
def test_impossible_or_implausible_dates_are_bad_dates(text: str) -> None:
    found = read_form_input(text, TODAY)
    assert found.bad_date and not found.dates, text


@pytest.mark.parametrize("text", ["12345", "1234567", "nummer 12"])
def test_wrong_number_of_digits_is_input_not_a_value(text: str) -> None:
    found = read_form_input(text, TODAY)
    assert not found.has_values and found.looks_like_input


def test_a_question_holds_no_values() -> None:
    found = read_form_input("wat is lwoo eigenlijk?", TODAY)
    assert not found.has_values and not found.looks_like_input


@pytest.mark.parametrize("text,number,date_word", [
    ("oeps, dat moet 100293 zijn", True, False),
    ("de datum klopt niet, het is 15-03-2013", False, True),
    ("sorry, verkeerd nummer: 100293", True, False),
    ("ik heb me vergist, de geboortedatum is 15 maart 2013", False, True),
])
def test_corrections_are_recognised(text: str, number: bool, date_word: bool) -> None:
    found = read_form_input(text, TODAY)
    assert found.correction
    assert bool(found.numbers) is number and bool(found.dates) is date_word
