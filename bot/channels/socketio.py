"""Socket.io channel for the website chat widget (``bot/web``), plus the widget files.

A subclass of Rasa 3.6's ``SocketIOInput`` that closes the stock channel's holes:

* **The server decides the conversation id.** At connect a random id is made and kept in
  the socket.io session; ``session_request`` and the ``session_id`` in messages are
  ignored, so a client cannot join somebody else's conversation. A reconnecting client
  (same tab, page reload) resumes only with the *resume token* the server gave it: the
  conversation id, a token id (jti), the time and an HMAC (a key of its own derived
  from ``HASH_SECRET``), valid only from the ``Origin`` it was issued for (the origin is
  part of the HMAC) and for ``WIDGET_RESUME_TTL_S`` after the last turn. On top, the
  records store (shared by every node) keeps, per conversation HMAC, a keyed hash of the
  ONE token id that may resume it: a resume replaces it (a token works once), the token
  is rotated when the parent gets verified or the verification is cleared (a new
  session), and "Gesprek wissen" revokes the conversation for good. A connection whose
  conversation was resumed elsewhere or ended gets a Dutch notice and is closed at its
  next message. Store down: a resume fails closed (new conversation), chatting works.
* **Origin allow-list.** The ``Origin`` header must be in ``ALLOWED_ORIGINS`` (or be this
  server's own loopback origin, for ``/chat``); anything else, or no Origin, is refused at
  connect. Only the WebSocket transport is accepted (browsers always send an Origin there).
* **Portal JWT.** An optional ``portal_token`` in the connect ``auth`` payload is checked
  with :func:`core.portal.verify_portal_token`; when valid the conversation is granted
  with ``get_verifier().grant_portal`` (claims stay on the server; the client only hears
  that it worked). A bad, expired or unconfigured token does *not* refuse the
  connection: the parent can still ask questions and gets a Dutch notice that the portal
  login was not accepted (status questions then go through the e-mail code).
* **Input hygiene.** Client metadata is ignored; text goes through
  :func:`bot.channels.common.sanitize_text` and :func:`~bot.channels.common.check_message`;
  at most ``RATE_LIMIT_MESSAGES`` per ``RATE_LIMIT_WINDOW_S`` per connection (Dutch reply);
  frames over ``MAX_FRAME_BYTES`` close the connection. Message text is never logged.
* **Always an answer.** A turn that yields no bot message gets the Dutch "no answer"
  message (:func:`~bot.channels.common.no_answer`); after every turn the server emits
  ``turn_done`` (with a fresh resume token) so the widget can stop its typing indicator.
* **Languages.** Every bot message carries ``metadata.language`` (the language of its
  text as the NLG or action gave it, ``lwoo.language``; ``nl`` when none) and
  ``turn_done`` the conversation's language (``lwoo.requested`` of the turn's last
  answer), so the widget sets ``lang``/``dir`` per message and its labels follow the
  conversation (a Dutch fallback text in an Arabic conversation is a Dutch message).
  The widget's labels and privacy notice in every language are served as
  ``/widget/texts.json`` (:func:`core.widget_texts.widget_payload`): an edit of the data
  files needs no rebuild of the widget.
* **One object per connection.** :class:`WidgetConnection` holds a tab's conversation and
  token and has one method per socket.io event; the blueprint only routes events to it.

It also serves the demo page ``/chat`` and the widget files under ``/widget/`` with a
strict Content-Security-Policy (see docs/widget.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from bot.channels.common import check_message, limit_body_size, no_answer, sanitize_text
from bot.tracker_store import TurnNotProcessed, not_processed_message
from core.blocking import BlockingPool
from core.texts import text as msg

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
BUNDLE_PATH = WEB_DIR / "dist" / "lwoo-chat.js"
STYLE_PATH = WEB_DIR / "src" / "lwoo-chat.css"
DEMO_PAGE_PATH = WEB_DIR / "demo.html"
WIDGET_FILES: dict[str, tuple[Path, str]] = {
    "lwoo-chat.js": (BUNDLE_PATH, "text/javascript; charset=utf-8"),
    "lwoo-chat.css": (STYLE_PATH, "text/css; charset=utf-8"),
    "demo.css": (WEB_DIR / "src" / "demo.css", "text/css; charset=utf-8"),
    "favicon.svg": (WEB_DIR / "src" / "favicon.svg", "image/svg+xml"),
}

RESUME_TTL_S = 30 * 60  # default of WIDGET_RESUME_TTL_S
RATE_LIMIT_MESSAGES = 10
RATE_LIMIT_WINDOW_S = 10.0
MAX_FRAME_BYTES = 32 * 1024
GRANT_TIMEOUT_S = 5.0
CONVERSATION_PREFIX = "web-"
_CONVERSATION_ID = re.compile(r"^web-[0-9a-f]{32}$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{32}$")
RESUME_STORE_TIMEOUT_S = 2.0
# the check before a turn delays the answer: a healthy store answers in milliseconds
RESUME_OWNER_TIMEOUT_S = 1.0
RESUME_STORE_BACKOFF_S = 5.0
RESUME_STORE_WORKERS = 4
RESUME_STORE_QUEUE = 16
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$")
TURN_DONE_EVT = "turn_done"
TEXTS_FILE = "texts.json"  # /widget/texts.json: the widget's texts in every language
END_SESSION_EVT = "end_session"


# -- resume tokens ----------------------------------------------------------------------

@lru_cache(maxsize=4)
def _resume_key(secret: str) -> bytes:
    # a key of its own, derived from HASH_SECRET like the verifier's per-purpose keys
    from core.keys import derive_key

    return derive_key(secret, "socket.io resume token")


def new_conversation_id() -> str:
    """A fresh, unguessable conversation id (the Rasa sender id)."""
    return CONVERSATION_PREFIX + secrets.token_hex(16)


def new_token_id() -> str:
    """A fresh token id (jti): the records store keeps a keyed hash of the current one."""
    return secrets.token_hex(16)


def _resume_mac(secret: str, body: str, origin: str) -> str:
    # the Origin the token was issued for is part of the MAC (not of the token): a token
    # captured on one site is worthless on another
    message = f"{body}\x00{normalize_origin(origin)}".encode()
    return hmac.new(_resume_key(secret), message, hashlib.sha256).hexdigest()


def issue_resume_token(conversation_id: str, token_id: str, secret: str,
                       now: float | None = None, origin: str = "") -> str:
    """``<conversation id>.<token id>.<issued at>.<HMAC>``, for ``origin`` only. Whether
    it resumes is decided server-side as well: only the conversation's current token id
    works (:meth:`core.verification.Verifier.resume_claim`)."""
    issued = str(int(time.time() if now is None else now))
    body = f"{conversation_id}.{token_id}.{issued}"
    return f"{body}.{_resume_mac(secret, body, origin)}"


def read_resume_token(token: object, secret: str, now: float | None = None,
                      ttl_s: float = RESUME_TTL_S,
                      origin: str = "") -> tuple[str, str] | None:
    """(conversation id, token id) of a well-formed, unexpired token that this server
    issued for ``origin``, else None. The server-side check comes on top."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 4:
        return None
    conversation_id, token_id, issued, mac = parts
    if (not _CONVERSATION_ID.match(conversation_id) or not _TOKEN_ID.match(token_id)
            or not issued.isdigit()):
        return None
    body = f"{conversation_id}.{token_id}.{issued}"
    expected = _resume_mac(secret, body, origin)
    if not hmac.compare_digest(expected, mac):
        return None
    age = (time.time() if now is None else now) - int(issued)
    if age < -60 or age > ttl_s:
        return None
    return conversation_id, token_id


