"""The bounded pool for blocking work: hung calls cannot pile up without bound."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from core.blocking import BlockingPool, PoolBusy


async def test_runs_calls_and_returns_their_result() -> None:
    pool = BlockingPool(workers=2, queue=0)
    assert await pool.run(lambda a, b: a + b, 2, 3, timeout=1) == 5


async def test_a_full_pool_refuses_at_once_and_frees_slots_only_when_threads_end() -> None:
    pool = BlockingPool(workers=1, queue=1)
    release = threading.Event()
    # two hung calls: one running, one queued; both time out for the caller ...
    for _ in range(2):
        with pytest.raises(asyncio.TimeoutError):
            await pool.run(release.wait, 10, timeout=0.1)
    # ... but their threads still hold the pool: a third call is refused immediately
    started = time.monotonic()
    with pytest.raises(PoolBusy):
        await pool.run(lambda: "never", timeout=5)
    assert time.monotonic() - started < 0.05
    assert isinstance(PoolBusy(), TimeoutError)  # the actions' fault handling catches it
    release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert await pool.run(lambda: "ok", timeout=1) == "ok"
            break
        except PoolBusy:
            await asyncio.sleep(0.02)
    else:
        pytest.fail("slots were not given back after the hung calls ended")
    pool.shutdown()


async def test_an_exception_gives_the_slot_back() -> None:
    pool = BlockingPool(workers=1, queue=0)

    def fail() -> None:
        raise ValueError("boom")

    for _ in range(3):
        with pytest.raises(ValueError):
            await pool.run(fail, timeout=1)


async def test_a_burst_waits_for_a_slot_instead_of_being_refused() -> None:
    """50 parents asking for their status in the same second: each lookup is quick, but
    there are more at once than workers + queue. With a wait they all get their answer;
    without one (as before BLOCKING_WAIT_MS) part of them got "storing"."""

    def lookup() -> str:
        time.sleep(0.005)
        return "ok"

    waiting = BlockingPool(workers=2, queue=2, wait=1.0)
    results = await asyncio.gather(*(waiting.run(lookup, timeout=2.5) for _ in range(50)),
                                   return_exceptions=True)
    assert results == ["ok"] * 50
    refusing = BlockingPool(workers=2, queue=2, wait=0.0)
    results = await asyncio.gather(*(refusing.run(lookup, timeout=2.5) for _ in range(50)),
                                   return_exceptions=True)
    assert sum(isinstance(r, PoolBusy) for r in results) >= 40
    waiting.shutdown()
    refusing.shutdown()


@pytest.mark.parametrize("wait, timeout, expected", [(0.2, 5.0, 0.2), (5.0, 0.1, 0.1)])
async def test_a_pool_held_by_hung_calls_refuses_after_the_wait_within_the_time_limit(
        wait: float, timeout: float, expected: float) -> None:
    pool = BlockingPool(workers=1, queue=0, wait=wait)
    release = threading.Event()
    with pytest.raises(asyncio.TimeoutError):
        await pool.run(release.wait, 10, timeout=0.05)
    started = time.monotonic()
    with pytest.raises(PoolBusy):
        await pool.run(lambda: "never", timeout=timeout)
    assert expected * 0.9 <= time.monotonic() - started < expected + 0.3
    release.set()
    # a slot freed while a call waits is taken by it; the wait counts against its limit
    assert await BlockingPool(workers=1, queue=0, wait=1.0).run(lambda: 1, timeout=1) == 1
    pool.shutdown()


def test_the_wait_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import load_settings

    assert load_settings({}).blocking_wait_ms == 1000
    assert load_settings({"BLOCKING_WAIT_MS": "0"}).blocking_wait_ms == 0
    with pytest.raises(ValueError, match="BLOCKING_WAIT_MS"):
        load_settings({"BLOCKING_WAIT_MS": "60000"})
