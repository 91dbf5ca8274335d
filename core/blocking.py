"""A bounded pool for the action server's blocking work (database, mail).

``asyncio.to_thread`` uses the loop's default executor, whose queue has no bound: when
the database or the mail server hangs, every new action queues behind the hung ones,
and ``asyncio.wait_for`` only stops *waiting* -- the thread still runs. Here at most
``workers`` calls run and at most ``queue`` more wait in the executor; a call beyond
that waits for a free slot at most ``wait`` seconds (and never longer than its own time
limit, which the wait counts against), then is refused with :class:`PoolBusy` (a
``TimeoutError``, so the actions' fault handling gives the parent the Dutch "storing"
message within the time limit). A burst of parents at once (50 status questions in the
same second) so waits a few milliseconds instead of getting "storing"; a hung database
still cannot pile up threads. A slot is given back only when the thread has really
finished.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")


class PoolBusy(TimeoutError):
    """Every worker and queue slot is taken; the call was not started."""


class BlockingPool:
    """At most ``workers`` blocking calls at a time, ``queue`` more waiting."""

    def __init__(self, workers: int, queue: int, wait: float = 0.0) -> None:
        if workers < 1 or queue < 0 or wait < 0:
            raise ValueError("workers must be >= 1, queue >= 0 and wait >= 0")
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="blocking")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._wait = wait

    async def _acquire(self, wait: float) -> bool:
        """A slot, waiting at most ``wait`` seconds. Slots are given back by the worker
        threads, so this polls (from 1 ms, doubling to 20 ms) instead of awaiting."""
        if self._slots.acquire(blocking=False):
            return True
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + wait, 0.001
        while loop.time() < deadline:
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0)))
            if self._slots.acquire(blocking=False):
                return True
            pause = min(pause * 2, 0.02)
        return False

    async def run(self, func: Callable[..., T], *args: Any, timeout: float) -> T:
        """Run ``func(*args)`` in the pool; ``asyncio.TimeoutError`` after ``timeout``
        (the wait for a slot included)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if not await self._acquire(min(self._wait, timeout)):
            raise PoolBusy("blocking pool is full")
        timeout = max(timeout - (loop.time() - started), 0.001)

        # the caller's context goes along (as asyncio.to_thread does): e.g. the language
        # the conversation speaks (core.texts.speaking), so a code mail is in it
        context = contextvars.copy_context()

        def job() -> T:
            try:
                return context.run(func, *args)
            finally:
                self._slots.release()

        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, job)
        except BaseException:
            self._slots.release()
            raise
        return await asyncio.wait_for(future, timeout=timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@lru_cache(maxsize=1)
def get_pool() -> BlockingPool:
    """The action server's pool, sized by ``BLOCKING_WORKERS`` / ``BLOCKING_QUEUE``,
    waiting ``BLOCKING_WAIT_MS`` for a slot."""
    from core.settings import get_settings

    settings = get_settings()
    return BlockingPool(settings.blocking_workers, settings.blocking_queue,
                        settings.blocking_wait_ms / 1000)


async def run_blocking(func: Callable[..., T], *args: Any, timeout: float) -> T:
    """``func(*args)`` in the process-wide bounded pool, with a time limit."""
    return await get_pool().run(func, *args, timeout=timeout)
