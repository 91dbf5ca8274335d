"""REST channel (``/webhooks/rest/webhook``) for tests, staff tools and integrations.

Differences from Rasa's stock RestInput:
* the body is validated (sender id and message text), with Dutch replies for bad input;
* client ``metadata`` is ignored;
* slash commands are limited to button payloads (:mod:`bot.channels.common`);
* errors are logged without the message text (the stock channel logs it);
* a parent is never left without an answer;
* sender ids in another channel's namespace (``web-``, ``wa-``, ``tg-``) are refused
  (:mod:`core.namespaces`), so REST can never speak for a website or messaging conversation;
* when Rasa listens on a non-loopback interface (``BIND_HOST``), or a request arrives on
  one, every request needs ``Authorization: Bearer <REST_API_TOKEN>`` (constant-time
  compare; without a configured token such requests get 401, and ``python -m bot run``
  refuses to start) and is rate-limited per client address and per sender (429); with
  ``REDIS_URL`` set (a cluster) the limits are counted in Redis, shared by every node and
  worker, else per process.

The embedded default on 127.0.0.1 stays open for staff tools and tests. The public nginx
front never routes this channel (deploy/nginx.conf.template answers 404); an integration
calls a node directly on its internal address with the token (README, "REST for
integrations").
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import (
    BodyLimitedBlueprint,
    LocalRateLimiter,
    SharedRateLimiter,
    check_message,
    no_answer,
    sanitize_text,
)
from bot.tracker_store import TurnNotProcessed, not_processed_message
from core.namespaces import reserved
from core.settings import get_settings, is_loopback, rest_token_problem
from core.texts import text as msg

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 64
SENDER_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")



def bearer_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not token or not isinstance(header, str):
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def parse_body(body: Any) -> tuple[str, str] | None:
    """Return (sender, raw text) from a JSON body, or None when it is malformed."""
    if not isinstance(body, dict):
        return None
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not SENDER_PATTERN.match(sender):
        return None
    if not isinstance(message, str):
        return None
    return sender, message


class RestInput(InputChannel):
    """Validated REST input channel; answers are returned in the HTTP response."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self) -> None:
        settings = get_settings()
        problem = rest_token_problem(settings.bind_host, settings.rest_api_token)
        if problem:  # also when Rasa is started without `python -m bot run`
            raise RuntimeError(problem)
        self._bind_public = settings.rest_is_public
        self._token = settings.rest_api_token
        redis_url = settings.redis_url
        self._per_sender: SharedRateLimiter | LocalRateLimiter
        self._per_address: SharedRateLimiter | LocalRateLimiter
        if redis_url:  # several processes: one shared budget
            self._per_sender = SharedRateLimiter(redis_url, "sender",
                                                 settings.rest_rate_per_sender,
                                                 settings.hash_secret)
            self._per_address = SharedRateLimiter(redis_url, "address",
                                                  settings.rest_rate_per_address,
                                                  settings.hash_secret)
        else:
            self._per_sender = LocalRateLimiter(settings.rest_rate_per_sender)
            self._per_address = LocalRateLimiter(settings.rest_rate_per_address)

    def _public_request(self, request: Request) -> bool:
        """Does this request need the token? Yes when Rasa listens beyond loopback or the
        connection arrived on a non-loopback address of this machine."""
        if self._bind_public:
            return True
        sockname = getattr(getattr(request, "conn_info", None), "sockname", None)
        if not isinstance(sockname, tuple) or not sockname:  # a UNIX socket: local
            return False
        return not is_loopback(str(sockname[0]))

    async def _refusal(self, request: Request) -> HTTPResponse | None:
        """401/429 for a public request without the token or over the address limit
        (checked before the body is parsed)."""
        if not self._public_request(request):
            return None
        if not bearer_matches(request.headers.get("authorization"), self._token):
            return response.json({"error": msg("rest.unauthorized")}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
        if not await self._per_address.allow(str(request.ip or "unknown")):
            return self._rate_limited()
        return None

    async def _sender_refusal(self, request: Request, sender: str) -> HTTPResponse | None:
        if self._public_request(request) and not await self._per_sender.allow(sender):
            return self._rate_limited()
        return None

    @staticmethod
    def _rate_limited() -> HTTPResponse:
        logger.warning("rest request rate limited")
        return response.json({"error": msg("rest.rate_limited")}, status=429,
                             headers={"Retry-After": "60"})

    async def handle(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender: str,
        text: str,
        metadata: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Run one turn and return the bot's messages (never an empty list)."""
        text = sanitize_text(text)
        problem = check_message(text)
        if problem:
            return [{"recipient_id": sender, "text": problem}]
        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=self.name(),
                            metadata=metadata or {})
            )
        except TurnNotProcessed:  # cluster: database or lock store down (bot/tracker_store.py)
            # whatever the bot said was not stored: say so instead of pretending
            return [{"recipient_id": sender, "text": not_processed_message()}]
        except Exception as exc:  # noqa: BLE001 - any failure must still answer the parent
            logger.error("rest turn failed: %s", type(exc).__name__)
        if not collector.messages:
            return [{"recipient_id": sender, "text": no_answer()}]
        return collector.messages

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = BodyLimitedBlueprint("lwoo_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            refused = await self._refusal(request)
            return refused or response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refused = await self._refusal(request)
            if refused is not None:
                return refused
            try:
                body = request.json
            except Exception:  # noqa: BLE001 - sanic raises InvalidUsage on bad JSON
                body = None
            parsed = parse_body(body)
            if parsed is None:
                problem = msg("rest.bad_request", max_sender=MAX_SENDER_CHARS)
                return response.json({"error": problem}, status=400)
            sender, text = parsed
            if reserved(sender):
                logger.info("rest request refused: sender id of another channel")
                return response.json({"error": msg("rest.reserved_sender")}, status=400)
            refused = await self._sender_refusal(request, sender)
            if refused is not None:
                return refused
            metadata = await self.server_metadata(request, sender)
            return response.json(await self.handle(on_new_message, sender, text, metadata))

        return webhook

    async def server_metadata(self, request: Request, sender: str) -> dict[str, Any]:
        """Metadata the server itself vouches for (never taken from the client)."""
        return {}
