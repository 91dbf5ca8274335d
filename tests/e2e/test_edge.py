"""The edges of the running bot (issue 12): conversation-id namespaces, body size, the
action server's token and Rasa's closed HTTP API — against the real servers.

One bot for this module (the widget's origin allowed, a portal secret so a website
conversation can be verified without an e-mail round trip)."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.bot import BotServer
from tests.support.canary import CANARY
from tests.support.widget_client import SocketioTestClient

pytestmark = pytest.mark.e2e

SCHOOL_ORIGIN = "https://www.compaen.example"
PORTAL_SECRET = "portal-e2e-secret-with-at-least-32-bytes!"
TECHNICAL_PROBLEM = "Er ging iets mis"  # start of utter_technical_problem / NO_ANSWER


BOT_ENV = {
    "ALLOWED_ORIGINS": SCHOOL_ORIGIN,
    "PORTAL_JWT_SECRET": PORTAL_SECRET,
}  # the module's bot: the `server` fixture (conftest)


def portal_token(pupils: list[str]) -> str:
    claims = {"sub": "ouder-edge-1", "pupils": pupils, "aud": "lwoo-assistent",
              "iss": "compaen-ouderportaal", "iat": int(time.time()),
              "exp": int(time.time()) + 600, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, PORTAL_SECRET, algorithm="HS256")


def verified_widget(server: BotServer) -> tuple[SocketioTestClient, str]:
    """A website conversation verified for the canary pupil (portal login)."""
    client = SocketioTestClient(server.base_url, origin=SCHOOL_ORIGIN,
                                auth={"portal_token": portal_token([CANARY["pupil_number"]])})
    confirm = client.confirm()
    assert confirm["portal"] is True
    status = "\n".join(client.say("/ask_status"))
    assert CANARY["first_name"] in status, status  # the widget itself may see it
    return client, str(confirm["resume_token"]).split(".")[0]


def stored_senders(server: BotServer) -> set[str]:
    with sqlite3.connect(server.var_dir / "conversations.db") as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT sender_id FROM events")}


def action_token(server: BotServer) -> str:
    return (server.var_dir / "action_server.key").read_text(encoding="utf-8").strip()


def call_action(server: BotServer, body: object, token: str | None) -> tuple[int, Any]:
    query = f"?token={token}" if token is not None else ""
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.actions_port}/webhook{query}",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def status_request(sender: str, channel: str) -> dict[str, Any]:
    """What Rasa sends the action server for ``action_status_start``."""
    user = {"event": "user", "timestamp": time.time(), "text": "/ask_status",
            "parse_data": {"intent": {"name": "ask_status", "confidence": 1.0},
                           "entities": [], "text": "/ask_status"},
            "input_channel": channel}
    return {
        "next_action": "action_status_start", "sender_id": sender, "version": "3.6.21",
        "domain": {},
        "tracker": {"sender_id": sender, "slots": {}, "latest_message": user["parse_data"],
                    "events": [user], "paused": False, "followup_action": None,
                    "active_loop": {}, "latest_action_name": "action_listen",
                    "latest_input_channel": channel},
    }


def response_texts(body: Any) -> str:
    return "\n".join(str(r.get("text") or "") for r in (body or {}).get("responses", []))


# -- item 1: namespaces ---------------------------------------------------------------

@pytest.mark.parametrize("sender", [
    "web-0123456789abcdef0123456789abcdef", "WEB-0123456789abcdef0123456789abcdef",
    "wa-0123456789abcdef0123456789abcdef", "tg-0123456789abcdef0123456789abcdef",
    "Tg-1",
])
def test_rest_refuses_ids_of_other_channels(server: BotServer, sender: str) -> None:
    status, body = server.post({"sender": sender, "message": "Wat is lwoo?"})
    assert status == 400, body
    assert "ander kanaal" in json.dumps(body, ensure_ascii=False)
    assert sender not in stored_senders(server)


def test_rest_keeps_its_own_ids(server: BotServer) -> None:
    for sender in ("ouder-1", server.new_sender("website"), "webmaster-7", "wachter-2"):
        assert "Leerwegondersteunend" in server.texts(server.say(sender, "Wat is lwoo?"))


def test_a_website_grant_is_never_usable_over_rest(server: BotServer) -> None:
    client, conversation = verified_widget(server)
    try:
        status, body = server.post({"sender": conversation, "message": "/ask_status"})
        assert status == 400
        assert CANARY["first_name"] not in json.dumps(body)
    finally:
        client.close()


def test_the_action_server_grants_only_the_owning_channel(server: BotServer) -> None:
    """Even a message that reached Rasa for a ``web-`` id from another channel (a
    channel bug, a future channel) sees no status: the grant belongs to ``socketio``."""
    client, conversation = verified_widget(server)
    try:
        token = action_token(server)
        status, body = call_action(server, status_request(conversation, "socketio"), token)
        assert status == 200 and CANARY["first_name"] in response_texts(body)  # control
        for channel in ("rest", "whatsapp", "telegram", "cmdline"):
            status, body = call_action(server, status_request(conversation, channel), token)
            assert status == 200, body
            assert CANARY["first_name"] not in json.dumps(body), channel
            assert CANARY["mentor"] not in json.dumps(body), channel
    finally:
        client.close()


# -- item 9: body size ----------------------------------------------------------------

def raw_post(server: BotServer, path: str, body: bytes, chunked: bool = False,
             headers: dict[str, str] | None = None) -> tuple[int, float]:
    host, port = server.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    started = time.monotonic()
    try:
        _send(conn, path, body, chunked, headers)
    except (ConnectionError, http.client.HTTPException):
        # the server answered and closed while the body was still being sent
        # (it never read it); the answer itself can then no longer be read
        conn.close()
        return RESET, time.monotonic() - started
    try:
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - started
    except (ConnectionError, http.client.HTTPException):  # closed right after the 413
        return 413, time.monotonic() - started
    finally:
        conn.close()


RESET = -1  # connection closed by the server while the request body was being sent


def _send(conn: http.client.HTTPConnection, path: str, body: bytes, chunked: bool,
          headers: dict[str, str] | None) -> None:
    if chunked:
        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                yield body[start:start + 64 * 1024]
        conn.request("POST", path, body=chunks(), encode_chunked=True,
                     headers={"Content-Type": "application/json", **(headers or {})})
    else:
        conn.request("POST", path, body=body,
                     headers={"Content-Type": "application/json", **(headers or {})})


@pytest.mark.parametrize(("path", "expected"), [
    ("/webhooks/rest/webhook", 413), ("/webhooks/telegram/webhook", 413),
    ("/webhooks/whatsapp/webhook", 413), ("/socket.io/", 413),
    # GET-only routes refuse the method before reading any body
    ("/chat", 405), ("/", 405),
])
@pytest.mark.parametrize("chunked", [False, True])
def test_two_megabytes_get_413_quickly_and_unparsed(server: BotServer, path: str,
                                                    expected: int, chunked: bool) -> None:
    sender = server.new_sender("big")
    body = json.dumps({"sender": sender, "message": "Wat is lwoo? " + "x" * 2_000_000})
    status, seconds = raw_post(server, path, body.encode(), chunked=chunked)
    assert status in (expected, RESET)
    assert seconds < 5
    assert sender not in stored_senders(server)  # no turn: the body was never parsed


def test_small_bodies_still_work(server: BotServer) -> None:
    sender = server.new_sender("small")
    body = json.dumps({"sender": sender, "message": "Wat is lwoo?" + " " * 60_000})
    status, _ = raw_post(server, "/webhooks/rest/webhook", body.encode())
    assert status == 200


# -- item 10: the action server's token -----------------------------------------------

def test_action_server_refuses_calls_without_the_token(server: BotServer) -> None:
    request = status_request("ouder-token-test", "rest")
    real = action_token(server)
    near_miss = real[:-1] + ("1" if real[-1] == "0" else "0")  # one character off
    for token in (None, "", "wrong", near_miss):
        status, body = call_action(server, request, token)
        assert status == 401, (token, body)
        assert "responses" not in (body or {})
    status, body = call_action(server, request, action_token(server))
    assert status == 200 and body["responses"], body
    # the list of actions is not open either; the supervisor's health check is
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{server.actions_port}/actions", timeout=10)
    assert err.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{server.actions_port}/health",
                                timeout=10) as resp:
        assert resp.status == 200


def test_the_bot_still_runs_its_actions(server: BotServer) -> None:
    """Rasa sends the token: custom actions (FAQ answers, the status form) still work."""
    sender = server.new_sender("actions")
    assert "Leerwegondersteunend" in server.texts(server.say(sender, "Wat is lwoo?"))
    asked = server.texts(server.say(sender, "krijgt mijn zoon lwoo?"))
    assert "leerlingnummer" in asked and TECHNICAL_PROBLEM not in asked


# -- low: Rasa's HTTP API stays closed, and failures stay quiet --------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/status"), ("GET", "/version"), ("PUT", "/model"), ("POST", "/model/parse"),
    ("GET", "/conversations/ouder-1/tracker"), ("POST", "/conversations/ouder-1/messages"),
    ("POST", "/model/train"), ("GET", "/domain"),
])
def test_rasa_http_api_is_closed(server: BotServer, method: str, path: str) -> None:
    req = urllib.request.Request(server.base_url + path, method=method,
                                 data=b"{}" if method != "GET" else None,
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code in (404, 405), path


def test_the_running_rasa_has_no_enable_api(server: BotServer) -> None:
    pid = int((server.var_dir / "run" / "rasa.pid").read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"run" in argv and b"--enable-api" not in argv
    assert not any(arg.startswith(b"--auth-token") or arg == b"--cors" for arg in argv)


def test_the_running_rasa_was_started_by_the_launcher_with_every_patch(
        server: BotServer) -> None:
    from bot.compat import PATCHES, RASA_VERSION

    pid = int((server.var_dir / "run" / "rasa.pid").read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"bot.launcher" in argv
    log = (server.var_dir / "logs" / "rasa.log").read_text(encoding="utf-8")
    line = next(row for row in log.splitlines() if "with this project's patches" in row)
    assert f"Rasa {RASA_VERSION}" in line
    for name in PATCHES:
        assert name in line


def test_an_unexpected_action_error_says_nothing_personal(server: BotServer) -> None:
    """A request the action's code cannot handle (here: a tracker whose slot holds the
    canary's data in a shape no action expects) gives a bare 500, and neither the
    response nor the logs carry the data or a stack trace."""
    request = status_request("ouder-crash", "rest")
    request["next_action"] = "validate_verification_form"
    request["tracker"]["slots"] = {"requested_slot": "birth_date",
                                   "pupil_number": {"canary": CANARY["last_name"]},
                                   "birth_date": [CANARY["email"]]}
    request["tracker"]["events"] = "not-a-list " + CANARY["phone"]
    status, body = call_action(server, request, action_token(server))
    assert status == 500, body
    text = json.dumps(body)
    for value in CANARY.values():
        assert value not in text
    assert "Traceback" not in text
    time.sleep(0.5)
    logs = server.all_logs()
    for value in (CANARY["last_name"], CANARY["email"], CANARY["phone"]):
        assert value not in logs
    assert "Traceback" not in (server.var_dir / "logs" / "actions.log").read_text()


# -- item 3 (part): resume tokens are tied to the origin they were issued for ---------

def resume(server: BotServer, origin: str, token: str) -> dict[str, Any]:
    client = SocketioTestClient(server.base_url, origin=origin, auth={"resume_token": token})
    try:
        return client.confirm()
    finally:
        client.close()


def test_a_captured_resume_token_does_not_work_from_another_origin(server: BotServer) -> None:
    client = SocketioTestClient(server.base_url, origin=SCHOOL_ORIGIN)
    try:
        client.confirm()
        client.say("Wat is lwoo?")
    finally:
        client.close()
    token = client.resume_token  # the newest one (a resume uses it up, see below)
    conversation = token.split(".")[0]
    # another allowed origin (here the server's own /chat page) cannot resume it
    other = resume(server, server.base_url, token)
    assert other["resumed"] is False
    assert str(other["resume_token"]).split(".")[0] != conversation
    # the origin it was issued for can (control)
    same = resume(server, SCHOOL_ORIGIN, token)
    assert same["resumed"] is True
    assert str(same["resume_token"]).split(".")[0] == conversation
