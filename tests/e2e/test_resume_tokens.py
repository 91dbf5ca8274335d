"""Resume tokens of the website widget are bearer credentials (issue 12, item 3): reuse
of a captured token against the real bot (action server + Rasa, records in SQLite).

A token resumes once; it is rotated when the parent is verified (a token captured
before can never open the verified conversation), revoked by "Gesprek wissen", expires
server-side after WIDGET_RESUME_TTL_S and only works from the origin it was issued for;
the legitimate client always resumes with its newest token."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.channels.socketio import issue_resume_token
from core.mail import OutboxMailer
from core.records import RecordsStore
from core.texts import text as msg
from core.verification import Verifier
from tests.support.bot import BotServer
from tests.support.canary import CANARY
from tests.support.widget_client import SocketioTestClient

pytestmark = pytest.mark.e2e

HASH_SECRET = "e2e-test-secret-0123456789abcdefghij"  # what start_bot sets
SCHOOL_ORIGIN = "https://www.compaen.example"
TTL_S = 120  # WIDGET_RESUME_TTL_S of this bot
IDENTICAL_REPLY = "Als het leerlingnummer en de geboortedatum kloppen"
CANARY_BIRTH = "29-02-2012"


BOT_ENV = {
    "ALLOWED_ORIGINS": SCHOOL_ORIGIN,
    "WIDGET_RESUME_TTL_S": str(TTL_S),
}  # the module's bot: the `server` fixture (conftest)


@pytest.fixture
def clients(server: BotServer) -> Iterator[Any]:
    made: list[SocketioTestClient] = []

    def make(token: str | None = None, origin: str = SCHOOL_ORIGIN) -> SocketioTestClient:
        auth = {"resume_token": token} if token is not None else None
        client = SocketioTestClient(server.base_url, origin=origin, auth=auth)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def conversation_of(token: str) -> str:
    return token.split(".")[0]


def started(clients: Any) -> SocketioTestClient:
    """A widget with a conversation of one turn."""
    client = clients()
    client.confirm()
    assert client.say("Wat is lwoo?")
    return client


def resume(clients: Any, token: str, origin: str = SCHOOL_ORIGIN) -> tuple[Any, dict]:
    client = clients(token, origin)
    return client, client.confirm()


def verify_by_code(server: BotServer, client: SocketioTestClient) -> str:
    """The e-mail code flow in the widget, for the canary pupil; the status text."""
    before = len(server.outbox_codes(CANARY["email"]))
    assert "leerlingnummer" in "\n".join(client.say("Kunt u opzoeken of mijn kind lwoo krijgt?"))
    assert "geboortedatum" in "\n".join(client.say(CANARY["pupil_number"]))
    assert IDENTICAL_REPLY in "\n".join(client.say(CANARY_BIRTH))
    code = server.wait_for_code(CANARY["email"], before)
    return "\n".join(client.say(code))


def shift_last_use(server: BotServer, conversation: str, seconds_ago: float) -> None:
    """Pretend the conversation's last turn was ``seconds_ago`` (server-side state)."""
    verifier = Verifier(RecordsStore(f"sqlite:///{server.var_dir / 'records.db'}"),
                        OutboxMailer(server.var_dir / "test-outbox"), HASH_SECRET,
                        mail_from="test@example.invalid")
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    with sqlite3.connect(server.var_dir / "records.db") as conn:
        changed = conn.execute(
            "UPDATE resume_tokens SET updated_at = ? WHERE conversation_hash = ?",
            (moment.replace(tzinfo=None).isoformat(sep=" "),
             verifier.sender_hash(conversation))).rowcount
    assert changed == 1


def test_the_legitimate_client_resumes_with_its_newest_token(clients: Any) -> None:
    client = started(clients)
    conversation = conversation_of(client.resume_token)
    for _ in range(2):  # reload, talk, reload again
        token = client.resume_token
        client.close()
        client, confirm = resume(clients, token)
        assert confirm["resumed"] is True
        assert conversation_of(confirm["resume_token"]) == conversation
        assert confirm["resume_token"] != token  # a resume hands out a new token
        assert client.say("Wie beslist over lwoo?")


def test_a_captured_token_works_only_once(clients: Any) -> None:
    """The parent reloads first: the copy an attacker captured is worthless."""
    client = started(clients)
    captured = client.resume_token
    client.close()
    parent, confirm = resume(clients, captured)
    assert confirm["resumed"] is True
    _, stolen = resume(clients, captured)
    assert stolen["resumed"] is False
    assert conversation_of(stolen["resume_token"]) != conversation_of(captured)
    assert parent.say("Dank u wel")  # the parent goes on undisturbed


