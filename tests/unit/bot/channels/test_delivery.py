"""Messaging deliveries are processed at most once and at least once
(bot.channels.delivery.process_once): marked done only after the turn, released when
the turn raises (the provider's retry is processed), a lease while processing, and
remembered across a restart (SQLite in var/) so a replayed request is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels.delivery import (
    DEDUPE_TTL,
    Delivery,
    MemoryStore,
    SqliteStore,
    TtlStore,
    process_once,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TtlStore:
    return MemoryStore() if request.param == "memory" else SqliteStore(
        str(tmp_path / "channels.db"))


class Turns:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls = 0
        self.fail_first = fail_first

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("node died mid-turn")


async def test_a_retry_after_a_failed_turn_is_processed(store: TtlStore) -> None:
    turn = Turns(fail_first=1)
    with pytest.raises(RuntimeError):
        await process_once(store, "telegram", ["1001"], turn)
    # Telegram retries the same update_id: processed, not dropped as a duplicate
    assert await process_once(store, "telegram", ["1001"], turn) is Delivery.PROCESSED
    assert turn.calls == 2
    assert await process_once(store, "telegram", ["1001"], turn) is Delivery.DUPLICATE
    assert turn.calls == 2


async def test_a_delivery_being_processed_is_busy_not_done(store: TtlStore) -> None:
    import asyncio

    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    first = asyncio.ensure_future(process_once(store, "telegram", ["2002"], slow))
    await started.wait()
    assert await process_once(store, "telegram", ["2002"], Turns()) is Delivery.BUSY
    release.set()
    assert await first is Delivery.PROCESSED


async def test_twilio_token_and_sid_both_refuse_a_second_delivery(store: TtlStore) -> None:
    turn = Turns()
    ids = ["token:abc", "sid:SM1"]
    assert await process_once(store, "whatsapp", ids, turn) is Delivery.PROCESSED
    # Twilio's retry: same token; a replay of the captured request: same sid
    assert await process_once(store, "whatsapp", ["token:abc", "sid:SM1"], turn) \
        is Delivery.DUPLICATE
    assert await process_once(store, "whatsapp", ["sid:SM1"], turn) is Delivery.DUPLICATE
    assert await process_once(store, "whatsapp", ["token:new", "sid:SM1"], turn) \
        is Delivery.DUPLICATE
    assert turn.calls == 1


async def test_a_replay_after_a_restart_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "channels.db")
    turn = Turns()
    assert await process_once(SqliteStore(path), "whatsapp", ["sid:SM9"], turn) \
        is Delivery.PROCESSED
    restarted = SqliteStore(path)  # a new process on the same var/
    assert await process_once(restarted, "whatsapp", ["sid:SM9"], turn) is Delivery.DUPLICATE
    assert turn.calls == 1
    assert DEDUPE_TTL > 24 * 3600  # beyond Twilio's 24 h retry window


async def test_sqlite_store_expires_and_takes(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "c.db"))
    assert await store.add("k", -1) is True  # already expired
    assert await store.add("k", 60) is True  # an expired row does not count
    assert await store.add("k", 60) is False
    await store.put("b", "v", 60)
    assert await store.get("b") == "v"
    assert await store.take("b") == "v"
    assert await store.take("b") is None
    assert (tmp_path / "c.db").stat().st_mode & 0o077 == 0
