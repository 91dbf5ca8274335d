"""WhatsApp via Twilio (``/webhooks/whatsapp/webhook``), built on Rasa's Twilio channel.

Differences from Rasa's stock ``TwilioInput``:
* every webhook must carry a valid ``X-Twilio-Signature`` (twilio's RequestValidator),
  computed over the *public* URL from config (TWILIO_PUBLIC_URL + path), never over the
  Host header; the AccountSid must be ours. Anything else: 403 and no conversation
  events. With any secret unset the channel refuses every webhook;
* the same MessageSid is processed once (:mod:`bot.channels.delivery`), and a message
  is kept (encrypted) until it was processed: Twilio does not retry a webhook whose
  node died mid-turn, so another node's sweeper processes it once its lease expired;
* the Rasa sender id is an HMAC of the WhatsApp address: phone numbers never reach the
  tracker store or the logs (the stock channel logs exceptions with the message);
* buttons become numbered options; the parent may answer with the number (or the
  title) of an option offered in the bot's previous turn (numbered across the turn's
  messages when more than one has buttons: an answer's and the concept note's);
* answers are split at WhatsApp's 1600 characters; media, locations, stickers and empty
  messages get a short Dutch reply; input hygiene from :mod:`bot.channels.common`;
* messages are sent with aiohttp (timeouts, no blocking client) to TWILIO_API_BASE,
  so tests run against a local stand-in.

Being able to write from a phone number proves nothing about who the parent is: the
status lookup still needs the one-time e-mail code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.channels.delivery import (
    ButtonMemory,
    Delivery,
    PendingDeliveries,
    ProviderHttp,
    TtlStore,
    already_done,
    button_pairs,
    credential,
    numbered_options,
    process_once,
    resolve_choice,
    run_turn,
    split_message,
    sweep_forever,
    sweep_pending,
)
from bot.channels.webhook import SignedWebhook
from core.texts import text as msg

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
MAX_CHARS = 1600
MAX_BODY_BYTES = 64 * 1024
DEFAULT_API_BASE = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# the form fields a turn needs, kept while a message is pending (nothing else)
PENDING_FIELDS = ("From", "Body", "NumMedia", "Latitude", "Longitude")


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    whatsapp_number: str
    public_url: str
    api_base: str = DEFAULT_API_BASE

    @property
    def complete(self) -> bool:
        return all((self.account_sid, self.auth_token, self.whatsapp_number, self.public_url))

    @property
    def sender_address(self) -> str:
        number = self.whatsapp_number.strip()
        return number if number.startswith("whatsapp:") else f"whatsapp:{number}"

    @property
    def messages_url(self) -> str:
        base = (self.api_base or DEFAULT_API_BASE).rstrip("/")
        return f"{base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


class FormParams(dict[str, list[str]]):
    """The POST form with blank values kept (Twilio signs them too); has ``getlist``
    for twilio's RequestValidator."""

    def getlist(self, name: str) -> list[str]:
        return self.get(name, [])

    def first(self, name: str) -> str:
        values = self.get(name)
        return values[0] if values else ""


