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
