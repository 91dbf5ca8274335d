"""Cluster fixtures: the real cluster profile (``python -m bot cluster start``) on free
loopback ports — 2 nodes (action server + Rasa with 2 Sanic workers each) and nginx —
on the local PostgreSQL (database ``lwoo_cluster_test``, dropped afterwards) and Redis
(databases 13 and 14, flushed afterwards).

PostgreSQL, Redis or nginx missing: the tests FAIL when CI=true, else they are SKIPPED
with the reason. Tests that stop PostgreSQL or Redis restore them in ``finally``.
"""

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import running_in_ci
from tests.e2e.conftest import outbox_codes, wait_for_code
from tests.e2e.provider_standin import ProviderStandIn
from tests.e2e.widget_client import SocketioTestClient

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL = PROJECT_ROOT / "models" / "lwoo.tar.gz"
CLUSTER_TESTS = Path(__file__).resolve().parent
TEST_DB = "lwoo_cluster_test"
REDIS_LOCK_DB, REDIS_CHANNEL_DB = 13, 14
REDIS_START_COMMAND = os.environ.get(
    "REDIS_START_COMMAND",
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
)
NOT_PROCESSED = "uw bericht is niet verwerkt"  # bot.tracker_store.NOT_PROCESSED_MESSAGE
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``kills_node`` run after the other cluster tests (they need both
    nodes), still before the cluster fixture is torn down."""
    ours = [i for i in items if CLUSTER_TESTS in Path(str(i.path)).parents]
    last = [i for i in ours if i.get_closest_marker("kills_node")]
    if not last or len(last) == len(ours):
        return
    for item in last:
        items.remove(item)
    end = max(items.index(i) for i in ours if i not in last) + 1
    items[end:end] = last


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- services --------------------------------------------------------------------------


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


def _pg_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster that pg_ctlcluster manages, if any."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    return (versions[-1], "main") if versions else None


def postgres_ctl(action: str, timeout: float = 60) -> None:
    """``pg_ctlcluster`` on the local cluster; ``stop`` is a fast shutdown (clients of
    the running cluster are disconnected, as in a real crash or restart)."""
    cluster = _pg_cluster()
    assert cluster is not None
    extra = ["-m", "fast"] if action == "stop" else []
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action, *extra],
                   check=True, capture_output=True, timeout=timeout)


def ensure_postgres_running(pg: Postgres, timeout: float = 60) -> None:
    """Start the local PostgreSQL if it is down, and wait until it accepts queries."""
    deadline = time.monotonic() + timeout
    if not pg.accepting():
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect",
                        *(_pg_cluster() or ("15", "main")), "start"],
                       check=False, capture_output=True, timeout=timeout)
    while not pg.accepting():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back")
        time.sleep(0.3)


@pytest.fixture(scope="session")
def postgres(postgres_url: str) -> Postgres:
    """The test PostgreSQL (tests/conftest.py ``postgres_url``), as the cluster sees it."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(postgres_url)
    return Postgres(
        admin_url=parsed.set(database="postgres").render_as_string(hide_password=False),
        host=parsed.host or "127.0.0.1", port=parsed.port or 5432,
        user=parsed.username or "postgres", password=parsed.password or "",
    )


@pytest.fixture(scope="session")
def postgres_control(postgres: Postgres) -> Postgres:
    """The same server, and the tests may restart it (local, pg_ctlcluster, root)."""
    local = postgres.host in ("127.0.0.1", "localhost", "::1")
    require(local and _pg_cluster() is not None and os.geteuid() == 0,
            "cannot restart PostgreSQL here (needs a local cluster, pg_ctlcluster and root)")
    return postgres


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


@pytest.fixture(scope="session")
def redis_server() -> Redis:
    """Redis at TEST_REDIS_HOST:TEST_REDIS_PORT (default 127.0.0.1:6379)."""
    server = Redis(os.environ.get("TEST_REDIS_HOST", "127.0.0.1"),
                   int(os.environ.get("TEST_REDIS_PORT", "6379")))
    require(server.alive(), f"Redis not reachable at {server.host}:{server.port}")
    return server


@pytest.fixture(scope="session")
def redis_control(redis_server: Redis) -> Redis:
    """The same server, and the tests may kill and restart it (local, same user)."""
    try:
        pid = redis_server.pid()
        os.kill(pid, 0)
        local = True
    except (OSError, KeyError, ValueError):
        local = False
    require(local and redis_server.host in ("127.0.0.1", "localhost"),
            "cannot kill and restart Redis here (not a local process of this user)")
    return redis_server


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    from bot.cluster import nginx_binary as find

    binary = find()
    require(binary is not None, "nginx not installed (`make cluster` installs it)")
    assert binary is not None
    return binary


# -- the cluster -----------------------------------------------------------------------


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


