"""Hand-over to a person: when the school calls back, what the parent types, the stored
request and the mail to the care desk (store or mail down: nothing lost, parent told)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff
from actions.handoff import ActionCallbackSubmit, ValidateCallbackForm
from core.callbacks import (
    CallbackDesk,
    CallbackInput,
    CallbackLimits,
    SubmitResult,
    conversation_excerpt,
)
from core.contact import parse_contact, yes_or_no
from core.mail import MailUnavailable, OutboxMailer
from core.records import ContactMethod, RecordsStore, StoreUnavailable
from core.school_calendar import callback_day, contact_promise
from core.settings import parse_hours
from tests.support.unit import (
    CANARY_FIRST,
    CANARY_LAST,
    CANARY_NUMBER,
    MAIL_FROM,
    START,
    assert_no_canary,
    read_outbox,
)

AMS = ZoneInfo("Europe/Amsterdam")
HOURS = (time(8, 30), time(16, 0))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


# -- when to expect contact ---------------------------------------------------------------

@pytest.mark.parametrize(("now", "expected"), [
    (local(2026, 11, 27, 17, 0), "maandag tussen 8:30 en 16:00"),   # Friday after hours
    (local(2026, 11, 27, 10, 0), "maandag tussen 8:30 en 16:00"),   # Friday during hours
    (local(2026, 11, 28, 11, 0), "maandag tussen 8:30 en 16:00"),   # Saturday
    (local(2026, 11, 29, 11, 0), "morgen tussen 8:30 en 16:00"),    # Sunday
    (local(2026, 11, 30, 7, 45), "vandaag tussen 8:30 en 16:00"),   # Monday before opening
    (local(2026, 11, 30, 10, 0), "morgen tussen 8:30 en 16:00"),    # Monday during hours
    (local(2026, 12, 2, 23, 59), "morgen tussen 8:30 en 16:00"),    # Wednesday night
])
def test_callback_day_is_the_next_school_day(now: datetime, expected: str) -> None:
    assert contact_promise(now, HOURS)[1] == expected


def test_closed_days_are_skipped_and_far_days_get_a_date() -> None:
    friday = local(2026, 12, 18, 17, 0)
    holidays = [date(2026, 12, d) for d in (21, 22, 23, 24, 25, 28, 29, 30, 31)] + \
        [date(2027, 1, 1)]
    assert callback_day(friday, HOURS, holidays) == date(2027, 1, 4)
    assert contact_promise(friday, HOURS, holidays)[1] == "maandag 4 januari tussen 8:30 en 16:00"


def test_callback_hours_are_configurable() -> None:
    assert parse_hours("8:30-16:00") == HOURS
    assert parse_hours(" 9.00 - 15:30 ") == (time(9, 0), time(15, 30))
    for bad in ("", "8-", "16:00-8:30", "25:00-26:00", "acht-vier"):
        with pytest.raises(ValueError, match="CALLBACK_HOURS"):
            parse_hours(bad)
    assert contact_promise(local(2026, 11, 30, 8, 0), (time(9, 0), time(12, 0)))[1] == \
        "vandaag tussen 9:00 en 12:00"


# -- what the parent types ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Jan.Jansen@Example.nl", (ContactMethod.EMAIL, "jan.jansen@example.nl")),
    ("mail mij maar op ouder@example.org graag", (ContactMethod.EMAIL, "ouder@example.org")),
    ("06-12345678", (ContactMethod.PHONE, "0612345678")),
    ("bel me op 06 1234 5678", (ContactMethod.PHONE, "0612345678")),
    ("+31 6 12345678", (ContactMethod.PHONE, "0612345678")),
    ("0031612345678", (ContactMethod.PHONE, "0612345678")),
    ("075-1234567", (ContactMethod.PHONE, "0751234567")),
    ("+32 470 12 34 56", (ContactMethod.PHONE, "+32470123456")),
    ("12345", None), ("0612345", None), ("ouder@", None), ("", None), ("ja", None),
    ("a@b.nl of c@d.nl", None),
])
def test_contact_is_an_email_address_or_phone_number(text: str, expected: Any) -> None:
    assert parse_contact(text) == expected


def test_yes_or_no() -> None:
    assert yes_or_no(True) is True and yes_or_no(False) is False
    for text in ("ja", "Ja hoor", "prima", "akkoord", "oké", "goed", "👍"):
        assert yes_or_no(text) is True, text
    for text in ("nee", "liever niet", "nee dank u", "👎"):
        assert yes_or_no(text) is False, text
    assert yes_or_no("wat gebeurt er met mijn gegevens?") is None


async def test_form_validation() -> None:
    form, dispatcher = ValidateCallbackForm(), CollectingDispatcher()
    t = Tracker("s", {}, {}, [], False, None, {}, "action_listen")
    assert await form.validate_callback_consent(True, dispatcher, t, {}) == \
        {"callback_consent": True}
    assert await form.validate_callback_consent(False, dispatcher, t, {}) == \
        {"callback_consent": False, "callback_question": "-", "callback_contact": "-"}
    assert await form.validate_callback_consent("misschien", dispatcher, t, {}) == \
        {"callback_consent": None}
    assert await form.validate_callback_question("?", dispatcher, t, {}) == \
        {"callback_question": None}
    assert await form.validate_callback_question(" Wanneer  is de hertoets? ", dispatcher, t,
                                                 {}) == {"callback_question":
                                                         "Wanneer is de hertoets?"}
    assert await form.validate_callback_contact("geen idee", dispatcher, t, {}) == \
        {"callback_contact": None}
    assert await form.validate_callback_contact("06 12345678", dispatcher, t, {}) == \
        {"callback_contact": "0612345678"}
    texts = [m["text"] for m in dispatcher.messages]
    assert any("ja of nee" in x for x in texts)
    # the slots cleared at the start of the form are validated silently
    quiet = CollectingDispatcher()
    for slot in handoff.FORM_SLOTS:
        assert await getattr(form, f"validate_{slot}")(None, quiet, t, {}) == {slot: None}
    assert quiet.messages == []
    assert any("e-mailadres of telefoonnummer" in x for x in texts)


# -- the conversation excerpt, storing and mailing ----------------------------------------

def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "text": text}


EVENTS = [
    {"event": "action", "name": "action_listen"},
    user("Krijgt Sanne lwoo?"),
    bot("Ik kan de lwoo-status van uw kind opzoeken ..."),
    user("100231"),
    user("14-03-2013"),
    user(f"Het gaat ook over {CANARY_FIRST} {CANARY_LAST}, nummer {CANARY_NUMBER}"),
    bot("Ik weet niet zeker wat u bedoelt."),
    user('/faq{"faq_topic": "budget"}'),
    user("ik wil iemand spreken"),
    {"event": "active_loop", "name": "callback_form"},
    bot("Gaat u daarmee akkoord?"),
    user("ja"),
    user("ouder@example.org"),
]


def test_excerpt_stops_where_the_callback_form_starts() -> None:
    excerpt = conversation_excerpt(EVENTS, 3)
    assert excerpt == [("Assistent", "Ik weet niet zeker wat u bedoelt."),
                       ("Ouder", '/faq{"faq_topic": "budget"}'),
                       ("Ouder", "ik wil iemand spreken")]
    assert conversation_excerpt(EVENTS, 0) == []


def request(question: str = "Wanneer hoor ik iets over de hertoets?") -> CallbackInput:
    return CallbackInput("conv-1", "rest", question, ContactMethod.EMAIL,
                         "ouder@example.org", EVENTS)


def desk(store: RecordsStore, mailer: Any, verified: list[tuple[str, str, str]] | None = None
         ) -> CallbackDesk:
    return CallbackDesk(
        store, mailer, care_desk="zorg@compaen.example", mail_from=MAIL_FROM, hours=HOURS,
        tz=AMS, transcript_messages=10, sender_hash=lambda s: "h" * 64,
        verified_names=lambda _: verified or [], clock=lambda: START,
    )


def test_request_is_stored_and_mailed_without_other_childrens_data(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    result = desk(seeded_store, OutboxMailer(outbox_dir)).submit(request())
    assert result == SubmitResult(stored=True, mailed=True,
                                  promise="maandag tussen 8:30 en 16:00")
    [mail] = read_outbox(outbox_dir)
    assert mail.to == "zorg@compaen.example"
    assert "Wanneer hoor ik iets over de hertoets?" in mail.body
    assert "ouder@example.org" in mail.body and "maandag tussen 8:30" in mail.body
    assert "[knop: faq budget]" in mail.body and "ik wil iemand spreken" in mail.body
    assert_no_canary(mail.body)
    assert "Sanne" not in mail.body and "100231" not in mail.body
    assert "14-03-2013" not in mail.body
    [stored] = seeded_store.callback_requests()
    assert stored.question == "Wanneer hoor ik iets over de hertoets?"
    assert stored.contact == "ouder@example.org" and stored.mailed_at == START
    assert stored.callback_date == date(2026, 11, 30)
    assert f"{stored.id}" in mail.body
    assert "ouder@example.org" not in repr(stored)


def test_a_verified_parents_own_child_stays_visible(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    verified = [("Sanne", "de Vries", "100231")]
    desk(seeded_store, OutboxMailer(outbox_dir), verified).submit(request())
    body = read_outbox(outbox_dir)[0].body
    assert "Krijgt Sanne lwoo?" in body and "100231" in body
    assert_no_canary(body)


def test_question_is_masked_of_other_children_too(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    desk(seeded_store, OutboxMailer(outbox_dir)).submit(
        request(f"Mijn kind wordt gepest door {CANARY_FIRST} ({CANARY_NUMBER})"))
    assert_no_canary(read_outbox(outbox_dir)[0].body)
    assert_no_canary(seeded_store.callback_requests()[0].question)


class DownStore(RecordsStore):
    def __init__(self) -> None:
        super().__init__("sqlite:///unused")

    def pupil_names(self) -> list[tuple[str, str]]:
        raise StoreUnavailable("down")

    def add_callback_request(self, request: Any) -> Any:
        raise StoreUnavailable("down")

    def atomic(self, operation: str) -> Any:
        raise StoreUnavailable("down")


class DownMailer:
    def check_available(self) -> None:
        raise MailUnavailable("down")

    def send(self, message: Any) -> None:
        raise MailUnavailable("down")


def test_store_down_still_mails_without_the_conversation(outbox_dir: Path) -> None:
    result = desk(DownStore(), OutboxMailer(outbox_dir)).submit(request())
    assert result.mailed and not result.stored and not result.ok
    body = read_outbox(outbox_dir)[0].body
    assert "Wanneer hoor ik iets over de hertoets?" in body
    assert "niet meegestuurd" in body and "Krijgt" not in body


def test_mail_down_keeps_the_stored_request(seeded_store: RecordsStore) -> None:
    result = desk(seeded_store, DownMailer()).submit(request())
    assert result.stored and not result.mailed and not result.ok
    [stored] = seeded_store.callback_requests(unmailed_only=True)
    assert stored.mailed_at is None


# -- the action ---------------------------------------------------------------------------

def form_tracker(slots: dict[str, Any]) -> Tracker:
    return Tracker("conv-1", slots, {"intent": {"name": "affirm"}}, EVENTS, False, None,
                   {}, "callback_form")


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") or m.get("text") or "" for m in dispatcher.messages]


FILLED = {"callback_consent": True, "callback_question": "Wanneer hoor ik iets?",
          "callback_contact": "0612345678"}


async def test_no_consent_gives_the_contact_details() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionCallbackSubmit().run(
        dispatcher, form_tracker({"callback_consent": False, "callback_question": "-",
                                  "callback_contact": "-"}), {})
    assert responses(dispatcher) == ["utter_contact"]
    assert {e["name"]: e["value"] for e in events} == dict.fromkeys(handoff.FORM_SLOTS)


async def test_success_says_when_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    class Desk:
        def submit(self, request: CallbackInput) -> SubmitResult:
            assert request.contact == "0612345678" and request.events == EVENTS
            return SubmitResult(True, True, "maandag tussen 8:30 en 16:00")

    monkeypatch.setattr(handoff, "get_desk", Desk)
    dispatcher = CollectingDispatcher()
    await ActionCallbackSubmit().run(dispatcher, form_tracker(FILLED), {})
    [text] = responses(dispatcher)
    assert "maandag tussen 8:30 en 16:00" in text and "telefonisch via 0612345678" in text


@pytest.mark.parametrize("outcome", [SubmitResult(False, True, "x"),
                                     SubmitResult(True, False, "x"), StoreUnavailable("down")])
async def test_store_or_mail_down_tells_the_parent_to_call(
    monkeypatch: pytest.MonkeyPatch, settings: Any, outcome: Any
) -> None:
    class Desk:
        def submit(self, request: CallbackInput) -> SubmitResult:
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

    monkeypatch.setattr(handoff, "get_desk", Desk)
    dispatcher = CollectingDispatcher()
    await ActionCallbackSubmit().run(dispatcher, form_tracker(FILLED), {})
    messages = responses(dispatcher)
    assert messages[0] == "utter_technical_problem"
    assert "Belt u de school" in messages[1] and settings.school_contact in messages[1]


def test_utc_clock_is_converted_to_school_time() -> None:
    # 16:30 UTC on a Friday is 17:30 in Amsterdam: still "maandag"
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=timezone.utc)
    assert contact_promise(friday.astimezone(AMS), HOURS)[1].startswith("maandag")


# -- retention ----------------------------------------------------------------------------

def test_purge_deletes_old_callback_requests(store: RecordsStore, settings: Any,
                                             capsys: Any) -> None:
    from datetime import timedelta

    from bot.admin import purge_command
    from core.records import CallbackRequest

    def add(days_ago: int) -> None:
        store.add_callback_request(CallbackRequest(
            created_at=START - timedelta(days=days_ago), channel="rest",
            conversation_hash="h" * 64, question="vraag", contact_method=ContactMethod.PHONE,
            contact="0612345678", callback_date=date(2026, 11, 30)))

    add(40)
    add(2)
    assert purge_command("30d", store=store, settings=settings, now=START) == 0
    assert "1 terugbelverzoeken" in capsys.readouterr().out
    assert [r.created_at for r in store.callback_requests()] == [START - timedelta(days=2)]
    assert store.mark_callback_mailed(store.callback_requests()[0].id or 0, START)
    assert store.callback_requests(unmailed_only=True) == []


def test_callbacks_command_lists_and_resends_unmailed_requests(
    seeded_store: RecordsStore, settings: Any, outbox_dir: Path, capsys: Any
) -> None:
    from bot.__main__ import main
    from bot.callbacks import callbacks_command

    desk(seeded_store, DownMailer()).submit(request())
    assert callbacks_command("7d", store=seeded_store, settings=settings, now=START) == 0
    out = capsys.readouterr().out
    assert "e-mail: ouder@example.org" in out and "NEE" in out
    assert "1 verzoek(en), waarvan 1 niet gemaild" in out and "--resend" in out
    assert callbacks_command("7d", True, store=seeded_store, mailer=DownMailer(),
                             settings=settings, now=START) == 3
    assert callbacks_command("7d", True, store=seeded_store, mailer=OutboxMailer(outbox_dir),
                             settings=settings, now=START) == 0
    [mail] = read_outbox(outbox_dir)
    assert "Wanneer hoor ik iets over de hertoets?" in mail.body
    assert "maandag 30 november tussen 8:30 en 16:00" in mail.body
    assert seeded_store.callback_requests(unmailed_only=True) == []
    assert main(["callbacks", "--since", "7"]) == 2


# -- limits, retries, verified or not (issue 12, item 8) ----------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def limited_desk(store: Any, mailer: Any, clock: Clock, verified: bool = False,
                 **limits: Any) -> CallbackDesk:
    own = [("Sanne", "de Vries", "100231")] if verified else []
    return CallbackDesk(
        store, mailer, care_desk="zorg@compaen.example", mail_from=MAIL_FROM, hours=HOURS,
        tz=AMS, transcript_messages=10, sender_hash=lambda s: s.encode().hex()[:64],
        verified_names=lambda _: own, clock=clock, limits=CallbackLimits(**limits),
    )


def ask(conversation: str, question: str) -> CallbackInput:
    return CallbackInput(conversation, "rest", question, ContactMethod.EMAIL,
                         "ouder@example.org", EVENTS)


def test_callbacks_are_limited_per_conversation(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    desk_ = limited_desk(seeded_store, OutboxMailer(outbox_dir), Clock())
    results = [desk_.submit(ask("conv-a", f"Vraag nummer {n} over lwoo")) for n in range(4)]
    assert [r.ok for r in results] == [True, True, False, False]
    assert all(r.limited for r in results[2:])
    assert len(read_outbox(outbox_dir)) == 2 and len(seeded_store.callback_requests()) == 2
    assert desk_.submit(ask("conv-b", "Een andere ouder")).ok


def test_callbacks_are_limited_per_hour_overall(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    clock = Clock()
    desk_ = limited_desk(seeded_store, OutboxMailer(outbox_dir), clock, per_hour=3)
    results = [desk_.submit(ask(f"conv-{n}", "Mag ik iemand spreken?")) for n in range(5)]
    assert [r.limited for r in results] == [False, False, False, True, True]
    assert len(read_outbox(outbox_dir)) == 3
    clock.now += timedelta(hours=1)
    assert desk_.submit(ask("conv-9", "Mag ik iemand spreken?")).ok


def test_a_retry_never_duplicates_the_callback(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    desk_ = limited_desk(seeded_store, OutboxMailer(outbox_dir), Clock())
    first = desk_.submit(ask("conv-a", "Wanneer is de hertoets?"))
    again = desk_.submit(ask("conv-a", "Wanneer is de hertoets?"))
    assert first.ok and again.ok and again.duplicate
    assert len(read_outbox(outbox_dir)) == 1 and len(seeded_store.callback_requests()) == 1


def test_limits_hold_while_the_store_is_down(outbox_dir: Path) -> None:
    desk_ = limited_desk(DownStore(), OutboxMailer(outbox_dir), Clock(), per_hour=3)
    results = [desk_.submit(ask(f"conv-{n}", "Mag ik iemand spreken?")) for n in range(5)]
    assert [r.limited for r in results] == [False, False, False, True, True]
    assert len(read_outbox(outbox_dir)) == 3


@pytest.mark.parametrize(("verified", "line"), [(True, "Geverifieerd: ja"),
                                                 (False, "Geverifieerd: NEE")])
def test_the_care_desk_mail_says_whether_the_requester_was_verified(
    seeded_store: RecordsStore, outbox_dir: Path, verified: bool, line: str
) -> None:
    limited_desk(seeded_store, OutboxMailer(outbox_dir), Clock(), verified).submit(
        ask("conv-a", "Wanneer is de hertoets?"))
    assert line in read_outbox(outbox_dir)[0].body


def test_store_down_mail_says_verification_is_unknown(outbox_dir: Path) -> None:
    def verified_names(conversation_id: str) -> list[tuple[str, str, str]]:
        raise StoreUnavailable("down")

    down = CallbackDesk(
        DownStore(), OutboxMailer(outbox_dir), care_desk="zorg@compaen.example",
        mail_from=MAIL_FROM, hours=HOURS, tz=AMS, sender_hash=lambda s: "h" * 64,
        verified_names=verified_names, clock=lambda: START,
    )
    assert down.submit(request()).mailed
    assert "Geverifieerd: onbekend" in read_outbox(outbox_dir)[0].body


async def test_a_limited_request_tells_the_parent_to_contact_the_school(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    class Desk:
        def submit(self, request: CallbackInput) -> SubmitResult:
            return SubmitResult(False, False, "x", limited=True)

    monkeypatch.setattr(handoff, "get_desk", Desk)
    dispatcher = CollectingDispatcher()
    await ActionCallbackSubmit().run(dispatcher, form_tracker(FILLED), {})
    assert responses(dispatcher) == ["utter_callback_limited"]
    assert dispatcher.messages[0]["school_contact"] == settings.school_contact


def test_parallel_callback_requests_stay_within_the_hourly_limit(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    desk_ = limited_desk(seeded_store, OutboxMailer(outbox_dir), Clock(), per_hour=3)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda n: desk_.submit(ask(f"conv-{n}", "Bellen a.u.b.")),
                                range(12)))
    assert sum(r.ok for r in results) == 3 and sum(r.limited for r in results) == 9
    assert len(read_outbox(outbox_dir)) == 3


def test_an_english_parent_hears_english_and_the_care_desk_reads_dutch(
    seeded_store: RecordsStore, outbox_dir: Path
) -> None:
    from dataclasses import replace

    from core.texts import speaking
    from core.translations import render

    with speaking("en"):  # what the action's run does for an English conversation
        result = desk(seeded_store, OutboxMailer(outbox_dir)).submit(
            replace(request(), language="en"))
    monday = render("messages", "formats.weekdays", "en").text.split()[0]
    assert result.promise.startswith(monday), result.promise  # said to the parent
    [mail] = read_outbox(outbox_dir)
    assert "maandag tussen 8:30 en 16:00" in mail.body and monday not in mail.body
    assert "Taal van de ouder in het gesprek: Engels" in mail.body
    assert mail.body.startswith("Beste collega van de zorg")
