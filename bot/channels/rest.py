"""REST channel (``/webhooks/rest/webhook``) for tests, staff tools and integrations.

Differences from Rasa's stock RestInput:
* the body is validated (sender id and message text), with Dutch replies for bad input;
* client ``metadata`` is ignored;
* slash commands are limited to button payloads (:mod:`bot.channels.common`);
* errors are logged without the message text (the stock channel logs it);
* a parent is never left without an answer.

In production this channel stays on 127.0.0.1 (or behind the proxy's allow-list):
anyone who can reach it can pick any sender id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import check_message, sanitize_text
from bot.tracker_store import NOT_PROCESSED_MESSAGE, TurnNotProcessed

logger = logging.getLogger(__name__)

SENDER_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
BAD_REQUEST = (
    'Ongeldig verzoek: stuur JSON met "sender" (letters, cijfers, - _ . :, max. 64 tekens) '
    'en "message" (tekst).'
)
NO_ANSWER = (
    "Er ging iets mis aan mijn kant, sorry. Probeert u het over een paar minuten opnieuw, "
    "of neem contact op met de administratie van school."
)


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
            return [{"recipient_id": sender, "text": NOT_PROCESSED_MESSAGE}]
        except Exception as exc:  # noqa: BLE001 - any failure must still answer the parent
            logger.error("rest turn failed: %s", type(exc).__name__)
        if not collector.messages:
            return [{"recipient_id": sender, "text": NO_ANSWER}]
        return collector.messages

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("lwoo_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # noqa: BLE001 - sanic raises InvalidUsage on bad JSON
                body = None
            parsed = parse_body(body)
            if parsed is None:
                return response.json({"error": BAD_REQUEST}, status=400)
            sender, text = parsed
            metadata = await self.server_metadata(request, sender)
            return response.json(await self.handle(on_new_message, sender, text, metadata))

        return webhook

    async def server_metadata(self, request: Request, sender: str) -> dict[str, Any]:
        """Metadata the server itself vouches for (never taken from the client)."""
        return {}
