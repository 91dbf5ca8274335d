"""REST rate limits in a cluster are one budget for all nodes and workers
(bot.channels.common.SharedRateLimiter, Redis), not the limit times the processes."""

from __future__ import annotations

import asyncio

from bot.channels.common import LocalRateLimiter, SharedRateLimiter
from tests.support.ports import free_port

SECRET = "unit-secret-0123456789abcdefghijklmn"


async def test_two_nodes_share_one_budget(redis_url: str) -> None:
    node1 = SharedRateLimiter(redis_url, "sender", 3, SECRET)
    node2 = SharedRateLimiter(redis_url, "sender", 3, SECRET)
    results = await asyncio.gather(*(limiter.allow("integratie-1")
                                     for limiter in [node1, node2] * 4))
    assert sum(results) == 3  # per process it would have been 3 + 3
    assert await node2.allow("integratie-2")  # another sender has its own budget
    # per-process limiters, for comparison: each process lets the limit through
    local1, local2 = LocalRateLimiter(3), LocalRateLimiter(3)
    assert sum([await l.allow("x") for l in [local1, local2] * 4]) == 6  # noqa: E741
    # the sender id is not stored, only an HMAC; every key expires
    keys = await node1._redis.keys("*")
    assert keys and all("integratie" not in k for k in keys)
    assert all([await node1._redis.ttl(k) > 0 for k in keys])


async def test_redis_down_falls_back_to_the_process_limit() -> None:
    limiter = SharedRateLimiter(f"redis://127.0.0.1:{free_port()}/0", "address", 2, SECRET)
    assert [await limiter.allow("10.0.0.7") for _ in range(3)] == [True, True, False]