# -- origins and rate limit -------------------------------------------------------------

def normalize_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def allowed_origins(configured: Iterable[str], bind_host: str, port: int) -> frozenset[str]:
    """ALLOWED_ORIGINS plus this server's own loopback origin (the ``/chat`` demo page)."""
    origins = {normalize_origin(o) for o in configured if o.strip()}
    if bind_host in ("127.0.0.1", "localhost", "0.0.0.0"):  # noqa: S104 - a name, not a bind
        origins |= {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
    return frozenset(origins)


class RateLimiter:
    """At most ``limit`` accepted messages in any ``window_s`` seconds (sliding window)."""

    def __init__(self, limit: int = RATE_LIMIT_MESSAGES,
                 window_s: float = RATE_LIMIT_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._told_until = 0.0

    def allow(self, now: float) -> bool:
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def should_tell(self, now: float) -> bool:
        """Reply to a refused message at most once per window (no reply flood)."""
        if now < self._told_until:
            return False
        self._told_until = now + self.window_s
        return True


# -- output -----------------------------------------------------------------------------

def message_language(message: Any, key: str = "language") -> str | None:
    """The language of a bot message as the NLG or an action gave it (Rasa keeps it in
    the message's metadata: ``lwoo.language``, the language of the text shown, and
    ``lwoo.requested``, the conversation's; core/localize.py), if it is one of the
    widget's languages."""
    if not isinstance(message, dict):
        return None
    language = None
    for holder in (message.get("lwoo"), message.get("metadata")):
        if isinstance(holder, dict) and holder.get(key) is not None:
            language = holder.get(key)
            break
    return language if isinstance(language, str) and language in widget_languages() else None


def widget_languages() -> frozenset[str]:
    """The language codes of the widget's menu (core.translations.LANGUAGES)."""
    from core.widget_texts import language_codes

    return frozenset(language_codes())


def concept_policy() -> str:
    """The school's choice for concept translations (``TRANSLATION_CONCEPTS``: ``show``,
    the default, or ``dutch``)."""
    from core.settings import get_settings
    from core.translations import CONCEPT_POLICIES

    policy = get_settings().translation_concepts
    return policy if policy in CONCEPT_POLICIES else "show"


class WidgetOutput(SocketIOOutput):
    """Rasa's socket.io output that counts what it sent, sends to one connection (``sid``),
    tells the language of every message and never crashes on custom JSON."""

    def __init__(self, sio: AsyncServer, bot_message_evt: str, sid: str | None = None) -> None:
        super().__init__(sio, bot_message_evt)
        self.sent = 0
        self._sid = sid
        self._language: str | None = None
        # the conversation's language as the turn's last answer gave it
        self.language: str | None = None

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        # the parts of one bot message (paragraphs, buttons) all get its language
        self._language = message_language(message)
        conversation = message_language(message, "requested") or self._language
        if conversation is not None:
            self.language = conversation
        try:
            await super().send_response(recipient_id, message)
        finally:
            self._language = None

    async def _send_message(self, socket_id: str, response: Any) -> None:
        # a turn's answers go to the connection that sent the message, not to every
        # connection in the conversation's room (one that resumed with a captured token
        # must not read along)
        self.sent += 1
        if isinstance(response, dict):
            from core.widget_texts import DEFAULT_LANGUAGE

            response = {**response, "metadata": {
                "language": self._language or DEFAULT_LANGUAGE}}
        await super()._send_message(self._sid or socket_id, response)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any],
                               **kwargs: Any) -> None:
        # the stock version passes the JSON as keyword arguments to emit()
        await self._send_message(recipient_id, {"custom": json_message})


