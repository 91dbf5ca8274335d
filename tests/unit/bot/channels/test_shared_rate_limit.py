"""REST rate limits in a cluster are one budget for all nodes and workers
(bot.channels.common.SharedRateLimiter, Redis), not the limit times the processes."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from bot.channels.common import LocalRateLimiter, SharedRateLimiter
from tests.support.ci import running_in_ci

SECRET = "unit-secret-0123456789abcdefghijklmn"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    binary = shutil.which("redis-server")
    if binary is None:
        if running_in_ci():
            pytest.fail("redis-server not installed; CI=true requires it", pytrace=False)
        pytest.skip("redis-server not installed; set CI=true to make this a failure")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port, socket_timeout=1)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.exceptions.RedisError:
                import time

                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
    limiter = SharedRateLimiter(f"redis://127.0.0.1:{_free_port()}/0", "address", 2, SECRET)
    assert [await limiter.allow("10.0.0.7") for _ in range(3)] == [True, True, False]
