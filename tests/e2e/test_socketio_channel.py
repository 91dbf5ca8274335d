"""The website channel (bot.channels.socketio) at socket level, against the real bot.

One bot for this module, with an extra allowed origin and a portal JWT secret. The
python-socketio client talks WebSocket only, like the widget; ``Origin`` is set the way a
browser sets it (one header, chosen by the test)."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import socketio

from bot.channels.common import too_long_reply
from bot.channels.socketio import (
    RATE_LIMIT_MESSAGES,
    issue_resume_token,
)
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
PORTAL_SECRET = "portal-e2e-secret-with-at-least-32-bytes!"
AUDIENCE, ISSUER = "lwoo-assistent", "compaen-ouderportaal"
LWOO_ANSWER = "Leerwegondersteunend onderwijs"
# a sentence that must never reach a log file
SECRET_SENTENCE = "Mijn dochter Zwaluwstaartje heeft dyslexie en woont op Kanariedijk 77"


BOT_ENV = {
    "ALLOWED_ORIGINS": SCHOOL_ORIGIN,
    "PORTAL_JWT_SECRET": PORTAL_SECRET,
}  # the module's bot: the `server` fixture (conftest)


@pytest.fixture(scope="module")
def verifier(server: BotServer) -> Verifier:
    """Reads the bot's records store the way the status action does."""
    store = RecordsStore(f"sqlite:///{server.var_dir / 'records.db'}")
    return Verifier(store, OutboxMailer(server.var_dir / "test-outbox"), HASH_SECRET,
                    mail_from="test@example.invalid")


class WidgetClient(SocketioTestClient):
    """The test client with this module's default Origin (the school's website)."""

    def __init__(self, base_url: str, origin: str | None = SCHOOL_ORIGIN,
                 auth: dict[str, Any] | None = None) -> None:
        super().__init__(base_url, origin=origin, auth=auth)


