"""The public nginx front (deploy/nginx.conf.template, rendered by bot/cluster.py) in a
private nginx, in front of a stand-in upstream that records what reaches it: REST is
never routed (404), big bodies get 413 before any node sees them, bursts get 429, and
the response headers show no version and carry HSTS. No Rasa needed, so it is quick.

Run under ``flock /tmp/lwoo-cluster.lock`` like every cluster test.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cluster import ClusterConfig, Node, render_nginx_conf
from tests.support.ports import free_port


@dataclass
class Upstream:
    """A stand-in node: 200 for everything, remembering each request's path."""

    server: ThreadingHTTPServer
    seen: list[tuple[str, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def start_upstream() -> Upstream:
    upstream: Upstream

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            upstream.seen.append((self.command, self.path))
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    upstream = Upstream(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return upstream


@dataclass
class Front:
    config: ClusterConfig
    upstream: Upstream

    def request(self, method: str, path: str, body: bytes | None = None,
                port: int | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.config.port, timeout=10)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp

    def status(self, method: str, path: str, body: bytes | None = None) -> int:
        try:
            return self.request(method, path, body).status
        except (ConnectionError, OSError):
            return 0


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, nginx_binary: str) -> Iterator[Front]:
    upstream = start_upstream()
    directory = tmp_path_factory.mktemp("front")
    for sub in ("logs", "nginx"):
        (directory / sub).mkdir()
    config = ClusterConfig(
        directory=directory, listen_host="127.0.0.1", port=free_port(),
        actions_proxy_port=free_port(),
        nodes=(Node(1, upstream.port, upstream.port),),
        rest_listen_host="127.0.0.1", rest_port=free_port(),
    )
    conf = directory / "nginx.conf"
    conf.write_text(render_nginx_conf(config), encoding="utf-8")
    base = [nginx_binary, "-p", str(directory), "-c", str(conf),
            "-e", str(directory / "logs" / "nginx-error.log")]
    started = subprocess.run(base, capture_output=True, text=True, timeout=30, check=False)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", config.port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.1)
        yield Front(config, upstream)
    finally:
        subprocess.run([*base, "-s", "quit"], capture_output=True, timeout=30, check=False)
        pid_file = Path(directory / "nginx.pid")
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        upstream.server.shutdown()


def test_public_front_never_routes_rest(front: Front) -> None:
    front.upstream.seen.clear()
    body = b'{"sender": "ouder-1", "message": "/ask_status"}'
    for path in ("/webhooks/rest/webhook", "/webhooks/rest/", "/webhooks/rest/webhook?x=1",
                 "/webhooks/rest/../rest/webhook"):
        assert front.status("POST", path, body) == 404, path
    assert front.status("GET", "/webhooks/rest/") == 404
    assert not any("/rest" in path for _, path in front.upstream.seen), front.upstream.seen
    # the internal listener (127.0.0.1 only) does route it, for staff tools and integrations
    resp = front.request("POST", "/webhooks/rest/webhook", body, port=front.config.rest_port,
                         headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert ("POST", "/webhooks/rest/webhook") in front.upstream.seen
    # ... and nothing else
    assert front.request("GET", "/chat", port=front.config.rest_port).status == 404


def test_big_body_refused_before_any_node(front: Front) -> None:
    front.upstream.seen.clear()
    started = time.monotonic()
    status = front.status("POST", "/webhooks/telegram/webhook", b"x" * (2 * 1024 * 1024))
    assert status == 413
    assert time.monotonic() - started < 5
    assert front.upstream.seen == []
    assert front.status("POST", "/webhooks/telegram/webhook", b"{}") == 200


def test_headers_show_no_version_and_carry_hsts(front: Front) -> None:
    resp = front.request("GET", "/chat")
    assert resp.getheader("Server") == "nginx"
    assert "max-age=31536000" in (resp.getheader("Strict-Transport-Security") or "")
    refused = front.request("POST", "/webhooks/rest/webhook", b"{}")
    assert refused.getheader("Server") == "nginx"


@pytest.mark.parametrize("path", ["/socket.io/?EIO=4&transport=websocket", "/chat"])
def test_burst_from_one_address_gets_429(front: Front, path: str) -> None:
    time.sleep(1.5)  # let the previous tests' requests leave the window
    front.upstream.seen.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: front.status("GET", path), range(120)))
    assert 429 in statuses, statuses
    assert statuses.count(200) < 120
    assert len(front.upstream.seen) == statuses.count(200)


def test_webhook_burst_gets_429_beyond_its_larger_limit(front: Front) -> None:
    time.sleep(1.5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(
            lambda _: front.status("POST", "/webhooks/whatsapp/webhook", b"{}"), range(600)))
    assert statuses.count(200) >= 200  # a busy evening of provider calls passes
    assert 429 in statuses
