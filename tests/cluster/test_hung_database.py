"""A PostgreSQL that hangs instead of refusing: the Rasa process keeps answering.

A real bot (``python -m bot run``) keeps its conversations in a PRIVATE PostgreSQL
server (``private_postgres``: initdb + pg_ctl on a free port), which the tests freeze
with SIGSTOP or block with ``LOCK TABLE events IN ACCESS EXCLUSIVE MODE`` held by
another connection. Meanwhile every parent gets the Dutch "storing" reply within 5 s,
another conversation is answered the same way and the health check answers at once
(the event loop is free). After SIGCONT / the lock's release the conversation goes on
where it was and everything the parent was told is in PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.support.bot import BotServer, Told, stop_bot
from tests.support.cluster import (
    NOT_PROCESSED,
    PrivatePostgres,
    start_bot_on_private_postgres,
)

pytestmark = [pytest.mark.services]

DATABASE = "lwoo_hang"
ASK_STATUS = "Kunt u opzoeken of mijn kind lwoo krijgt?"
IDENTICAL_REPLY = "Als het leerlingnummer en de geboortedatum kloppen"
FINN = ("100284", "17-09-2013", "smit.ouders@example.org", "Finn")
REPLY_WITHIN_S = 5.0
HEALTH_WITHIN_S = 1.0



@pytest.fixture(scope="module")
def hung_bot(tmp_path_factory: pytest.TempPathFactory,
             private_postgres: PrivatePostgres) -> Iterator[BotServer]:
    server = start_bot_on_private_postgres(tmp_path_factory.mktemp("hung"), private_postgres,
                                           DATABASE)
    yield server
    stop_bot(server)


def _events(pg: PrivatePostgres, sender: str) -> list[dict]:
    engine = sa.create_engine(pg.url(DATABASE), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}).all()
    finally:
        engine.dispose()
    return [json.loads(row[0]) for row in rows]


def _post(bot: BotServer, sender: str, text: str, timeout: float = 30
          ) -> tuple[int, list[dict], float]:
    started = time.monotonic()
    try:
        status, body = bot.post({"sender": sender, "message": text}, timeout=timeout)
    except OSError:  # no HTTP answer in time
        return 0, [], time.monotonic() - started
    return status, body if isinstance(body, list) else [], time.monotonic() - started


def _health(bot: BotServer) -> float:
    """Seconds until Rasa's ``/`` answers (inf when it does not within 3 s)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(bot.base_url + "/", timeout=3) as resp:  # noqa: S310
            assert resp.status == 200
    except OSError:
        return float("inf")
    return time.monotonic() - started


class _Outage:
    """During a database hang: the verifying parent, a second conversation and the
    health check, all at once."""

    def __init__(self, bot: BotServer, sender: str, text: str) -> None:
        self.bot = bot
        self.results: dict[str, tuple[int, list[dict], float]] = {}
        self.health: list[float] = []
        self._jobs = [
            threading.Thread(target=self._say, args=("parent", sender, text)),
            threading.Thread(target=self._say, args=("other", bot.new_sender("other"),
                                                     "Wat is lwoo?")),
        ]

    def _say(self, who: str, sender: str, text: str) -> None:
        self.results[who] = _post(self.bot, sender, text)

    def run(self) -> None:
        for job in self._jobs:
            job.start()
        time.sleep(0.3)  # both turns are now waiting for the database
        while any(job.is_alive() for job in self._jobs) and len(self.health) < 40:
            self.health.append(_health(self.bot))
            time.sleep(0.2)
        for job in self._jobs:
            job.join(timeout=40)

    def check(self) -> None:
        for who, (status, body, seconds) in self.results.items():
            assert status == 200, (who, status, body)
            assert NOT_PROCESSED in BotServer.texts(body), (who, body)
            assert seconds < REPLY_WITHIN_S, (who, seconds)
        assert set(self.results) == {"parent", "other"}
        assert self.health, "no health check ran during the outage"
        assert max(self.health) < HEALTH_WITHIN_S, self.health


