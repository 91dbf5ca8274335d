"""The Verifier: codes, identical replies, limits, siblings, portal grants, audit, faults."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.mail import MailUnavailable, OutboxMailer
from core.records import RecordsStore, verification_attempts
from core.verification import (
    CheckResult,
    CodeCheck,
    Limits,
    RequestResult,
    StoreUnavailable,
    Verifier,
    new_code,
    run_inline,
)
from tests.support.unit import (
    CANARY_BIRTH,
    CANARY_BIRTH_DMY,
    CANARY_NUMBER,
    HASH_SECRET,
    MAIL_FROM,
    FakeClock,
    assert_no_canary,
    read_outbox,
)

SANNE, DAAN, NOAH, TESS = "100231", "100232", "100245", "100318"
SANNE_BORN = "14-03-2013"
SANNE_BORN_ISO = "2013-03-14"
TESS_BORN = "02-04-2013"  # Tess has no parent e-mail on record


def make_verifier(store: RecordsStore, mailer, clock: FakeClock, **options) -> Verifier:
    return Verifier(store, mailer, HASH_SECRET, mail_from=MAIL_FROM, clock=clock,
                    dispatch=run_inline, **options)


def fixed_code_verifier(verifier: Verifier, code: str = "424242") -> Verifier:
    return make_verifier(verifier._store, verifier._mailer, verifier._clock,
                         code_factory=lambda: code)


def outcomes(store: RecordsStore, clock: FakeClock) -> list[str]:
    return [event.outcome for event in store.audit_since(clock.now - timedelta(days=1))]


# -- happy path --


def test_happy_path_verifies_the_parent_for_all_siblings(
    verifier: Verifier, outbox_dir: Path
) -> None:
    assert verifier.request_code("conv-1", "rest", SANNE, SANNE_BORN) is (
        RequestResult.CODE_REQUESTED
    )
    [mail] = read_outbox(outbox_dir)
    assert mail.to == "ouder.devries@example.org"
    assert verifier.check_code("conv-1", "rest", mail.code) == CodeCheck(CheckResult.VERIFIED)
    assert [p.first_name for p in verifier.verified_pupils("conv-1")] == ["Daan", "Sanne"]
    assert verifier.verified_pupils("conv-2") == []


def test_input_is_normalised(verifier: Verifier, outbox_dir: Path) -> None:
    assert verifier.request_code("c", "rest", " 100 231 ", SANNE_BORN_ISO) is (
        RequestResult.CODE_REQUESTED
    )
    code = read_outbox(outbox_dir)[0].code
    assert verifier.check_code("c", "rest", f" {code[:3]} {code[3:]} ").result is (
        CheckResult.VERIFIED
    )


def test_code_is_in_the_outbox_email_in_dutch(verifier: Verifier, outbox_dir: Path) -> None:
    verifier.request_code("conv", "rest", SANNE, SANNE_BORN)
    [mail] = read_outbox(outbox_dir)
    assert mail.path.stat().st_mode & 0o777 == 0o600
    assert "code" in mail.subject.lower()
    assert "10 minuten" in mail.body and "U heeft" in mail.body
    assert len(mail.code) == 6 and mail.code.isdigit()


def test_siblings_only_the_own_family(verifier: Verifier, outbox_dir: Path) -> None:
    verifier.request_code("conv", "rest", DAAN, "02-11-2011")
    verifier.check_code("conv", "rest", read_outbox(outbox_dir)[0].code)
    assert verifier.verified_pupil("conv", SANNE, "rest").first_name == "Sanne"  # type: ignore
    assert verifier.verified_pupil("conv", NOAH, "rest") is None
    assert verifier.verified_pupil("other-conv", SANNE, "rest") is None


def test_a_code_works_once(verifier: Verifier, outbox_dir: Path) -> None:
    verifier.request_code("conv", "rest", SANNE, SANNE_BORN)
    code = read_outbox(outbox_dir)[0].code
    assert verifier.check_code("conv", "rest", code).result is CheckResult.VERIFIED
    assert verifier.check_code("conv", "rest", code).result is CheckResult.NO_ATTEMPT


def test_a_code_only_works_in_its_own_conversation(verifier: Verifier, outbox_dir: Path) -> None:
    verifier.request_code("conv", "rest", SANNE, SANNE_BORN)
    verifier.request_code("thief", "rest", "999999", SANNE_BORN)
    code = read_outbox(outbox_dir)[0].code
    assert verifier.check_code("thief", "rest", code).result is CheckResult.WRONG_CODE
    assert verifier.verified_pupils("thief") == []


# -- identical replies --


def test_wrong_date_unknown_number_and_no_email_look_identical(
    verifier: Verifier, outbox_dir: Path, seeded_store: RecordsStore, clock: FakeClock
) -> None:
    results = [
        verifier.request_code("a", "rest", SANNE, SANNE_BORN),
        verifier.request_code("b", "rest", SANNE, "15-03-2013"),
        verifier.request_code("c", "rest", "999999", SANNE_BORN),
        verifier.request_code("d", "rest", TESS, TESS_BORN),
    ]
    assert len(set(results)) == 1 and results[0] is RequestResult.CODE_REQUESTED
    assert len(read_outbox(outbox_dir)) == 1  # only the real match got mail
    wrong = [verifier.check_code(c, "rest", "000000") for c in "abcd"]
    assert wrong == [CodeCheck(CheckResult.WRONG_CODE, 4)] * 4
    assert outcomes(seeded_store, clock)[:4] == ["code_sent", "no_match", "no_match", "no_email"]


def test_no_match_attempt_locks_exactly_like_a_real_one(verifier: Verifier) -> None:
    real = fixed_code_verifier(verifier)
    real.request_code("real", "rest", SANNE, SANNE_BORN)
    real.request_code("fake", "rest", "999999", SANNE_BORN)
    for _ in range(5):
        assert real.check_code("real", "rest", "111111") == real.check_code(
            "fake", "rest", "111111")
    assert real.check_code("fake", "rest", "424242").result is CheckResult.LOCKED


# -- wrong codes, expiry --


def test_five_wrong_codes_end_the_attempt(verifier: Verifier) -> None:
    fixed = fixed_code_verifier(verifier)
    fixed.request_code("conv", "rest", SANNE, SANNE_BORN)
    tries = [fixed.check_code("conv", "rest", "000000") for _ in range(5)]
    assert [t.tries_left for t in tries[:4]] == [4, 3, 2, 1]
    assert tries[4] == CodeCheck(CheckResult.LOCKED)
    assert fixed.check_code("conv", "rest", "424242").result is CheckResult.LOCKED
    assert fixed.verified_pupils("conv") == []


def test_malformed_code_does_not_cost_a_try(verifier: Verifier) -> None:
    fixed = fixed_code_verifier(verifier)
    fixed.request_code("conv", "rest", SANNE, SANNE_BORN)
    for text in ("12345", "abcdef", "1234567", "/verified{}", "' OR 1=1 --"):
        assert fixed.check_code("conv", "rest", text) == CodeCheck(CheckResult.INVALID_INPUT, 5)
    assert fixed.check_code("conv", "rest", "424242").result is CheckResult.VERIFIED


def test_code_expires_after_ten_minutes(verifier: Verifier, clock: FakeClock) -> None:
    fixed = fixed_code_verifier(verifier)
    fixed.request_code("early", "rest", SANNE, SANNE_BORN)
    fixed.request_code("late", "rest", SANNE, SANNE_BORN)
    clock.advance(minutes=9, seconds=59)
    assert fixed.check_code("early", "rest", "424242").result is CheckResult.VERIFIED
    clock.advance(seconds=1)
    assert fixed.check_code("late", "rest", "424242").result is CheckResult.EXPIRED
    assert fixed.check_code("late", "rest", "424242").result is CheckResult.NO_ATTEMPT
    assert fixed.verified_pupils("late") == []


def test_verification_expires_after_an_hour(verifier: Verifier, clock: FakeClock) -> None:
    fixed = fixed_code_verifier(verifier)
    fixed.request_code("conv", "rest", SANNE, SANNE_BORN)
    fixed.check_code("conv", "rest", "424242")
    clock.advance(minutes=59)
    assert len(fixed.verified_pupils("conv")) == 2
    clock.advance(minutes=1)
    assert fixed.verified_pupils("conv") == []


def test_new_request_replaces_the_old_code(
    verifier: Verifier, outbox_dir: Path, clock: FakeClock
) -> None:
    verifier.request_code("conv", "rest", SANNE, SANNE_BORN)
    clock.advance(minutes=2)  # after the retry window: a new request, a new code
    verifier.request_code("conv", "rest", SANNE, SANNE_BORN)
    first, second = read_outbox(outbox_dir)
    if first.code != second.code:
        assert verifier.check_code("conv", "rest", first.code).result is CheckResult.WRONG_CODE
    assert verifier.check_code("conv", "rest", second.code).result is CheckResult.VERIFIED


def test_clear_forgets_verification_and_pending_code(verifier: Verifier) -> None:
    fixed = fixed_code_verifier(verifier)
    fixed.request_code("a", "rest", SANNE, SANNE_BORN)
    fixed.check_code("a", "rest", "424242")
    fixed.request_code("b", "rest", NOAH, "21-07-2013")
    fixed.clear("a")
    fixed.clear("b")
    assert fixed.verified_pupils("a") == []
    assert fixed.check_code("b", "rest", "424242").result is CheckResult.NO_ATTEMPT


def test_check_without_request(verifier: Verifier) -> None:
    assert verifier.check_code("new", "rest", "123456") == CodeCheck(CheckResult.NO_ATTEMPT)


def test_invalid_request_input_looks_nothing_up(verifier: Verifier, outbox_dir: Path) -> None:
    for number, born in (("12345", SANNE_BORN), (SANNE, "30-02-2013"), ("abc", "gisteren")):
        assert verifier.request_code("conv", "rest", number, born) is RequestResult.INVALID_INPUT
    assert not outbox_dir.exists() or read_outbox(outbox_dir) == []


# -- rate limits --


def test_per_sender_limit(verifier: Verifier, clock: FakeClock) -> None:
    numbers = ["999991", "999992", "999993", SANNE]
    results = [verifier.request_code("conv", "rest", n, SANNE_BORN) for n in numbers]
    assert results[:3] == [RequestResult.CODE_REQUESTED] * 3
    assert results[3] is RequestResult.RATE_LIMITED
    clock.advance(hours=1, seconds=1)
    assert verifier.request_code("conv", "rest", SANNE, SANNE_BORN) is (
        RequestResult.CODE_REQUESTED
    )


@pytest.mark.parametrize(("number", "born"), [(SANNE, SANNE_BORN), (TESS, TESS_BORN)])
def test_per_pupil_code_limit_counts_matching_requests_alike_with_or_without_email(
    verifier: Verifier, number: str, born: str
) -> None:
    results = [verifier.request_code(f"sender-{i}", "rest", number, born) for i in range(7)]
    assert results == [RequestResult.CODE_REQUESTED] * 5 + [RequestResult.RATE_LIMITED] * 2


@pytest.mark.parametrize(("number", "born"), [("999999", SANNE_BORN), (SANNE, "01-01-2013")])
def test_wrong_dates_and_unknown_numbers_use_no_pupil_budget(
    verifier: Verifier, number: str, born: str
) -> None:
    results = [verifier.request_code(f"sender-{i}", "rest", number, born) for i in range(12)]
    assert results == [RequestResult.CODE_REQUESTED] * 12


def test_once_the_budget_is_spent_every_date_is_refused_alike(verifier: Verifier) -> None:
    for i in range(5):
        verifier.request_code(f"knows-date-{i}", "rest", SANNE, SANNE_BORN)
    # no oracle: the refusal does not depend on whether the typed date is right
    assert verifier.request_code("x", "rest", SANNE, "01-01-2013") is RequestResult.RATE_LIMITED
    assert verifier.request_code("y", "rest", SANNE, SANNE_BORN) is RequestResult.RATE_LIMITED


def test_strangers_with_wrong_dates_cannot_lock_the_parent_out(
    verifier: Verifier, outbox_dir: Path
) -> None:
    fixed = fixed_code_verifier(verifier)
    for i in range(50):
        assert fixed.request_code(f"stranger-{i}", "rest", SANNE, f"{1 + i % 28:02d}-01-2012") is (
            RequestResult.CODE_REQUESTED)
        for guess in ("000000", "111111", "222222", "333333", "444444"):
            fixed.check_code(f"stranger-{i}", "rest", guess)
    assert read_outbox(outbox_dir) == []
    assert fixed.request_code("parent", "rest", SANNE, SANNE_BORN) is (
        RequestResult.CODE_REQUESTED)
    assert len(read_outbox(outbox_dir)) == 1
    assert fixed.check_code("parent", "rest", "424242").result is CheckResult.VERIFIED


def test_a_retry_of_the_same_request_sends_no_second_mail(
    verifier: Verifier, outbox_dir: Path, clock: FakeClock, seeded_store: RecordsStore
) -> None:
    for _ in range(3):
        assert verifier.request_code("conv", "rest", SANNE, SANNE_BORN) is (
            RequestResult.CODE_REQUESTED)
    [mail] = read_outbox(outbox_dir)
    assert outcomes(seeded_store, clock) == ["code_sent", "duplicate_request",
                                             "duplicate_request"]
    assert verifier.check_code("conv", "rest", mail.code).result is CheckResult.VERIFIED
    # a retry is not a new request: it does not use up the conversation's limit
    clock.advance(minutes=2)
    assert verifier.request_code("conv", "rest", NOAH, "21-07-2013") is (
        RequestResult.CODE_REQUESTED)
    assert verifier.request_code("conv", "rest", DAAN, "02-11-2011") is (
        RequestResult.CODE_REQUESTED)


def test_code_guesses_per_day_per_pupil_and_in_total(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    limits = Limits(codes_per_pupil_per_day=50, guesses_per_pupil_per_day=10,
                    guesses_per_day=15)
    fixed = make_verifier(seeded_store, OutboxMailer(tmp_path / "o"), clock, limits=limits,
                          code_factory=lambda: "424242")
    fixed.request_code("late", "rest", SANNE, SANNE_BORN)
    fixed.request_code("daan", "rest", DAAN, "02-11-2011")
    counted = 0
    for i in range(4):  # attackers who know Sanne's birth date
        requested = fixed.request_code(f"a-{i}", "rest", SANNE, SANNE_BORN)
        assert requested is (RequestResult.CODE_REQUESTED if i < 2 else
                             RequestResult.RATE_LIMITED)
        checks = [fixed.check_code(f"a-{i}", "rest", f"{i}0000{n}") for n in range(5)]
        counted += sum(c.result in (CheckResult.WRONG_CODE, CheckResult.LOCKED) for c in checks)
    assert counted == 10
    # the pupil's budget is spent: even the right code is refused today
    assert fixed.check_code("late", "rest", "424242").result is CheckResult.RATE_LIMITED
    assert fixed.request_code("x", "rest", SANNE, "01-01-2013") is RequestResult.RATE_LIMITED
    # the school-wide budget: 5 more guesses on another pupil, then nobody
    fixed.request_code("b", "rest", NOAH, "21-07-2013")
    checks = [fixed.check_code("b", "rest", f"90000{n}") for n in range(5)]
    assert [c.result for c in checks] == [CheckResult.WRONG_CODE] * 4 + [CheckResult.LOCKED]
    assert fixed.check_code("daan", "rest", "424242").result is CheckResult.RATE_LIMITED
    assert fixed.request_code("d", "rest", DAAN, "02-11-2011") is RequestResult.RATE_LIMITED
    clock.advance(days=1)
    fixed.request_code("e", "rest", DAAN, "02-11-2011")
    assert fixed.check_code("e", "rest", "424242").result is CheckResult.VERIFIED


def test_guesses_per_conversation_per_day(verifier: Verifier, clock: FakeClock) -> None:
    fixed = fixed_code_verifier(verifier)
    results = []
    for hour in range(2):
        for number in ("999991", "999992", "999993"):
            fixed.request_code("conv", "rest", number, SANNE_BORN)
            results += [fixed.check_code("conv", "rest", "000000").result for _ in range(5)]
        clock.advance(hours=1)
    assert results.count(CheckResult.WRONG_CODE) + results.count(CheckResult.LOCKED) == 15
    assert results[15:] == [CheckResult.RATE_LIMITED] * 15


def test_brute_force_across_twenty_senders_fails(verifier: Verifier) -> None:
    fixed = fixed_code_verifier(verifier, "424242")
    requests = [fixed.request_code(f"attacker-{i}", "rest", SANNE, SANNE_BORN)
                for i in range(20)]
    assert requests.count(RequestResult.RATE_LIMITED) == 15
    guesses = (f"{n:06d}" for n in range(1_000_000))
    checks = [fixed.check_code(f"attacker-{i}", "rest", next(guesses))
              for _ in range(5) for i in range(20)]
    wrong = [c for c in checks if c.result is CheckResult.WRONG_CODE]
    assert len(wrong) + sum(c.result is CheckResult.LOCKED for c in checks) <= 10
    assert any(c.result is CheckResult.RATE_LIMITED for c in checks)
    # even the right code is refused now, from every sender
    finals = {fixed.check_code(f"attacker-{i}", "rest", "424242").result for i in range(20)}
    assert CheckResult.VERIFIED not in finals
    assert all(fixed.verified_pupils(f"attacker-{i}") == [] for i in range(20))
    assert fixed.request_code("parent", "rest", SANNE, SANNE_BORN) is RequestResult.RATE_LIMITED


def test_custom_limits(seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock) -> None:
    strict = make_verifier(seeded_store, OutboxMailer(tmp_path / "o"), clock,
                           limits=Limits(requests_per_sender=1))
    assert strict.request_code("c", "rest", SANNE, SANNE_BORN) is RequestResult.CODE_REQUESTED
    assert strict.request_code("c", "rest", NOAH, SANNE_BORN) is RequestResult.RATE_LIMITED


# -- storage --


def test_codes_are_hashed_at_rest(verifier: Verifier, outbox_dir: Path,
                                  seeded_store: RecordsStore) -> None:
    verifier.request_code("conv-secret-id", "rest", SANNE, SANNE_BORN)
    code = read_outbox(outbox_dir)[0].code
    with seeded_store._transaction("test") as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(verification_attempts))]
    assert len(rows) == 1
    assert rows[0]["code_hash"] != code and len(rows[0]["code_hash"]) == 64
    assert code not in repr(rows) and "conv-secret-id" not in repr(rows)


def test_codes_are_random_six_digits() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 150


# -- portal --


def test_portal_grant(verifier: Verifier, clock: FakeClock) -> None:
    verifier.grant_portal("portal-conv", [NOAH, "999999", "junk"], "parent-17",
                          clock.now + timedelta(minutes=5))
    assert [p.first_name for p in verifier.verified_pupils("portal-conv")] == ["Noah"]
    clock.advance(minutes=5)
    assert verifier.verified_pupils("portal-conv") == []


def test_portal_grant_is_capped_at_the_session_time(verifier: Verifier, clock: FakeClock) -> None:
    verifier.grant_portal("p", [NOAH], "parent-17", clock.now + timedelta(days=2))
    clock.advance(minutes=60)
    assert verifier.verified_pupils("p") == []


# -- audit --


def test_every_request_and_check_is_audited(
    verifier: Verifier, seeded_store: RecordsStore, clock: FakeClock
) -> None:
    fixed = fixed_code_verifier(verifier)
    fixed.request_code("conv", "telegram", SANNE, SANNE_BORN)
    fixed.check_code("conv", "telegram", "000000")
    fixed.check_code("conv", "telegram", "424242")
    fixed.verified_pupil("conv", DAAN, "telegram")
    fixed.request_code("conv", "telegram", "hallo ik ben Jan", SANNE_BORN)
    before = seeded_store.audit_since(clock.now - timedelta(days=1))
    assert [e.outcome for e in before] == [
        "code_sent", "wrong_code", "verified", "status_shown", "invalid_input",
    ]
    assert {e.channel for e in before} == {"telegram"}
    assert {e.sender_hash for e in before} == {fixed.sender_hash("conv")}
    assert fixed.sender_hash("conv") != "conv" and len(fixed.sender_hash("conv")) == 64
    assert [e.pupil_number for e in before] == [SANNE, SANNE, SANNE, DAAN, None]
    fixed.check_code("conv", "telegram", "000000")
    after = seeded_store.audit_since(clock.now - timedelta(days=1))
    assert after[: len(before)] == before and len(after) == len(before) + 1


def test_typed_unknown_numbers_are_audited_as_typed(
    verifier: Verifier, seeded_store: RecordsStore, clock: FakeClock
) -> None:
    verifier.request_code("conv", "rest", "123456", SANNE_BORN)
    [event] = seeded_store.audit_since(clock.now - timedelta(days=1))
    assert (event.pupil_number, event.outcome) == ("123456", "no_match")


# -- faults --


class DownMailer:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def check_available(self) -> None:
        raise MailUnavailable("mail server unavailable")

    def send(self, message: EmailMessage) -> None:
        raise MailUnavailable("mail server unavailable")


class FlakyMailer(DownMailer):
    def check_available(self) -> None:
        return None


@pytest.mark.parametrize(("number", "born"), [(SANNE, SANNE_BORN), ("999999", SANNE_BORN),
                                              (TESS, TESS_BORN)])
def test_mail_down_is_reported_before_any_lookup(
    seeded_store: RecordsStore, clock: FakeClock, number: str, born: str
) -> None:
    down = make_verifier(seeded_store, DownMailer(), clock)
    with pytest.raises(MailUnavailable):
        down.request_code("conv", "rest", number, born)
    assert seeded_store.latest_attempt(down.sender_hash("conv")) is None
    assert outcomes(seeded_store, clock) == ["mail_unavailable"]


def test_mail_failing_after_the_check_still_gives_the_same_reply(
    seeded_store: RecordsStore, clock: FakeClock
) -> None:
    flaky = make_verifier(seeded_store, FlakyMailer(), clock)
    assert flaky.request_code("conv", "rest", SANNE, SANNE_BORN) is RequestResult.CODE_REQUESTED
    assert outcomes(seeded_store, clock) == ["code_sent", "mail_failed"]


def test_store_down_raises_store_unavailable_quickly(tmp_path: Path, clock: FakeClock) -> None:
    down = RecordsStore("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    verifier = make_verifier(down, OutboxMailer(tmp_path / "o"), clock)
    started = time.monotonic()
    for call in (lambda: verifier.request_code("c", "rest", CANARY_NUMBER, CANARY_BIRTH_DMY),
                 lambda: verifier.check_code("c", "rest", "123456"),
                 lambda: verifier.verified_pupils("c")):
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert_no_canary(str(raised.value))
    assert time.monotonic() - started < 5


def test_background_dispatch_sends_the_mail(seeded_store: RecordsStore, tmp_path: Path,
                                            clock: FakeClock) -> None:
    outbox = tmp_path / "bg"
    verifier = Verifier(seeded_store, OutboxMailer(outbox), HASH_SECRET, mail_from=MAIL_FROM,
                        clock=clock)
    verifier.request_code("conv", "rest", SANNE, SANNE_BORN)
    deadline = time.monotonic() + 5
    while not list(outbox.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(read_outbox(outbox)) == 1


def test_empty_hash_secret_is_refused(seeded_store: RecordsStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Verifier(seeded_store, OutboxMailer(tmp_path), "", mail_from=MAIL_FROM)


# -- no personal data in logs --


def test_no_personal_data_in_logs(
    verifier: Verifier, seeded_store: RecordsStore, clock: FakeClock, outbox_dir: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    born = CANARY_BIRTH.strftime("%d-%m-%Y")
    verifier.request_code("canary-conv", "rest", CANARY_NUMBER, born)
    code = read_outbox(outbox_dir)[0].code
    verifier.check_code("canary-conv", "rest", "000000")
    verifier.check_code("canary-conv", "rest", code)
    verifier.verified_pupil("canary-conv", CANARY_NUMBER, "rest")
    make_verifier(seeded_store, FlakyMailer(), clock).request_code(
        "canary-2", "rest", CANARY_NUMBER, born)
    with pytest.raises(StoreUnavailable):
        make_verifier(RecordsStore("postgresql+psycopg2://x@127.0.0.1:1/none"),
                      DownMailer(), clock).check_code("canary-3", "rest", code)
    with pytest.raises(MailUnavailable) as raised:
        make_verifier(seeded_store, DownMailer(), clock).request_code(
            "canary-4", "rest", CANARY_NUMBER, born)
    assert_no_canary(str(raised.value))
    assert caplog.records, "expected some log output (mail failure, store down)"
    assert_no_canary(caplog.text)
    assert code not in caplog.text


class CountingMailer(OutboxMailer):
    """The outbox, counting how often a mail server session would be opened."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.sessions = 0

    def check_available(self) -> None:
        self.sessions += 1
        super().check_available()

    def send(self, message: EmailMessage) -> None:
        self.sessions += 1
        super().send(message)


