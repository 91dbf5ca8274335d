"""What the two signed-webhook channels (WhatsApp via Twilio, Telegram) share.

A provider calls our webhook; the request must prove it comes from the provider (Twilio's
signature, Telegram's secret token), each delivery is processed once
(:func:`bot.channels.delivery.process_once`), answers go out over the provider's API with
one HTTP session. :class:`SignedWebhook` holds that common part — the provider settings,
the channel store, the sender-id key, the HTTP session, the health route and closing the
session — so each channel only says how its requests are authenticated and read.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.delivery import ProviderHttp, TtlStore, conversation_id, get_store, hash_secret

logger = logging.getLogger(__name__)


class ProviderConfig(Protocol):
    @property
    def complete(self) -> bool:
        """All settings a genuine webhook needs are there."""


class SignedWebhook:
    """Mixin for an input channel whose webhook a provider calls with proof of origin."""

    provider: str  # "whatsapp" / "telegram": logs and the HTTP session
    id_prefix: str  # the conversation-id namespace: "wa" / "tg" (core/namespaces.py)
    config: Any

    def init_webhook(self, config: ProviderConfig, store: TtlStore | None,
                     secret: str | None, missing: str) -> None:
        """Keep the settings; warn (once, at start) when the channel cannot work."""
        self.config = config
        self._store = store
        self._secret = secret
        self.http = ProviderHttp(self.provider)
        if not config.complete:
            logger.warning("%s channel: %s; every webhook is refused with 403",
                           self.provider, missing)

    @property
    def store(self) -> TtlStore:
        """Deliveries seen, buttons offered, pending messages (SQLite or Redis)."""
        if self._store is None:
            self._store = get_store()
        return self._store

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = hash_secret()
        return self._secret

    def conversation_for(self, provider_user_id: str | int) -> str:
        """The Rasa sender id of a provider user: keyed, never the number or chat id."""
        return conversation_id(self.id_prefix, str(provider_user_id), self.secret)

    def webhook_blueprint(self, name: str) -> Blueprint:
        """A blueprint with the health route and the HTTP session closed at stop."""
        webhook = Blueprint(name, __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.listener("after_server_stop")
        async def close_http(*_: Any) -> None:
            await self.http.close()

        return webhook
