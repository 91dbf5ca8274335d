"""Feedback, the hand-over to a person and the staff review, end to end over REST
(issue 8): the real servers, the care-desk mail in the outbox, the report from the
tracker store they wrote."""

from __future__ import annotations

import email
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.records import RecordsStore
from core.school_calendar import contact_promise
from core.settings import parse_hours
from tests.support.bot import PROJECT_ROOT, BotServer, start_bot, stop_bot
from tests.support.canary import CANARY

pytestmark = pytest.mark.e2e

CARE_DESK = "zorg.e2e@compaen.example"
HOURS = "9:00-15:00"
QUESTION = "Wanneer hoort mijn dochter de uitslag van de hertoets?"
COMMENT = "Ik miste wat het voor de klas van mijn zoon betekent"
CANARY_VALUES = [CANARY["pupil_number"], CANARY["first_name"], CANARY["last_name"],
                 CANARY["email"], CANARY["phone"]]


@pytest.fixture(scope="module")
def staff_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    server = start_bot(tmp_path_factory.mktemp("staff"),
                       {"CARE_DESK_EMAIL": CARE_DESK, "CALLBACK_HOURS": HOURS})
    yield server
    stop_bot(server)


def care_desk_mails(bot: BotServer, timeout: float = 10) -> list[email.message.EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        mails = []
        for path in sorted((bot.var_dir / "outbox").glob("*.eml"),
                           key=lambda p: p.stat().st_mtime_ns):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if CARE_DESK in str(message["To"]):
                mails.append(message)
        if mails or time.monotonic() > deadline:
            return mails  # type: ignore[return-value]
        time.sleep(0.2)


def body_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def buttons(messages: list[dict]) -> list[str]:
    return [b["payload"] for m in messages for b in m.get("buttons", [])]


# -- feedback -----------------------------------------------------------------------------

def test_thumbs_up_is_thanked(staff_bot: BotServer) -> None:
    sender = staff_bot.new_sender()
    assert "vmbo-diploma" in staff_bot.texts(staff_bot.say(sender, "Wat is lwoo?"))
    reply = staff_bot.texts(staff_bot.say(sender, '/feedback{"helpful": "yes"}'))
    assert "Fijn dat ik u kon helpen" in reply


def test_thumbs_down_asks_what_was_missing_and_offers_contact(staff_bot: BotServer) -> None:
    sender = staff_bot.new_sender()
    staff_bot.say(sender, "waar besteedt de school het lwoo geld aan")
    assert "Wat miste u?" in staff_bot.texts(staff_bot.say(sender, '/feedback{"helpful": "no"}'))
    offer = staff_bot.say(sender, COMMENT)
    assert "contact met u opneemt" in staff_bot.texts(offer)
    assert buttons(offer) == ["/request_human", "/deny"]
    assert "andere vraag" in staff_bot.texts(staff_bot.say(sender, "nee"))


@pytest.mark.parametrize("word", ["👎", "dit hielp niet", "nee"])
def test_a_word_after_an_answer_is_feedback_too(staff_bot: BotServer, word: str) -> None:
    sender = staff_bot.new_sender()
    staff_bot.say(sender, "moet er voor mijn zoon een handelingsplan komen?")
    assert "Wat miste u?" in staff_bot.texts(staff_bot.say(sender, word))
    # "stop" instead of a comment still offers contact; "ja" starts the hand-over
    assert "contact met u opneemt" in staff_bot.texts(staff_bot.say(sender, "stop"))
    assert "akkoord" in staff_bot.texts(staff_bot.say(sender, "ja"))


# -- hand-over to a person ----------------------------------------------------------------

def test_handoff_stores_mails_the_care_desk_and_says_when(staff_bot: BotServer) -> None:
    sender = staff_bot.new_sender()
    # another child's data earlier in the conversation must not reach the care desk
    staff_bot.say(sender, f"qwerty {CANARY['first_name']} {CANARY['last_name']} "
                          f"{CANARY['pupil_number']} {CANARY['email']}")
    staff_bot.say(sender, "Wat is een handelingsplan?")
    consent = staff_bot.say(sender, "ik wil iemand spreken")
    assert "Gaat u daarmee akkoord?" in staff_bot.texts(consent)
    assert buttons(consent) == ["/affirm", "/deny"]
    assert "Wat is uw vraag?" in staff_bot.texts(staff_bot.say(sender, "/affirm"))
    assert "e-mailadres of uw telefoonnummer" in staff_bot.texts(staff_bot.say(sender, QUESTION))
    # a contact that is neither is asked again
    assert "herken ik niet" in staff_bot.texts(staff_bot.say(sender, "weet ik niet"))
    zone = ZoneInfo("Europe/Amsterdam")
    before = contact_promise(datetime.now(zone), parse_hours(HOURS))[1]
    confirmation = staff_bot.texts(staff_bot.say(sender, "bel mij op 06-1234 5678"))
    after = contact_promise(datetime.now(zone), parse_hours(HOURS))[1]
    assert "doorgegeven aan de zorgcoördinator" in confirmation
    assert before in confirmation or after in confirmation, confirmation
    assert "telefonisch via 0612345678" in confirmation

    [mail] = care_desk_mails(staff_bot)
    body = body_of(mail)
    assert QUESTION in body and "0612345678" in body
    assert "Wat is een handelingsplan?" in body and "ik wil iemand spreken" in body
    for value in CANARY_VALUES:
        assert value not in body, f"{value!r} reached the care desk"
    assert "[naam]" in body and "[nummer]" in body

    store = RecordsStore(f"sqlite:///{staff_bot.var_dir / 'records.db'}")
    try:
        [request] = store.callback_requests()
    finally:
        store.dispose()
    assert request.question == QUESTION and request.contact == "0612345678"
    assert request.mailed_at is not None and request.channel == "rest"
    assert sender not in request.conversation_hash  # only an HMAC of the conversation id

    # the conversation goes on: the form is over
    assert "vmbo-diploma" in staff_bot.texts(staff_bot.say(sender, "Wat is lwoo?"))


def test_no_consent_gives_the_schools_contact_details(staff_bot: BotServer) -> None:
    sender = staff_bot.new_sender()
    staff_bot.say(sender, "/request_human")
    reply = staff_bot.texts(staff_bot.say(sender, "nee, liever niet"))
    assert "U kunt contact opnemen met de mentor" in reply


def test_stop_during_the_handoff(staff_bot: BotServer) -> None:
    sender = staff_bot.new_sender()
    staff_bot.say(sender, "kan iemand mij terugbellen?")
    staff_bot.say(sender, "ja")
    assert "gestopt" in staff_bot.texts(staff_bot.say(sender, "stop"))


# -- the staff review on what these conversations left in the tracker store -------------

def test_review_of_these_conversations(staff_bot: BotServer, tmp_path: Path) -> None:
    sender = staff_bot.new_sender()
    staff_bot.say(sender, f"asdf {CANARY['first_name']} qwerty {CANARY['pupil_number']}")
    staff_bot.say(sender, "wat is lwoo?")
    staff_bot.say(sender, "/feedback{\"helpful\": \"no\"}")
    staff_bot.say(sender, f"{COMMENT} ({CANARY['first_name']}, mail {CANARY['email']})")
    out = tmp_path / "review"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "review", "--since", "1d", "--out", str(out)],
        env=staff_bot.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = (out / "report.html").read_text(encoding="utf-8")
    everything = report + "".join(p.read_text(encoding="utf-8-sig") for p in out.glob("*.csv"))
    assert f"{COMMENT} ([naam], mail [e-mail])" in report
    assert "wat_is_lwoo" in report and "REST (test/koppeling)" in report
    for value in CANARY_VALUES:
        assert value not in everything, f"{value!r} in the review"
    assert (out / "topics.png").is_file() and (out / "days.png").is_file()
