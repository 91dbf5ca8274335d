"""WhatsApp (Twilio) and Telegram end to end: the real bot, webhooks signed like the
providers sign them, and answers recorded by a local stand-in of the provider APIs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from bot.channels.delivery import conversation_id
from bot.channels.telegram import MAX_CHARS as TELEGRAM_MAX
from bot.channels.telegram import TelegramConfig, TelegramOutput
from bot.channels.whatsapp import MAX_CHARS as WHATSAPP_MAX
from bot.channels.whatsapp import TwilioConfig, WhatsAppOutput
from core.texts import text as msg
from tests.support.bot import BotServer, start_bot, stop_bot
from tests.support.canary import CANARY
from tests.support.messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CHAT_IDS,
    PHONES,
    PUBLIC_URL,
    TG_PATH,
    TG_SECRET,
    TG_TOKEN,
    WA_PATH,
    WHATSAPP_NUMBER,
    http_post,
    messaging_env,
    new_chat,
    new_phone,
    next_id,
    post_whatsapp,
    sign,
    twilio_params,
    whatsapp_say,
)
from tests.support.provider_standin import ProviderStandIn

pytestmark = pytest.mark.e2e

HASH_SECRET = "e2e-test-secret-0123456789abcdefghij"  # what start_bot sets
EMPTY_REPLY_START = "Ik heb geen tekst ontvangen"
CODES: list[str] = []


@pytest.fixture(scope="module")
def bot(standin: ProviderStandIn, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[BotServer]:
    server = start_bot(tmp_path_factory.mktemp("messaging"), messaging_env(standin.url))
    yield server
    stop_bot(server)


# ---------------------------------------------------------------- helpers


def telegram_update(chat: int, **content: object) -> dict[str, object]:
    return {"update_id": 500_000 + next_id(), **content}


def telegram_message(chat: int, text: str | None = None, chat_type: str = "private",
                     **extra: object) -> dict[str, object]:
    message: dict[str, object] = {
        "message_id": next_id(), "date": 1_760_000_000,
        "from": {"id": chat, "is_bot": False, "first_name": "Ouder"},
        "chat": {"id": chat, "type": chat_type, "first_name": "Ouder"}, **extra,
    }
    if text is not None:
        message["text"] = text
    return message


def post_telegram(bot: BotServer, update: dict[str, object],
                  secret: str | None = TG_SECRET) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return http_post(bot.base_url + TG_PATH, json.dumps(update).encode(), headers)


def events_for(bot: BotServer, sender_id: str) -> int:
    with sqlite3.connect(bot.var_dir / "conversations.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?",
                                (sender_id,)).fetchone()[0])


def user_events_for(bot: BotServer, sender_id: str) -> list[str]:
    with sqlite3.connect(bot.var_dir / "conversations.db") as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id",
            (sender_id,)).fetchall()
    return [json.loads(row[0]).get("text") or "" for row in rows]


def all_events(bot: BotServer) -> int:
    with sqlite3.connect(bot.var_dir / "conversations.db") as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:  # no conversation yet: no table yet
            return 0


def wa_sender(phone: str) -> str:
    return conversation_id("wa", f"whatsapp:{phone}", HASH_SECRET)


def tg_sender(chat: int) -> str:
    return conversation_id("tg", str(chat), HASH_SECRET)


# ---------------------------------------------------------------- WhatsApp


def test_signed_whatsapp_message_is_answered_via_the_provider_api(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    phone = new_phone()
    mark = standin.mark()
    status, body = post_whatsapp(bot, twilio_params(phone, "Wat is lwoo?"))
    assert status == 200, body
    sent = standin.sent_to(f"whatsapp:{phone}", mark)
    assert sent, "no answer recorded at the Twilio stand-in"
    answer = "\n".join(r.text for r in sent)
    assert "Leerwegondersteunend onderwijs" in answer
    for record in sent:
        assert record.credential == ACCOUNT_SID
        assert record.auth == (ACCOUNT_SID, AUTH_TOKEN)
        assert record.form["From"] == WHATSAPP_NUMBER
        assert len(record.text) <= WHATSAPP_MAX
    # the conversation is stored under a hash of the address, never the number itself
    assert events_for(bot, wa_sender(phone)) > 0
    assert events_for(bot, f"whatsapp:{phone}") == 0


def _unsigned(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    return params, None, None


def _wrong_token(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    return params, sign(params, token="not-the-auth-token"), None


def _tampered(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    signature = sign(params)
    tampered = {**params, "Body": "Wat is de status van 999001?"}
    return tampered, signature, None


def _extra_param(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    signature = sign(params)
    return {**params, "Latitude": "52.4"}, signature, None


def _wrong_url(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    return params, sign(params, url="https://evil.example" + WA_PATH), None


def _local_url(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    # signed over the URL the request really went to, not the configured public URL
    return params, None, None  # replaced in the test (needs the bot's port)


def _other_account(params: dict[str, str]) -> tuple[dict[str, str], str | None, bytes | None]:
    other = {**params, "AccountSid": "AC" + "f" * 32}
    return other, sign(other), None


def _garbage_signature(params: dict[str, str]) -> tuple[dict[str, str], str | None,
                                                         bytes | None]:
    return params, "bm90IGEgc2lnbmF0dXJl", None


@pytest.mark.parametrize("attack", [
    _unsigned, _wrong_token, _tampered, _extra_param, _wrong_url, _local_url,
    _other_account, _garbage_signature,
], ids=lambda f: f.__name__.strip("_"))
def test_whatsapp_webhook_without_valid_signature_is_refused(
    bot: BotServer, standin: ProviderStandIn, attack: object
) -> None:
    phone = new_phone()
    params, signature, raw = attack(twilio_params(phone, "Wat is lwoo?"))  # type: ignore[operator]
    if attack is _local_url:
        signature = sign(params, url=bot.base_url + WA_PATH)
    before_events, mark = all_events(bot), standin.mark()
    status, _ = post_whatsapp(bot, params, signature=signature, body=raw)
    assert status == 403
    assert standin.since(mark) == []
    assert events_for(bot, wa_sender(phone)) == 0
    assert all_events(bot) == before_events


def test_whatsapp_json_body_is_refused(bot: BotServer, standin: ProviderStandIn) -> None:
    phone = new_phone()
    params = twilio_params(phone, "Wat is lwoo?")
    mark = standin.mark()
    status, _ = http_post(bot.base_url + WA_PATH, json.dumps(params).encode(),
                          {"Content-Type": "application/json",
                           "X-Twilio-Signature": sign(params)})
    assert status == 403
    assert standin.since(mark) == []
    assert events_for(bot, wa_sender(phone)) == 0


def test_whatsapp_duplicate_delivery_is_processed_once(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    phone = new_phone()
    params = twilio_params(phone, "Waarvoor is het lwoo-budget?")
    mark = standin.mark()
    first = post_whatsapp(bot, params)
    again = post_whatsapp(bot, params)  # Twilio retrying the same MessageSid
    assert first[0] == again[0] == 200
    answers = standin.sent_to(f"whatsapp:{phone}", mark)
    assert len(answers) == 1, [a.text for a in answers]
    assert user_events_for(bot, wa_sender(phone)) == ["Waarvoor is het lwoo-budget?"]


def test_whatsapp_buttons_are_numbered_and_a_number_chooses(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    phone = new_phone()
    greeting = whatsapp_say(bot, standin, phone, "Goedendag")
    assert "1. Wat is lwoo?" in greeting
    assert "2. Waarom opnieuw toetsen?" in greeting
    assert "3. Status van mijn kind" in greeting
    assert "Typ het nummer van uw keuze." in greeting
    answer = whatsapp_say(bot, standin, phone, "1")
    assert "Leerwegondersteunend onderwijs" in answer
    assert user_events_for(bot, wa_sender(phone))[-1] == '/faq{"faq_topic": "wat_is_lwoo"}'
    # a number that was not offered is just text
    whatsapp_say(bot, standin, phone, "Goedendag")
    whatsapp_say(bot, standin, phone, "7")
    assert user_events_for(bot, wa_sender(phone))[-1] == "7"


@pytest.mark.parametrize("extra, expected", [
    ({"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/media/ME1",
      "MediaContentType0": "image/jpeg", "Body": ""}, msg("channel.media")),
    ({"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/media/ME2",
      "MediaContentType0": "audio/ogg", "Body": ""}, msg("channel.media")),
    ({"Latitude": "52.4387", "Longitude": "4.8260", "Body": ""}, msg("channel.media")),
    ({"Body": ""}, EMPTY_REPLY_START),
    ({"Body": "   "}, EMPTY_REPLY_START),
], ids=["photo", "voice", "location", "empty", "blank"])
def test_whatsapp_media_and_empty_messages_get_a_dutch_reply(
    bot: BotServer, standin: ProviderStandIn, extra: dict[str, str], expected: str
) -> None:
    phone = new_phone()
    mark = standin.mark()
    status, _ = post_whatsapp(bot, twilio_params(phone, "", **extra))
    assert status == 200
    answers = [r.text for r in standin.sent_to(f"whatsapp:{phone}", mark)]
    assert len(answers) == 1 and answers[0].startswith(expected), answers


def test_whatsapp_status_lookup_needs_the_one_time_code(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    """The canary parent writes from the number on record: that alone shows nothing."""
    phone = CANARY["phone"]
    PHONES.append(phone)
    first = whatsapp_say(bot, standin, phone, "Wat is de status van de lwoo van mijn kind?")
    assert "leerlingnummer" in first.lower()
    assert CANARY["mentor"] not in first
    asked_date = whatsapp_say(bot, standin, phone, CANARY["pupil_number"])
    assert "geboortedatum" in asked_date.lower()
    codes_before = len(bot.outbox_codes(CANARY["email"]))
    asked_code = whatsapp_say(bot, standin, phone, "29-02-2012")
    assert "code" in asked_code.lower()
    assert CANARY["mentor"] not in asked_code
    # the code mail is sent in the background, after the reply: wait for it
    code = bot.wait_for_code(CANARY["email"], codes_before, timeout=30)
    assert len(bot.outbox_codes(CANARY["email"])) == codes_before + 1  # one mail, not more
    CODES.append(code)
    status = whatsapp_say(bot, standin, phone, code)
    assert CANARY["mentor"] in status, status
    assert CANARY["first_name"] in status
    assert "toegekend" in status.lower()


# ---------------------------------------------------------------- Telegram


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", TG_SECRET[:-1],
                                    TG_SECRET + "x", TG_SECRET.upper()],
                         ids=["missing", "empty", "wrong", "prefix", "longer", "case"])
def test_telegram_webhook_without_the_secret_is_refused(
    bot: BotServer, standin: ProviderStandIn, secret: str | None
) -> None:
    chat = new_chat()
    before_events, mark = all_events(bot), standin.mark()
    status, _ = post_telegram(bot, telegram_update(chat, message=telegram_message(
        chat, "Wat is lwoo?")), secret=secret)
    assert status == 403
    assert standin.since(mark) == []
    assert events_for(bot, tg_sender(chat)) == 0
    assert all_events(bot) == before_events


def test_telegram_start_shows_an_inline_keyboard_and_a_tap_answers(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    chat = new_chat()
    mark = standin.mark()
    status, _ = post_telegram(bot, telegram_update(chat, message=telegram_message(
        chat, "/start")))
    assert status == 200
    sent = standin.sent_to(str(chat), mark)
    assert sent and all(r.credential == TG_TOKEN for r in sent)
    keyboard = sent[-1].payload["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard][:1] == ["Wat is lwoo?"]
    mark = standin.mark()
    callback = {"id": "cbq-1", "from": {"id": chat, "is_bot": False, "first_name": "Ouder"},
                "message": sent[-1].payload | {"chat": {"id": chat, "type": "private"},
                                               "message_id": 1, "date": 1_760_000_000},
                "chat_instance": "1", "data": keyboard[0][0]["callback_data"]}
    status, _ = post_telegram(bot, telegram_update(chat, callback_query=callback))
    assert status == 200
    recorded = standin.since(mark)
    assert any(r.method == "answerCallbackQuery"
               and r.payload.get("callback_query_id") == "cbq-1" for r in recorded)
    answer = "\n".join(r.text for r in standin.sent_to(str(chat), mark))
    assert "Leerwegondersteunend onderwijs" in answer
    assert user_events_for(bot, tg_sender(chat))[-1] == '/faq{"faq_topic": "wat_is_lwoo"}'


def test_telegram_duplicate_update_is_processed_once(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    chat = new_chat()
    update = telegram_update(chat, message=telegram_message(chat, "Wat is een handelingsplan?"))
    mark = standin.mark()
    assert post_telegram(bot, update)[0] == 200
    assert post_telegram(bot, update)[0] == 200
    assert len(standin.sent_to(str(chat), mark)) == 1
    assert user_events_for(bot, tg_sender(chat)) == ["Wat is een handelingsplan?"]


@pytest.mark.parametrize("content", [
    {"photo": [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}]},
    {"sticker": {"file_id": "CAAD", "file_unique_id": "u2", "width": 512, "height": 512,
                 "is_animated": False, "is_video": False, "type": "regular"}},
    {"location": {"latitude": 52.4387, "longitude": 4.826}},
    {"voice": {"file_id": "AwAD", "file_unique_id": "u3", "duration": 2}},
], ids=["photo", "sticker", "location", "voice"])
def test_telegram_media_gets_a_dutch_reply(
    bot: BotServer, standin: ProviderStandIn, content: dict[str, object]
) -> None:
    chat = new_chat()
    mark = standin.mark()
    status, _ = post_telegram(bot, telegram_update(chat, message=telegram_message(
        chat, None, **content)))
    assert status == 200
    assert [r.text for r in standin.sent_to(str(chat), mark)] == [msg("channel.media")]
    assert events_for(bot, tg_sender(chat)) == 0


def test_telegram_edits_and_group_chats_get_a_dutch_reply(
    bot: BotServer, standin: ProviderStandIn
) -> None:
    chat = new_chat()
    mark = standin.mark()
    post_telegram(bot, telegram_update(chat, edited_message=telegram_message(chat, "lwoo?")))
    group = -new_chat()
    post_telegram(bot, telegram_update(group, message=telegram_message(
        group, "Wat is lwoo?", chat_type="group")))
    assert [r.text for r in standin.sent_to(str(chat), mark)] == [msg("channel.edited")]
    assert [r.text for r in standin.sent_to(str(group), mark)] == [msg("telegram.private_only")]
    assert events_for(bot, tg_sender(chat)) == 0
    assert events_for(bot, tg_sender(group)) == 0


# ---------------------------------------------------------------- splitting


LONG_ANSWER = " ".join(
    f"Zin {n} van een heel lang antwoord over leerwegondersteunend onderwijs op school."
    for n in range(1, 120)
)


async def test_long_answers_are_split_at_the_channel_limit(standin: ProviderStandIn) -> None:
    from bot.channels.delivery import ProviderHttp

    http = ProviderHttp("test", timeout=5)
    try:
        whatsapp = WhatsAppOutput(
            TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_NUMBER, PUBLIC_URL, standin.url),
            http, "whatsapp:+31600000000")
        mark = standin.mark()
        await whatsapp.send_text_message("ignored", LONG_ANSWER)
        parts = [r.text for r in standin.sent_to("whatsapp:+31600000000", mark)]
        telegram = TelegramOutput(TelegramConfig(TG_TOKEN, TG_SECRET, "", standin.url),
                                  http, 4242)
        mark = standin.mark()
        await telegram.send_text_message("ignored", f"{LONG_ANSWER} {LONG_ANSWER}")
        tg_parts = [r.text for r in standin.sent_to("4242", mark)]
    finally:
        await http.close()
    assert len(LONG_ANSWER) > 6 * WHATSAPP_MAX
    assert len(parts) in (7, 8) and all(len(p) <= WHATSAPP_MAX for p in parts)
    assert " ".join(parts) == LONG_ANSWER
    assert all(p.endswith("op school.") for p in parts)  # cut at sentence ends
    assert len(tg_parts) == 5 and all(len(p) <= TELEGRAM_MAX for p in tg_parts)
    assert " ".join(tg_parts) == f"{LONG_ANSWER} {LONG_ANSWER}"
    assert all(p.endswith("op school.") for p in tg_parts)


# ---------------------------------------------------------------- privacy (runs last)


def test_logs_hold_no_phone_numbers_chat_ids_secrets_or_canary_data(
        bot: BotServer, standin: ProviderStandIn) -> None:
    # traffic of its own, so the check never depends on which other tests ran
    assert whatsapp_say(bot, standin, new_phone(), "wat is lwoo?")
    chat = new_chat()
    status, _ = post_telegram(bot, telegram_update(
        chat, message=telegram_message(chat, "wat is lwoo?")))
    assert status == 200
    logs = bot.all_logs()
    assert "LWOO-assistent is klaar" in logs  # the logs are really there
    forbidden = [*PHONES, *(p.lstrip("+") for p in PHONES), *(p[3:] for p in PHONES),
                 *(str(c) for c in CHAT_IDS), *CODES,
                 CANARY["first_name"], CANARY["last_name"], CANARY["email"],
                 CANARY["mentor"], CANARY["pupil_number"], "29-02-2012",
                 AUTH_TOKEN, TG_TOKEN, TG_SECRET]
    leaked = [value for value in forbidden if value in logs]
    assert leaked == []