@pytest.fixture
def clients(server: BotServer) -> Iterator[Any]:
    made: list[WidgetClient] = []

    def make(**kwargs: Any) -> WidgetClient:
        client = WidgetClient(server.base_url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def conversation_of(confirm: dict[str, Any]) -> str:
    return str(confirm["resume_token"]).split(".")[0]


def portal_token(pupils: list[str], expires_in: int = 600, secret: str = PORTAL_SECRET,
                 audience: str = AUDIENCE) -> str:
    claims = {"sub": "ouder-e2e-1", "pupils": pupils, "aud": audience, "iss": ISSUER,
              "iat": int(time.time()), "exp": int(time.time()) + expires_in,
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")


def user_texts(server: BotServer, conversation_id: str) -> list[str]:
    """What the tracker store recorded as user messages of one conversation."""
    db = Path(server.env.get("TRACKER_DB_PATH", server.var_dir / "conversations.db"))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'",
                            (conversation_id,)).fetchall()
    return [json.loads(row[0]).get("text") or "" for row in rows]


# -- the conversation id belongs to the server -----------------------------------------

def test_server_chooses_the_conversation_id(clients: Any) -> None:
    client = clients()
    confirm = client.confirm({"session_id": "my-own-choice"})
    assert conversation_of(confirm).startswith("web-")
    assert conversation_of(confirm) != "my-own-choice"
    assert confirm["resumed"] is False and confirm["portal"] is False
    assert LWOO_ANSWER in "\n".join(client.say("Wat is lwoo?"))


def test_session_request_cannot_join_another_conversation(server: BotServer,
                                                          clients: Any) -> None:
    alice = clients()
    alice_id = conversation_of(alice.confirm())
    assert LWOO_ANSWER in "\n".join(alice.say("Wat is lwoo?"))

    mallory = clients()
    confirm = mallory.confirm({"session_id": alice_id})
    mallory_id = conversation_of(confirm)
    assert mallory_id != alice_id
    # the stock channel takes session_id from each message: ours ignores it
    mallory.say("Hallo, ik ben Mallory", session_id=alice_id,
                metadata={"session_id": alice_id})
    # a forged resume token for Alice's conversation does not work either
    forged = WidgetClient(server.base_url, auth={
        "resume_token": f"{alice_id}.{'0' * 32}.{int(time.time())}.{'0' * 64}"})
    try:
        assert conversation_of(forged.confirm()) not in (alice_id, mallory_id)
    finally:
        forged.close()

    alice_answer = "\n".join(alice.say("Waarom wordt mijn kind opnieuw getoetst?"))
    time.sleep(1)
    assert alice_answer
    assert alice_answer not in mallory.texts()
    assert LWOO_ANSWER not in mallory.texts()
    assert "Mallory" not in " ".join(user_texts(server, alice_id))
    assert "Hallo, ik ben Mallory" in user_texts(server, mallory_id)


def test_resume_token_continues_the_same_conversation(server: BotServer,
                                                      clients: Any) -> None:
    first = clients()
    first.confirm()
    first.say("Wat is lwoo?")
    token = first.resume_token  # the newest one, as the widget keeps it
    first.close()

    again = clients(auth={"resume_token": token})
    confirm = again.confirm()
    assert confirm["resumed"] is True
    assert conversation_of(confirm) == conversation_of({"resume_token": token})
    assert again.say("Dank u wel")
    assert user_texts(server, conversation_of(confirm))[-2:] == ["Wat is lwoo?", "Dank u wel"]


def test_expired_or_tampered_resume_token_starts_a_new_conversation(clients: Any) -> None:
    first = clients()
    conversation = conversation_of(first.confirm())
    token_id = first.resume_token.split(".")[1]
    old = issue_resume_token(conversation, token_id, HASH_SECRET, now=time.time() - 2 * 3600,
                             origin=SCHOOL_ORIGIN)
    other_secret = issue_resume_token(conversation, token_id, "not-the-server-secret",
                                      origin=SCHOOL_ORIGIN)
    for token in (old, other_secret, "garbage", conversation):
        client = clients(auth={"resume_token": token})
        confirm = client.confirm()
        assert confirm["resumed"] is False
        assert conversation_of(confirm) != conversation


# -- Origin -----------------------------------------------------------------------------

def test_allowed_origins_connect(server: BotServer, clients: Any) -> None:
    assert clients(origin=SCHOOL_ORIGIN).confirm()["resumed"] is False
    assert clients(origin=server.base_url).confirm()["resumed"] is False  # the /chat page


@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "https://www.compaen.example.evil.example",
    "http://www.compaen.example",  # scheme matters
    "null",
    None,  # no Origin header at all
])
def test_other_origins_are_refused(server: BotServer, origin: str | None) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        WidgetClient(server.base_url, origin=origin)


def test_polling_transport_is_not_offered(server: BotServer) -> None:
    url = server.base_url + "/socket.io/?EIO=4&transport=polling"
    req = urllib.request.Request(url, headers={"Origin": SCHOOL_ORIGIN})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400


# -- portal token -----------------------------------------------------------------------

def test_valid_portal_token_grants_server_side(clients: Any, verifier: Verifier) -> None:
    client = clients(auth={"portal_token": portal_token([CANARY["pupil_number"]])})
    confirm = client.confirm()
    assert confirm["portal"] is True
    assert CANARY["pupil_number"] not in json.dumps(confirm)  # claims stay on the server
    conversation = conversation_of(confirm)
    granted = [p.pupil_number for p in verifier.verified_pupils(conversation)]
    assert granted == [CANARY["pupil_number"]]
    # Rasa's session start (first message) clears verification: the grant must survive it
    client.say("Wat is lwoo?")
    granted = [p.pupil_number for p in verifier.verified_pupils(conversation)]
    assert granted == [CANARY["pupil_number"]]
    # the portal parent sees the status at once: no pupil number, no e-mail code
    status = "\n".join(client.say("/ask_status"))
    assert CANARY["first_name"] in status and CANARY["mentor"] in status, status
    assert "leerlingnummer" not in status


