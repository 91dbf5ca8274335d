"""Messaging channel building blocks without servers: webhook authentication (also with
empty secrets), message splitting, numbered choices, the delivery store."""

from __future__ import annotations

import urllib.parse

import pytest
from twilio.request_validator import RequestValidator

from bot.channels.delivery import (
    MemoryStore,
    RedisStore,
    conversation_id,
    numbered_options,
    resolve_choice,
    split_message,
    utf16_len,
)
from bot.channels.telegram import TelegramSecureInput, callback_data
from bot.channels.whatsapp import WhatsAppInput
from core.texts import text as msg

SID = "AC" + "1" * 32
TOKEN = "unit-auth-token"
PUBLIC = "https://lwoo.compaen.example"
PATH = "/webhooks/whatsapp/webhook"
FORM = "application/x-www-form-urlencoded"
CREDS = {"account_sid": SID, "auth_token": TOKEN, "twilio_number": "+14155238886",
         "public_url": PUBLIC, "api_base": "http://127.0.0.1:9"}
OFFERED = [("Wat is lwoo?", "/faq_a"), ("Contact met school", "/request_human")]


def signed(params: dict[str, str], url: str = PUBLIC + PATH, token: str = TOKEN
           ) -> tuple[bytes, str]:
    return (urllib.parse.urlencode(params).encode(),
            RequestValidator(token).compute_signature(url, params))


def params(body: str = "Wat is lwoo?") -> dict[str, str]:
    return {"AccountSid": SID, "MessageSid": "SM1", "From": "whatsapp:+31612345678",
            "To": "whatsapp:+14155238886", "Body": body, "NumMedia": "0"}


# ------------------------------------------------------------ WhatsApp authentication


def test_whatsapp_accepts_a_request_signed_over_the_public_url() -> None:
    channel = WhatsAppInput.from_credentials(CREDS)
    body, signature = signed(params())
    form, why = channel.authentic(PATH, "", FORM + "; charset=utf-8", body, signature)
    assert why == "ok" and form is not None and form.first("Body") == "Wat is lwoo?"


def test_whatsapp_signature_covers_blank_values_and_the_query_string() -> None:
    channel = WhatsAppInput.from_credentials(CREDS)
    blank = params(body="")
    body, signature = signed(blank, url=PUBLIC + PATH + "?a=1")
    assert channel.authentic(PATH, "a=1", FORM, body, signature)[1] == "ok"
    assert channel.authentic(PATH, "", FORM, body, signature)[1] == "bad signature"


@pytest.mark.parametrize("creds", [
    {},
    {**CREDS, "auth_token": ""},
    {**CREDS, "public_url": ""},
    {**CREDS, "account_sid": "${TWILIO_ACCOUNT_SID}"},  # unexpanded: counts as unset
], ids=["nothing", "no-token", "no-public-url", "unexpanded"])
def test_whatsapp_with_missing_secrets_refuses_everything(creds: dict[str, str]) -> None:
    channel = WhatsAppInput.from_credentials(creds)
    for token in ("", TOKEN):
        body, signature = signed(params(), token=token)
        form, why = channel.authentic(PATH, "", FORM, body, signature)
        assert form is None and why == "channel not configured"


@pytest.mark.parametrize("change, why", [
    (lambda b, s: (b, None, FORM), "no signature"),
    (lambda b, s: (b, "", FORM), "no signature"),
    (lambda b, s: (b, s, "application/json"), "not a form"),
    (lambda b, s: (b.replace(b"lwoo", b"LWOO"), s, FORM), "bad signature"),
    (lambda b, s: (b + b"&Extra=1", s, FORM), "bad signature"),
    (lambda b, s: (b, s[:-2] + "==", FORM), "bad signature"),
    (lambda b, s: (b"\xff\xfe", s, FORM), "unreadable form"),
    (lambda b, s: (b"x" * 70_000, s, FORM), "too large"),
])
def test_whatsapp_refuses_anything_else(change: object, why: str) -> None:
    channel = WhatsAppInput.from_credentials(CREDS)
    body, signature = signed(params())
    new_body, new_signature, content_type = change(body, signature)  # type: ignore[operator]
    form, reason = channel.authentic(PATH, "", content_type, new_body, new_signature)
    assert form is None and reason == why


def test_whatsapp_refuses_a_valid_signature_for_another_account() -> None:
    channel = WhatsAppInput.from_credentials(CREDS)
    body, signature = signed({**params(), "AccountSid": "AC" + "2" * 32})
    assert channel.authentic(PATH, "", FORM, body, signature) == (None, "other account")


def test_whatsapp_refuses_a_signature_over_another_url() -> None:
    channel = WhatsAppInput.from_credentials(CREDS)
    for url in ("https://evil.example" + PATH, "http://127.0.0.1:5005" + PATH,
                PUBLIC + "/webhooks/rest/webhook"):
        body, signature = signed(params(), url=url)
        assert channel.authentic(PATH, "", FORM, body, signature) == (None, "bad signature")


