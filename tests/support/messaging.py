"""Talking to the bot as WhatsApp (Twilio) and Telegram do: the test credentials, signed
webhook requests, and the environment that points the bot's messaging channels at the
provider stand-in (tests/support/provider_standin.py)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from itertools import count

from twilio.request_validator import RequestValidator

from tests.support.bot import BotServer
from tests.support.provider_standin import ProviderStandIn

ACCOUNT_SID = "AC" + "e2e0" * 8
AUTH_TOKEN = "e2e-twilio-auth-token-0123456789"
WHATSAPP_NUMBER = "whatsapp:+14155238886"
PUBLIC_URL = "https://lwoo.compaen.example"
WA_PATH = "/webhooks/whatsapp/webhook"
TG_TOKEN = "123456789:e2e-telegram-token_ABCdef"
TG_SECRET = "e2e-telegram-webhook-secret_0123456789"
TG_PATH = "/webhooks/telegram/webhook"

# every phone number / chat id used here, for the log check at the end
PHONES: list[str] = []
CHAT_IDS: list[int] = []
_ids = count(1)  # unique message ids, phone numbers and chat ids across the tests


def next_id() -> int:
    return next(_ids)


def new_phone() -> str:
    phone = f"+316{41000000 + next(_ids):08d}"
    PHONES.append(phone)
    return phone


def new_chat() -> int:
    chat = 7_300_000_000 + next(_ids) * 7919
    CHAT_IDS.append(chat)
    return chat


def messaging_env(standin_url: str, telegram: bool = True) -> dict[str, str]:
    """The bot's environment for WhatsApp (and Telegram) answering to the stand-in."""
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": WHATSAPP_NUMBER,
        "TWILIO_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_API_BASE": standin_url,
        "REDIS_URL": "",
    }
    if telegram:
        env.update({
            "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "TELEGRAM_BOT_NAME": "lwoo_e2e_bot",
            "TELEGRAM_API_BASE": standin_url,
        })
    return env


def http_post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def twilio_params(phone: str, body: str, sid: str | None = None,
                  **extra: str) -> dict[str, str]:
    sid = sid or f"SM{next(_ids):032x}"
    params = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID,
        "NumMedia": "0", "ProfileName": "Ouder", "WaId": phone.lstrip("+"),
        "SmsStatus": "received", "Body": body, "To": WHATSAPP_NUMBER, "NumSegments": "1",
        "ReferralNumMedia": "0", "From": f"whatsapp:{phone}", "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return params


def sign(params: dict[str, str], url: str = PUBLIC_URL + WA_PATH,
         token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post_whatsapp(bot: BotServer, params: dict[str, str], signature: str | None = "auto",
                  body: bytes | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if signature == "auto":
        signature = sign(params)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    data = body if body is not None else urllib.parse.urlencode(params).encode()
    return http_post(bot.base_url + WA_PATH, data, headers)


def whatsapp_say(bot: BotServer, standin: ProviderStandIn, phone: str, text: str) -> str:
    """Send a signed WhatsApp message; return the text of the answers (joined)."""
    mark = standin.mark()
    status, body = post_whatsapp(bot, twilio_params(phone, text))
    assert status == 200, (status, body)
    assert "<Response>" in body
    return "\n".join(r.text for r in standin.sent_to(f"whatsapp:{phone}", mark))