@pytest.mark.parametrize("token", [
    portal_token(["999001"], expires_in=-3600),  # expired
    portal_token(["999001"], secret="another-secret-that-is-also-32-bytes-long"),  # forged
    portal_token(["999001"], audience="another-app"),
    "not-a-jwt",
])
def test_bad_portal_token_connects_without_grant_and_says_so(
        clients: Any, verifier: Verifier, token: str) -> None:
    client = clients(auth={"portal_token": token})
    confirm = client.confirm()
    assert confirm["portal"] is False
    events = client.wait_for("bot_uttered", timeout=10)
    assert events[-1][1]["text"] == msg("widget.portal_rejected")
    assert verifier.verified_pupils(conversation_of(confirm)) == []
    assert LWOO_ANSWER in "\n".join(client.say("Wat is lwoo?"))


# -- input limits -----------------------------------------------------------------------

def test_oversized_message_gets_a_dutch_reply(clients: Any) -> None:
    client = clients()
    client.confirm()
    assert client.say("a" * 1001) == [too_long_reply()]
    assert LWOO_ANSWER in "\n".join(client.say("Wat is lwoo?"))  # still usable


def test_oversized_frame_closes_the_connection(clients: Any) -> None:
    client = clients()
    client.confirm()
    client.sio.emit("user_uttered", {"message": "x" * 64_000})
    assert client.wait_for("disconnect", timeout=10)


def test_rate_limit_per_connection(clients: Any) -> None:
    client = clients()
    client.confirm()
    sent = RATE_LIMIT_MESSAGES + 3
    for _ in range(sent):
        client.sio.emit("user_uttered", {"message": "Wat is lwoo?"})
    done = 0
    deadline = time.monotonic() + 60
    while done < sent and time.monotonic() < deadline:
        done += sum(1 for name, _ in client.wait_for("turn_done") if name == "turn_done")
    texts = [m.get("text") for m in client.bot_messages]
    assert texts.count(msg("widget.rate_limited")) == 1  # told once, not flooded
    assert texts.count(msg("widget.rate_limited")) + sum(
        1 for t in texts if t and LWOO_ANSWER in t) == RATE_LIMIT_MESSAGES + 1
    # another connection is not affected
    other = clients()
    other.confirm()
    assert LWOO_ANSWER in "\n".join(other.say("Wat is lwoo?"))


def test_non_button_slash_commands_and_bad_payloads_are_harmless(clients: Any) -> None:
    client = clients()
    client.confirm()
    assert client.say("/restart")  # defused to plain words: some answer, no restart
    assert client.say("")[0].startswith("Ik heb geen tekst ontvangen")
    client.sio.emit("user_uttered", "just a string")
    assert client.wait_for("turn_done")
    assert msg("channel.no_answer") not in client.texts()


def test_feedback_needs_no_answer(clients: Any) -> None:
    client = clients()
    client.confirm()
    client.say("Wat is lwoo?")
    texts = client.say('/feedback{"helpful": "yes"}')
    assert msg("channel.no_answer") not in texts


def test_message_text_is_never_logged(server: BotServer, clients: Any) -> None:
    client = clients()
    client.confirm()
    assert client.say(SECRET_SENTENCE)
    client.say("a" * 1001 + SECRET_SENTENCE)
    time.sleep(1)
    logs = server.all_logs()
    assert "Zwaluwstaartje" not in logs
    assert "Kanariedijk" not in logs


# -- the web files ----------------------------------------------------------------------

def test_chat_page_and_widget_files_have_strict_headers(server: BotServer) -> None:
    with urllib.request.urlopen(server.base_url + "/chat", timeout=10) as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Type"].startswith("text/html")
        page = resp.read().decode()
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "/widget/lwoo-chat.js" in page and "<script>" not in page
    with urllib.request.urlopen(server.base_url + "/widget/lwoo-chat.css", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/css")
    for path in ("/widget/..%2Fsocketio.py", "/widget/secret.key"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.base_url + path, timeout=10)
        assert err.value.code == 404
