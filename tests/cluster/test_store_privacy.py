"""Canary values typed into the verification form never reach the conversation store
in clear text — SQLite (the embedded default: the database files' bytes, WAL included)
and PostgreSQL (a private server: the events table and, after a CHECKPOINT, every byte
of its data directory, WAL included) — while the verification still works."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.support.bot import BotServer, start_bot, stop_bot
from tests.support.canary import CANARY
from tests.support.cluster import PrivatePostgres, start_bot_on_private_postgres

pytestmark = [pytest.mark.services]

DATABASE = "lwoo_privacy"
ASK_STATUS = "Kunt u opzoeken of mijn kind lwoo krijgt?"
IDENTICAL_REPLY = "Als het leerlingnummer en de geboortedatum kloppen"
NUMBER = CANARY["pupil_number"]  # 999001, born 2012-02-29
DATES = ("29-02-2012", "29 februari 2012", "29/02/2012", "2012-02-29")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_bot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, BotServer, PrivatePostgres | None]]:
    tmp = tmp_path_factory.mktemp(f"privacy-{request.param}")
    if request.param == "sqlite":
        server = start_bot(tmp)
        yield "sqlite", server, None
        stop_bot(server)
        return
    pg: PrivatePostgres = request.getfixturevalue("private_postgres")
    server = start_bot_on_private_postgres(tmp, pg, DATABASE)
    yield "postgresql", server, pg
    stop_bot(server)


def _verify(bot: BotServer) -> list[str]:
    """Four verifications of the canary pupil, each with the birth date in another
    format (and the number once inside a sentence); the last one completes with the code
    typed with a space. Returns every value typed."""
    typed: list[str] = []
    address = CANARY["email"]
    for index, birth in enumerate(DATES):
        sender = bot.new_sender("canary")
        assert "leerlingnummer" in bot.texts(bot.say(sender, ASK_STATUS))
        if index == 0:  # not a bare number: asked again, typed text still stored
            bot.say(sender, f"het is {NUMBER} denk ik")
            typed.append(f"het is {NUMBER} denk ik")
        assert "geboortedatum" in bot.texts(bot.say(sender, NUMBER))
        before = len(bot.outbox_codes(address))
        assert IDENTICAL_REPLY in bot.texts(bot.say(sender, birth))
        typed.append(birth)
        code = bot.wait_for_code(address, before)
        typed.append(code)
        if index < len(DATES) - 1:
            bot.say(sender, "stop")
            continue
        spaced = f"{code[:3]} {code[3:]}"
        assert CANARY["first_name"] in bot.texts(bot.say(sender, spaced))  # verified
        typed.append(spaced)
    return [NUMBER, *typed]


def _needles(typed: list[str]) -> list[re.Pattern[bytes]]:
    """Each value as stored text, JSON and UTF-16, not inside a longer run of digits (a
    6-digit code may occur by chance inside a timestamp)."""
    needles = []
    for value in typed:
        for form in (value.encode(), json.dumps(value).encode(),
                     value.encode("utf-16-le")):
            needles.append(re.compile(rb"(?<![0-9])" + re.escape(form) + rb"(?![0-9])"))
    return needles


def _assert_absent(raw: bytes, needles: list[re.Pattern[bytes]], where: str) -> None:
    for needle in needles:
        assert needle.search(raw) is None, (where, needle.pattern)


def test_canary_verification_data_is_not_in_the_store(
        store_bot: tuple[str, BotServer, PrivatePostgres | None]) -> None:
    kind, bot, pg = store_bot
    typed = _verify(bot)
    needles = _needles(typed)
    if kind == "sqlite":
        files = list((bot.var_dir).glob("conversations.db*"))
        assert files, list(bot.var_dir.iterdir())
        for path in files:
            _assert_absent(path.read_bytes(), needles, path.name)
        return
    assert pg is not None
    engine = sa.create_engine(pg.url(DATABASE), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT sender_id, type_name, intent_name, action_name, data FROM events"
            )).all()
            conn.execute(sa.text("CHECKPOINT"))
    finally:
        engine.dispose()
    assert len(rows) > 20
    dump = "\n".join(" ".join(str(c) for c in row) for row in rows)
    _assert_absent(dump.encode(), needles, "events table")  # a code may sit in a float
    # every byte PostgreSQL wrote (tables, indexes, WAL)
    files = [p for sub in ("base", "pg_wal") for p in (pg.data_dir / sub).rglob("*")
             if p.is_file()]
    assert files
    for path in files:
        _assert_absent(path.read_bytes(), needles, str(path))
