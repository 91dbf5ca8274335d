"""All configuration, read from environment variables (see the README's table).

Secrets only ever come from the environment. Defaults give the embedded set-up:
SQLite files and a mail outbox under ``var/``, servers on 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
import time as _time
from dataclasses import dataclass, field
from datetime import date, time
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name)
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


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings`."""

    var_dir: Path
    bind_host: str
    port: int
    actions_host: str
    actions_port: int
    records_db_url: str
    tracker_db_path: Path
    outbox_dir: Path
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str = field(repr=False)
    smtp_from: str
    smtp_starttls: bool
    smtp_timeout: float
    hash_secret: str = field(repr=False)
    portal_jwt_secret: str = field(repr=False)
    portal_jwt_public_key: str = field(repr=False)
    portal_jwt_audience: str
    portal_jwt_issuer: str
    allowed_origins: tuple[str, ...]
    action_timeout: float
    school_contact: str
    log_level: str
    tracker_db_url: str = ""
    care_desk_email: str = "zorg@compaen.example"
    callback_hours: tuple[time, time] = (time(8, 30), time(16, 0))
    school_closed_dates: tuple[date, ...] = ()
    school_timezone: str = "Europe/Amsterdam"
    callback_transcript_messages: int = 10
    rest_api_token: str = field(default="", repr=False)
    rest_rate_per_sender: int = 20
    rest_rate_per_address: int = 60
    action_server_token: str = field(default="", repr=False)
    verify_requests_per_conversation: int = 3
    verify_codes_per_pupil: int = 5
    verify_guesses_per_pupil: int = 10
    verify_guesses_per_conversation: int = 15
    verify_guesses_per_day: int = 100
    callbacks_per_conversation: int = 2
    callbacks_per_hour: int = 20
    blocking_workers: int = 8
    blocking_queue: int = 16
    portal_token_max_lifetime: int = 900
    widget_resume_ttl_s: int = 1800
    channel_lease_seconds: int = 30
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5

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
# an operator message, not a secret
REST_TOKEN_MISSING_MESSAGE = (
    "REST_API_TOKEN ontbreekt of is te kort: Rasa luistert op {host} (niet alleen op deze "  # noqa: S105
    "machine), en dan moet het REST-kanaal een toegangstoken hebben. Zet REST_API_TOKEN "
    "(geheim, minstens 32 tekens) of gebruik BIND_HOST=127.0.0.1."
)


def rest_token_problem(bind_host: str, token: str) -> str | None:
    """Why the REST channel may not serve on ``bind_host`` with ``token``; None if it may."""
    if is_loopback(bind_host) or len(token) >= MIN_REST_TOKEN_CHARS:
        return None
    return REST_TOKEN_MISSING_MESSAGE.format(host=bind_host)


def _hash_secret(var_dir: Path) -> str:
    """HASH_SECRET from env (checked for strength); for the embedded default a random
    key kept in var/."""
    from_env = _env("HASH_SECRET")
    if from_env:
        return check_hash_secret(from_env)
    return env_or_key_file("HASH_SECRET", var_dir / "hash_secret.key")


