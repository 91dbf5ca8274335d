"""A bounded pool for the action server's blocking work (database, mail).

``asyncio.to_thread`` uses the loop's default executor, whose queue has no bound: when
the database or the mail server hangs, every new action queues behind the hung ones,
and ``asyncio.wait_for`` only stops *waiting* -- the thread still runs. Here at most
``workers`` calls run and at most ``queue`` more wait; a call beyond that is refused at
once with :class:`PoolBusy` (a ``TimeoutError``, so the actions' fault handling gives the
parent the Dutch "storing" message within the time limit). A slot is given back only
when the thread has really finished, so hung calls can never pile up without bound.
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

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("workers must be >= 1 and queue >= 0")
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="blocking")
        self._slots = threading.BoundedSemaphore(workers + queue)

    async def run(self, func: Callable[..., T], *args: Any, timeout: float) -> T:
        """Run ``func(*args)`` in the pool; ``asyncio.TimeoutError`` after ``timeout``."""
        if not self._slots.acquire(blocking=False):
            raise PoolBusy("blocking pool is full")

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
    """The action server's pool, sized by ``BLOCKING_WORKERS`` / ``BLOCKING_QUEUE``."""
    from core.settings import get_settings

    settings = get_settings()
    return BlockingPool(settings.blocking_workers, settings.blocking_queue)


async def run_blocking(func: Callable[..., T], *args: Any, timeout: float) -> T:
    """``func(*args)`` in the process-wide bounded pool, with a time limit."""
    return await get_pool().run(func, *args, timeout=timeout)