@dataclass
class PortalGrant:
    """Verified portal claims for one connection (kept server-side only)."""

    pupil_numbers: tuple[str, ...]
    parent_ref: str
    expires_at: datetime
    token_id: str = ""  # the jti: the token works for one conversation only


# -- web files --------------------------------------------------------------------------

def content_security_policy(host: str | None) -> str:
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src " + " ".join(connect),
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ])


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _file_response(path: Path, content_type: str, extra: dict[str, str]) -> HTTPResponse:
    headers = {**SECURITY_HEADERS, **extra}
    if not path.is_file():
        return response.text(msg("widget.not_built"), status=503, headers=headers)
    body = await asyncio.to_thread(path.read_bytes)
    return response.raw(body, content_type=content_type, headers=headers)


async def _texts_response() -> HTTPResponse:
    """The widget's labels and privacy notice in every language (public texts, read by
    the widget with fetch() from the school's pages: any origin may read them; no
    cookies, no credentials). Unreadable data files: 503, the widget keeps its Dutch."""
    from core.widget_texts import WidgetTextsError, widget_payload

    headers = {**SECURITY_HEADERS, "Access-Control-Allow-Origin": "*",
               "Cross-Origin-Resource-Policy": "cross-origin"}
    try:
        payload = await asyncio.to_thread(widget_payload, concept_policy())
    except WidgetTextsError as exc:
        logger.error("widget texts cannot be served: %s", exc)
        return response.json({}, status=503, headers=headers)
    return response.json(payload, headers=headers, ensure_ascii=False,
                         content_type="application/json; charset=utf-8")