# ------------------------------------------------------------ Telegram authentication


def test_telegram_secret_is_compared_exactly() -> None:
    channel = TelegramSecureInput.from_credentials(
        {"access_token": "1:abc", "webhook_secret": "s3cret_A-1", "verify": "lwoo_bot"})
    assert channel.authentic("s3cret_A-1")
    for wrong in (None, "", "s3cret_A-", "s3cret_A-12", "S3CRET_A-1", " s3cret_A-1"):
        assert not channel.authentic(wrong)


@pytest.mark.parametrize("creds", [
    {}, {"access_token": "1:abc", "webhook_secret": ""},
    {"access_token": "", "webhook_secret": "s3cret"},
    {"access_token": "1:abc", "webhook_secret": "${TELEGRAM_WEBHOOK_SECRET}"},
])
def test_telegram_with_missing_secrets_refuses_everything(creds: dict[str, str]) -> None:
    channel = TelegramSecureInput.from_credentials(creds)
    for header in (None, "", "s3cret", "${TELEGRAM_WEBHOOK_SECRET}"):
        assert not channel.authentic(header)


def test_telegram_callback_data_fits_64_bytes() -> None:
    assert callback_data('/faq{"faq_topic": "handelingsplan"}') == (
        '/faq{"faq_topic": "handelingsplan"}')
    long = '/faq{"faq_topic": "' + "x" * 80 + '"}'
    data = callback_data(long)
    assert data.startswith("h:") and len(data.encode()) <= 64 and data == callback_data(long)


# ------------------------------------------------------------ ids, text, choices


def test_conversation_id_is_stable_and_hides_the_number() -> None:
    one = conversation_id("wa", "whatsapp:+31612345678", "secret")
    assert one == conversation_id("wa", "whatsapp:+31612345678", "secret")
    assert one.startswith("wa-") and "612345678" not in one and len(one) == 35
    assert one != conversation_id("wa", "whatsapp:+31612345679", "secret")
    assert one != conversation_id("wa", "whatsapp:+31612345678", "other")
    assert conversation_id("tg", "42", "secret") != conversation_id("wa", "42", "secret")


def test_split_message_keeps_short_text_and_cuts_at_boundaries() -> None:
    assert split_message("Kort bericht.", 1600) == ["Kort bericht."]
    text = "Eerste alinea.\n\n" + "Een zin over lwoo. " * 10 + "\n\nLaatste alinea."
    parts = split_message(text, 120)
    assert all(len(p) <= 120 for p in parts)
    assert parts[0] == "Eerste alinea." or parts[0].endswith(".")
    assert all(p.endswith(".") for p in parts)
    words = split_message("woord " * 100, 50)
    assert all(len(p) <= 50 and not p.startswith(" ") for p in words)
    assert " ".join(words).split() == ["woord"] * 100


def test_split_message_hard_cuts_and_counts_utf16() -> None:
    assert split_message("a" * 250, 100) == ["a" * 100, "a" * 100, "a" * 50]
    emoji = "😀" * 100  # 2 UTF-16 units each
    parts = split_message(emoji, 50)
    assert [utf16_len(p) for p in parts] == [50, 50, 50, 50]
    assert "".join(parts) == emoji


def test_numbered_options() -> None:
    assert numbered_options("Waar gaat uw vraag over?", ["Wat is lwoo?", "Contact"]) == (
        f"Waar gaat uw vraag over?\n\n1. Wat is lwoo?\n2. Contact\n\n{msg('channel.choice_hint')}")


@pytest.mark.parametrize("text, payload", [
    ("1", "/faq_a"), (" 2 ", "/request_human"), ("2.", "/request_human"),
    ("1)", "/faq_a"), ("wat is LWOO?", "/faq_a"),
    ("0", None), ("3", None), ("12", None), ("123456", None), ("14-03-2013", None),
    ("1 2", None), ("", None), ("stop", None),
])
def test_resolve_choice_maps_only_offered_numbers(text: str, payload: str | None) -> None:
    assert resolve_choice(text, OFFERED) == payload


def test_resolve_choice_without_an_offer_is_none() -> None:
    assert resolve_choice("1", []) is None


# ------------------------------------------------------------ delivery store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_dedupes_expires_and_stays_bounded() -> None:
    clock = Clock()
    store = MemoryStore(max_entries=3, clock=clock)
    assert await store.add("a", 10) is True
    assert await store.add("a", 10) is False
    clock.now += 11
    assert await store.add("a", 10) is True  # expired: a new delivery
    await store.put("k", "v", 5)
    assert await store.get("k") == "v"
    assert await store.take("k") == "v"
    assert await store.take("k") is None
    for key in "bcdef":
        await store.add(key, 100)
    assert len(store._data) <= 3


