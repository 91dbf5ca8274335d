"""The bot as `make run` starts it (the real action server + Rasa with the trained model),
on free loopback ports, with runtime state in a temporary VAR_DIR holding the demo
pupils plus the canary pupil; talk to it over REST."""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.canary import CANARY_ROW
from tests.support.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL = PROJECT_ROOT / "models" / "lwoo.tar.gz"
DEMO_CSV = PROJECT_ROOT / "bot" / "demo" / "leerlingen.csv"


def outbox_codes(outbox: Path, address: str) -> list[str]:
    """The one-time codes mailed to ``address`` in an outbox folder (oldest first)."""
    codes = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        msg = email.message_from_bytes(path.read_bytes())
        if address not in str(msg["To"]):
            continue
        body = msg.get_payload(decode=True)
        if body is None and msg.is_multipart():
            body = msg.get_payload(0).get_payload(decode=True)
        found = re.search(r"\b(\d{6})\b", (body or b"").decode("utf-8", "replace"))
        if found:
            codes.append(found.group(1))
    return codes


def wait_for_code(read: Callable[[str], list[str]], address: str, before: int,
                  timeout: float = 10) -> str:
    """Wait until more than ``before`` codes were mailed to ``address``; the newest."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = read(address)
        if len(codes) > before:
            return codes[-1]
        time.sleep(0.2)
    raise AssertionError(f"no code mailed to {address}")


@dataclass
class BotServer:
    """A running bot; ``say`` talks to it over the REST channel."""

    base_url: str
    var_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    actions_port: int
    senders: int = field(default=0)

    def new_sender(self, prefix: str = "test") -> str:
        self.senders += 1
        return f"{prefix}-{os.getpid()}-{self.senders}-{time.monotonic_ns() % 10**9}"

    def post(self, payload: object, timeout: float = 30) -> tuple[int, object]:
        data = json.dumps(payload).encode()
        req = urllib.request.Request(
            self.base_url + "/webhooks/rest/webhook", data=data,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def say(self, sender: str, text: str, timeout: float = 30) -> list[dict]:
        status, body = self.post({"sender": sender, "message": text}, timeout)
        assert status == 200, (status, body)
        assert isinstance(body, list)
        return body

    @staticmethod
    def texts(messages: list[dict]) -> str:
        return "\n".join(m.get("text") or "" for m in messages)

    def outbox_codes(self, address: str) -> list[str]:
        """The one-time codes mailed to ``address`` (oldest first)."""
        return outbox_codes(self.var_dir / "outbox", address)

    def wait_for_code(self, address: str, before: int, timeout: float = 10) -> str:
        return wait_for_code(self.outbox_codes, address, before, timeout)

    def all_logs(self) -> str:
        logs = self.var_dir / "logs"
        parts = [p.read_text(errors="replace") for p in logs.glob("*.log")]
        parts.append(self.log_path.read_text(errors="replace"))
        return "\n".join(parts)



class Told:
    """Everything the bot told one parent, in order: what the conversation store must
    hold afterwards. Calling it with the bot's messages remembers them and returns their
    texts as one string (for ``in`` checks)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, messages: list[dict]) -> str:
        self.texts.extend(m.get("text") or "" for m in messages)
        return BotServer.texts(messages)


def start_bot(tmp: Path, extra_env: dict[str, str] | None = None) -> BotServer:
    if not MODEL.exists():
        pytest.fail("no trained model at models/lwoo.tar.gz: run `make train` first",
                    pytrace=False)
    var_dir = tmp / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    port, actions_port = free_port(), free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(var_dir),
        "PORT": str(port),
        "ACTIONS_PORT": str(actions_port),
        "HASH_SECRET": "e2e-test-secret-0123456789abcdefghij",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    env.pop("RECORDS_DB_URL", None) if "RECORDS_DB_URL" not in (extra_env or {}) else None
    csv = tmp / "pupils.csv"
    csv.write_text(DEMO_CSV.read_text(encoding="utf-8").rstrip("\n") + "\n" + CANARY_ROW + "\n",
                   encoding="utf-8")
    subprocess.run([sys.executable, "-m", "bot", "import-pupils", str(csv)], env=env,
                   cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=120)
    log_path = tmp / "bot-run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=PROJECT_ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"bot exited early:\n{log_path.read_text()[-3000:]}", pytrace=False)
        if "LWOO-assistent is klaar" in log_path.read_text(errors="replace"):
            break
        time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("bot did not become ready within 240 s", pytrace=False)
    return BotServer(base, var_dir, env, proc, log_path, actions_port)


def stop_bot(server: BotServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
