"""Start the action server and Rasa together (``make run`` / ``make shell``).

Both bind to 127.0.0.1 unless BIND_HOST / ACTIONS_HOST say otherwise. Rasa's HTTP API
stays off (``--enable-api`` is how the Rasa 3.6 remote-code-execution advisory is
reached); only the channels in credentials.yml are served. On a non-loopback BIND_HOST
Rasa is not started without REST_API_TOKEN (bot/channels/rest.py).

The action server answers only requests that carry ACTION_SERVER_TOKEN (Rasa sends it as
the action endpoint's ``token``, endpoints.yml); without the variable a random token is
kept in ``var/action_server.key`` and given to both processes.

Logs: this supervisor is the only writer of ``var/logs/rasa.log`` and ``actions.log``.
Each server's output (all its processes, Sanic workers included) comes through a pipe
and is written with a size-based ``RotatingFileHandler`` (LOG_MAX_BYTES, LOG_BACKUPS),
so the logs never grow without bound between two ``purge`` runs.
"""

from __future__ import annotations

import hmac
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from core.settings import (
    PROJECT_ROOT,
    Settings,
    ensure_key_files,
    get_settings,
    rasa_env,
    rest_token_problem,
)
from core.texts import staff_text

logger = logging.getLogger(__name__)

MODEL_PATH = PROJECT_ROOT / "models" / "lwoo.tar.gz"


def endpoints_file(settings: Settings | None = None) -> Path:
    """ENDPOINTS (a path), else PROFILE=cluster's endpoints.cluster.yml, else the embedded
    endpoints.yml (SQLite + in-memory lock)."""
    settings = settings or get_settings()
    if settings.endpoints:
        chosen = Path(settings.endpoints)
        return chosen if chosen.is_absolute() else PROJECT_ROOT / chosen
    if settings.is_cluster:
        return PROJECT_ROOT / "endpoints.cluster.yml"
    return PROJECT_ROOT / "endpoints.yml"


def child_env(settings: Settings) -> dict[str, str]:
    """Environment for the action server and Rasa: ours, plus every ${VAR} that
    endpoints*.yml/credentials.yml use, from the settings (:func:`core.settings.rasa_env`)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")  # library noise
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.update(rasa_env(settings))
    return env


def wait_until_up(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    """Poll ``url`` until it answers 200, the process exits, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local URL
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    return False


def rasa_command(settings: Settings, in_terminal: bool, model: Path = MODEL_PATH) -> list[str]:
    # through the launcher: Rasa with this project's patches (bot/compat.py)
    cmd = [sys.executable, "-m", "bot.launcher", "shell" if in_terminal else "run",
           "--model", str(model),
           "--endpoints", str(endpoints_file()),
           "--interface", settings.bind_host, "--port", str(settings.port)]
    if in_terminal:
        # the shell keeps the terminal; its log goes to a file of its own
        cmd += ["--log-file", str(settings.var_dir / "logs" / "rasa-shell.log")]
    else:
        cmd += ["--credentials", str(PROJECT_ROOT / "credentials.yml")]
    return cmd