async def test_redis_store_falls_back_to_memory_when_redis_is_down() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    assert await store.add("sid-1", 60) is True
    assert await store.add("sid-1", 60) is False
    await store.put("k", "v", 60)
    assert await store.take("k") == "v"


async def test_redis_store_with_a_real_redis(redis_url: str) -> None:
    store = RedisStore(redis_url)
    assert await store.add("sid-1", 60) is True
    assert await store.add("sid-1", 60) is False
    assert await store._redis.ttl(RedisStore.PREFIX + "sid-1") > 0
    await store.put("k", "v", 60)
    assert await store.get("k") == "v"
    assert await store.take("k") == "v"
    assert await store.get("k") is None
    # pending messages are listed from an index (a sorted set), never by a SCAN
    await store.put("pending:whatsapp:sid:1", "x", 60)
    await store.put("pending:whatsapp:sid:2", "y", 30)
    assert sorted(await store.keys("pending:whatsapp:")) == [
        "pending:whatsapp:sid:1", "pending:whatsapp:sid:2"]
    assert await store.take("pending:whatsapp:sid:1") == "x"
    assert await store.keys("pending:whatsapp:") == ["pending:whatsapp:sid:2"]
    assert await store._redis.ttl(RedisStore.INDEX) > 0
    assert store._fallback._data == {}  # all of it went to Redis
    await store._redis.close()


def test_conversation_id_uses_a_key_derived_for_this_purpose_only() -> None:
    """The channel hash never uses HASH_SECRET itself: knowing one derived key (or
    computing HMACs with HASH_SECRET for another purpose) gives no sender id."""
    import hashlib
    import hmac

    from core.keys import derive_key

    secret = "unit-secret-0123456789abcdefghijklmn"
    ours = conversation_id("wa", "whatsapp:+31612345678", secret)
    raw = hmac.new(secret.encode(), b"channel-sender:wa:whatsapp:+31612345678",
                   hashlib.sha256).hexdigest()
    assert ours != f"wa-{raw[:32]}"  # the old, raw-secret derivation
    derived = hmac.new(derive_key(secret, "channel-sender"), b"wa:whatsapp:+31612345678",
                       hashlib.sha256).hexdigest()
    assert ours == f"wa-{derived[:32]}"
    assert derive_key(secret, "channel-sender") != derive_key(secret, "conversation")


def test_numbered_options_hint_in_the_messages_language() -> None:
    from core.translations import render

    text = numbered_options("Which language?", ["Nederlands", "English"], "en")
    assert text.endswith(render("messages", "channel.choice_hint", "en").text)
    assert "1. Nederlands\n2. English" in text


class SentForms:
    """Stands in for the provider's HTTP client: keeps what would be sent."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def post(self, url: str, name: str, **kwargs: object) -> None:
        data = kwargs.get("data")
        assert isinstance(data, dict)
        self.bodies.append(str(data.get("Body", "")))


async def test_two_button_lists_in_one_turn_are_numbered_on_and_all_can_be_typed() -> None:
    """An answer with its buttons and a second message with buttons (e.g. the concept
    note's "Dutch text") in one turn: the numbers go on, and every number shown works
    in the parent's next message (before, only the last list could be chosen by number)."""
    from bot.channels.delivery import ButtonMemory
    from bot.channels.whatsapp import TwilioConfig, WhatsAppOutput

    http, memory = SentForms(), ButtonMemory("whatsapp", MemoryStore())
    config = TwilioConfig(SID, TOKEN, "+14155238886", PUBLIC)
    out = WhatsAppOutput(config, http, "whatsapp:+31600000000", "conv-1",  # type: ignore[arg-type]
                         memory)
    await out.send_text_with_buttons("r", "Het antwoord.", [
        {"title": "Wat is lwoo?", "payload": "/faq_a"},
        {"title": "Zeg het eenvoudiger", "payload": "/say_simpler"}])
    await out.send_text_with_buttons("r", "Nog niet gecontroleerd.", [
        {"title": "Nederlandse tekst", "payload": "/show_dutch"}])
    assert "1. Wat is lwoo?\n2. Zeg het eenvoudiger" in http.bodies[0]
    assert "3. Nederlandse tekst" in http.bodies[1] and "1. " not in http.bodies[1]
    offered = await memory.take("conv-1")
    assert resolve_choice("1", offered) == "/faq_a"
    assert resolve_choice("3", offered) == "/show_dutch"
    assert resolve_choice("zeg het eenvoudiger", offered) == "/say_simpler"
    # the next turn's output starts again at 1
    again = WhatsAppOutput(config, http, "whatsapp:+31600000000", "conv-1",  # type: ignore[arg-type]
                           memory)
    await again.send_text_with_buttons("r", "Kies.", [{"title": "Ja", "payload": "/affirm"}])
    assert "1. Ja" in http.bodies[-1]
    assert await memory.take("conv-1") == [("Ja", "/affirm")]