def _until_processed(bot: BotServer, sender: str, text: str, timeout: float = 30
                     ) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = _post(bot, sender, text)
        assert status == 200 and body, (status, body)
        if NOT_PROCESSED not in BotServer.texts(body):
            return body
        assert time.monotonic() < deadline, "the bot did not recover"
        time.sleep(0.5)


def _verify_through_outage(bot: BotServer, pg: PrivatePostgres, hang: object,
                           release: object) -> None:
    """Start the verification, hang the database at the birth date, release it, finish
    the verification; everything the parent was told is stored, refused turns are not."""
    sender = bot.new_sender("hang")
    number, birth, address, name = FINN
    keep = Told()

    assert "leerlingnummer" in keep(bot.say(sender, ASK_STATUS))
    assert "geboortedatum" in keep(bot.say(sender, number))
    outage = _Outage(bot, sender, birth)
    handle = hang()  # type: ignore[operator]
    try:
        outage.run()
    finally:
        release(handle)  # type: ignore[operator]
    outage.check()
    before = len(bot.outbox_codes(address))
    # the conversation goes on where it was: the form still waits for the birth date
    assert IDENTICAL_REPLY in keep(_until_processed(bot, sender, birth))
    code = bot.wait_for_code(address, before)
    assert name in keep(bot.say(sender, code))
    events = _events(pg, sender)
    assert [e.get("text") or "" for e in events if e["event"] == "bot"] == keep.texts
    users = [e["text"] for e in events if e["event"] == "user"]
    assert len(users) == 4 and users[0] == ASK_STATUS  # refused turns were not stored


def test_sigstopped_postgres(hung_bot: BotServer, private_postgres: PrivatePostgres) -> None:
    _verify_through_outage(hung_bot, private_postgres, private_postgres.freeze,
                           private_postgres.thaw)


def test_events_table_locked(hung_bot: BotServer, private_postgres: PrivatePostgres) -> None:
    engine = sa.create_engine(private_postgres.url(DATABASE))

    def lock() -> tuple[sa.engine.Connection, sa.engine.Transaction]:
        conn = engine.connect()
        transaction = conn.begin()
        conn.execute(sa.text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        return conn, transaction

    def release(held: tuple[sa.engine.Connection, sa.engine.Transaction]) -> None:
        held[1].rollback()
        held[0].close()

    try:
        _verify_through_outage(hung_bot, private_postgres, lock, release)
    finally:
        engine.dispose()



async def test_a_hung_records_database_ties_up_only_its_own_threads(
        private_postgres: PrivatePostgres) -> None:
    """The action server's records store on a SIGSTOPped PostgreSQL: every status call
    ends within its time limit (the Dutch "technische storing"), the event loop and
    asyncio's shared thread pool stay free, and after SIGCONT the store works again."""
    import asyncio

    from actions.status import CALL_TIMEOUT, call
    from core.records import RecordsStore

    engine = sa.create_engine(private_postgres.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text('CREATE DATABASE "lwoo_hang_records"'))
    engine.dispose()
    store = RecordsStore(private_postgres.url("lwoo_hang_records"))
    assert store.count_pupils() == 0  # tables made, a pooled connection exists
    pids = private_postgres.freeze()
    try:
        started = time.monotonic()
        calls = asyncio.gather(*(call(store.get_pupil, "100284") for _ in range(12)),
                               return_exceptions=True)
        await asyncio.sleep(0.2)  # every records thread now waits for the database
        # meanwhile other blocking work of the action server (mail, files) gets a thread
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), timeout=0.5) == "free"
        results = await calls
        assert all(isinstance(r, asyncio.TimeoutError) for r in results), results
        assert time.monotonic() - started < CALL_TIMEOUT + 1.5
    finally:
        private_postgres.thaw(pids)
    deadline = time.monotonic() + 20
    while True:
        try:
            assert await call(store.get_pupil, "100284") is None
            break
        except (asyncio.TimeoutError, Exception):
            assert time.monotonic() < deadline, "the records store did not recover"
            await asyncio.sleep(0.5)
    store.dispose()
