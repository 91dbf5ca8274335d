"""The cluster profile (python -m bot cluster start) and private PostgreSQL / Redis servers
for the cluster tests; PostgreSQL, Redis or nginx missing FAILS under CI=true, else
SKIPS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.bot import BotServer, outbox_codes, start_bot, wait_for_code
from tests.support.ci import running_in_ci
from tests.support.widget_client import SocketioTestClient

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL = PROJECT_ROOT / "models" / "lwoo.tar.gz"
CLUSTER_TESTS = PROJECT_ROOT / "tests" / "cluster"
TEST_DB = "lwoo_cluster_test"


REDIS_LOCK_DB, REDIS_CHANNEL_DB = 13, 14
REDIS_START_COMMAND = os.environ.get(
    "REDIS_START_COMMAND",
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
)
NOT_PROCESSED = "uw bericht is niet verwerkt"  # bot.tracker_store.not_processed_message
CLUSTER_HASH_SECRET = "cluster-test-secret-0123456789abcdefgh"
# the messaging channels of the cluster nodes, answering to a provider stand-in
TWILIO_SID = "AC" + "c1u5" * 8
TWILIO_TOKEN = "cluster-twilio-auth-token-0123456789"  # noqa: S105 - a test value
TWILIO_NUMBER = "whatsapp:+14155238886"
TWILIO_PUBLIC_URL = "https://lwoo-cluster.compaen.example"
TELEGRAM_TOKEN = "987654321:cluster-telegram-token_ABCdef"  # noqa: S105
TELEGRAM_SECRET = "cluster-telegram-webhook-secret_0123456789"  # noqa: S105
CHANNEL_LEASE = 6  # seconds (CHANNEL_LEASE_SECONDS); 30 in production


def require(ok: bool, reason: str) -> None:
    """FAIL under CI=true, SKIP (with the reason) otherwise."""
    if ok:
        return
    if running_in_ci():
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(f"{reason}; set CI=true to make this a failure")


@dataclass(frozen=True)
class Postgres:
    """The local PostgreSQL server that the tests may stop and start."""

    admin_url: str  # maintenance database, AUTOCOMMIT
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        import sqlalchemy as sa

        return sa.engine.make_url(self.admin_url).set(database=database).render_as_string(
            hide_password=False)

    def accepting(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                pass
        except OSError:
            return False
        import sqlalchemy as sa

        engine = sa.create_engine(self.admin_url, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False
        finally:
            engine.dispose()


def pg_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster that pg_ctlcluster manages, if any."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    return (versions[-1], "main") if versions else None


def postgres_ctl(action: str, timeout: float = 60) -> None:
    """``pg_ctlcluster`` on the local cluster; ``stop`` is a fast shutdown (clients of
    the running cluster are disconnected, as in a real crash or restart)."""
    cluster = pg_cluster()
    assert cluster is not None
    extra = ["-m", "fast"] if action == "stop" else []
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action, *extra],
                   check=True, capture_output=True, timeout=timeout)


def ensure_postgres_running(pg: Postgres, timeout: float = 60) -> None:
    """Start the local PostgreSQL if it is down, and wait until it accepts queries."""
    deadline = time.monotonic() + timeout
    if not pg.accepting():
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect",
                        *(pg_cluster() or ("15", "main")), "start"],
                       check=False, capture_output=True, timeout=timeout)
    while not pg.accepting():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back")
        time.sleep(0.3)


@dataclass(frozen=True)
class Redis:
    host: str
    port: int

    def client(self, db: int = 0, timeout: float = 2.0):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host=self.host, port=self.port, db=db, socket_timeout=timeout,
                           socket_connect_timeout=timeout)

    def alive(self) -> bool:
        import redis

        client = self.client()
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def pid(self) -> int:
        client = self.client()
        try:
            return int(client.info("server")["process_id"])
        finally:
            client.close()


def ensure_redis_running(server: Redis, timeout: float = 20) -> None:
    """Start Redis with REDIS_START_COMMAND if it does not answer, and wait for PONG."""
    deadline = time.monotonic() + timeout
    if not server.alive():
        subprocess.run(REDIS_START_COMMAND, shell=True, check=False,  # noqa: S602
                       capture_output=True, timeout=timeout)
    while not server.alive():
        if time.monotonic() > deadline:
            raise AssertionError("Redis did not come back")
        time.sleep(0.2)


@dataclass
class Cluster:
    """A running cluster; ``say`` talks REST to one node (1, 2) or to nginx (0: its
    internal REST listener, as the public front answers 404 for REST)."""

    directory: Path
    env: dict[str, str]
    front_port: int
    rasa_ports: list[int]
    postgres: Postgres
    senders: int = field(default=0)
    rest_port: int = 0

    def new_sender(self, prefix: str = "cl") -> str:
        self.senders += 1
        return f"{prefix}-{os.getpid()}-{self.senders}-{time.monotonic_ns() % 10**9}"

    def port(self, node: int) -> int:
        return self.front_port if node == 0 else self.rasa_ports[node - 1]

    def post(self, node: int, sender: str, text: str,
             timeout: float = 30) -> tuple[int, list[dict], float]:
        """(HTTP status, body, seconds) of one REST turn; status 0 = no HTTP answer."""
        data = json.dumps({"sender": sender, "message": text}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.rest_port if node == 0 else self.port(node)}"
            "/webhooks/rest/webhook", data=data,
            headers={"Content-Type": "application/json"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read()), time.monotonic() - started
        except urllib.error.HTTPError as exc:
            return exc.code, [], time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return 0, [], time.monotonic() - started

    def say(self, node: int, sender: str, text: str, timeout: float = 30) -> list[dict]:
        status, body, _ = self.post(node, sender, text, timeout)
        assert status == 200, (node, status, body)
        assert body, "an empty answer"
        return body

    @staticmethod
    def texts(messages: list[dict]) -> str:
        return "\n".join(m.get("text") or "" for m in messages)

    def node_pid(self, node: int) -> int:
        return int((self.directory / f"node{node}.pid").read_text().strip())

    def events(self, sender: str) -> list[dict]:
        """The sender's tracker events as stored in PostgreSQL, oldest first."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.postgres.url(TEST_DB),
                                  connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                    {"s": sender}).all()
        finally:
            engine.dispose()
        return [json.loads(row[0]) for row in rows]

    def stored_bot_texts(self, sender: str) -> list[str]:
        return [e.get("text") or "" for e in self.events(sender) if e["event"] == "bot"]

    def outbox_codes(self, address: str) -> list[str]:
        return outbox_codes(self.directory / "outbox", address)

    def wait_for_code(self, address: str, before: int, timeout: float = 15) -> str:
        return wait_for_code(self.outbox_codes, address, before, timeout)


