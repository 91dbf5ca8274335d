"""Telegram (``/webhooks/telegram/webhook``), built on Rasa's Telegram channel.

Differences from Rasa's stock ``TelegramInput``:
* every webhook must carry ``X-Telegram-Bot-Api-Secret-Token`` equal to
  TELEGRAM_WEBHOOK_SECRET (set with ``setWebhook(secret_token=...)``), compared in
  constant time. Anything else: 403 and no conversation events. With the token or the
  secret unset the channel refuses every webhook. (The stock channel checks nothing but
  asks Telegram ``getMe`` on every update, and exposes an unauthenticated
  ``/set_webhook``; neither is here);
* nothing is sent to Telegram at start-up; messages are sent with aiohttp (timeouts) to
  TELEGRAM_API_BASE, so tests run against a local stand-in (aiogram's ``Bot``, which the
  stock channel uses, always talks to api.telegram.org);
* the same ``update_id`` is processed once (:mod:`bot.channels.delivery`);
* the Rasa sender id is an HMAC of the chat id; only private chats are served;
* buttons become an inline keyboard; ``callback_query`` answers are handled (and
  acknowledged); long answers are split at 4096 characters; media, locations, stickers
  and empty messages get a short Dutch reply; input hygiene from
  :mod:`bot.channels.common`. ``/start`` is a greeting.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.delivery import (
    Delivery,
    ProviderHttp,
    TtlStore,
    button_pairs,
    credential,
    process_once,
    run_turn,
    split_message,
)
from bot.channels.webhook import SignedWebhook
from core.texts import text as msg

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_CHARS = 4096
MAX_CALLBACK_BYTES = 64
MAX_BODY_BYTES = 256 * 1024
DEFAULT_API_BASE = "https://api.telegram.org"
GREETING_PAYLOAD = "/greet"
_START = re.compile(r"^/start(@\w+)?(\s.*)?$", re.DOTALL)
_HASHED_CALLBACK = "h:"
CALLBACK_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class TelegramConfig:
    bot_token: str
    webhook_secret: str
    bot_name: str = ""
    api_base: str = DEFAULT_API_BASE

    @property
    def complete(self) -> bool:
        return bool(self.bot_token and self.webhook_secret)

    def method_url(self, method: str) -> str:
        base = (self.api_base or DEFAULT_API_BASE).rstrip("/")
        return f"{base}/bot{self.bot_token}/{method}"


def callback_data(payload: str) -> str:
    """Telegram allows 64 bytes of callback data: longer payloads go by their hash."""
    if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        return payload
    return _HASHED_CALLBACK + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class TelegramOutput(OutputChannel):
    """Sends to the chat of the current update (the Rasa sender id is a hash)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, config: TelegramConfig, http: ProviderHttp, chat_id: int | None,
                 conversation: str | None = None, store: TtlStore | None = None) -> None:
        self.config = config
        self.http = http
        self.chat_id = chat_id
        self.conversation = conversation
        self.store = store
        self.sent = 0

    async def call(self, method: str, payload: dict[str, Any]) -> None:
        await self.http.post(self.config.method_url(method), method, json=payload)

    async def say(self, text: str, reply_markup: dict[str, Any] | None = None) -> None:
        if self.chat_id is None:
            logger.warning("telegram: no chat for an outgoing message; dropped")
            return
        parts = split_message(text, MAX_CHARS) or [text]
        for index, part in enumerate(parts):
            payload: dict[str, Any] = {"chat_id": self.chat_id, "text": part}
            if reply_markup and index == len(parts) - 1:
                payload["reply_markup"] = reply_markup
            self.sent += 1
            await self.call("sendMessage", payload)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.say(text)

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        rows = []
        for title, payload in button_pairs(buttons):
            data = callback_data(payload)
            if data != payload and self.store is not None and self.conversation:
                await self.store.put(f"callback:{self.conversation}:{data}", payload,
                                     CALLBACK_TTL)
            rows.append([{"text": title, "callback_data": data}])
        await self.say(text, {"inline_keyboard": rows} if rows else None)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        if self.chat_id is not None:
            self.sent += 1
            await self.call("sendPhoto", {"chat_id": self.chat_id, "photo": image})

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.say(str(attachment))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any],
                               **kwargs: Any) -> None:
        logger.warning("telegram: custom JSON messages are not supported; dropped")