def parse_form(body: bytes) -> FormParams | None:
    try:
        return FormParams(parse_qs(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


class WhatsAppOutput(OutputChannel):
    """Sends to the one WhatsApp address of the current delivery (the Rasa sender id is a
    hash, so the address travels with the output channel, not through the tracker)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, config: TwilioConfig, http: ProviderHttp, address: str | None,
                 conversation: str | None = None,
                 buttons: ButtonMemory | None = None) -> None:
        self.config = config
        self.http = http
        self.address = address
        self.conversation = conversation
        self.buttons = buttons
        self.sent = 0
        self.offered: list[tuple[str, str]] = []  # every button of this turn, in order

    async def _send(self, body: str = "", media_url: str | None = None) -> None:
        if not self.address:
            logger.warning("whatsapp: no address for an outgoing message; dropped")
            return
        form = {"To": self.address, "From": self.config.sender_address}
        if body:
            form["Body"] = body
        if media_url:
            form["MediaUrl"] = media_url
        self.sent += 1
        await self.http.post(
            self.config.messages_url, "send",
            data=form, auth=aiohttp.BasicAuth(self.config.account_sid, self.config.auth_token),
        )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for part in split_message(text, MAX_CHARS):
            await self._send(part)

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        pairs = button_pairs(buttons)
        start = len(self.offered) + 1  # one output per delivery: numbers go on in the turn
        self.offered += pairs
        if pairs and self.buttons and self.conversation:
            await self.buttons.remember(self.conversation, self.offered)
        language = (kwargs.get("lwoo") or {}).get("language")  # core.localize metadata
        await self.send_text_message(recipient_id, numbered_options(
            text, [t for t, _ in pairs], language if isinstance(language, str) else None,
            start))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(media_url=image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any],
                               **kwargs: Any) -> None:
        logger.warning("whatsapp: custom JSON messages are not supported; dropped")


class WhatsAppInput(SignedWebhook, TwilioInput):
    """Authenticated WhatsApp (Twilio) input channel."""

    provider = CHANNEL
    id_prefix = "wa"

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        def value(key: str) -> str:
            return credential(credentials, key)

        return cls(TwilioConfig(
            account_sid=value("account_sid"),
            auth_token=value("auth_token"),
            whatsapp_number=value("twilio_number"),
            public_url=value("public_url"),
            api_base=value("api_base") or DEFAULT_API_BASE,
        ))

    def __init__(self, config: TwilioConfig, store: TtlStore | None = None,
                 secret: str | None = None) -> None:
        super().__init__(config.account_sid, config.auth_token, config.whatsapp_number,
                         debug_mode=False)
        self.init_webhook(config, store, secret, "TWILIO_* settings incomplete")

    def public_url(self, path: str, query_string: str) -> str:
        url = self.config.public_url.rstrip("/") + path
        return f"{url}?{query_string}" if query_string else url

    def authentic(self, path: str, query_string: str, content_type: str, body: bytes,
                  signature: str | None) -> tuple[FormParams | None, str]:
        """(form, "ok") when the request is a genuine Twilio webhook for our account,
        else (None, why not). Never raises."""
        if not self.config.complete:
            return None, "channel not configured"
        if not signature:
            return None, "no signature"
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            return None, "not a form"
        if len(body) > MAX_BODY_BYTES:
            return None, "too large"
        form = parse_form(body)
        if form is None:
            return None, "unreadable form"
        validator = RequestValidator(self.config.auth_token)
        try:
            valid = validator.validate(self.public_url(path, query_string), form, signature)
        except Exception:  # noqa: BLE001 - a malformed request is simply not authentic
            valid = False
        if not valid:
            return None, "bad signature"
        if form.first("AccountSid") != self.config.account_sid:
            return None, "other account"
        return form, "ok"

    def get_output_channel(self) -> OutputChannel:
        """Without a current delivery there is no address to send to (Rasa only asks for
        this outside a webhook, e.g. from the disabled HTTP API)."""
        return WhatsAppOutput(self.config, self.http, None)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = self.webhook_blueprint("lwoo_whatsapp_webhook")
        buttons = ButtonMemory(CHANNEL, self.store)
        sweeper: dict[str, asyncio.Task[None]] = {}

        def pending() -> PendingDeliveries:
            return PendingDeliveries(self.store, CHANNEL, self.secret)

        def work_for(fields: dict[str, str]) -> Callable[[], Awaitable[None]]:
            form = FormParams({name: [value] for name, value in fields.items()})
            address = form.first("From")
            conversation = self.conversation_for(address)
            out = WhatsAppOutput(self.config, self.http, address, conversation, buttons)
            return lambda: self.handle(on_new_message, form, conversation, out, buttons)

        @webhook.listener("after_server_start")
        async def start_sweeper(*_: Any) -> None:
            if self.config.complete:
                sweeper["task"] = asyncio.ensure_future(sweep_forever(
                    lambda: sweep_pending(self.store, pending(), CHANNEL, work_for)))

        @webhook.listener("before_server_stop")
        async def stop_sweeper(*_: Any) -> None:
            task = sweeper.pop("task", None)
            if task is not None:
                task.cancel()

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            form, why = self.authentic(request.path, request.query_string,
                                       request.headers.get("content-type", ""), request.body,
                                       request.headers.get("x-twilio-signature"))
            if form is None:
                logger.warning("whatsapp webhook refused (403): %s", why)
                return response.text("forbidden", status=403)
            done = response.text(EMPTY_TWIML, content_type="text/xml")
            sid = form.first("MessageSid") or form.first("SmsMessageSid")
            if form.first("MessageStatus") or not sid:
                return done  # a status callback, not a message
            address = form.first("From")
            if not address.startswith("whatsapp:"):
                return done  # SMS or anything else is not this channel's business
            # Twilio's idempotency token (same on its retries) first, then the MessageSid
            # (same on a replay of a captured request): both remembered 30 days
            token = request.headers.get("i-twilio-idempotency-token", "").strip()[:128]
            ids = [*([f"token:{token}"] if token else []), f"sid:{sid}"]
            if await already_done(self.store, CHANNEL, ids):
                logger.info("whatsapp: duplicate delivery ignored")
                return done
            # kept before the turn starts: if this node dies mid-turn, another node's
            # sweeper processes it once the lease expired (Twilio would not retry)
            fields = {name: form.first(name) for name in PENDING_FIELDS if form.get(name)}
            waiting = pending()
            await waiting.accept(ids, fields)
            try:
                outcome = await process_once(self.store, CHANNEL, ids, work_for(fields))
            except Exception as exc:  # noqa: BLE001 - stays pending: the sweeper retries
                logger.error("whatsapp: delivery failed (%s); kept for a retry",
                             type(exc).__name__)
                return done
            if outcome is Delivery.BUSY:
                # a Twilio retry while another node holds the lease: that node answers,
                # or, if it died, the sweeper does. A 503 would not make Twilio retry
                # later (its retries end within 15 s), so accept it.
                logger.info("whatsapp: delivery being processed elsewhere; kept pending")
                return done
            await waiting.forget(ids[0])
            if outcome is Delivery.DUPLICATE:
                logger.info("whatsapp: duplicate delivery ignored")
            return done

        return webhook

    async def handle(self, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                     form: FormParams, conversation: str, out: WhatsAppOutput,
                     buttons: ButtonMemory) -> None:
        offered = await buttons.take(conversation)
        has_media = form.first("NumMedia") not in ("", "0")
        is_location = bool(form.first("Latitude") or form.first("Longitude"))
        if has_media or is_location:
            await out.send_text_message(conversation, msg("channel.media"))
            return
        raw = form.first("Body")

        async def say(text: str) -> None:
            await out.send_text_message(conversation, text)

        await run_turn(on_new_message, out, conversation, CHANNEL,
                       resolve_choice(raw, offered) or raw, say)