def drop_database(pg: Postgres, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg.admin_url, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def ensure_nodes(state: Cluster, timeout: float = 360) -> None:
    """Start the nodes that are not running (``cluster start`` is idempotent): a test
    that kills a node leaves the cluster whole for the next one."""
    started = subprocess.run([sys.executable, "-m", "bot", "cluster", "start"],
                             env=state.env, cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=timeout, check=False)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    for node in range(1, len(state.rasa_ports) + 1):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{state.port(node)}/", timeout=5):
                pass
        except (urllib.error.URLError, OSError) as exc:
            raise AssertionError(f"node {node} does not answer after cluster start") from exc


def kill_node(state: Cluster, node: int, timeout: float = 10) -> None:
    """``kill -9`` the whole node (its supervisor, action server, Rasa and its workers)."""
    pid = state.node_pid(node)
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", state.port(node)), timeout=0.5):
                pass
        except OSError:
            return
        time.sleep(0.2)
    raise AssertionError(f"node {node} still answers after kill -9")


def widget(state: Cluster) -> SocketioTestClient:
    """A widget connected through nginx (sticky /socket.io/), its session confirmed."""
    front = f"http://127.0.0.1:{state.front_port}"
    client = SocketioTestClient(front, origin=front)
    client.confirm()
    return client


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb + pg_ctl on a free port, trust auth on
    127.0.0.1), so freezing it never touches the machine's shared server."""

    data_dir: Path
    port: int
    bin_dir: Path
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def pids(self) -> list[int]:
        """The postmaster and every process it forked (backends, checkpointer, ...)."""
        master = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(stat.parent.name))
        return [master, *children]

    def freeze(self) -> list[int]:
        """SIGSTOP the whole server: connections are accepted by the kernel, nothing
        answers (a hung server, not a refusing one)."""
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    @staticmethod
    def thaw(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def postgres_bin_dir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def endpoints_with_tracker_store(path: Path, tracker_store: dict[str, object]) -> Path:
    """The project's endpoints.yml with another ``tracker_store`` section, written to
    ``path`` (the action endpoint and its token stay as the project has them)."""
    import yaml  # type: ignore[import-untyped]

    config = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    config["tracker_store"] = tracker_store
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def start_bot_on_private_postgres(tmp: Path, pg: PrivatePostgres, database: str
                                  ) -> BotServer:
    """The bot as `make run` starts it, but with its conversations in ``database`` of
    the private PostgreSQL server ``pg`` (created here)."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    endpoints = endpoints_with_tracker_store(tmp / "endpoints.yml", {
        "type": "bot.tracker_store.ResilientSQLTrackerStore", "dialect": "postgresql",
        "url": "127.0.0.1", "port": pg.port, "db": database, "username": "postgres"})
    return start_bot(tmp, {"ENDPOINTS": str(endpoints)})
