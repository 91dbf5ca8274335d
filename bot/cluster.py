"""``python -m bot cluster start|stop|status``: the cluster profile on one machine.

On loopback: N nodes (default 2), each ``python -m bot run`` with ``PROFILE=cluster``
(one action server + one Rasa with ``SANIC_WORKERS`` workers), and nginx in front
(config rendered from ``deploy/nginx.conf.template``). The nodes share PostgreSQL
(conversations + school records), Redis (conversation locks + channel store),
``HASH_SECRET`` and the mail outbox. Pid files, logs and the rendered nginx.conf live in
``CLUSTER_DIR`` (default ``var/cluster``). docs/cluster.md maps this to several machines.

``start`` is idempotent: what runs is left alone, what is missing is started.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.settings import (
    ACTION_SERVER_TOKEN_FILE,
    HASH_SECRET_FILE,
    PROJECT_ROOT,
    Settings,
    get_settings,
    load_settings,
    rasa_env,
    write_key_file,
)
from core.texts import staff_text

TEMPLATE = PROJECT_ROOT / "deploy" / "nginx.conf.template"
DEMO_CSV = PROJECT_ROOT / "bot" / "demo" / "leerlingen.csv"
MODEL = PROJECT_ROOT / "models" / "lwoo.tar.gz"
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Node:
    index: int
    rasa_port: int
    actions_port: int


@dataclass(frozen=True)
class ClusterConfig:
    """Where everything runs; from the environment (docs/cluster.md)."""

    directory: Path
    listen_host: str
    port: int
    actions_proxy_port: int
    nodes: tuple[Node, ...]
    rest_listen_host: str = "127.0.0.1"
    rest_port: int = 5081

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ClusterConfig:
        settings = settings or get_settings()
        rasa_ports, actions_ports = settings.cluster_rasa_ports, settings.cluster_actions_ports
        if len(rasa_ports) != len(actions_ports):
            raise SystemExit(staff_text("cluster.port_counts_differ"))
        pairs = zip(rasa_ports, actions_ports, strict=True)
        nodes = tuple(Node(i + 1, r, a) for i, (r, a) in enumerate(pairs))
        return cls(
            directory=settings.cluster_dir,
            listen_host=settings.cluster_host,
            port=settings.cluster_port,
            actions_proxy_port=settings.cluster_actions_proxy_port,
            nodes=nodes,
            rest_listen_host=settings.cluster_rest_host,
            rest_port=settings.cluster_rest_port,
        )

    @property
    def front_url(self) -> str:
        return f"http://{self.listen_host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """The internal REST listener (the public front answers 404 for REST)."""
        return f"http://{self.rest_listen_host}:{self.rest_port}"

    def node_dir(self, node: Node) -> Path:
        return self.directory / f"node{node.index}"

    def node_pid_file(self, node: Node) -> Path:
        return self.directory / f"node{node.index}.pid"

    @property
    def nginx_conf(self) -> Path:
        return self.directory / "nginx.conf"

    @property
    def nginx_pid_file(self) -> Path:
        return self.directory / "nginx.pid"


# -- environment ----------------------------------------------------------------------


def _shared_secret(name: str, config: ClusterConfig, file_name: str) -> str:
    """The secret ``name`` from the settings' environment, else one random key for all
    nodes, kept in CLUSTER_DIR (made here: starting the cluster is its set-up step)."""
    settings = get_settings()
    if name in settings.explicit:
        return settings.hash_secret if name == "HASH_SECRET" else settings.action_server_token
    return write_key_file(config.directory / file_name)


def base_env(config: ClusterConfig) -> dict[str, str]:
    """What every node shares: the profile, its defaults, the key and the outbox."""
    env = dict(os.environ)
    env["PROFILE"] = "cluster"  # each node's settings give the PostgreSQL/Redis defaults
    env["HASH_SECRET"] = _shared_secret("HASH_SECRET", config, HASH_SECRET_FILE)
    # one action-server token for all nodes: nginx sends any node's calls to any server
    env["ACTION_SERVER_TOKEN"] = _shared_secret("ACTION_SERVER_TOKEN", config,
                                                ACTION_SERVER_TOKEN_FILE)
    env.setdefault("MAIL_OUTBOX_DIR", str(config.directory / "outbox"))
    front = f"{config.listen_host}:{config.port}"
    env.setdefault("ALLOWED_ORIGINS", f"http://{front},http://localhost:{config.port}")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # the stores every node uses, as its settings give them (PostgreSQL, Redis)
    env.update(rasa_env(load_settings(env)))
    return env


def node_env(config: ClusterConfig, node: Node) -> dict[str, str]:
    env = base_env(config)
    env.update({
        "PORT": str(node.rasa_port),
        "ACTIONS_PORT": str(node.actions_port),
        "VAR_DIR": str(config.node_dir(node)),
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{config.actions_proxy_port}/webhook",
    })
    return env


# -- processes ------------------------------------------------------------------------


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    if _is_zombie(pid):  # killed, not yet reaped (its parent, init, reaps it later)
        return None
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False  # no /proc (not Linux): trust the signal check
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def nginx_binary() -> str | None:
    return (get_settings().nginx or shutil.which("nginx")
            or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                     if Path(p).exists()), None))


def render_nginx_conf(config: ClusterConfig) -> str:
    def servers(ports: list[int]) -> str:
        return "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"
                         for port in ports)

    values = {
        "CLUSTER_DIR": str(config.directory),
        "LISTEN_HOST": config.listen_host,
        "CLUSTER_PORT": str(config.port),
        "ACTIONS_PROXY_PORT": str(config.actions_proxy_port),
        "REST_LISTEN_HOST": config.rest_listen_host,
        "REST_PROXY_PORT": str(config.rest_port),
        "RASA_SERVERS": servers([n.rasa_port for n in config.nodes]),
        "ACTIONS_SERVERS": servers([n.actions_port for n in config.nodes]),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if re.search(r"\{\{[A-Z_]+\}\}", text):
        raise SystemExit(staff_text("cluster.unknown_placeholder", template=TEMPLATE))
    return text


def _nginx(config: ClusterConfig, *args: str) -> subprocess.CompletedProcess[str]:
    binary = nginx_binary()
    if binary is None:
        raise SystemExit(staff_text("cluster.no_nginx"))
    return subprocess.run(  # noqa: S603 - fixed argv
        [binary, "-p", str(config.directory), "-c", str(config.nginx_conf),
         "-e", str(config.directory / "logs" / "nginx-error.log"), *args],
        capture_output=True, text=True, timeout=30, check=False)


def start_nginx(config: ClusterConfig) -> None:
    for sub in ("logs", "nginx"):
        (config.directory / sub).mkdir(parents=True, exist_ok=True)
    config.nginx_conf.write_text(render_nginx_conf(config), encoding="utf-8")
    test = _nginx(config, "-t", "-q")
    if test.returncode != 0:
        raise SystemExit(staff_text("cluster.nginx_config_invalid") + "\n" + test.stderr)
    running = _read_pid(config.nginx_pid_file)
    result = _nginx(config, "-s", "reload") if running else _nginx(config)
    if result.returncode != 0:
        raise SystemExit(staff_text("cluster.nginx_does_not_start") + "\n" + result.stderr)


def _check_services(env: Mapping[str, str]) -> list[str]:
    """Dutch problems with PostgreSQL/Redis; creates missing databases."""
    import redis  # type: ignore[import-untyped]
    import sqlalchemy as sa

    problems = []
    for url in (env["TRACKER_DB_URL"], env["RECORDS_DB_URL"]):
        target = sa.engine.make_url(url)
        if target.get_backend_name() != "postgresql":
            continue
        admin = sa.create_engine(target.set(database="postgres"), future=True,
                                 isolation_level="AUTOCOMMIT",
                                 connect_args={"connect_timeout": 3})
        try:
            with admin.connect() as conn:
                exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                      {"d": target.database}).first()
                if not exists:
                    conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
        except sa.exc.ProgrammingError:
            pass  # created by a node at the same moment
        except sa.exc.SQLAlchemyError as exc:
            where = target.render_as_string(hide_password=True)
            problems.append(staff_text("cluster.postgres_down", where=where,
                                       error=type(exc).__name__))
        finally:
            admin.dispose()
    client = redis.Redis(host=env["REDIS_HOST"], port=int(env["REDIS_PORT"]),
                         password=env.get("REDIS_PASSWORD") or None, socket_timeout=3)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        problems.append(staff_text("cluster.redis_down",
                                   where=f"{env['REDIS_HOST']}:{env['REDIS_PORT']}",
                                   error=type(exc).__name__))
    finally:
        client.close()
    return problems


def _import_demo_pupils(env: Mapping[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "bot", "import-pupils", str(DEMO_CSV)], env=dict(env),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "",
          flush=True)
    if result.returncode != 0:
        raise SystemExit(staff_text("cluster.demo_import_failed") + "\n" + result.stderr)


def start_node(config: ClusterConfig, node: Node) -> int:
    """Start one node in its own session (so it can be stopped as a whole)."""
    node_dir = config.node_dir(node)
    (node_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(node_dir / "logs" / "run.log", "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "bot", "run"], env=node_env(config, node),
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    config.node_pid_file(node).write_text(str(proc.pid), encoding="utf-8")
    return proc.pid


def start(demo_pupils: bool = False) -> int:
    config = ClusterConfig.from_settings()
    if not MODEL.exists():
        print(staff_text("cluster.no_model"), file=sys.stderr)
        return 1
    if nginx_binary() is None:
        print(staff_text("cluster.no_nginx_install"), file=sys.stderr)
        return 1
    config.directory.mkdir(parents=True, exist_ok=True)
    env = base_env(config)
    problems = _check_services(env)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if demo_pupils:
        _import_demo_pupils(env)
    start_nginx(config)
    started = {}
    for node in config.nodes:
        if _read_pid(config.node_pid_file(node)) is None:
            started[node.index] = start_node(config, node)
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = set(started)
    while waiting and time.monotonic() < deadline:
        for node in config.nodes:
            if node.index not in waiting:
                continue
            if _read_pid(config.node_pid_file(node)) is None:
                print(staff_text("cluster.node_stopped", node=node.index,
                                 logs=f"{config.node_dir(node)}/logs/"), file=sys.stderr)
                return 1
            if _answers(f"http://127.0.0.1:{node.rasa_port}/"):
                waiting.discard(node.index)
        time.sleep(0.5)
    if waiting:
        print(staff_text("cluster.nodes_not_ready", nodes=sorted(waiting),
                         seconds=f"{START_TIMEOUT_S:.0f}"), file=sys.stderr)
        return 1
    if not (_answers(config.front_url + "/") and _answers(config.rest_url + "/webhooks/rest/")):
        print(staff_text("cluster.nginx_silent", log=f"{config.directory}/logs/nginx-error.log"),
              file=sys.stderr)
        return 1
    nodes = ", ".join(f"127.0.0.1:{n.rasa_port}" for n in config.nodes)
    print("\n" + staff_text("cluster.ready", nodes=len(config.nodes)) + "\n"
          f"  REST:  POST {config.rest_url}/webhooks/rest/webhook "
          + staff_text("cluster.rest_internal", front=config.front_url) + "\n"
          f"  Chat:  {config.front_url}/chat\n"
          f"  Nodes: {nodes}\n"
          f"  {staff_text('cluster.stop_hint')}\n", flush=True)
    return 0


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group ``pid``; SIGKILL what is left after ``timeout`` s."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop() -> int:
    config = ClusterConfig.from_settings()
    for node in config.nodes:
        pid_file = config.node_pid_file(node)
        pid = _read_pid(pid_file)
        if pid is not None:
            stop_process_group(pid, STOP_TIMEOUT_S)
            print(f"Node {node.index} gestopt.")
        pid_file.unlink(missing_ok=True)
    if _read_pid(config.nginx_pid_file) is not None:
        _nginx(config, "-s", "quit")
        deadline = time.monotonic() + 10
        while _read_pid(config.nginx_pid_file) and time.monotonic() < deadline:
            time.sleep(0.2)
        print("nginx gestopt.")
    return 0


def status() -> int:
    config = ClusterConfig.from_settings()
    healthy = True
    for node in config.nodes:
        pid = _read_pid(config.node_pid_file(node))
        up = pid is not None and _answers(f"http://127.0.0.1:{node.rasa_port}/")
        healthy &= up
        print(f"node {node.index}: {'draait' if up else 'gestopt'}"
              f"{f' (pid {pid})' if pid else ''}, Rasa 127.0.0.1:{node.rasa_port}, "
              f"actions 127.0.0.1:{node.actions_port}")
    nginx_up = (_read_pid(config.nginx_pid_file) is not None
                and _answers(config.front_url + "/"))
    healthy &= nginx_up
    print(f"nginx: {'draait' if nginx_up else 'gestopt'}, {config.front_url}")
    return 0 if healthy else 1


def cluster_command(action: str, demo_pupils: bool = False) -> int:
    if action == "start":
        return start(demo_pupils=demo_pupils)
    if action == "stop":
        return stop()
    return status()