def add_web_routes(app: Sanic) -> None:
    """``/chat`` (demo page) and ``/widget/lwoo-chat.{js,css}`` on the Rasa app."""

    async def chat_page(request: Request) -> HTTPResponse:
        return await _file_response(DEMO_PAGE_PATH, "text/html; charset=utf-8", {
            "Content-Security-Policy": content_security_policy(request.host),
            "X-Frame-Options": "DENY",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        })

    async def widget_file(request: Request, name: str) -> HTTPResponse:
        # loaded by <script>/<link> from the school's pages, so cross-origin on purpose
        if name == TEXTS_FILE:
            return await _texts_response()
        if name not in WIDGET_FILES:
            return response.text("Niet gevonden.", status=404, headers=SECURITY_HEADERS)
        path, content_type = WIDGET_FILES[name]
        return await _file_response(path, content_type,
                                    {"Cross-Origin-Resource-Policy": "cross-origin"})

    app.add_route(chat_page, "/chat", methods=["GET"], name="lwoo_chat_page")
    app.add_route(widget_file, "/widget/<name:str>", methods=["GET"], name="lwoo_widget_file")


class WidgetBlueprint(SocketBlueprint):
    """Attaches socket.io at ``socketio_path`` and the web routes at the app's root."""

    def __init__(self, sio: AsyncServer, socketio_path: str,
                 on_app: Callable[[Sanic], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(sio, socketio_path, *args, **kwargs)
        self.ctx.on_app = on_app

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.on_app(app)
        limit_body_size(app)  # 413 over 64 KB on every route (bot/channels/common.py)
        add_web_routes(app)
        super().register(app, options)


# -- the channel ------------------------------------------------------------------------

class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io channel with server-side conversation ids (see module docstring)."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        # jwt_key/jwt_method/metadata_key of the stock channel are deliberately not used
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            None,
            bool(credentials.get("session_persistence", True)),
            credentials.get("socketio_path", "/socket.io"),
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from core.settings import get_settings

        settings = get_settings()
        self._secret = settings.hash_secret
        self._ttl_s = settings.widget_resume_ttl_s
        self._pool = BlockingPool(RESUME_STORE_WORKERS, RESUME_STORE_QUEUE)
        self._store_down_until = 0.0
        self._origins = allowed_origins(settings.allowed_origins, settings.bind_host,
                                        settings.port)
        self._connections: dict[str, WidgetConnection] = {}
        self._on_new_message: Callable[[UserMessage], Awaitable[Any]] | None = None
        self._app: Sanic | None = None

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return None
        return WidgetOutput(self.sio, self.bot_message_evt)

    # -- helpers ------------------------------------------------------------------------

    def origin_allowed(self, environ: dict[str, Any]) -> bool:
        origin = environ.get("HTTP_ORIGIN")
        return isinstance(origin, str) and normalize_origin(origin) in self._origins

    def _set_app(self, app: Sanic) -> None:
        self._app = app

    async def _start_session_and_grant(self, conversation_id: str, grant: PortalGrant,
                                       output: OutputChannel, force: bool) -> bool:
        """Grant the portal claims to the conversation, after Rasa's session start.

        ``action_session_start`` clears verification, so a new (or expired) session is
        started first; with ``force`` the grant is (re)written even when it was not.
        Returns False when the grant could not be stored.
        """
        if grant.expires_at <= datetime.now(timezone.utc):
            return True
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        processor = getattr(agent, "processor", None)
        started = False
        if agent is not None and processor is not None:
            async with agent.lock_store.lock(conversation_id):
                tracker = await processor.get_tracker(conversation_id)
                if not tracker.applied_events() or processor._has_session_expired(tracker):
                    await processor._update_tracker_session(tracker, output)
                    await processor.save_tracker(tracker)
                    started = True
        if not (started or force):
            return True
        from core.verification import get_verifier

        try:
            await asyncio.wait_for(asyncio.to_thread(
                get_verifier().grant_portal, conversation_id, grant.pupil_numbers,
                grant.parent_ref, grant.expires_at, "web", grant.token_id), GRANT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - store down or slow: no grant, still chat
            logger.error("portal grant failed: %s", type(exc).__name__)
            return False
        return True

    async def _tokens(self, method: str, *args: Any,
                      timeout: float = RESUME_STORE_TIMEOUT_S) -> Any:
        """A resume-token call of the verifier in a small bounded pool with a deadline;
        None when the records store is down or slow (a resume then fails closed, a turn
        goes on). After a failure the store is not asked again for
        ``RESUME_STORE_BACKOFF_S``, so a hung database costs a parent one delay, not
        one per message."""
        from core.verification import get_verifier

        if time.monotonic() < self._store_down_until:
            return None
        try:
            return await self._pool.run(getattr(get_verifier(), method), *args,
                                        timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - store down or slow: no resume, still chat
            logger.error("resume token store: %s failed: %s", method, type(exc).__name__)
            self._store_down_until = time.monotonic() + RESUME_STORE_BACKOFF_S
            return None

    async def _open_conversation(self, resume: Any, origin: str) -> tuple[str, str, bool]:
        """(conversation id, this connection's token id, resumed) at connect. A token
        resumes once: the conversation's token id becomes this connection's."""
        token_id = new_token_id()
        parsed = read_resume_token(resume, self._secret, ttl_s=self._ttl_s, origin=origin)
        if parsed is not None:
            conversation_id, old_token_id = parsed
            claimed = await self._tokens("resume_claim", conversation_id, old_token_id,
                                         token_id, timedelta(seconds=self._ttl_s))
            if claimed is True:
                return conversation_id, token_id, True
            logger.info("socket.io resume refused (%s)", "store unavailable"
                        if claimed is None else "used, rotated, ended or expired token")
        conversation_id = new_conversation_id()
        await self._tokens("resume_register", conversation_id, token_id)
        return conversation_id, token_id, False

    async def _refreshed(self, conversation_id: str, token_id: str) -> str:
        """The connection's token id after :meth:`Verifier.resume_refresh`: a new one
        when the grant changed, "" when the conversation was ended or taken over."""
        new_id = new_token_id()
        outcome = await self._tokens("resume_refresh", conversation_id, token_id, new_id)
        if outcome is None:  # store down: keep it (it resumes only if the store agrees)
            return token_id
        from core.records import ResumeOutcome

        if outcome is ResumeOutcome.ROTATED:
            return new_id
        if outcome is ResumeOutcome.KEPT:
            return token_id
        return ""

    def _portal_grant(self, auth: Any) -> tuple[PortalGrant | None, bool]:
        """(grant, token_was_given) from the connect auth payload."""
        token = auth.get("portal_token") if isinstance(auth, dict) else None
        if not token:
            return None, False
        from core.portal import InvalidPortalToken, verify_portal_token
        from core.settings import get_settings

        try:
            claims = verify_portal_token(token, get_settings())
        except InvalidPortalToken:
            logger.info("socket.io connect with an invalid portal token (no grant)")
            return None, True
        return PortalGrant(claims.pupil_numbers, claims.parent_ref, claims.expires_at,
                           claims.token_id), True

    # -- the blueprint ------------------------------------------------------------------

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=sorted(self._origins),
            transports=["websocket"],
            max_http_buffer_size=MAX_FRAME_BYTES,
            logger=False,
            engineio_logger=False,
        )
        bp = WidgetBlueprint(sio, self.socketio_path or "/socket.io", self._set_app,
                             "socketio_webhook", __name__)
        self.sio = sio
        self._on_new_message = on_new_message
        namespace = self.namespace

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # each event goes to the connection's own object (WidgetConnection)
        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
            self._connections[sid] = await WidgetConnection.open(self, sid, environ, auth)
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str) -> None:
            self._connections.pop(sid, None)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            # ``data`` (a client-chosen session_id) is ignored on purpose
            if sid in self._connections:
                await self._connections[sid].session_request()

        @sio.on(self.user_message_evt, namespace=namespace)
        async def user_message(sid: str, data: Any = None) -> None:
            if sid in self._connections:
                await self._connections[sid].user_message(data)

        @sio.on(END_SESSION_EVT, namespace=namespace)
        async def end_session(sid: str, data: Any = None) -> None:
            if sid in self._connections:
                await self._connections[sid].end_session()

        return bp


@dataclass
class WidgetConnection:
    """One browser tab's connection: its conversation, its resume token and one method per
    socket.io event. Made at connect (:meth:`open`), dropped at disconnect."""

    channel: SocketIOInput
    sio: AsyncServer
    sid: str
    conversation_id: str
    token_id: str  # "" once the conversation was ended or taken over
    origin: str
    resumed: bool
    portal: PortalGrant | None
    notice: str | None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    language: str | None = None  # of the conversation's last answer from the NLG

    @property
    def namespace(self) -> str | None:
        return self.channel.namespace

    @classmethod
    async def open(cls, channel: SocketIOInput, sid: str, environ: dict[str, Any],
                   auth: Any) -> WidgetConnection:
        """``connect``: check the origin, resume or start the conversation, take a
        portal login."""
        sio = channel.sio
        assert sio is not None  # the blueprint made it
        if not channel.origin_allowed(environ):
            logger.info("socket.io connect refused: origin not allowed")
            raise SocketRefused(msg("widget.origin_refused"))
        resume = auth.get("resume_token") if isinstance(auth, dict) else None
        origin = normalize_origin(str(environ.get("HTTP_ORIGIN") or ""))
        conversation_id, token_id, resumed = await channel._open_conversation(resume, origin)
        grant, token_given = channel._portal_grant(auth)
        notice = msg("widget.portal_rejected") if token_given and grant is None else None
        if grant is not None:
            output = WidgetOutput(sio, channel.bot_message_evt, sid)
            if not await channel._start_session_and_grant(conversation_id, grant, output,
                                                          force=True):
                grant, notice = None, msg("widget.portal_unavailable")
            else:  # verified now: the token the client gets is a new one
                token_id = await channel._refreshed(conversation_id, token_id)
        sio.enter_room(sid, conversation_id, namespace=channel.namespace)
        logger.debug("socket.io client connected (resumed=%s, portal=%s)",
                     resumed, grant is not None)
        return cls(channel, sio, sid, conversation_id, token_id, origin, resumed, grant,
                   notice)

    async def session_request(self) -> None:
        """The widget asks for its session: the resume token, and a pending notice."""
        await self.sio.emit("session_confirm", {
            "resume_token": self.resume_token(),
            "resumed": self.resumed,
            "portal": self.portal is not None,
        }, room=self.sid, namespace=self.namespace)
        notice, self.notice = self.notice, None
        if notice:
            await self.reply(notice)

    async def user_message(self, data: Any) -> None:
        """A parent's message: limits and hygiene first, then Rasa; always an answer and
        ``turn_done``."""
        now = time.monotonic()
        if not self.limiter.allow(now):
            if self.limiter.should_tell(now):
                await self.reply(msg("widget.rate_limited"))
            await self.turn_done(refresh=False)  # no store call
            return
        # only the text counts: session_id, metadata, customData are ignored
        raw = data.get("message") if isinstance(data, dict) else None
        text = sanitize_text(raw)
        problem = check_message(text)
        if problem:
            await self.reply(problem)
            await self.turn_done(refresh=False)
            return
        if not await self.still_holds():
            return
        output = WidgetOutput(self.sio, self.channel.bot_message_evt, self.sid)
        not_processed = False
        try:
            if isinstance(self.portal, PortalGrant):
                await self.channel._start_session_and_grant(self.conversation_id,
                                                            self.portal, output, force=False)
            assert self.channel._on_new_message is not None  # set by the blueprint
            await self.channel._on_new_message(UserMessage(
                text, output, self.conversation_id, input_channel=self.channel.name(),
                metadata={},
            ))
        except TurnNotProcessed:  # cluster: a store is down (bot/tracker_store.py)
            await self.reply(not_processed_message())  # even after an answer: not kept
            not_processed = True
        except Exception as exc:  # noqa: BLE001 - any failure must still answer
            logger.error("socket.io turn failed: %s", type(exc).__name__)
        if output.language is not None:
            self.language = output.language
        if output.sent == 0 and not not_processed and not text.startswith("/feedback"):
            # feedback needs no answer; everything else does
            await self.reply(no_answer())
        await self.turn_done()

    async def end_session(self) -> None:
        """"Gesprek wissen": forget this conversation's verification, revoke its resume
        tokens on every node (server-side) and disconnect its connections here."""
        from core.verification import get_verifier

        try:
            await asyncio.wait_for(asyncio.to_thread(
                get_verifier().end_conversation, self.conversation_id), GRANT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the grant also expires by itself
            logger.error("ending the conversation failed: %s", type(exc).__name__)
        try:
            others = [other for other, _ in self.sio.manager.get_participants(
                self.namespace or "/", self.conversation_id)]
        except KeyError:  # nobody else here
            others = []
        for other in {self.sid, *others}:
            await self.sio.disconnect(other, namespace=self.namespace)

    # -- helpers ------------------------------------------------------------------------

    def resume_token(self) -> str:
        if not self.token_id:  # ended or taken over: nothing to resume
            return ""
        return issue_resume_token(self.conversation_id, self.token_id, self.channel._secret,
                                  origin=self.origin)

    async def reply(self, text: str, language: str = "nl") -> None:
        """A notice of the channel itself (``language``: the language of ``text``)."""
        await self.sio.emit(self.channel.bot_message_evt,
                            {"text": text, "metadata": {"language": language}},
                            room=self.sid, namespace=self.namespace)

    async def turn_done(self, refresh: bool = True) -> None:
        if refresh and self.token_id:
            # renewed after every turn; rotated when the turn verified the parent (or
            # cleared the verification), so no earlier token reaches the new state
            self.token_id = await self.channel._refreshed(self.conversation_id, self.token_id)
        done: dict[str, str] = {"resume_token": self.resume_token()}
        if self.language is not None:  # the conversation's language: the widget follows
            done["language"] = self.language
        await self.sio.emit(TURN_DONE_EVT, done, room=self.sid, namespace=self.namespace)

    async def still_holds(self) -> bool:
        """False (and the connection is closed) when another connection resumed the
        conversation since, or it was ended. Store down: True (the parent still gets
        answers; a status needs that same store)."""
        from core.records import ResumeOutcome

        outcome = await self.channel._tokens("resume_owner", self.conversation_id,
                                             self.token_id, timeout=RESUME_OWNER_TIMEOUT_S)
        if outcome not in (ResumeOutcome.SUPERSEDED, ResumeOutcome.REVOKED):
            return True
        logger.info("socket.io message refused: the conversation was %s", outcome.value)
        self.token_id = ""
        await self.reply(msg("widget.taken_over"))
        await self.turn_done(refresh=False)
        await self.sio.disconnect(self.sid, namespace=self.namespace)
        return False
