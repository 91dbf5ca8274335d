"""The socket.io test client of the e2e and cluster tests (what the website widget does:
WebSocket only, an Origin header, session_request, user_uttered)."""

from __future__ import annotations

import queue
import time
from typing import Any

import socketio


class SocketioTestClient:
    """A socket.io client like the website widget (WebSocket only) that records every
    event it receives. Used by the e2e and the cluster tests."""

    def __init__(self, base_url: str, origin: str | None = None,
                 auth: dict[str, Any] | None = None) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.bot_messages: list[dict[str, Any]] = []
        # the newest resume token the server gave (session_confirm, turn_done): what the
        # widget keeps in sessionStorage
        self.resume_token = ""
        extra = {"origin": origin} if origin else {"suppress_origin": True}
        self.sio = socketio.Client(reconnection=False, websocket_extra_options=extra)
        for name in ("session_confirm", "bot_uttered", "turn_done", "disconnect"):
            self.sio.on(name, self._recorder(name))
        self.sio.connect(base_url, auth=auth, transports=["websocket"], wait_timeout=10)

    def _recorder(self, name: str) -> Any:
        def record(data: Any = None) -> None:
            if name == "bot_uttered":
                self.bot_messages.append(data)
            if name in ("session_confirm", "turn_done") and isinstance(data, dict):
                self.resume_token = str(data.get("resume_token") or "")
            self.events.put((name, data))
        return record

    def wait_for(self, name: str, timeout: float = 30) -> list[tuple[str, Any]]:
        """Every event up to and including the next ``name``."""
        seen: list[tuple[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(event)
            if event[0] == name:
                return seen
        raise AssertionError(f"no {name!r} within {timeout} s; got {seen}")

    def confirm(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        self.sio.emit("session_request", data or {})
        return self.wait_for("session_confirm")[-1][1]

    def say(self, text: str, timeout: float = 30, **extra: Any) -> list[str]:
        """Send one message; the bot's texts of that turn (up to ``turn_done``)."""
        self.sio.emit("user_uttered", {"message": text, **extra})
        events = self.wait_for("turn_done", timeout)
        return [data.get("text", "") for name, data in events if name == "bot_uttered"]

    def texts(self) -> str:
        return "\n".join(m.get("text", "") for m in self.bot_messages)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()