def _drop_database(pg: Postgres, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg.admin_url, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def cluster_database(postgres: Postgres) -> Iterator[str]:
    """A fresh database ``lwoo_cluster_test`` (conversations + records), dropped after."""
    import sqlalchemy as sa

    _drop_database(postgres, TEST_DB)
    engine = sa.create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{TEST_DB}"'))
    engine.dispose()
    yield postgres.url(TEST_DB)
    ensure_postgres_running(postgres)
    _drop_database(postgres, TEST_DB)


@pytest.fixture(scope="package")
def provider_standin() -> Iterator[ProviderStandIn]:
    """The Twilio/Telegram API stand-in every cluster node sends its answers to."""
    server = ProviderStandIn().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres,
            cluster_database: str, redis_server: Redis, nginx_binary: str,
            provider_standin: ProviderStandIn) -> Iterator[Cluster]:
    """The cluster as `make cluster` starts it, on free ports, torn down afterwards."""
    if not MODEL.exists():
        pytest.fail("no trained model at models/lwoo.tar.gz: run `make train` first",
                    pytrace=False)
    directory = tmp_path_factory.mktemp("cluster")
    rasa_ports = [free_port(), free_port()]
    front_port, rest_port = free_port(), free_port()
    env = {
        **os.environ,
        "CLUSTER_DIR": str(directory),
        "CLUSTER_PORT": str(front_port),
        "CLUSTER_REST_PORT": str(rest_port),
        "CLUSTER_RASA_PORTS": ",".join(map(str, rasa_ports)),
        "CLUSTER_ACTIONS_PORTS": f"{free_port()},{free_port()}",
        "CLUSTER_ACTIONS_PROXY_PORT": str(free_port()),
        "TRACKER_DB_HOST": postgres.host,
        "TRACKER_DB_PORT": str(postgres.port),
        "TRACKER_DB_USER": postgres.user,
        "TRACKER_DB_PASSWORD": postgres.password,
        "TRACKER_DB_NAME": TEST_DB,
        "RECORDS_DB_URL": cluster_database,
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "REDIS_LOCK_DB": str(REDIS_LOCK_DB),
        "REDIS_URL": f"redis://{redis_server.host}:{redis_server.port}/{REDIS_CHANNEL_DB}",
        "HASH_SECRET": CLUSTER_HASH_SECRET,
        "LOG_LEVEL": "INFO",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": TWILIO_NUMBER,
        "TWILIO_PUBLIC_URL": TWILIO_PUBLIC_URL,
        "TWILIO_API_BASE": provider_standin.url,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TELEGRAM_API_BASE": provider_standin.url,
        "CHANNEL_LEASE_SECONDS": str(CHANNEL_LEASE),
    }
    for name in ("PROFILE", "ENDPOINTS", "TRACKER_DB_URL", "MAIL_OUTBOX_DIR", "VAR_DIR",
                 "SANIC_WORKERS", "TICKET_LOCK_LIFETIME"):
        env.pop(name, None)
    command = [sys.executable, "-m", "bot", "cluster"]
    state = Cluster(directory, env, front_port, rasa_ports, postgres, rest_port=rest_port)
    try:
        started = subprocess.run([*command, "start", "--demo-pupils"], env=env,
                                 cwd=PROJECT_ROOT, capture_output=True, text=True,
                                 timeout=360, check=False)
        if started.returncode != 0:
            logs = "\n".join(p.read_text(errors="replace")[-2000:]
                             for p in directory.glob("node*/logs/*.log"))
            pytest.fail(f"cluster did not start:\n{started.stdout[-2000:]}\n"
                        f"{started.stderr[-3000:]}\n{logs}", pytrace=False)
        yield state
    finally:
        subprocess.run([*command, "stop"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                       timeout=120, check=False)
        for db in (REDIS_LOCK_DB, REDIS_CHANNEL_DB):
            try:
                ensure_redis_running(redis_server)
                client = redis_server.client(db)
                client.flushdb()
                client.close()
            except Exception:  # noqa: BLE001 - cleanup only
                pass


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


# -- a private PostgreSQL server that tests may freeze (SIGSTOP) -----------------------


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


def _postgres_bin_dir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    import tempfile

    bin_dir = _postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL server binaries (initdb, pg_ctl) not found")
    assert bin_dir is not None
    if os.geteuid() == 0:
        require(shutil.which("runuser") is not None and _user_exists("postgres"),
                "running as root without a postgres user to run initdb")
    base = Path(tempfile.mkdtemp(prefix=f"lwoo-pg-{os.getpid()}-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    port = free_port()
    server = PrivatePostgres(data, port, bin_dir)
    subprocess.run(_as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                                      "-U", server.user, "--no-sync", "-E", "UTF8"]),
                   check=True, capture_output=True, timeout=120)
    options = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c shared_buffers=16MB -c max_connections=60")
    subprocess.run(_as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                                      "-l", str(base / "server.log"), "-w", "-t", "60",
                                      "start"]),
                   check=True, capture_output=True, timeout=90)
    try:
        yield server
    finally:
        try:
            server.thaw(server.pids())
        except (OSError, ValueError, IndexError):
            pass
        subprocess.run(_as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                                          "immediate", "-w", "stop"]),
                       check=False, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[Redis, int]]:
    """A redis-server of our own on a free port: (server, pid); tests may SIGSTOP it."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server not installed")
    assert binary is not None
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Redis("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not server.alive():
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.1)
    try:
        yield server, proc.pid
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)
