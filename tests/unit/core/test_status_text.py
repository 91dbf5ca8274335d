"""The Dutch status message per status; never test scores."""

from __future__ import annotations

import re
from datetime import date

import pytest

from core.formats import DUTCH_MONTHS, dutch_date
from core.records import LwooStatus
from core.verification import status_text
from tests.support.unit import CANARY_FIRST, CANARY_LAST, CANARY_MENTOR, canary_pupil

EXPECTED = {
    LwooStatus.NOT_REQUESTED: ("lwoo is niet aangevraagd", "Bespreek dat dan met school"),
    LwooStatus.UNDER_INVESTIGATION: ("in onderzoek sinds 2 oktober 2026",
                                     "Als het onderzoek klaar is"),
    LwooStatus.RETEST_PLANNED: ("hertoets gepland op 8 december 2026",
                                "Na de hertoets bekijkt de school"),
    LwooStatus.REQUESTED: ("lwoo is aangevraagd op 2 oktober 2026",
                           "wachten we op het besluit"),
    LwooStatus.GRANTED: ("lwoo is toegekend op 2 oktober 2026", "handelingsplan"),
    LwooStatus.REJECTED: ("lwoo is afgewezen op 2 oktober 2026", "geen lwoo"),
}


@pytest.mark.parametrize("status", list(LwooStatus))
def test_each_status_in_plain_dutch(status: LwooStatus) -> None:
    pupil = canary_pupil(lwoo_status=status, retest_date=date(2026, 12, 8))
    text = status_text(pupil)
    headline, next_step = EXPECTED[status]
    assert text.startswith(f"Status van {CANARY_FIRST}: ")
    assert headline in text and next_step in text
    assert f"de mentor van {CANARY_FIRST}, {CANARY_MENTOR}" in text
    assert "_" not in text  # no raw status words like hertoets_gepland


@pytest.mark.parametrize("status", list(LwooStatus))
def test_canary_never_scores_or_last_name(status: LwooStatus) -> None:
    text = status_text(canary_pupil(lwoo_status=status, retest_date=date(2026, 12, 8)))
    for secret in ("173", "61", "62", "63", "64", CANARY_LAST, "%", "nio", "IQ"):
        assert secret not in text
    without_dates = re.sub(rf"\d{{1,2}} (?:{'|'.join(DUTCH_MONTHS)}) \d{{4}}", "", text)
    assert not re.search(r"\d", without_dates)  # the only numbers are dates


def test_without_mentor_the_zorgcoordinator() -> None:
    text = status_text(canary_pupil(mentor=None))
    assert "zorgcoördinator" in text and "mentor" not in text


def test_without_status_date() -> None:
    text = status_text(canary_pupil(lwoo_status=LwooStatus.NOT_REQUESTED, status_date=None))
    assert text.startswith(f"Status van {CANARY_FIRST}: lwoo is niet aangevraagd. ")


def test_retest_shows_both_dates() -> None:
    pupil = canary_pupil(lwoo_status=LwooStatus.RETEST_PLANNED, status_date=date(2026, 9, 1),
                         retest_date=date(2026, 12, 10))
    assert "hertoets gepland op 10 december 2026 (ingepland op 1 september 2026)" in (
        status_text(pupil)
    )


def test_dutch_date() -> None:
    assert dutch_date(date(2026, 10, 2)) == "2 oktober 2026"
    assert dutch_date(date(2013, 3, 14)) == "14 maart 2013"