class TelegramSecureInput(SignedWebhook, TelegramInput):
    """Authenticated Telegram input channel."""

    provider = CHANNEL
    id_prefix = "tg"

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramSecureInput:
        def value(key: str) -> str:
            return credential(credentials, key)

        return cls(TelegramConfig(
            bot_token=value("access_token"),
            webhook_secret=value("webhook_secret"),
            bot_name=value("verify"),
            api_base=value("api_base") or DEFAULT_API_BASE,
        ))

    def __init__(self, config: TelegramConfig, store: TtlStore | None = None,
                 secret: str | None = None) -> None:
        super().__init__(config.bot_token, config.bot_name, None, debug_mode=False)
        self.init_webhook(config, store, secret,
                          "TELEGRAM_BOT_TOKEN/TELEGRAM_WEBHOOK_SECRET not set")

    def authentic(self, secret_header: str | None) -> bool:
        """True when the request carries our webhook secret (constant-time compare)."""
        if not self.config.complete or not secret_header:
            return False
        return hmac.compare_digest(secret_header.encode("utf-8"),
                                   self.config.webhook_secret.encode("utf-8"))

    def get_output_channel(self) -> TelegramOutput:  # type: ignore[override]
        """No set_webhook call here (the stock channel calls Telegram at start-up)."""
        return TelegramOutput(self.config, self.http, None)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = self.webhook_blueprint("lwoo_telegram_webhook")

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.authentic(request.headers.get("x-telegram-bot-api-secret-token")):
                logger.warning("telegram webhook refused (403): wrong or missing secret")
                return response.text("forbidden", status=403)
            if len(request.body) > MAX_BODY_BYTES:
                return response.text("too large", status=413)
            try:
                update = request.json
            except Exception:  # noqa: BLE001 - sanic raises InvalidUsage on bad JSON
                update = None
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return response.text("bad request", status=400)
            try:
                outcome = await process_once(self.store, CHANNEL, [str(update["update_id"])],
                                             lambda: self.handle(on_new_message, update))
            except Exception as exc:  # noqa: BLE001 - Telegram retries a 500
                logger.error("telegram: delivery failed (%s); Telegram will retry",
                             type(exc).__name__)
                return response.text("error", status=500)
            if outcome is Delivery.BUSY:
                return response.text("busy", status=503)  # retried later
            if outcome is Delivery.DUPLICATE:
                logger.info("telegram: duplicate delivery ignored")
            return response.text("ok")

        return webhook

    async def handle(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                     update: dict[str, Any]) -> None:
        callback = update.get("callback_query")
        if isinstance(callback, dict):
            await self._handle_callback(on_new_message, callback)
            return
        edited = update.get("edited_message")
        if isinstance(edited, dict):
            chat = _private_chat(edited)
            if chat is not None:
                await TelegramOutput(self.config, self.http, chat).say(msg("channel.edited"))
            return
        message = update.get("message")
        if not isinstance(message, dict):
            return  # channel posts, membership changes, ...: nothing to answer
        chat_id = _chat_id(message)
        if chat_id is None:
            return
        out = self._output(chat_id)
        if _private_chat(message) is None:
            await out.say(msg("telegram.private_only"))
            return
        text = message.get("text")
        if not isinstance(text, str):
            # photo, voice, sticker, location, document, contact, ...
            await out.say(msg("channel.media"))
            return
        if _START.match(text.strip()):
            text = GREETING_PAYLOAD
        await self._turn(on_new_message, out, text)

    async def _handle_callback(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                               callback: dict[str, Any]) -> None:
        callback_id = callback.get("id")
        message = callback.get("message")
        chat_id = _private_chat(message) if isinstance(message, dict) else None
        out = self._output(chat_id)
        if isinstance(callback_id, str):
            await out.call("answerCallbackQuery", {"callback_query_id": callback_id})
        if chat_id is None:
            return
        data = callback.get("data")
        if not isinstance(data, str):
            return
        if data.startswith(_HASHED_CALLBACK):
            stored = await self.store.get(f"callback:{out.conversation}:{data}")
            if stored is None:
                return
            data = stored
        await self._turn(on_new_message, out, data)

    def _output(self, chat_id: int | None) -> TelegramOutput:
        conversation = self.conversation_for(chat_id) if chat_id is not None else None
        return TelegramOutput(self.config, self.http, chat_id, conversation, self.store)

    async def _turn(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                    out: TelegramOutput, raw: str) -> None:
        assert out.conversation is not None
        await run_turn(on_new_message, out, out.conversation, CHANNEL, raw, out.say)


def _chat_id(message: dict[str, Any]) -> int | None:
    chat = message.get("chat")
    if isinstance(chat, dict) and isinstance(chat.get("id"), int):
        return int(chat["id"])
    return None


def _private_chat(message: dict[str, Any]) -> int | None:
    """The chat id when ``message`` is in a private chat, else None."""
    chat = message.get("chat")
    if isinstance(chat, dict) and chat.get("type") == "private":
        return _chat_id(message)
    return None
