"""A local stand-in for the Twilio and Telegram APIs that records outgoing messages.

Serves, on a free loopback port (a thread with ``http.server``):

* Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form: To, From, Body,
  MediaUrl; HTTP basic auth) -> 201 with a message resource;
* Telegram: ``POST /bot{token}/{method}`` (JSON; sendMessage, answerCallbackQuery, ...)
  -> ``{"ok": true, "result": ...}``.

Point the bot at it with TWILIO_API_BASE / TELEGRAM_API_BASE = :attr:`ProviderStandIn.url`.

:meth:`ProviderStandIn.hold` makes the next matching request hang without an answer
(kept apart in :attr:`ProviderStandIn.held`, never counted as sent): a node can be
killed while it is in the middle of answering a turn.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

_TWILIO = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[A-Za-z0-9]+)/Messages\.json$")
_TELEGRAM = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")


@dataclass
class Recorded:
    """One request the bot made to a provider."""

    provider: str  # "twilio" | "telegram"
    path: str
    method: str  # Twilio: "Messages"; Telegram: the Bot API method
    credential: str  # Twilio: the account sid from the path; Telegram: the bot token
    auth: tuple[str, str] | None  # Twilio basic auth (user, password)
    form: dict[str, str] = field(default_factory=dict)  # Twilio
    payload: dict[str, Any] = field(default_factory=dict)  # Telegram

    @property
    def to(self) -> str:
        if self.provider == "twilio":
            return self.form.get("To", "")
        return str(self.payload.get("chat_id", ""))

    @property
    def text(self) -> str:
        if self.provider == "twilio":
            return self.form.get("Body", "")
        return str(self.payload.get("text", ""))


class ProviderStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Recorded] = []
        self._ids = itertools.count(1)
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if standin._held_back(self.path, dict(self.headers), raw):
                    return  # the client (a killed node) is gone: nothing to answer
                status, body = standin._handle(self.path, dict(self.headers), raw)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self._holds: list[tuple[Callable[[Recorded], bool], threading.Event]] = []
        self.held: list[Recorded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ holding

    def hold(self, predicate: Callable[[Recorded], bool]) -> threading.Event:
        """The next request matching ``predicate`` hangs until the returned event is set
        (or 120 s), is then dropped without an answer and is never recorded as sent."""
        release = threading.Event()
        with self._lock:
            self._holds.append((predicate, release))
        return release

    def _held_back(self, path: str, headers: dict[str, str], raw: bytes) -> bool:
        record = _parse(path, headers, raw)
        if record is None:
            return False
        with self._lock:
            for index, (predicate, release) in enumerate(self._holds):
                if predicate(record):
                    del self._holds[index]
                    self.held.append(record)
                    break
            else:
                return False
        release.wait(timeout=120)
        return True

    # ------------------------------------------------------------------ recording

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        twilio = _TWILIO.match(path)
        if twilio:
            form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
            self._record(Recorded("twilio", path, "Messages", twilio.group("sid"),
                                  _basic_auth(headers), form=form))
            sid = f"SM{next(self._ids):032d}"
            return 201, {"sid": sid, "status": "queued", "to": form.get("To"),
                         "from": form.get("From"), "body": form.get("Body")}
        telegram = _TELEGRAM.match(path)
        if telegram:
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                return 400, {"ok": False, "description": "Bad Request: invalid JSON"}
            self._record(Recorded("telegram", path, telegram.group("method"),
                                  telegram.group("token"), None, payload=payload))
            if telegram.group("method") == "sendMessage":
                return 200, {"ok": True, "result": {
                    "message_id": next(self._ids), "date": int(time.time()),
                    "chat": {"id": payload.get("chat_id"), "type": "private"},
                    "text": payload.get("text")}}
            return 200, {"ok": True, "result": True}
        return 404, {"error": "unknown path"}

    def _record(self, record: Recorded) -> None:
        with self._lock:
            self._records.append(record)

    # ------------------------------------------------------------------ queries

    def records(self, predicate: Callable[[Recorded], bool] | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._records if predicate is None or predicate(r)]

    def mark(self) -> int:
        """A position: ``since(mark)`` returns what was recorded after it."""
        with self._lock:
            return len(self._records)

    def since(self, mark: int) -> list[Recorded]:
        with self._lock:
            return list(self._records[mark:])

    def sent_to(self, address: str, since: int = 0) -> list[Recorded]:
        """Messages (Twilio messages, Telegram sendMessage) sent to one recipient."""
        return [r for r in self.since(since)
                if r.to == address and r.method in ("Messages", "sendMessage")]

    def wait_for(self, predicate: Callable[[Recorded], bool], since: int = 0,
                 timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.since(since) if predicate(r)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _parse(path: str, headers: dict[str, str], raw: bytes) -> Recorded | None:
    """The request as a :class:`Recorded`, without recording it (None: not a provider
    path, or unreadable)."""
    twilio = _TWILIO.match(path)
    if twilio:
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        return Recorded("twilio", path, "Messages", twilio.group("sid"), _basic_auth(headers),
                        form=form)
    telegram = _TELEGRAM.match(path)
    if telegram:
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            return None
        return Recorded("telegram", path, telegram.group("method"), telegram.group("token"),
                        None, payload=payload)
    return None


def _basic_auth(headers: dict[str, str]) -> tuple[str, str] | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    if not value.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    return user, password
