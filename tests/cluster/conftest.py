"""Cluster fixtures: the real cluster profile (``python -m bot cluster start``) on free
loopback ports — 2 nodes (action server + Rasa with 2 Sanic workers each) and nginx —
on the local PostgreSQL (database ``lwoo_cluster_test``, dropped afterwards) and Redis
(databases 13 and 14, flushed afterwards).

PostgreSQL, Redis or nginx missing: the tests FAIL when CI=true, else they are SKIPPED
with the reason. Tests that stop PostgreSQL or Redis restore them in ``finally``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import (
    CHANNEL_LEASE,
    CLUSTER_HASH_SECRET,
    CLUSTER_TESTS,
    MODEL,
    PROJECT_ROOT,
    REDIS_CHANNEL_DB,
    REDIS_LOCK_DB,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    TEST_DB,
    TWILIO_NUMBER,
    TWILIO_PUBLIC_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    Cluster,
    Postgres,
    PrivatePostgres,
    Redis,
    as_postgres_user,
    drop_database,
    ensure_postgres_running,
    ensure_redis_running,
    pg_cluster,
    postgres_bin_dir,
    require,
    user_exists,
)
from tests.support.ports import free_port
from tests.support.provider_standin import ProviderStandIn


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
    require(local and pg_cluster() is not None and os.geteuid() == 0,
            "cannot restart PostgreSQL here (needs a local cluster, pg_ctlcluster and root)")
    return postgres


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


@pytest.fixture(scope="session")
def cluster_database(postgres: Postgres) -> Iterator[str]:
    """A fresh database ``lwoo_cluster_test`` (conversations + records), dropped after."""
    import sqlalchemy as sa

    drop_database(postgres, TEST_DB)
    engine = sa.create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{TEST_DB}"'))
    engine.dispose()
    yield postgres.url(TEST_DB)
    ensure_postgres_running(postgres)
    drop_database(postgres, TEST_DB)


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


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    import tempfile

    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL server binaries (initdb, pg_ctl) not found")
    assert bin_dir is not None
    if os.geteuid() == 0:
        require(shutil.which("runuser") is not None and user_exists("postgres"),
                "running as root without a postgres user to run initdb")
    base = Path(tempfile.mkdtemp(prefix=f"lwoo-pg-{os.getpid()}-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    port = free_port()
    server = PrivatePostgres(data, port, bin_dir)
    subprocess.run(as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                                      "-U", server.user, "--no-sync", "-E", "UTF8"]),
                   check=True, capture_output=True, timeout=120)
    options = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c shared_buffers=16MB -c max_connections=60")
    subprocess.run(as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
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
        subprocess.run(as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                                          "immediate", "-w", "stop"]),
                       check=False, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


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
