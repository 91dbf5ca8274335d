"""Masking what parents typed before staff see it (review report, care-desk mail)."""

from __future__ import annotations

import pytest

from core.masking import DATE, EMAIL, NAME, NUMBER, PHONE, Masker

NAMES = ["Sanne", "de Vries", "Canarytestkind", "Kanariepietersz"]


@pytest.mark.parametrize(("text", "expected"), [
    ("mijn nummer is 100231", f"mijn nummer is {NUMBER}"),
    ("geboren op 14-03-2013", f"geboren op {DATE}"),
    ("geboren 2013-03-14", f"geboren {DATE}"),
    ("geboren op 14 maart 2013", f"geboren op {DATE}"),
    ("kan het op 3 december?", f"kan het op {DATE}?"),
    ("mail jan.jansen@example.nl", f"mail {EMAIL}"),
    ("bel 06-12345678", f"bel {PHONE}"),
    ("bel +31 6 1234 5678 graag", f"bel {PHONE} graag"),
    ("bel 075 - 000 00 00", f"bel {PHONE}"),
    ("bel 0612345678 of 14-03-2013", f"bel {PHONE} of {DATE}"),
])
def test_numbers_dates_mail_and_phone_are_masked(text: str, expected: str) -> None:
    assert Masker().mask(text) == expected


def test_known_pupil_names_are_masked_anywhere_in_any_case() -> None:
    masker = Masker(NAMES)
    assert masker.mask("Sanne krijgt lwoo") == f"{NAME} krijgt lwoo"
    assert masker.mask("hoe gaat het met canarytestkind kanariepietersz") == \
        f"hoe gaat het met {NAME} {NAME}"
    assert masker.mask("familie De Vries") == f"familie {NAME}"
    assert "de" in masker.mask("de school")  # particles alone are no names


def test_capitalised_words_inside_a_sentence_are_guessed_as_names() -> None:
    masker = Masker()
    assert masker.mask("Mijn zoon Pietje zit bij meneer Bakker") == \
        f"Mijn zoon {NAME} zit bij meneer {NAME}"
    # the first word of a sentence and known words stay
    assert masker.mask("Ik woon in Zaandam. Compaen is fijn.") == \
        "Ik woon in Zaandam. Compaen is fijn."
    assert Masker(guess_names=False).mask("zoon Pietje") == "zoon Pietje"


def test_kept_values_stay_visible() -> None:
    masker = Masker(NAMES, keep=["Sanne", "100231", "ouder@example.org"],
                    guess_names=False, dates_without_year=False)
    text = "Sanne (100231) en Canarytestkind; mail ouder@example.org of a@b.nl op 3 december"
    assert masker.mask(text) == (
        f"Sanne (100231) en {NAME}; mail ouder@example.org of {EMAIL} op 3 december"
    )


def test_empty_and_html_are_left_to_the_caller() -> None:
    assert Masker().mask(None) == ""
    assert Masker().mask("<script>") == "<script>"  # escaping is the report's job
