"""All configuration, read from environment variables (see the README's table).

Secrets only ever come from the environment. Defaults give the embedded set-up:
SQLite files and a mail outbox under ``var/``, servers on 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
import time as _time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# where the _env helpers read from: os.environ, or the mapping given to load_settings
_SOURCE: ContextVar[Mapping[str, str]] = ContextVar("settings_source", default=os.environ)


def _env(name: str, default: str = "") -> str:
    value = _SOURCE.get().get(name)
    return value if value else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(
            f"environment variable {name} must be a whole number, got {raw!r}"
        ) from exc


def _env_bounded(name: str, default: int, low: int, high: int) -> int:
    value = _env_int(name, default)
    if not low <= value <= high:
        raise ValueError(f"environment variable {name} must be between {low} and {high}, "
                         f"got {value}")
    return value


# how long a website conversation can be resumed after its last turn (seconds)
MIN_RESUME_TTL_S = 60
MAX_RESUME_TTL_S = 2 * 3600


def _env_list(name: str, default: str = "") -> tuple[str, ...]:
    return tuple(part.strip() for part in _env(name, default).split(",") if part.strip())


def _clock_time(text: str) -> time:
    hours, _, minutes = text.strip().replace(".", ":").partition(":")
    return time(int(hours), int(minutes or 0))


def parse_hours(raw: str, name: str = "CALLBACK_HOURS") -> tuple[time, time]:
    """``"8:30-16:00"`` as (start, end); ValueError naming the variable otherwise."""
    start, sep, end = raw.partition("-")
    try:
        if not sep:
            raise ValueError(raw)
        hours = (_clock_time(start), _clock_time(end))
    except ValueError:
        raise ValueError(
            f"environment variable {name} must look like 8:30-16:00, got {raw!r}"
        ) from None
    if hours[0] >= hours[1]:
        raise ValueError(f"environment variable {name}: the start must be before the end")
    return hours


def _env_dates(name: str) -> tuple[date, ...]:
    try:
        return tuple(date.fromisoformat(part) for part in _env_list(name))
    except ValueError:
        raise ValueError(
            f"environment variable {name} must be ISO dates separated by commas "
            "(2026-12-21,2026-12-22)"
        ) from None


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = _env(name, default).strip().lower()
    if value not in choices:
        raise ValueError(f"environment variable {name} must be one of: {', '.join(choices)}")
    return value


def var(env: str, default: Any = MISSING, *, secret: bool = False) -> Any:
    """A setting read from the environment variable ``env`` (the registry: the field's
    metadata). Secrets are left out of ``repr``."""
    return field(default=default, repr=not secret, metadata={"env": env})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings`. Every field is one
    environment variable (:func:`environment_variables`); the README's configuration
    tables list them all."""

    # where things run
    var_dir: Path = var("VAR_DIR")
    profile: str = var("PROFILE", "")  # "cluster": PostgreSQL + Redis defaults
    endpoints: str = var("ENDPOINTS", "")
    bind_host: str = var("BIND_HOST")
    port: int = var("PORT")
    actions_host: str = var("ACTIONS_HOST")
    actions_port: int = var("ACTIONS_PORT")
    action_endpoint_url: str = var("ACTION_ENDPOINT_URL", "")  # "": actions_host:port
    action_server_token: str = var("ACTION_SERVER_TOKEN", "", secret=True)
    action_timeout: float = var("ACTION_TIMEOUT")
    log_level: str = var("LOG_LEVEL")
    # stores
    records_db_url: str = var("RECORDS_DB_URL")
    tracker_db_path: Path = var("TRACKER_DB_PATH")
    tracker_db_url: str = var("TRACKER_DB_URL", "")
    tracker_db_host: str = var("TRACKER_DB_HOST", "127.0.0.1")
    tracker_db_port: int = var("TRACKER_DB_PORT", 5432)
    tracker_db_name: str = var("TRACKER_DB_NAME", "lwoo_conversations")
    tracker_db_user: str = var("TRACKER_DB_USER", "postgres")
    tracker_db_password: str = var("TRACKER_DB_PASSWORD", "", secret=True)
    redis_host: str = var("REDIS_HOST", "127.0.0.1")
    redis_port: int = var("REDIS_PORT", 6379)
    redis_password: str = var("REDIS_PASSWORD", "", secret=True)
    redis_lock_db: int = var("REDIS_LOCK_DB", 1)
    redis_url: str = var("REDIS_URL", "", secret=True)  # may hold a password
    sanic_workers: int = var("SANIC_WORKERS", 1)
    ticket_lock_lifetime: int = var("TICKET_LOCK_LIFETIME", 60)
    channel_lease_seconds: int = var("CHANNEL_LEASE_SECONDS", 30)  # WhatsApp/Telegram
    log_max_bytes: int = var("LOG_MAX_BYTES", 10 * 1024 * 1024)
    log_backups: int = var("LOG_BACKUPS", 5)
    # mail
    outbox_dir: Path = var("MAIL_OUTBOX_DIR")
    smtp_host: str = var("SMTP_HOST")
    smtp_port: int = var("SMTP_PORT")
    smtp_user: str = var("SMTP_USER")
    smtp_password: str = var("SMTP_PASSWORD", secret=True)
    smtp_from: str = var("SMTP_FROM")
    smtp_starttls: bool = var("SMTP_STARTTLS")
    smtp_timeout: float = var("SMTP_TIMEOUT")
    # who may see what
    hash_secret: str = var("HASH_SECRET", secret=True)
    portal_jwt_secret: str = var("PORTAL_JWT_SECRET", secret=True)
    portal_jwt_public_key: str = var("PORTAL_JWT_PUBLIC_KEY", secret=True)
    portal_jwt_audience: str = var("PORTAL_JWT_AUDIENCE")
    portal_jwt_issuer: str = var("PORTAL_JWT_ISSUER")
    portal_token_max_lifetime: int = var("PORTAL_TOKEN_MAX_LIFETIME", 900)
    allowed_origins: tuple[str, ...] = var("ALLOWED_ORIGINS")
    widget_resume_ttl_s: int = var("WIDGET_RESUME_TTL_S", 1800)
    rest_api_token: str = var("REST_API_TOKEN", "", secret=True)
    rest_rate_per_sender: int = var("REST_RATE_LIMIT_SENDER", 20)
    rest_rate_per_address: int = var("REST_RATE_LIMIT_ADDRESS", 60)
    verify_requests_per_conversation: int = var("VERIFY_REQUESTS_PER_CONVERSATION", 3)
    verify_codes_per_pupil: int = var("VERIFY_CODES_PER_PUPIL", 5)
    verify_guesses_per_pupil: int = var("VERIFY_GUESSES_PER_PUPIL", 10)
    verify_guesses_per_conversation: int = var("VERIFY_GUESSES_PER_CONVERSATION", 15)
    verify_guesses_per_day: int = var("VERIFY_GUESSES_PER_DAY", 100)
    blocking_workers: int = var("BLOCKING_WORKERS", 8)
    blocking_queue: int = var("BLOCKING_QUEUE", 16)
    blocking_wait_ms: int = var("BLOCKING_WAIT_MS", 1000)
    # the school
    school_contact: str = var("SCHOOL_CONTACT")
    care_desk_email: str = var("CARE_DESK_EMAIL", "zorg@compaen.example")
    callback_hours: tuple[time, time] = var("CALLBACK_HOURS", (time(8, 30), time(16, 0)))
    school_closed_dates: tuple[date, ...] = var("SCHOOL_CLOSED_DATES", ())
    school_timezone: str = var("SCHOOL_TIMEZONE", "Europe/Amsterdam")
    # a concept (unreviewed) translation: "show" (with a note and the Dutch original a
    # button away) or "dutch" (the parent gets the Dutch text)
    translation_concepts: str = var("TRANSLATION_CONCEPTS", "show")
    callback_transcript_messages: int = var("CALLBACK_TRANSCRIPT_MESSAGES", 10)
    callbacks_per_conversation: int = var("CALLBACKS_PER_CONVERSATION", 2)
    callbacks_per_hour: int = var("CALLBACKS_PER_HOUR", 20)
    # messaging channels (credentials.yml): unset = off
    twilio_account_sid: str = var("TWILIO_ACCOUNT_SID", "")
    twilio_auth_token: str = var("TWILIO_AUTH_TOKEN", "", secret=True)
    twilio_whatsapp_number: str = var("TWILIO_WHATSAPP_NUMBER", "")
    twilio_public_url: str = var("TWILIO_PUBLIC_URL", "")
    twilio_api_base: str = var("TWILIO_API_BASE", "https://api.twilio.com")
    telegram_bot_token: str = var("TELEGRAM_BOT_TOKEN", "", secret=True)
    telegram_webhook_secret: str = var("TELEGRAM_WEBHOOK_SECRET", "", secret=True)
    telegram_bot_name: str = var("TELEGRAM_BOT_NAME", "")
    telegram_api_base: str = var("TELEGRAM_API_BASE", "https://api.telegram.org")
    # NLU
    spacy_pipeline: str = var("SPACY_PIPELINE", "")
    spacy_fallback_dir: Path = var("SPACY_FALLBACK_DIR")
    tf_intra_op_threads: str = var("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    tf_inter_op_threads: str = var("TF_INTER_OP_PARALLELISM_THREADS", "1")
    tf_onednn_opts: str = var("TF_ENABLE_ONEDNN_OPTS", "0")
    # the cluster profile on one machine (python -m bot cluster)
    cluster_dir: Path = var("CLUSTER_DIR")
    cluster_host: str = var("CLUSTER_HOST", "127.0.0.1")
    cluster_port: int = var("CLUSTER_PORT", 5080)
    cluster_rasa_ports: tuple[int, ...] = var("CLUSTER_RASA_PORTS", (5011, 5012))
    cluster_actions_ports: tuple[int, ...] = var("CLUSTER_ACTIONS_PORTS", (5061, 5062))
    cluster_actions_proxy_port: int = var("CLUSTER_ACTIONS_PROXY_PORT", 5060)
    cluster_rest_host: str = var("CLUSTER_REST_HOST", "127.0.0.1")
    cluster_rest_port: int = var("CLUSTER_REST_PORT", 5081)
    nginx: str = var("NGINX", "")
    # which of the variables were set (not defaulted); not an environment variable
    explicit: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def is_cluster(self) -> bool:
        return self.profile == "cluster"

    @property
    def action_url(self) -> str:
        """Where Rasa calls the action server: ACTION_ENDPOINT_URL, else this machine's."""
        return self.action_endpoint_url or \
            f"http://{self.actions_host}:{self.actions_port}/webhook"

    @property
    def rest_is_public(self) -> bool:
        """Rasa listens on a non-loopback interface: REST then needs REST_API_TOKEN."""
        return not is_loopback(self.bind_host)

    @property
    def uses_smtp(self) -> bool:
        return bool(self.smtp_host)

    @property
    def tracker_url(self) -> str:
        """The conversations database: TRACKER_DB_URL, else the SQLite file."""
        return self.tracker_db_url or f"sqlite:///{self.tracker_db_path}"


MIN_HASH_SECRET_LENGTH = 32


def check_hash_secret(secret: str) -> str:
    """Refuse a weak HASH_SECRET (too short, or too few different characters)."""
    if len(secret) < MIN_HASH_SECRET_LENGTH or len(set(secret)) < 8:
        raise ValueError(
            f"environment variable HASH_SECRET is too weak: use at least "
            f"{MIN_HASH_SECRET_LENGTH} random characters, for example the output of "
            "`python -c \"import secrets; print(secrets.token_hex(32))\"` (the same value "
            "on every node)"
        )
    return secret


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (an interface only this machine reaches)."""
    host = host.strip().strip("[]").lower()
    if host in ("localhost", "::1") or host.startswith("::ffff:127."):
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() for p in parts)


MIN_REST_TOKEN_CHARS = 32


def rest_token_problem(bind_host: str, token: str) -> str | None:
    """Why the REST channel may not serve on ``bind_host`` with ``token``; None if it may."""
    if is_loopback(bind_host) or len(token) >= MIN_REST_TOKEN_CHARS:
        return None
    from core.texts import staff_text  # an operator message (data/staff/messages.yml)

    return staff_text("settings.rest_token_missing", host=bind_host,
                      minimum=MIN_REST_TOKEN_CHARS)


def environment_variables() -> dict[str, str]:
    """The registry: environment variable -> Settings field, for every setting."""
    return {f.metadata["env"]: f.name for f in fields(Settings) if "env" in f.metadata}


def _var_dir() -> Path:
    return Path(_env("VAR_DIR", str(PROJECT_ROOT / "var"))).resolve()


HASH_SECRET_FILE = "hash_secret.key"  # noqa: S105 - a file name
ACTION_SERVER_TOKEN_FILE = "action_server.key"  # noqa: S105 - a file name


def _secret(name: str, key_file: Path) -> str:
    """The secret ``name`` from env, else the key kept in ``key_file`` (made by
    :func:`ensure_key_files`), else "" (whoever needs it refuses to work without it)."""
    from_env = _env(name)
    if from_env:
        return from_env
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def write_key_file(key_file: Path) -> str:
    """The random key in ``key_file``, made now (mode 0600) unless it exists: the
    explicit set-up step for secrets an installation keeps in its own files."""
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this installation was first
        _time.sleep(0.1)
        return key_file.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def ensure_key_files() -> list[Path]:
    """Set-up (``make setup``, ``python -m bot init``; also before ``run``/``shell``/
    ``actions``): keep a random HASH_SECRET and ACTION_SERVER_TOKEN in ``VAR_DIR`` for
    each one the environment does not set. Returns the files made or kept."""
    var_dir = _var_dir()
    made = []
    for name, file_name in (("HASH_SECRET", HASH_SECRET_FILE),
                            ("ACTION_SERVER_TOKEN", ACTION_SERVER_TOKEN_FILE)):
        if not _env(name):
            write_key_file(var_dir / file_name)
            made.append(var_dir / file_name)
    get_settings.cache_clear()
    return made


def _postgres_url(user: str, password: str, host: str, port: int, database: str) -> str:
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return f"postgresql+psycopg2://{credentials}@{host}:{port}/{database}"


def _env_ports(name: str, default: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(part) for part in _env(name, default).split(",") if part.strip())
    except ValueError:
        raise ValueError(f"environment variable {name} must be port numbers separated by "
                         f"commas, e.g. {default}") from None
    if not ports:
        raise ValueError(f"environment variable {name} needs at least one port")
    return ports


def rasa_env(settings: Settings) -> dict[str, str]:
    """The environment Rasa's own process needs from us: every ``${VAR}`` of
    endpoints*.yml and credentials.yml, and the variables Rasa reads itself
    (``SANIC_WORKERS``, ``TICKET_LOCK_LIFETIME``, TensorFlow threading)."""
    s = settings
    env = {
        "VAR_DIR": str(s.var_dir),
        "ACTION_ENDPOINT_URL": s.action_url,
        "ACTION_SERVER_TOKEN": s.action_server_token,
        "TRACKER_DB_PATH": str(s.tracker_db_path),
        "TRACKER_DB_HOST": s.tracker_db_host,
        "TRACKER_DB_PORT": str(s.tracker_db_port),
        "TRACKER_DB_NAME": s.tracker_db_name,
        "TRACKER_DB_USER": s.tracker_db_user,
        "TRACKER_DB_PASSWORD": s.tracker_db_password,
        "REDIS_HOST": s.redis_host,
        "REDIS_PORT": str(s.redis_port),
        "REDIS_LOCK_DB": str(s.redis_lock_db),
        "REDIS_PASSWORD": s.redis_password,
        "TWILIO_ACCOUNT_SID": s.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": s.twilio_auth_token,
        "TWILIO_WHATSAPP_NUMBER": s.twilio_whatsapp_number,
        "TWILIO_PUBLIC_URL": s.twilio_public_url,
        "TWILIO_API_BASE": s.twilio_api_base,
        "TELEGRAM_BOT_TOKEN": s.telegram_bot_token,
        "TELEGRAM_WEBHOOK_SECRET": s.telegram_webhook_secret,
        "TELEGRAM_BOT_NAME": s.telegram_bot_name,
        "TELEGRAM_API_BASE": s.telegram_api_base,
        "SANIC_WORKERS": str(s.sanic_workers),
        "TICKET_LOCK_LIFETIME": str(s.ticket_lock_lifetime),
        "TF_INTRA_OP_PARALLELISM_THREADS": s.tf_intra_op_threads,
        "TF_INTER_OP_PARALLELISM_THREADS": s.tf_inter_op_threads,
        "TF_ENABLE_ONEDNN_OPTS": s.tf_onednn_opts,
    }
    if s.is_cluster:  # the same stores for the action server and the staff commands
        env.update(RECORDS_DB_URL=s.records_db_url, TRACKER_DB_URL=s.tracker_db_url,
                   REDIS_URL=s.redis_url)
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process: the only place that does."""
    return load_settings(os.environ)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The settings a process with the environment ``environ`` gets (e.g. a cluster
    node's, from the environment the cluster start gives it)."""
    token = _SOURCE.set(environ)
    try:
        return _load()
    finally:
        _SOURCE.reset(token)


def _load() -> Settings:
    var_dir = _var_dir()
    profile = _env("PROFILE").strip()
    cluster = profile == "cluster"
    actions_host = _env("ACTIONS_HOST", "127.0.0.1")
    actions_port = _env_int("ACTIONS_PORT", 5055)
    db_host = _env("TRACKER_DB_HOST", "127.0.0.1")
    db_port = _env_int("TRACKER_DB_PORT", 5432)
    db_name = _env("TRACKER_DB_NAME", "lwoo_conversations")
    db_user = _env("TRACKER_DB_USER", "postgres")
    db_password = _env("TRACKER_DB_PASSWORD")
    redis_host = _env("REDIS_HOST", "127.0.0.1")
    redis_port = _env_int("REDIS_PORT", 6379)
    redis_password = _env("REDIS_PASSWORD")
    redis_auth = f":{quote(redis_password, safe='')}@" if redis_password else ""
    if cluster:  # PostgreSQL + Redis (docs/cluster.md)
        records_default = _postgres_url(db_user, db_password, db_host, db_port, "lwoo_records")
        tracker_url_default = _postgres_url(db_user, db_password, db_host, db_port, db_name)
        redis_url_default = f"redis://{redis_auth}{redis_host}:{redis_port}/2"
    else:
        records_default = f"sqlite:///{var_dir / 'records.db'}"
        tracker_url_default = redis_url_default = ""
    hash_secret = _secret("HASH_SECRET", var_dir / HASH_SECRET_FILE)
    if _env("HASH_SECRET"):
        check_hash_secret(hash_secret)
    return Settings(
        var_dir=var_dir,
        profile=profile,
        endpoints=_env("ENDPOINTS").strip(),
        bind_host=_env("BIND_HOST", "127.0.0.1"),
        port=_env_int("PORT", 5005),
        actions_host=actions_host,
        actions_port=actions_port,
        action_endpoint_url=_env("ACTION_ENDPOINT_URL"),
        action_server_token=_secret("ACTION_SERVER_TOKEN", var_dir / ACTION_SERVER_TOKEN_FILE),
        action_timeout=float(_env("ACTION_TIMEOUT", "3")),
        log_level=_env("LOG_LEVEL", "INFO"),
        records_db_url=_env("RECORDS_DB_URL", records_default),
        tracker_db_path=Path(_env("TRACKER_DB_PATH", str(var_dir / "conversations.db"))),
        tracker_db_url=_env("TRACKER_DB_URL", tracker_url_default),
        tracker_db_host=db_host,
        tracker_db_port=db_port,
        tracker_db_name=db_name,
        tracker_db_user=db_user,
        tracker_db_password=db_password,
        redis_host=redis_host,
        redis_port=redis_port,
        redis_password=redis_password,
        redis_lock_db=_env_int("REDIS_LOCK_DB", 1),
        redis_url=_env("REDIS_URL", redis_url_default).strip(),
        sanic_workers=_env_int("SANIC_WORKERS", 2 if cluster else 1),
        ticket_lock_lifetime=_env_int("TICKET_LOCK_LIFETIME", 30 if cluster else 60),
        channel_lease_seconds=max(5, _env_int("CHANNEL_LEASE_SECONDS", 30)),
        log_max_bytes=max(1024, _env_int("LOG_MAX_BYTES", 10 * 1024 * 1024)),
        log_backups=max(1, _env_int("LOG_BACKUPS", 5)),
        outbox_dir=Path(_env("MAIL_OUTBOX_DIR", str(var_dir / "outbox"))),
        smtp_host=_env("SMTP_HOST"),
        smtp_port=_env_int("SMTP_PORT", 587),
        smtp_user=_env("SMTP_USER"),
        smtp_password=_env("SMTP_PASSWORD"),
        smtp_from=_env("SMTP_FROM", "LWOO-assistent <noreply@compaen.example>"),
        smtp_starttls=_env("SMTP_STARTTLS", "true").lower() in ("1", "true", "yes"),
        smtp_timeout=float(_env("SMTP_TIMEOUT", "3")),
        hash_secret=hash_secret,
        portal_jwt_secret=_env("PORTAL_JWT_SECRET"),
        portal_jwt_public_key=_env("PORTAL_JWT_PUBLIC_KEY"),
        portal_jwt_audience=_env("PORTAL_JWT_AUDIENCE", "lwoo-assistent"),
        portal_jwt_issuer=_env("PORTAL_JWT_ISSUER", "compaen-ouderportaal"),
        portal_token_max_lifetime=_env_int("PORTAL_TOKEN_MAX_LIFETIME", 900),
        allowed_origins=_env_list(
            "ALLOWED_ORIGINS", "http://127.0.0.1:5005,http://localhost:5005"
        ),
        widget_resume_ttl_s=_env_bounded("WIDGET_RESUME_TTL_S", 1800,
                                         MIN_RESUME_TTL_S, MAX_RESUME_TTL_S),
        rest_api_token=_env("REST_API_TOKEN"),
        rest_rate_per_sender=_env_int("REST_RATE_LIMIT_SENDER", 20),
        rest_rate_per_address=_env_int("REST_RATE_LIMIT_ADDRESS", 60),
        verify_requests_per_conversation=_env_int("VERIFY_REQUESTS_PER_CONVERSATION", 3),
        verify_codes_per_pupil=_env_int("VERIFY_CODES_PER_PUPIL", 5),
        verify_guesses_per_pupil=_env_int("VERIFY_GUESSES_PER_PUPIL", 10),
        verify_guesses_per_conversation=_env_int("VERIFY_GUESSES_PER_CONVERSATION", 15),
        verify_guesses_per_day=_env_int("VERIFY_GUESSES_PER_DAY", 100),
        blocking_workers=_env_int("BLOCKING_WORKERS", 8),
        blocking_queue=_env_int("BLOCKING_QUEUE", 16),
        blocking_wait_ms=_env_bounded("BLOCKING_WAIT_MS", 1000, 0, 10_000),
        school_contact=_env(
            "SCHOOL_CONTACT",
            "de administratie van Compaen vmbo (075 - 000 00 00, administratie@compaen.example)",
        ),
        care_desk_email=_env("CARE_DESK_EMAIL", "zorg@compaen.example"),
        callback_hours=parse_hours(_env("CALLBACK_HOURS", "8:30-16:00")),
        school_closed_dates=_env_dates("SCHOOL_CLOSED_DATES"),
        school_timezone=_env("SCHOOL_TIMEZONE", "Europe/Amsterdam"),
        translation_concepts=_choice("TRANSLATION_CONCEPTS", ("show", "dutch"), "show"),
        callback_transcript_messages=_env_int("CALLBACK_TRANSCRIPT_MESSAGES", 10),
        callbacks_per_conversation=_env_int("CALLBACKS_PER_CONVERSATION", 2),
        callbacks_per_hour=_env_int("CALLBACKS_PER_HOUR", 20),
        twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=_env("TWILIO_AUTH_TOKEN"),
        twilio_whatsapp_number=_env("TWILIO_WHATSAPP_NUMBER"),
        twilio_public_url=_env("TWILIO_PUBLIC_URL"),
        twilio_api_base=_env("TWILIO_API_BASE", "https://api.twilio.com"),
        telegram_bot_token=_env("TELEGRAM_BOT_TOKEN"),
        telegram_webhook_secret=_env("TELEGRAM_WEBHOOK_SECRET"),
        telegram_bot_name=_env("TELEGRAM_BOT_NAME"),
        telegram_api_base=_env("TELEGRAM_API_BASE", "https://api.telegram.org"),
        spacy_pipeline=_env("SPACY_PIPELINE").strip(),
        spacy_fallback_dir=Path(_env("SPACY_FALLBACK_DIR",
                                     str(PROJECT_ROOT / "var" / "spacy" / "nl_lwoo_base"))),
        tf_intra_op_threads=_env("TF_INTRA_OP_PARALLELISM_THREADS", "1"),
        tf_inter_op_threads=_env("TF_INTER_OP_PARALLELISM_THREADS", "1"),
        tf_onednn_opts=_env("TF_ENABLE_ONEDNN_OPTS", "0"),
        cluster_dir=Path(_env("CLUSTER_DIR", str(PROJECT_ROOT / "var" / "cluster"))).resolve(),
        cluster_host=_env("CLUSTER_HOST", "127.0.0.1").strip(),
        cluster_port=_env_int("CLUSTER_PORT", 5080),
        cluster_rasa_ports=_env_ports("CLUSTER_RASA_PORTS", "5011,5012"),
        cluster_actions_ports=_env_ports("CLUSTER_ACTIONS_PORTS", "5061,5062"),
        cluster_actions_proxy_port=_env_int("CLUSTER_ACTIONS_PROXY_PORT", 5060),
        cluster_rest_host=_env("CLUSTER_REST_HOST", "127.0.0.1").strip(),
        cluster_rest_port=_env_int("CLUSTER_REST_PORT", 5081),
        nginx=_env("NGINX").strip(),
        explicit=frozenset(name for name in environment_variables() if _env(name)),
    )