def env_or_key_file(name: str, key_file: Path) -> str:
    """The secret ``name`` from env, else a random key kept in ``key_file`` (mode 0600,
    made on first use), so every process of one installation shares it."""
    from_env = _env(name)
    if from_env:
        return from_env
    var_dir = key_file.parent
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this installation was first
        _time.sleep(0.1)
        return key_file.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process."""
    var_dir = Path(_env("VAR_DIR", str(PROJECT_ROOT / "var"))).resolve()
    return Settings(
        var_dir=var_dir,
        bind_host=_env("BIND_HOST", "127.0.0.1"),
        port=_env_int("PORT", 5005),
        actions_host=_env("ACTIONS_HOST", "127.0.0.1"),
        actions_port=_env_int("ACTIONS_PORT", 5055),
        records_db_url=_env("RECORDS_DB_URL", f"sqlite:///{var_dir / 'records.db'}"),
        tracker_db_path=Path(_env("TRACKER_DB_PATH", str(var_dir / "conversations.db"))),
        outbox_dir=Path(_env("MAIL_OUTBOX_DIR", str(var_dir / "outbox"))),
        smtp_host=_env("SMTP_HOST"),
        smtp_port=_env_int("SMTP_PORT", 587),
        smtp_user=_env("SMTP_USER"),
        smtp_password=_env("SMTP_PASSWORD"),
        smtp_from=_env("SMTP_FROM", "LWOO-assistent <noreply@compaen.example>"),
        smtp_starttls=_env("SMTP_STARTTLS", "true").lower() in ("1", "true", "yes"),
        smtp_timeout=float(_env("SMTP_TIMEOUT", "3")),
        hash_secret=_hash_secret(var_dir),
        portal_jwt_secret=_env("PORTAL_JWT_SECRET"),
        portal_jwt_public_key=_env("PORTAL_JWT_PUBLIC_KEY"),
        portal_jwt_audience=_env("PORTAL_JWT_AUDIENCE", "lwoo-assistent"),
        portal_jwt_issuer=_env("PORTAL_JWT_ISSUER", "compaen-ouderportaal"),
        allowed_origins=_env_list(
            "ALLOWED_ORIGINS", "http://127.0.0.1:5005,http://localhost:5005"
        ),
        action_timeout=float(_env("ACTION_TIMEOUT", "3")),
        school_contact=_env(
            "SCHOOL_CONTACT",
            "de administratie van Compaen vmbo (075 - 000 00 00, administratie@compaen.example)",
        ),
        log_level=_env("LOG_LEVEL", "INFO"),
        tracker_db_url=_env("TRACKER_DB_URL"),
        care_desk_email=_env("CARE_DESK_EMAIL", "zorg@compaen.example"),
        callback_hours=parse_hours(_env("CALLBACK_HOURS", "8:30-16:00")),
        school_closed_dates=_env_dates("SCHOOL_CLOSED_DATES"),
        school_timezone=_env("SCHOOL_TIMEZONE", "Europe/Amsterdam"),
        callback_transcript_messages=_env_int("CALLBACK_TRANSCRIPT_MESSAGES", 10),
        rest_api_token=_env("REST_API_TOKEN"),
        rest_rate_per_sender=_env_int("REST_RATE_LIMIT_SENDER", 20),
        rest_rate_per_address=_env_int("REST_RATE_LIMIT_ADDRESS", 60),
        action_server_token=env_or_key_file("ACTION_SERVER_TOKEN",
                                            var_dir / "action_server.key"),
        verify_requests_per_conversation=_env_int("VERIFY_REQUESTS_PER_CONVERSATION", 3),
        verify_codes_per_pupil=_env_int("VERIFY_CODES_PER_PUPIL", 5),
        verify_guesses_per_pupil=_env_int("VERIFY_GUESSES_PER_PUPIL", 10),
        verify_guesses_per_conversation=_env_int("VERIFY_GUESSES_PER_CONVERSATION", 15),
        verify_guesses_per_day=_env_int("VERIFY_GUESSES_PER_DAY", 100),
        callbacks_per_conversation=_env_int("CALLBACKS_PER_CONVERSATION", 2),
        callbacks_per_hour=_env_int("CALLBACKS_PER_HOUR", 20),
        blocking_workers=_env_int("BLOCKING_WORKERS", 8),
        blocking_queue=_env_int("BLOCKING_QUEUE", 16),
        portal_token_max_lifetime=_env_int("PORTAL_TOKEN_MAX_LIFETIME", 900),
        widget_resume_ttl_s=_env_bounded("WIDGET_RESUME_TTL_S", 1800,
                                         MIN_RESUME_TTL_S, MAX_RESUME_TTL_S),
        channel_lease_seconds=max(5, _env_int("CHANNEL_LEASE_SECONDS", 30)),
        log_max_bytes=max(1024, _env_int("LOG_MAX_BYTES", 10 * 1024 * 1024)),
        log_backups=max(1, _env_int("LOG_BACKUPS", 5)),
    )