class RotatingLog:
    """One log file written by one thread per source, rotated by size: at most
    ``max_bytes`` per file and ``backups`` older files (``rasa.log.1`` …), so a log
    takes at most ``max_bytes * (backups + 1)``. Lines are written as they come."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max(max_bytes, 1024), backupCount=max(backups, 1),
            encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write_line(self, line: str) -> None:
        self._handler.handle(logging.makeLogRecord({"msg": line, "args": None}))

    def follow(self, stream: IO[bytes]) -> threading.Thread:
        """Copy ``stream`` (a child's stdout) line by line until it closes."""

        def pump() -> None:
            for raw in iter(stream.readline, b""):
                self.write_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            stream.close()

        thread = threading.Thread(target=pump, name=f"log-{self.path.name}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self._handler.close()


def run_command(in_terminal: bool) -> int:
    """Start both servers, print a ready message, stop both on Ctrl-C or when one dies."""
    ensure_key_files()  # set-up step: var/'s keys for the secrets env does not set
    settings = get_settings()
    (settings.var_dir / "logs").mkdir(parents=True, exist_ok=True)
    problem = rest_token_problem(settings.bind_host, settings.rest_api_token)
    if problem and not in_terminal:
        print(problem, file=sys.stderr)
        return 2
    if not MODEL_PATH.exists():
        print(staff_text("run.no_model"), file=sys.stderr)
        return 1
    env = child_env(settings)
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the log as they are written
    run_dir = settings.var_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = settings.var_dir / "logs"
    actions_log = RotatingLog(logs / "actions.log", settings.log_max_bytes,
                              settings.log_backups)
    rasa_log = RotatingLog(logs / "rasa.log", settings.log_max_bytes, settings.log_backups)

    def start_actions() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "bot", "actions"], env=env, cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None
        actions_log.follow(proc.stdout)
        (run_dir / "actions.pid").write_text(str(proc.pid), encoding="utf-8")
        return proc

    actions = start_actions()
    procs: list[subprocess.Popen[bytes]] = [actions]

    def stop() -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def on_sigterm(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        health = f"http://{settings.actions_host}:{settings.actions_port}/health"
        if not wait_until_up(health, 60, actions):
            print(staff_text("run.actions_do_not_start",
                             log=f"{settings.var_dir}/logs/actions.log"), file=sys.stderr)
            return 1
        print(f"Action server: http://{settings.actions_host}:{settings.actions_port} "
              + staff_text("run.internal_only"), flush=True)
        if in_terminal:
            shell = subprocess.Popen(  # noqa: S603 - fixed argv
                rasa_command(settings, True), env=env, cwd=PROJECT_ROOT)
            procs.append(shell)
            return shell.wait()
        rasa = subprocess.Popen(rasa_command(settings, False), env=env, cwd=PROJECT_ROOT,  # noqa: S603
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert rasa.stdout is not None
        rasa_log.follow(rasa.stdout)
        procs.append(rasa)
        base = f"http://{settings.bind_host}:{settings.port}"
        if not wait_until_up(base + "/", 180, rasa):
            print(staff_text("run.rasa_does_not_start"), file=sys.stderr)
            return 1
        print(
            "\n" + staff_text("run.ready") + "\n"
            f"  REST:  POST {base}/webhooks/rest/webhook  "
            '{"sender": "ouder-1", "message": "Wat is lwoo?"}\n'
            f"  Chat:  {base}/chat\n"
            f"  {staff_text('run.stop_hint')}\n",
            flush=True,
        )
        (run_dir / "rasa.pid").write_text(str(rasa.pid), encoding="utf-8")
        restarts: list[float] = []
        while rasa.poll() is None:
            time.sleep(0.5)
            if procs[0].poll() is None:
                continue
            # The action server died: restart it (at most 5 times a minute). Meanwhile
            # Rasa answers parents with utter_technical_problem (bot/compat.py).
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < 60] + [now]
            if len(restarts) > 5:
                print(staff_text("run.actions_keep_stopping"), file=sys.stderr)
                return 1
            logger.warning("action server exited (%s); restarting", procs[0].returncode)
            print(staff_text("run.actions_restarted"), file=sys.stderr, flush=True)
            procs[0] = start_actions()
        print(staff_text("run.rasa_stopped"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        time.sleep(0.2)  # the last lines of the servers
        actions_log.close()
        rasa_log.close()


def serve_actions() -> None:
    """Run the rasa-sdk action server bound to ACTIONS_HOST (127.0.0.1 by default)."""
    from rasa_sdk.endpoint import create_app
    from sanic import response

    ensure_key_files()  # set-up step: var/'s keys for the secrets env does not set
    settings = get_settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app("actions", cors_origins="")
    token = settings.action_server_token.encode("utf-8")

    @app.middleware("request")
    async def _require_token(request):  # type: ignore[no-untyped-def]
        # Rasa sends the action endpoint's token as ``?token=``; only /health is open
        # (the supervisor polls it). Compared in constant time.
        if request.path == "/health":
            return None
        given = (request.args.get("token") or "").encode("utf-8")
        if not token or not hmac.compare_digest(given, token):
            logger.warning("action server request without a valid token refused")
            return response.json({"error": "unauthorized"}, status=401)
        return None

    @app.exception(Exception)
    async def _no_pii_errors(request, exception):  # type: ignore[no-untyped-def]
        # rasa-sdk's own handler echoes the request body (the tracker, with slots) in
        # the response and the log; ours says only which kind of error happened.
        logger.error("action server error: %s", type(exception).__name__)
        return response.json({"error": "internal error"}, status=500)

    app.run(host=settings.actions_host, port=settings.actions_port, workers=1,
            access_log=False)
