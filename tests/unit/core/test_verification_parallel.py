"""Verification limits under PARALLEL attempts, on SQLite and PostgreSQL.

A barrier in the store makes every thread pass the read-only checks before any of them
writes, which is exactly the window a check-then-act limit loses. The limits must hold
anyway, because they are consumed by single atomic statements.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from core.mail import OutboxMailer
from core.records import RecordsStore, verification_attempts
from core.verification import CheckResult, RequestResult, Verifier, run_inline
from tests.support.unit import HASH_SECRET, MAIL_FROM, FakeClock, read_outbox

SANNE, SANNE_BORN = "100231", "14-03-2013"
T = TypeVar("T")


class BarrierStore:
    """The real store; ``method`` waits at a barrier after it returned."""

    def __init__(self, store: RecordsStore, method: str, parties: int) -> None:
        self._store = store
        self._method = method
        self.barrier = threading.Barrier(parties, timeout=20)
        self._count_lock = threading.Lock()
        self._calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name != self._method:
            return attribute

        def waiting(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            with self._count_lock:
                self._calls += 1
                first_round = self._calls <= self.barrier.parties
            if first_round:  # only the first `parties` calls meet at the barrier
                self.barrier.wait()
            return result

        return waiting


def verifier_on(store: Any, outbox: Path, clock: FakeClock, code: str = "424242") -> Verifier:
    return Verifier(store, OutboxMailer(outbox), HASH_SECRET, mail_from=MAIL_FROM,
                    clock=clock, dispatch=run_inline, code_factory=lambda: code)


def racing_verifier(store: RecordsStore, tmp_path: Path, clock: FakeClock, method: str,
                    parties: int) -> tuple[Verifier, Path]:
    """A verifier whose store lets the first ``parties`` calls of ``method`` meet at a
    barrier, and the outbox it mails to."""
    outbox = tmp_path / "outbox"
    return verifier_on(BarrierStore(store, method, parties), outbox, clock), outbox


def in_parallel(calls: list[Callable[[], T]], workers: int = 0) -> list[T]:
    with ThreadPoolExecutor(max_workers=workers or len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result(timeout=60) for future in futures]


def test_parallel_right_date_requests_mail_at_most_the_daily_codes(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    verifier, outbox = racing_verifier(seeded_store, tmp_path, clock, "get_pupil",
                                       parties=20)
    results = in_parallel([
        (lambda i=i: verifier.request_code(f"attacker-{i}", "rest", SANNE, SANNE_BORN))
        for i in range(20)
    ])
    assert results.count(RequestResult.CODE_REQUESTED) == 5
    assert results.count(RequestResult.RATE_LIMITED) == 15
    assert len(read_outbox(outbox)) == 5


def test_fifty_parallel_wrong_dates_do_not_lock_the_parent_out(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    verifier, outbox = racing_verifier(seeded_store, tmp_path, clock, "get_pupil",
                                       parties=25)

    def wrong_date(i: int) -> str:
        return f"{1 + i % 28:02d}-{1 + i % 12:02d}-2012"

    requests = in_parallel([
        (lambda i=i: verifier.request_code(f"stranger-{i}", "rest", SANNE, wrong_date(i)))
        for i in range(50)
    ], workers=25)
    assert set(requests) == {RequestResult.CODE_REQUESTED}
    guesses = in_parallel([
        (lambda i=i: [verifier.check_code(f"stranger-{i}", "rest", f"{i:03d}{n:03d}").result
                      for n in range(5)])
        for i in range(50)
    ], workers=10)
    assert {result for batch in guesses for result in batch} == {
        CheckResult.WRONG_CODE, CheckResult.LOCKED}
    assert read_outbox(outbox) == []
    honest = verifier_on(seeded_store, outbox, clock)
    assert honest.request_code("parent", "rest", SANNE, SANNE_BORN) is (
        RequestResult.CODE_REQUESTED)
    assert len(read_outbox(outbox)) == 1
    assert honest.check_code("parent", "rest", "424242").result is CheckResult.VERIFIED


def test_parallel_code_guesses_stay_within_the_pupil_budget(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    outbox = tmp_path / "outbox"
    setup = verifier_on(seeded_store, outbox, clock)
    senders = [f"knows-date-{i}" for i in range(5)]
    for sender in senders:  # five real codes: the daily maximum for one pupil
        assert setup.request_code(sender, "rest", SANNE, SANNE_BORN) is (
            RequestResult.CODE_REQUESTED)
    verifier, _ = racing_verifier(seeded_store, tmp_path, clock, "latest_attempt",
                                  parties=25)
    guesses = [(lambda s=sender, n=n: verifier.check_code(s, "rest", f"{n:06d}").result)
               for sender in senders for n in range(5)]
    results = in_parallel(guesses)
    assert results.count(CheckResult.WRONG_CODE) <= 10
    with seeded_store._transaction("test") as conn:
        tries = conn.execute(sa.select(sa.func.sum(verification_attempts.c.failed_tries))
                             .where(verification_attempts.c.pupil_number == SANNE)).scalar()
    assert tries == 10  # exactly the budget was compared, not one guess more
    assert CheckResult.RATE_LIMITED in results
    # the budget is spent for the day: the right code is refused everywhere
    assert {setup.check_code(s, "rest", "424242").result for s in senders} <= {
        CheckResult.RATE_LIMITED, CheckResult.LOCKED}


def test_parallel_guesses_on_one_code_get_five_tries(
    seeded_store: RecordsStore, tmp_path: Path, clock: FakeClock
) -> None:
    outbox = tmp_path / "outbox"
    verifier_on(seeded_store, outbox, clock).request_code("conv", "rest", SANNE, SANNE_BORN)
    verifier, _ = racing_verifier(seeded_store, tmp_path, clock, "latest_attempt",
                                  parties=20)
    results = in_parallel([(lambda n=n: verifier.check_code("conv", "rest", f"{n:06d}"))
                           for n in range(20)])
    assert sum(r.result is CheckResult.WRONG_CODE for r in results) == 4
    assert sorted(r.tries_left for r in results if r.result is CheckResult.WRONG_CODE) == [
        1, 2, 3, 4]
    assert {r.result for r in results} == {CheckResult.WRONG_CODE, CheckResult.LOCKED}
    honest = verifier_on(seeded_store, outbox, clock)
    assert honest.check_code("conv", "rest", "424242").result is CheckResult.LOCKED
