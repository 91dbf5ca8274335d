"""Messaging deliveries are processed at most once and at least once
(bot.channels.delivery.process_once): marked done only after the turn, released when
the turn raises (the provider's retry is processed), a lease while processing, and
remembered across a restart (SQLite in var/) so a replayed request is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels.delivery import (
    DEDUPE_TTL,
    PENDING_ATTEMPTS,
    Delivery,
    MemoryStore,
    PendingDeliveries,
    SqliteStore,
    TtlStore,
    process_once,
    sweep_pending,
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


# -- pending messages of a provider that does not retry (Twilio) ----------------------

SECRET = "unit-test-secret-0123456789abcdefghij"
FIELDS = {"From": "whatsapp:+31612340000", "Body": "Wat is lwoo?"}


class Answers:
    """The turns a node ran: the form fields each one got."""

    def __init__(self) -> None:
        self.fields: list[dict[str, str]] = []

    def work_for(self, fields: dict[str, str]):  # type: ignore[no-untyped-def]
        async def work() -> None:
            self.fields.append(fields)
        return work


async def test_a_pending_message_of_a_dead_node_is_processed_once(store: TtlStore) -> None:
    """Node A accepts a WhatsApp message, claims it and dies mid-turn (no Twilio retry).
    While its lease is held no other node touches it; once the lease expired any node's
    sweep processes it, exactly once, and forgets it."""
    pending = PendingDeliveries(store, "whatsapp", SECRET)
    ids = ["token:t-1", "sid:SM-1"]
    await pending.accept(ids, FIELDS)
    assert await store.add("delivery:whatsapp:token:t-1", 60, "processing")  # node A's claim
    answers = Answers()
    # too young, and its lease is held: nothing happens
    assert await sweep_pending(store, pending, "whatsapp", answers.work_for, lease=60) == 0
    assert await sweep_pending(store, pending, "whatsapp", answers.work_for, lease=0) == 0
    assert answers.fields == []
    await store.take("delivery:whatsapp:token:t-1")  # the lease expired
    assert await sweep_pending(store, pending, "whatsapp", answers.work_for, lease=0) == 1
    assert answers.fields == [FIELDS]
    assert await store.keys("pending:") == []
    # later sweeps and Twilio's retry (or a replay) do nothing more
    assert await sweep_pending(store, pending, "whatsapp", answers.work_for, lease=0) == 0
    assert await process_once(store, "whatsapp", ["token:t-1", "sid:SM-1"],
                              answers.work_for(FIELDS), lease=60) is Delivery.DUPLICATE
    assert answers.fields == [FIELDS]


async def test_pending_messages_are_encrypted_and_tried_a_bounded_number_of_times(
        store: TtlStore) -> None:
    pending = PendingDeliveries(store, "whatsapp", SECRET)
    await pending.accept(["sid:SM-2"], FIELDS)
    [key] = await store.keys("pending:whatsapp:")
    raw = await store.get(key)
    assert raw is not None and "31612340000" not in raw and "lwoo" not in raw
    calls = 0

    def failing(_: dict[str, str]):  # type: ignore[no-untyped-def]
        async def work() -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("the turn raised")
        return work

    for _ in range(PENDING_ATTEMPTS + 2):
        assert await sweep_pending(store, pending, "whatsapp", failing, lease=0) == 0
    assert calls == PENDING_ATTEMPTS
    assert await store.keys("pending:") == []  # given up (and logged), not kept forever
    # another HASH_SECRET cannot read it (and drops it instead of failing every sweep)
    await pending.accept(["sid:SM-3"], FIELDS)
    other = PendingDeliveries(store, "whatsapp", "another-secret-0123456789abcdefghijkl")
    assert await other.due(older_than=0) == []
    assert await store.keys("pending:") == []


async def test_a_turn_longer_than_its_lease_keeps_it(store: TtlStore) -> None:
    """The lease is renewed while the turn runs (e.g. waiting for a dead node's
    conversation lock): a retry during a long turn is busy, never run a second time."""
    import asyncio

    release = asyncio.Event()

    async def long_turn() -> None:
        await release.wait()

    first = asyncio.ensure_future(process_once(store, "telegram", ["3003"], long_turn, lease=1))
    await asyncio.sleep(2.5)  # more than twice the lease
    retry = Turns()
    assert await process_once(store, "telegram", ["3003"], retry, lease=1) is Delivery.BUSY
    assert retry.calls == 0
    release.set()
    assert await first is Delivery.PROCESSED
