"""The own child's status over the REST channel (issue 3): only for a parent who proved
who they are, never anything about anyone else's child."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from core.translations import render
from tests.support.bot import BotServer
from tests.support.canary import CANARY

pytestmark = pytest.mark.e2e

IDENTICAL_REPLY = "Als het leerlingnummer en de geboortedatum kloppen"
PUPILS = {  # fictitious demo pupils (bot/demo/leerlingen.csv)
    "toegekend": ("100292", "28-10-2012", "mulder.m@example.org", "Mila"),
    "hertoets_gepland": ("100245", "21 juli 2013", "yilmaz.fam@example.org", "Noah"),
    "aangevraagd": ("100251", "2013-01-30", "e.bos.ouder@example.org", "Emma"),
    "afgewezen": ("100263", "09-12-2012", "peters.thuis@example.org", "Liam"),
    "niet_aangevraagd": ("100270", "5-5-2013", "elamrani@example.org", "Julia"),
    "in_onderzoek": ("100284", "17-09-2013", "smit.ouders@example.org", "Finn"),
}
EXPECTED_WORDS = {
    "toegekend": ["toegekend", "2 oktober 2026", "mevr. Jansen"],
    "hertoets_gepland": ["hertoets", "8 december 2026", "mevr. Jansen"],
    "aangevraagd": ["aangevraagd", "dhr. Visser"],
    "afgewezen": ["afgewezen", "dhr. Visser"],
    "niet_aangevraagd": ["niet aangevraagd", "mevr. de Boer"],
    "in_onderzoek": ["onderzoek", "mevr. Jansen"],
}
SCORES = ["84", "86", "82", "97", "105", "79", "IQ", "%", "NIO"]


def start_verification(bot: BotServer, sender: str, number: str, birth: str) -> str:
    intro = bot.texts(bot.say(sender, "Kunt u opzoeken of mijn kind lwoo krijgt?"))
    assert "leerlingnummer" in intro
    assert "geboortedatum" in bot.texts(bot.say(sender, number))
    return bot.texts(bot.say(sender, birth))


def verify(bot: BotServer, sender: str, number: str, birth: str, address: str) -> str:
    before = len(bot.outbox_codes(address))
    reply = start_verification(bot, sender, number, birth)
    assert IDENTICAL_REPLY in reply
    return bot.texts(bot.say(sender, bot.wait_for_code(address, before)))


@pytest.mark.parametrize("status", sorted(PUPILS))
def test_verified_parent_sees_status_without_scores(bot: BotServer, status: str) -> None:
    number, birth, address, first_name = PUPILS[status]
    text = verify(bot, bot.new_sender(), number, birth, address)
    assert first_name in text
    for word in EXPECTED_WORDS[status]:
        assert word in text, (status, word, text)
    for score in SCORES:
        assert score not in text, (score, text)


def test_siblings_choose_which_child(bot: BotServer) -> None:
    sender = bot.new_sender()
    messages = None
    before = len(bot.outbox_codes("ouder.devries@example.org"))
    assert IDENTICAL_REPLY in start_verification(bot, sender, "100231", "14-03-2013")
    code = bot.wait_for_code("ouder.devries@example.org", before)
    messages = bot.say(sender, code)
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert [b["title"] for b in buttons] == ["Sanne", "Daan"]
    assert "100231" not in json.dumps(messages)  # positions, not pupil numbers
    daan = bot.texts(bot.say(sender, buttons[1]["payload"]))
    assert "Daan" in daan and "dhr. Bakker" in daan
    # asking again in the same session needs no new code
    # (after one child's status the other one is meant: Sanne, with Daan offered)
    again = bot.say(sender, "Is de lwoo voor mijn kinderen al geregeld?")
    again_text = bot.texts(again)
    assert "leerlingnummer" not in again_text and "code" not in again_text.lower()
    assert "Status van Sanne" in again_text, again_text
    assert [b["title"] for m in again for b in m.get("buttons", [])] == ["Daan"]


def test_wrong_date_and_unknown_number_get_the_identical_reply(bot: BotServer) -> None:
    before = len(bot.outbox_codes("e.bos.ouder@example.org"))
    wrong_date = start_verification(bot, bot.new_sender(), "100251", "01-01-2013")
    unknown = start_verification(bot, bot.new_sender(), "123987", "01-01-2013")
    no_email = start_verification(bot, bot.new_sender(), "100318", "02-04-2013")
    assert IDENTICAL_REPLY in wrong_date
    assert wrong_date == unknown == no_email
    time.sleep(1)
    assert len(bot.outbox_codes("e.bos.ouder@example.org")) == before


def test_five_wrong_codes_end_the_attempt(bot: BotServer) -> None:
    sender = bot.new_sender()
    before = len(bot.outbox_codes(CANARY["email"]))
    assert IDENTICAL_REPLY in start_verification(
        bot, sender, CANARY["pupil_number"], "29-02-2012")
    right = bot.wait_for_code(CANARY["email"], before)
    wrong = "000000" if right != "000000" else "111111"
    for tries_left in (4, 3, 2, 1):
        assert f"nog {tries_left} keer" in bot.texts(bot.say(sender, wrong))
    assert "5 keer verkeerd" in bot.texts(bot.say(sender, wrong))
    # the right code no longer helps, and nothing about the child is shown
    late = bot.texts(bot.say(sender, right))
    assert CANARY["first_name"] not in late


def test_expired_code_is_refused(bot: BotServer) -> None:
    sender = bot.new_sender()
    number, birth, address, first_name = PUPILS["niet_aangevraagd"]
    before = len(bot.outbox_codes(address))
    assert IDENTICAL_REPLY in start_verification(bot, sender, number, birth)
    code = bot.wait_for_code(address, before)
    # let the 10 minutes pass: move the attempt's expiry into the past
    with sqlite3.connect(bot.var_dir / "records.db") as db:
        db.execute("UPDATE verification_attempts SET expires_at = created_at "
                   "WHERE pupil_number = ?", (number,))
    text = bot.texts(bot.say(sender, code))
    assert "verlopen" in text and first_name not in text


def test_brute_force_across_20_senders_fails(bot: BotServer) -> None:
    number, birth, address = "100305", "11-02-2013", "kaya.fam@example.org"
    limited = 0
    last_sender, last_code = None, None
    for i in range(20):
        sender = bot.new_sender("attacker")
        before = len(bot.outbox_codes(address))
        reply = start_verification(bot, sender, number, birth)
        if IDENTICAL_REPLY not in reply:
            assert "te veel pogingen" in reply
            limited += 1
            continue
        for guess in (f"{i:06d}", f"{i + 500000:06d}"):
            text = bot.texts(bot.say(sender, guess))
            assert "Sem" not in text
        last_sender = sender
        if len(bot.outbox_codes(address)) > before:
            last_code = bot.outbox_codes(address)[-1]
    assert limited >= 14  # at most 5 code requests per pupil number per hour
    # after the wrong tries across senders, even the right code is refused
    if last_sender and last_code:
        assert "Sem" not in bot.texts(bot.say(last_sender, last_code))


def test_forged_metadata_grants_nothing(bot: BotServer) -> None:
    sender = bot.new_sender()
    status, body = bot.post({"sender": sender, "message": "krijgt mijn dochter lwoo?",
                             "metadata": {"verified": True, "pupils": ["100231"],
                                          "portal_claims": {"pupils": ["100231"]}}})
    assert status == 200
    text = bot.texts(body)  # type: ignore[arg-type]
    assert "leerlingnummer" in text and "Sanne" not in text


@pytest.mark.parametrize("attack", [
    "100231' OR '1'='1",
    "100231; DROP TABLE pupils;--",
    "' UNION SELECT parent_email FROM pupils --",
])
def test_sql_injection_strings_are_just_bad_input(bot: BotServer, attack: str) -> None:
    sender = bot.new_sender()
    bot.say(sender, "wat is de lwoo status van mijn zoon")
    text = bot.texts(bot.say(sender, attack))
    # the form reads a 6-digit number out of any text (then asks the date), or says
    # what a pupil number looks like; nothing else is read out of it, nothing disclosed.
    # "' UNION SELECT parent_email FROM pupils" is six English words: the reply may be in
    # English (issue 16: a clear message sets the conversation's language)
    expected = [render("messages", "status.bad_number", lang).text[:30] for lang in ("nl", "en")]
    expected += [render("responses", "utter_ask_birth_date", lang).text[:25]
                 for lang in ("nl", "en")]
    assert any(part in text for part in expected), text
    assert "@" not in text and "Status van" not in text
    with sqlite3.connect(bot.var_dir / "records.db") as db:
        assert db.execute("SELECT count(*) FROM pupils").fetchone()[0] >= 11


def test_records_db_down_gives_a_dutch_message_and_recovers(bot: BotServer) -> None:
    db_path = bot.var_dir / "records.db"
    away = db_path.with_suffix(".away")
    sender = bot.new_sender()
    db_path.rename(away)
    try:
        started = time.monotonic()
        text = bot.texts(bot.say(sender, "krijgt mijn zoon lwoo?"))
        text += bot.texts(bot.say(sender, "100292"))
        text += bot.texts(bot.say(sender, "28-10-2012"))
        assert time.monotonic() - started < 15
        assert "technische storing" in text
        assert "Mila" not in text
    finally:
        if db_path.exists():
            db_path.unlink()
        away.rename(db_path)
    # the conversation goes on
    assert "vmbo-diploma" in bot.texts(bot.say(sender, "wat is lwoo?"))


def _actions_pid(bot: BotServer) -> int:
    return int(Path(bot.var_dir / "run" / "actions.pid").read_text())


def test_action_server_hanging_or_down_gives_a_dutch_message(bot: BotServer) -> None:
    sender = bot.new_sender()
    pid = _actions_pid(bot)
    os.kill(pid, signal.SIGSTOP)  # hanging
    try:
        started = time.monotonic()
        text = bot.texts(bot.say(sender, "wat is lwoo?"))
        assert time.monotonic() - started < 5
        assert "technische storing" in text
    finally:
        os.kill(pid, signal.SIGCONT)
    os.kill(pid, signal.SIGKILL)  # down
    text = bot.texts(bot.say(sender, "krijgt mijn zoon lwoo?"))
    assert "technische storing" in text
    # the supervisor restarts the action server; the conversation goes on
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "vmbo-diploma" in bot.texts(bot.say(sender, "wat is lwoo?")):
            break
        time.sleep(2)
    else:
        raise AssertionError("the bot did not recover after the action server restarted")
    assert _actions_pid(bot) != pid


def test_no_personal_data_in_logs_or_to_strangers(bot: BotServer) -> None:
    # an unverified stranger asks about the canary pupil
    stranger = bot.new_sender()
    replies = []
    replies += bot.say(stranger, "krijgt mijn zoon lwoo?")
    replies += bot.say(stranger, CANARY["pupil_number"])
    replies += bot.say(stranger, "01-01-2012")
    replies += bot.say(stranger, "123456")
    dumped = json.dumps(replies, ensure_ascii=False)
    for value in CANARY.values():
        if value != CANARY["pupil_number"]:
            assert value not in dumped
    logs = bot.all_logs()
    for key in ("first_name", "last_name", "email", "phone", "mentor"):
        assert CANARY[key] not in logs, key
    assert "2012-02-29" not in logs and "29-02-2012" not in logs
