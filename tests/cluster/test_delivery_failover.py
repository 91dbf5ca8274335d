"""A node killed (``kill -9``) in the middle of a WhatsApp and a Telegram turn: the
parents still get their answer, from the other node, and each message is processed
once (bot/channels/delivery.py).

* Telegram retries an update until it gets a 2xx. Its retry reaches node 2 while the
  dead node's lease still holds the update: 503 (Telegram retries later). Once the
  lease expired, the retry is processed: the parent gets the answer, and one more
  retry is a duplicate.
* Twilio does not retry a webhook whose node died mid-turn (its retries, if any, end
  within 15 s). The webhook kept the message before the turn started; node 2's sweeper
  processes it once the lease expired, without any request from Twilio. A replay of
  the same signed request afterwards is refused.

The node is killed while its answer is on its way to the provider: the stand-in holds
that request and never delivers it, so the parent has seen nothing from node 1.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from twilio.request_validator import RequestValidator

from bot.channels.delivery import conversation_id
from tests.support.cluster import (
    CHANNEL_LEASE,
    CLUSTER_HASH_SECRET,
    TELEGRAM_SECRET,
    TWILIO_NUMBER,
    TWILIO_PUBLIC_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    Cluster,
    ensure_nodes,
    kill_node,
)
from tests.support.provider_standin import ProviderStandIn, Recorded

pytestmark = [pytest.mark.cluster, pytest.mark.services, pytest.mark.e2e]

QUESTION = "Wat is lwoo?"
ANSWER = "Leerwegondersteunend onderwijs"
WA_PATH = "/webhooks/whatsapp/webhook"
TG_PATH = "/webhooks/telegram/webhook"


def _post(url: str, data: bytes, headers: dict[str, str],
          timeout: float = 90) -> tuple[int, str]:
    """(status, body); status 0 when the connection broke (the node died)."""
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, ""


def telegram(cluster: Cluster, node: int, update: dict[str, object]) -> tuple[int, str]:
    return _post(f"http://127.0.0.1:{cluster.port(node)}{TG_PATH}",
                 json.dumps(update).encode(),
                 {"Content-Type": "application/json",
                  "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})


def whatsapp(cluster: Cluster, node: int, params: dict[str, str],
             token: str) -> tuple[int, str]:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        TWILIO_PUBLIC_URL + WA_PATH, params)
    return _post(f"http://127.0.0.1:{cluster.port(node)}{WA_PATH}",
                 urllib.parse.urlencode(params).encode(),
                 {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": token})


def in_background(results: list, call, *args) -> threading.Thread:  # type: ignore[no-untyped-def]
    """Run ``call`` in a thread; its (status, body) is appended to ``results``."""
    thread = threading.Thread(target=lambda: results.append(call(*args)), daemon=True)
    thread.start()
    return thread


def node_logs(cluster: Cluster, node: int) -> str:
    return "\n".join(p.name + ":\n" + p.read_text(errors="replace")[-3000:]
                     for p in sorted((cluster.directory / f"node{node}" / "logs").glob("*")))


def user_texts(cluster: Cluster, sender: str) -> list[str]:
    return [e.get("text") or "" for e in cluster.events(sender) if e["event"] == "user"]


@pytest.mark.kills_node
def test_a_node_killed_mid_turn_loses_no_message(cluster: Cluster,
                                                 provider_standin: ProviderStandIn) -> None:
    ensure_nodes(cluster)  # an earlier test may have killed a node
    standin = provider_standin
    stamp = time.monotonic_ns() % 10**6
    chat = 8_100_000_000 + stamp
    phone = f"+3164{stamp:07d}"
    address = f"whatsapp:{phone}"
    tg_sender = conversation_id("tg", str(chat), CLUSTER_HASH_SECRET)
    wa_sender = conversation_id("wa", address, CLUSTER_HASH_SECRET)

    def to_chat(record: Recorded) -> bool:
        return record.method == "sendMessage" and record.to == str(chat)

    def to_phone(record: Recorded) -> bool:
        return record.method == "Messages" and record.to == address

    update = {"update_id": 900_000_000 + stamp, "message": {
        "message_id": 1, "date": int(time.time()), "text": QUESTION,
        "from": {"id": chat, "is_bot": False, "first_name": "Ouder"},
        "chat": {"id": chat, "type": "private", "first_name": "Ouder"}}}
    sid = f"SM{stamp:032d}"
    params = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": TWILIO_SID,
              "From": address, "To": TWILIO_NUMBER, "Body": QUESTION, "NumMedia": "0"}
    token = f"idem-{stamp}"

    # a freshly (re)started node may take a while for its first turns: warm it up
    warm = standin.mark()
    warm_chat = chat + 1
    warm_update = {**update, "update_id": update["update_id"] + 1,  # type: ignore[operator]
                   "message": {**update["message"],  # type: ignore[dict-item]
                               "chat": {"id": warm_chat, "type": "private"}}}
    assert telegram(cluster, 1, warm_update)[0] == 200
    assert standin.wait_for(lambda r: r.to == str(warm_chat), warm, timeout=120)

    # node 1 starts both turns; its answers hang at the provider; then it is killed
    releases = [standin.hold(to_chat), standin.hold(to_phone)]
    mark = standin.mark()
    try:
        early: list[tuple[int, str]] = []
        in_background(early, telegram, cluster, 1, update)
        in_background(early, whatsapp, cluster, 1, params, token)
        deadline = time.monotonic() + 120
        while len(standin.held) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {r.method for r in standin.held[-2:]} == {"sendMessage", "Messages"}, (
            f"node 1 never got to answering; webhook answers {early}; "
            f"recorded {standin.since(mark)}\n{node_logs(cluster, 1)}")
        kill_node(cluster, 1)
        killed_at = time.monotonic()
        assert standin.wait_for(lambda r: to_chat(r) or to_phone(r), mark, 0.1) == []

        # Telegram's retry reaches node 2: busy while the dead node's lease holds
        status, _ = telegram(cluster, 2, update)
        if time.monotonic() - killed_at < CHANNEL_LEASE - 1:
            assert status == 503, status
        # ... and processed once the lease expired (Telegram keeps retrying)
        deadline = time.monotonic() + 90
        while status != 200 and time.monotonic() < deadline:
            time.sleep(1)
            status, _ = telegram(cluster, 2, update)
        assert status == 200, status
        telegram_answers = standin.wait_for(to_chat, mark, timeout=10)
        assert telegram_answers and ANSWER in telegram_answers[0].text

        # WhatsApp: no request from Twilio at all; node 2's sweeper answers
        whatsapp_answers = standin.wait_for(to_phone, mark, timeout=90)
        assert whatsapp_answers and ANSWER in whatsapp_answers[0].text

        # once: a further Telegram retry and a replay of the Twilio request do nothing
        sent = len(standin.sent_to(str(chat), mark)) + len(standin.sent_to(address, mark))
        assert telegram(cluster, 2, update)[0] == 200
        assert whatsapp(cluster, 2, params, token)[0] == 200
        assert whatsapp(cluster, 2, params, "another-token")[0] == 200  # same MessageSid
        time.sleep(2 * CHANNEL_LEASE)  # a sweep would have run meanwhile
        assert len(standin.sent_to(str(chat), mark)) + len(standin.sent_to(address, mark)) \
            == sent
        assert user_texts(cluster, tg_sender) == [QUESTION]
        assert user_texts(cluster, wa_sender) == [QUESTION]
    finally:
        for release in releases:
            release.set()
        ensure_nodes(cluster)  # node 1 back for the tests after this one
