"""A captured WhatsApp/Telegram delivery replayed after a restart of the bot is refused
(the embedded profile remembers deliveries in var/channels.db for 30 days), while new
messages are answered as usual."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_messaging_channels import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    TG_SECRET,
    TG_TOKEN,
    WA_PATH,
    WHATSAPP_NUMBER,
    http_post,
    new_chat,
    new_phone,
    post_telegram,
    sign,
    telegram_message,
    telegram_update,
    twilio_params,
)
from tests.support.bot import BotServer, start_bot, stop_bot
from tests.support.provider_standin import ProviderStandIn

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def standin() -> Iterator[ProviderStandIn]:
    server = ProviderStandIn().start()
    yield server
    server.stop()


def _env(standin: ProviderStandIn) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": WHATSAPP_NUMBER, "TWILIO_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_API_BASE": standin.url, "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET, "TELEGRAM_BOT_NAME": "lwoo_e2e_bot",
        "TELEGRAM_API_BASE": standin.url, "REDIS_URL": "",
    }


def _post_whatsapp(bot: BotServer, params: dict[str, str], token: str) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
               "X-Twilio-Signature": sign(params), "I-Twilio-Idempotency-Token": token}
    status, _ = http_post(bot.base_url + WA_PATH, urllib.parse.urlencode(params).encode(),
                          headers)
    return status


def test_replays_after_a_restart_are_refused(standin: ProviderStandIn,
                                             tmp_path: Path) -> None:
    bot = start_bot(tmp_path, _env(standin))
    phone, chat = new_phone(), new_chat()
    captured = twilio_params(phone, "Wat is lwoo?")
    update = telegram_update(chat, message=telegram_message(chat, "Wat is lwoo?"))
    try:
        mark = standin.mark()
        assert _post_whatsapp(bot, captured, "idem-1") == 200
        assert post_telegram(bot, update)[0] == 200
        assert len(standin.sent_to(f"whatsapp:{phone}", mark)) == 1
        assert len(standin.sent_to(str(chat), mark)) == 1
        # Twilio's retry: same idempotency token and sid
        assert _post_whatsapp(bot, captured, "idem-1") == 200
    finally:
        stop_bot(bot)
    bot = start_bot(tmp_path, _env(standin))  # same var/: a restart
    try:
        mark = standin.mark()
        # the captured requests replayed (a new token does not help: the sid is known)
        assert _post_whatsapp(bot, captured, "idem-1") == 200
        assert _post_whatsapp(bot, captured, "idem-other") == 200
        assert post_telegram(bot, update)[0] == 200
        assert standin.sent_to(f"whatsapp:{phone}", mark) == []
        assert standin.sent_to(str(chat), mark) == []
        # new messages are answered
        fresh = twilio_params(phone, "Is lwoo een rugzak?")
        assert _post_whatsapp(bot, fresh, "idem-2") == 200
        assert len(standin.sent_to(f"whatsapp:{phone}", mark)) == 1
    finally:
        stop_bot(bot)