def test_no_mail_session_for_a_request_a_limit_refuses(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    mailer = CountingMailer(tmp_path / "o")
    verifier = make_verifier(seeded_store, mailer, clock)
    for number in ("999991", "999992", "999993"):
        verifier.request_code("conv", "rest", number, SANNE_BORN)
    opened = mailer.sessions
    for number in ("999994", SANNE, NOAH):  # the conversation's limit refuses these
        assert verifier.request_code("conv", "rest", number, SANNE_BORN) is (
            RequestResult.RATE_LIMITED)
    assert mailer.sessions == opened
    for i in range(5):
        verifier.request_code(f"c-{i}", "rest", DAAN, "02-11-2011")
    opened = mailer.sessions
    assert verifier.request_code("other", "rest", DAAN, "01-01-2011") is (
        RequestResult.RATE_LIMITED)  # the pupil's limit, whatever the date
    assert mailer.sessions == opened


def test_an_address_shared_by_more_than_four_pupils_gets_no_code_and_no_grant(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    from dataclasses import replace

    sanne = seeded_store.get_pupil(SANNE)
    assert sanne is not None
    placeholder = [replace(sanne, pupil_number=f"2000{i:02d}", parent_email="Info@School.example")
                   for i in range(5)]
    seeded_store.upsert_pupils(placeholder)
    outbox = tmp_path / "o"
    fixed = make_verifier(seeded_store, OutboxMailer(outbox), clock,
                          code_factory=lambda: "424242")
    # the same reply as always, but no mail and so no way in
    assert fixed.request_code("conv", "rest", "200001", SANNE_BORN) is (
        RequestResult.CODE_REQUESTED)
    assert not outbox.exists() or read_outbox(outbox) == []
    assert fixed.check_code("conv", "rest", "424242").result is CheckResult.WRONG_CODE
    assert outcomes(seeded_store, clock)[0] == "shared_email"
    # four pupils on one address are a family: still fine
    seeded_store.upsert_pupils([replace(placeholder[0], parent_email="other@example.org")])
    assert fixed.request_code("conv2", "rest", "200002", SANNE_BORN) is (
        RequestResult.CODE_REQUESTED)
    assert len(read_outbox(outbox)) == 1
    assert fixed.check_code("conv2", "rest", "424242").result is CheckResult.VERIFIED
    assert len(fixed.verified_pupils("conv2")) == 4


def test_a_portal_token_works_for_one_conversation_only(
    verifier: Verifier, clock: FakeClock, seeded_store: RecordsStore
) -> None:
    from core.verification import PortalTokenReplayed

    expires = clock.now + timedelta(minutes=10)
    verifier.grant_portal("first", [NOAH], "parent-17", expires, "web", "jti-0001-aaaa")
    # the same connection again (reconnect, new session): still fine
    verifier.grant_portal("first", [NOAH], "parent-17", expires, "web", "jti-0001-aaaa")
    with pytest.raises(PortalTokenReplayed):
        verifier.grant_portal("thief", [NOAH], "parent-17", expires, "web", "jti-0001-aaaa")
    assert verifier.verified_pupils("thief") == []
    assert [p.first_name for p in verifier.verified_pupils("first")] == ["Noah"]
    assert "portal_token_replayed" in outcomes(seeded_store, clock)
    # the record is in the shared database: another node (a new verifier) refuses too
    other_node = make_verifier(seeded_store, verifier._mailer, clock)
    with pytest.raises(PortalTokenReplayed):
        other_node.grant_portal("thief-2", [NOAH], "p", expires, "web", "jti-0001-aaaa")
    other_node.grant_portal("new", [NOAH], "p", expires, "web", "jti-0002-bbbb")


@pytest.mark.parametrize("weak", ["qwerty1", "short-but-not-32-chars", "a" * 40,
                                  "ab" * 20])
def test_a_weak_hash_secret_refuses_to_start(
    weak: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("HASH_SECRET", weak)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="HASH_SECRET is too weak") as raised:
            get_settings()
        assert weak not in str(raised.value)
    finally:
        get_settings.cache_clear()


def test_every_purpose_has_its_own_derived_key(verifier: Verifier) -> None:
    import hashlib
    import hmac as hmac_module

    conversation = verifier.sender_hash("conv")
    # not the raw secret with a purpose prefix: a key derived per purpose
    raw = hmac_module.new(HASH_SECRET.encode(), b"conversation\x00conv",
                          hashlib.sha256).hexdigest()
    assert conversation != raw
    assert verifier._key("conversation") != verifier._key("code")
    assert verifier._hmac("conversation", "x") != verifier._hmac("parent", "x")
