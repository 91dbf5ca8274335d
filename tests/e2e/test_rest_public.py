"""REST when Rasa listens beyond loopback (BIND_HOST=0.0.0.0): `python -m bot run`
refuses to start without REST_API_TOKEN, and with it every REST request needs the token
and is rate-limited per client address and per sender. The widget needs no token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.bot import PROJECT_ROOT, BotServer, start_bot, stop_bot
from tests.support.ports import free_port
from tests.support.widget_client import SocketioTestClient

pytestmark = pytest.mark.e2e

TOKEN = "rest-e2e-token-" + "0123456789abcdef" * 2
PER_SENDER, PER_ADDRESS = 3, 8


@pytest.mark.parametrize("token", ["", "too-short"])
def test_bot_run_refuses_a_public_rest_without_a_token(tmp_path, token: str) -> None:
    env = {**os.environ, "VAR_DIR": str(tmp_path), "BIND_HOST": "0.0.0.0",  # noqa: S104
           "REST_API_TOKEN": token, "HASH_SECRET": "e2e-test-secret-0123456789abcdefghij",
           "PORT": str(free_port()), "ACTIONS_PORT": str(free_port())}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # it started after all: stop all it started
        proc.communicate()
        pytest.fail("python -m bot run started on 0.0.0.0 without REST_API_TOKEN")
    assert proc.returncode == 2
    assert "REST_API_TOKEN" in stderr
    assert not (tmp_path / "run" / "actions.pid").exists()  # nothing was started


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    bot = start_bot(tmp_path_factory.mktemp("public"), {
        "BIND_HOST": "0.0.0.0",  # noqa: S104 - what the test is about
        "REST_API_TOKEN": TOKEN,
        "REST_RATE_LIMIT_SENDER": str(PER_SENDER),
        "REST_RATE_LIMIT_ADDRESS": str(PER_ADDRESS),
    })
    yield bot
    stop_bot(bot)


def post(server: BotServer, sender: str, token: str | None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        server.base_url + "/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": "Wat is lwoo?"}).encode(),
        headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_public_rest_needs_the_token_and_is_rate_limited(public: BotServer) -> None:
    sender = public.new_sender("integratie")
    for token in (None, "", "wrong", TOKEN[:-1], TOKEN + "x"):
        status, body = post(public, sender, token)
        assert status == 401, (token, body)
        assert "Leerwegondersteunend" not in json.dumps(body)
    for _ in range(PER_SENDER):
        status, body = post(public, sender, TOKEN)
        assert status == 200 and "Leerwegondersteunend" in json.dumps(body)
    status, _ = post(public, sender, TOKEN)
    assert status == 429  # per sender
    statuses = [post(public, public.new_sender("rotating"), TOKEN)[0]
                for _ in range(PER_ADDRESS)]
    # the address already used PER_SENDER + 1 of its PER_ADDRESS
    assert statuses.count(200) == PER_ADDRESS - PER_SENDER - 1
    assert statuses[-1] == 429  # per address: rotating sender ids does not help


def test_widget_needs_no_rest_token(public: BotServer) -> None:
    client = SocketioTestClient(public.base_url, origin=public.base_url)
    try:
        client.confirm()
        assert "Leerwegondersteunend" in "\n".join(client.say("Wat is lwoo?"))
    finally:
        client.close()