def test_the_holder_of_a_conversation_taken_over_is_told_and_closed(clients: Any) -> None:
    """The attacker is first: the parent's connection notices at its next message (on
    any node: the records store decides) and is closed with a Dutch notice; it never
    sees the attacker's answers, nor the attacker the parent's."""
    parent = started(clients)
    attacker, confirm = resume(clients, parent.resume_token)
    assert confirm["resumed"] is True
    seen_by_parent = len(parent.bot_messages)
    assert attacker.say("Is lwoo een rugzak?")
    time.sleep(0.5)
    assert len(parent.bot_messages) == seen_by_parent  # answers go to the asker only
    answer = parent.say("Wie beslist over lwoo?")
    assert answer == [msg("widget.taken_over")]
    parent.wait_for("disconnect", timeout=10)
    assert not any(msg("widget.taken_over") in m.get("text", "")
                   for m in attacker.bot_messages)  # nothing of the parent's turn


def test_a_token_captured_before_verification_never_reaches_the_verified_conversation(
        server: BotServer, clients: Any) -> None:
    parent = started(clients)
    captured = parent.resume_token  # e.g. read from sessionStorage before the login
    status = verify_by_code(server, parent)
    assert CANARY["first_name"] in status, status
    assert parent.resume_token != captured  # rotated by the verification
    parent.close()

    intruder, confirm = resume(clients, captured)
    assert confirm["resumed"] is False
    assert conversation_of(confirm["resume_token"]) != conversation_of(captured)
    texts = "\n".join(intruder.say("/ask_status"))
    assert CANARY["first_name"] not in texts and "leerlingnummer" in texts

    # the parent, with the token it got after the verification, goes on verified
    again, confirm = resume(clients, parent.resume_token)
    assert confirm["resumed"] is True
    assert CANARY["first_name"] in "\n".join(again.say("/ask_status"))


def test_clear_conversation_revokes_the_token_server_side(clients: Any) -> None:
    """"Gesprek wissen": the token the tab had (and every copy) stops working."""
    client = started(clients)
    token = client.resume_token
    client.sio.emit("end_session", {})
    client.wait_for("disconnect", timeout=10)
    _, confirm = resume(clients, token)
    assert confirm["resumed"] is False
    assert conversation_of(confirm["resume_token"]) != conversation_of(token)


def test_tokens_expire_after_the_configured_lifetime(server: BotServer,
                                                      clients: Any) -> None:
    client = started(clients)
    token = client.resume_token
    conversation, token_id = token.split(".")[:2]
    client.close()
    # a token (correctly signed) issued longer ago than WIDGET_RESUME_TTL_S
    old = issue_resume_token(conversation, token_id, HASH_SECRET,
                             now=time.time() - TTL_S - 30, origin=SCHOOL_ORIGIN)
    _, confirm = resume(clients, old)
    assert confirm["resumed"] is False
    # server-side: the conversation's last turn was longer ago than the lifetime
    shift_last_use(server, conversation, TTL_S + 30)
    _, confirm = resume(clients, token)
    assert confirm["resumed"] is False


def test_a_token_from_another_origin_is_refused(server: BotServer, clients: Any) -> None:
    client = started(clients)
    token = client.resume_token
    client.close()
    _, confirm = resume(clients, token, origin=server.base_url)  # the /chat page's origin
    assert confirm["resumed"] is False
    _, confirm = resume(clients, token)  # control: the origin it was issued for
    assert confirm["resumed"] is True


def test_with_the_records_database_down_a_resume_fails_closed_and_answers_come(
        server: BotServer, clients: Any) -> None:
    """The store that decides is unavailable (here: locked by another writer, so every
    call runs into its time limit): no resume, but the parent is still answered."""
    client = started(clients)
    token = client.resume_token
    client.close()
    lock = sqlite3.connect(server.var_dir / "records.db", timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        started_at = time.monotonic()
        fresh, confirm = resume(clients, token)
        assert time.monotonic() - started_at < 8
        assert confirm["resumed"] is False
        assert conversation_of(confirm["resume_token"]) != conversation_of(token)
        assert "Leerwegondersteunend onderwijs" in "\n".join(fresh.say("Wat is lwoo?"))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert fresh.say("Wie beslist over lwoo?")  # and on after the store is back
