"""The cluster's building blocks without starting the cluster: the resilient tracker
store's retries, FailSafeTrackerStore letting an outage through, the channels' Dutch
"not processed" answer, the atomic Redis ticket lock, the profile's ${VAR} defaults
and the nginx template."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.tracker_store import (
    ResilientSQLTrackerStore,
    TrackerStoreUnavailable,
    not_processed_message,
)
from tests.support.cluster import REDIS_LOCK_DB, Redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> ResilientSQLTrackerStore:
    from rasa.shared.core.domain import Domain

    return ResilientSQLTrackerStore(Domain.empty(), dialect="sqlite",
                                    db=str(tmp_path / "events.db"), retry_seconds=0.5)


def _operational_error() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, ConnectionError("server closed"))


async def test_transient_errors_are_retried(sqlite_store: ResilientSQLTrackerStore) -> None:
    calls = []

    def flaky(_state: object) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _operational_error()
        return "ok"

    assert await sqlite_store._with_retries("save", flaky) == "ok"
    assert len(calls) == 3


async def test_a_lasting_outage_raises_within_the_budget(
        sqlite_store: ResilientSQLTrackerStore) -> None:
    import time

    def down(_state: object) -> None:
        raise _operational_error()

    started = time.monotonic()
    with pytest.raises(TrackerStoreUnavailable):
        await sqlite_store._with_retries("retrieve", down)
    assert 0.4 < time.monotonic() - started < 2.0


async def test_programming_errors_are_not_retried(
        sqlite_store: ResilientSQLTrackerStore) -> None:
    calls = []

    def broken(_state: object) -> None:
        calls.append(1)
        raise sa.exc.ProgrammingError("SELECT nope", {}, Exception("syntax"))

    with pytest.raises(sa.exc.ProgrammingError):
        await sqlite_store._with_retries("save", broken)
    assert len(calls) == 1


async def test_failsafe_lets_only_outages_through(
        sqlite_store: ResilientSQLTrackerStore) -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    failsafe = FailSafeTrackerStore(sqlite_store)

    async def outage(sender_id: str) -> None:
        raise TrackerStoreUnavailable("down")

    async def other(sender_id: str) -> None:
        raise RuntimeError("something else")

    sqlite_store.retrieve = outage  # type: ignore[method-assign]
    with pytest.raises(TrackerStoreUnavailable):
        await failsafe.retrieve("x")
    sqlite_store.retrieve = other  # type: ignore[method-assign]
    assert await failsafe.retrieve("x") is None  # Rasa's own behaviour, unchanged


async def test_rest_channel_does_not_show_an_answer_that_was_not_stored() -> None:
    from rasa.core.channels.channel import UserMessage

    from bot.channels.rest import RestInput

    async def answered_then_lost(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "Een antwoord")
        raise TrackerStoreUnavailable("save failed")

    reply = await RestInput().handle(answered_then_lost, "ouder-1", "Wat is lwoo?")
    assert [m["text"] for m in reply] == [not_processed_message()]


def test_every_endpoint_variable_of_the_profile_has_a_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.run import child_env, endpoints_file
    from core.settings import load_settings, rasa_env

    lines = (PROJECT_ROOT / "endpoints.cluster.yml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    names = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    assert names
    for name in list(names) + ["PROFILE", "ENDPOINTS", "RECORDS_DB_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROFILE", "cluster")
    cluster = load_settings(os.environ)
    env = child_env(cluster)
    missing = sorted(n for n in names - {"ACTION_ENDPOINT_URL"} if n not in env)
    assert not missing
    assert endpoints_file(cluster).name == "endpoints.cluster.yml"
    assert env["RECORDS_DB_URL"].startswith("postgresql")
    assert int(env["SANIC_WORKERS"]) > 1
    monkeypatch.delenv("PROFILE")
    embedded = load_settings(os.environ)
    assert endpoints_file(embedded).name == "endpoints.yml"  # the embedded default is unchanged
    assert "RECORDS_DB_URL" not in rasa_env(embedded) and embedded.sanic_workers == 1


def test_nginx_template_renders_and_nginx_accepts_it(tmp_path: Path,
                                                      nginx_binary: str) -> None:
    from bot.cluster import ClusterConfig, Node, render_nginx_conf

    config = ClusterConfig(tmp_path, "127.0.0.1", 18080, 18060,
                           (Node(1, 18011, 18061), Node(2, 18012, 18062)))
    text = render_nginx_conf(config)
    assert "{{" not in text
    assert text.count("server 127.0.0.1:18011") == 2  # round-robin and sticky
    assert "hash $remote_addr consistent" in text
    for sub in ("logs", "nginx"):
        (tmp_path / sub).mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    check = subprocess.run([nginx_binary, "-t", "-p", str(tmp_path), "-c", str(conf),
                            "-e", str(tmp_path / "logs" / "error.log")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_ticket_lock_is_atomic_across_clients(redis_server: Redis) -> None:
    """Twenty clients take a ticket for one conversation at the same moment: twenty
    different tickets, served one after the other (Rasa's stock store can hand out
    the same ticket twice)."""
    from bot.lock_store import AtomicRedisLockStore

    stores = [AtomicRedisLockStore(host=redis_server.host, port=redis_server.port,
                                   db=REDIS_LOCK_DB, key_prefix="unittest")
              for _ in range(20)]
    conversation = "atomic-lock-test"
    stores[0].red.delete(stores[0].key_prefix + conversation)
    barrier = threading.Barrier(len(stores))
    tickets: list[int] = []

    def take(store: Any) -> None:
        barrier.wait()
        tickets.append(store.issue_ticket(conversation, 30))

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    try:
        assert sorted(tickets) == list(range(20))
        lock = stores[0].get_lock(conversation)
        assert lock is not None and lock.now_serving == 0
        assert 0 < stores[0].red.ttl(stores[0].key_prefix + conversation) <= 3600  # expires
        for number in range(20):
            stores[number].cleanup(conversation, number)
        assert stores[0].get_lock(conversation) is None  # the last one deletes the lock
    finally:
        stores[0].red.delete(stores[0].key_prefix + conversation)
        for store in stores:
            store.red.close()


async def test_a_hung_redis_never_blocks_the_event_loop(
        private_redis: tuple[Redis, int]) -> None:
    """Redis SIGSTOPped: three conversations that want a lock at once each get
    LockStoreUnavailable (the Dutch "storing" reply) within the socket timeout, and the
    event loop keeps running meanwhile (health checks, other conversations)."""
    import asyncio
    import os
    import signal
    import time

    from bot.lock_store import AtomicRedisLockStore, LockStoreUnavailable

    server, pid = private_redis
    store = AtomicRedisLockStore(host=server.host, port=server.port, db=0,
                                 key_prefix="hang", socket_timeout=1.0)
    async with store.lock("warm-up"):  # a pooled connection exists
        pass
    lags: list[float] = []
    running = True

    async def heartbeat() -> None:
        while running:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - before - 0.05)

    async def turn(conversation: str) -> float:
        started = time.monotonic()
        with pytest.raises(LockStoreUnavailable):
            async with store.lock(conversation):
                pass
        return time.monotonic() - started

    beat = asyncio.ensure_future(heartbeat())
    os.kill(pid, signal.SIGSTOP)
    try:
        took = await asyncio.gather(*(turn(f"parent-{n}") for n in range(3)))
    finally:
        os.kill(pid, signal.SIGCONT)
        running = False
        await beat
    assert max(took) < 2.5, took
    assert max(lags) < 0.3, max(lags)
    async with store.lock("after"):  # Redis is back: locks work again
        pass
    store.red.close()
