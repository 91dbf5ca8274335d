"""The school's records: pupils, the verification state, the audit trail and the
parents' callback requests (the hand-over to a person).

A typed store on SQLAlchemy Core (1.4, 2.0-style API). Everything that leaves this
module is a frozen dataclass; every database fault becomes :class:`StoreUnavailable`,
whose message never contains data.

The engine is created lazily on first use (never at import), from
``settings.records_db_url``: a SQLite file under ``var/`` by default, PostgreSQL via
``RECORDS_DB_URL``. Tables are created on first use when they do not exist yet.

Conversation ids are never stored: the verifier hands in an HMAC of them
(``conversation_hash``), because on WhatsApp or Telegram the conversation id is a phone
number or account id.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateSchema, DropSchema

if TYPE_CHECKING:
    from core.settings import Settings

logger = logging.getLogger(__name__)

DB_TIMEOUT_S = 3.0
_CHUNK = 500


class StoreUnavailable(Exception):
    """The records database is down, too slow or failed; the message holds no data."""


class LwooStatus(str, enum.Enum):
    """The status words of the school's export."""

    NOT_REQUESTED = "niet_aangevraagd"
    UNDER_INVESTIGATION = "in_onderzoek"
    RETEST_PLANNED = "hertoets_gepland"
    REQUESTED = "aangevraagd"
    GRANTED = "toegekend"
    REJECTED = "afgewezen"


class AttemptState(str, enum.Enum):
    """Life cycle of a verification attempt (one code request)."""

    PENDING = "pending"
    VERIFIED = "verified"
    LOCKED = "locked"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class VerificationMethod(str, enum.Enum):
    """How a conversation got verified."""

    CODE = "code"
    PORTAL = "portal"


@dataclass(frozen=True, repr=False)
class Pupil:
    """One pupil as in the school's export. ``repr`` hides all personal data."""

    pupil_number: str
    first_name: str
    last_name: str
    birth_date: date
    class_name: str
    track: str
    lwoo_status: LwooStatus
    status_date: date | None = None
    retest_date: date | None = None
    parent_email: str | None = None
    parent_phone: str | None = None
    mentor: str | None = None

    def __repr__(self) -> str:
        return "Pupil(<redacted>)"


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only audit trail."""

    time: datetime
    channel: str
    sender_hash: str
    pupil_number: str | None
    outcome: str
    id: int | None = None


@dataclass(frozen=True)
class Attempt:
    """One code request. ``code_hash`` is None when the data did not match."""

    id: int
    conversation_hash: str
    pupil_number: str
    code_hash: str | None
    created_at: datetime
    expires_at: datetime
    failed_tries: int
    state: AttemptState


@dataclass(frozen=True)
class SessionGrant:
    """Pupils a conversation may see, until ``expires_at``."""

    conversation_hash: str
    pupil_numbers: tuple[str, ...]
    method: VerificationMethod
    created_at: datetime
    expires_at: datetime
    parent_ref_hash: str | None = None


@dataclass(frozen=True)
class UpsertCounts:
    """Result of :meth:`RecordsStore.upsert_pupils`."""

    inserted: int
    updated: int
    unchanged: int


class ContactMethod(str, enum.Enum):
    """How a parent wants to be reached for a callback."""

    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True, repr=False)
class CallbackRequest:
    """A parent's request to be contacted by the school. ``repr`` hides the contents."""

    created_at: datetime
    channel: str
    conversation_hash: str
    question: str
    contact_method: ContactMethod
    contact: str
    callback_date: date
    mailed_at: datetime | None = None
    id: int | None = None

    def __repr__(self) -> str:
        return f"CallbackRequest(id={self.id}, <redacted>)"


@dataclass(frozen=True)
class PurgeCounts:
    """Rows deleted by :meth:`RecordsStore.purge`."""

    attempts: int
    sessions: int
    audit_events: int
    callback_requests: int = 0
    resume_tokens: int = 0


class UtcDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes in Python, naive UTC in every database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use UTC-aware ones")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = sa.MetaData()

pupils = sa.Table(
    "pupils",
    metadata,
    sa.Column("pupil_number", sa.String(6), primary_key=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("class_name", sa.String(20), nullable=False),
    sa.Column("track", sa.String(20), nullable=False),
    sa.Column("lwoo_status", sa.String(20), nullable=False),
    sa.Column("status_date", sa.Date),
    sa.Column("retest_date", sa.Date),
    sa.Column("parent_email", sa.String(254)),
    sa.Column("parent_phone", sa.String(32)),
    sa.Column("mentor", sa.String(100)),
)

# Columns of earlier versions that held test scores (NIO, achterstanden): never used by
# the assistant, dropped from existing databases on first use.
UNUSED_PUPIL_COLUMNS: tuple[str, ...] = (
    "nio_score", "delay_technical_reading", "delay_reading_comprehension",
    "delay_spelling", "delay_arithmetic",
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UtcDateTime, nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("sender_hash", sa.String(64), nullable=False),
    sa.Column("pupil_number", sa.String(32)),
    sa.Column("outcome", sa.String(32), nullable=False),
)

verification_attempts = sa.Table(
    "verification_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_hash", sa.String(64), nullable=False, index=True),
    sa.Column("pupil_number", sa.String(6), nullable=False, index=True),
    sa.Column("code_hash", sa.String(64)),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("failed_tries", sa.Integer, nullable=False, default=0),
    sa.Column("state", sa.String(16), nullable=False),
)

verified_sessions = sa.Table(
    "verified_sessions",
    metadata,
    sa.Column("conversation_hash", sa.String(64), primary_key=True),
    sa.Column("pupil_number", sa.String(6), primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("parent_ref_hash", sa.String(64)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
)

callback_requests = sa.Table(
    "callback_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("conversation_hash", sa.String(64), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("contact_method", sa.String(8), nullable=False),
    sa.Column("contact", sa.String(254), nullable=False),
    sa.Column("callback_date", sa.Date, nullable=False),
    sa.Column("mailed_at", UtcDateTime),
)

# Rate-limit counters: one row per (counter, window). Incremented only by a single
# atomic upsert that refuses to pass the limit (see :class:`AtomicOps`).
limit_counters = sa.Table(
    "limit_counters",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

# Idempotency keys (HMACs of conversation + purpose + request): a retry of the same
# request within the key's lifetime is recognised and never repeated.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
)

# Resume tokens of the website widget (bot/channels/socketio.py): one row per
# conversation (its HMAC, as in verified_sessions), holding a keyed hash of the one
# token id (jti) that may resume it now, the grant the token was issued under (a token
# from before a verification or a cleared verification no longer matches) and whether
# the conversation was ended ("Gesprek wissen"). No row: no token of it is valid.
resume_tokens = sa.Table(
    "resume_tokens",
    metadata,
    sa.Column("conversation_hash", sa.String(64), primary_key=True),
    sa.Column("token_hash", sa.String(64)),
    sa.Column("grant_marker", sa.String(64), nullable=False, default=""),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", UtcDateTime, nullable=False, index=True),
)
# a row nobody touched for this long can resume nothing (WIDGET_RESUME_TTL_S is at most
# 2 hours), so the purge deletes it whatever --older-than says
RESUME_ROW_RETENTION = timedelta(days=1)
_CLEARED_MARKER = "cleared"  # never a marker of a grant (those are "<method>:<time>")


class ResumeOutcome(str, enum.Enum):
    """What :meth:`RecordsStore.resume_refresh` found for a connection's token id."""

    KEPT = "kept"  # still the conversation's token
    ROTATED = "rotated"  # the grant changed (verified, cleared): a new token id now
    SUPERSEDED = "superseded"  # another connection resumed the conversation since
    REVOKED = "revoked"  # the conversation was ended ("Gesprek wissen")




@contextmanager
def _unavailable_on_error(operation: str) -> Iterator[None]:
    """Turn any database fault into StoreUnavailable, without chaining the original.

    Driver messages can quote row values (e.g. a duplicate key), so only the exception
    class names are logged and the cause is not attached.
    """
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        cause = type(getattr(exc, "orig", None) or exc).__name__
        logger.warning("records store: %s failed (%s)", operation, cause)
        raise StoreUnavailable(f"records store unavailable ({operation})") from None


def _prepare_sqlite_file(database: str | None) -> None:
    """Create the parent directory and an owner-only database file."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def create_store_engine(url: str, *, timeout_s: float = DB_TIMEOUT_S) -> Engine:
    """An engine with short timeouts: SQLite busy timeout, PostgreSQL connect/statement."""
    parsed = make_url(url)
    options: dict[str, Any] = {"future": True, "hide_parameters": True, "pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _prepare_sqlite_file(parsed.database)
        options["connect_args"] = {"timeout": timeout_s}
    elif backend == "postgresql":
        options["pool_timeout"] = timeout_s
        options["connect_args"] = {
            "connect_timeout": max(1, round(timeout_s)),
            "options": _postgres_options(parsed.query.get("options"), timeout_s),
            # a peer that vanished (network black hole) is noticed by TCP; a server
            # that hangs (SIGSTOP) by the caller's deadline (core.blocking.run_blocking)
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
            "keepalives_count": 2, "tcp_user_timeout": int(timeout_s * 2000),
        }
    return sa.create_engine(parsed, **options)


def _postgres_options(from_url: object, timeout_s: float) -> str:
    """libpq ``options``: the URL's own (e.g. a search_path) plus the timeouts."""
    millis = int(timeout_s * 1000)
    timeouts = (f"-c statement_timeout={millis} -c lock_timeout={millis} "
                f"-c idle_in_transaction_session_timeout={millis * 3}")
    return f"{from_url} {timeouts}" if isinstance(from_url, str) and from_url else timeouts


def _upsert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT with ON CONFLICT support (SQLite >= 3.24 and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)



def _attempt_insert(conversation_hash: str, pupil_number: str, code_hash: str | None,
                    created_at: datetime, expires_at: datetime) -> Any:
    """The INSERT of a new pending verification attempt (no failed tries yet)."""
    return verification_attempts.insert().values(
        conversation_hash=conversation_hash, pupil_number=pupil_number, code_hash=code_hash,
        created_at=created_at, expires_at=expires_at, failed_tries=0,
        state=AttemptState.PENDING.value,
    )

class AtomicOps:
    """Limit and idempotency operations inside ONE database transaction.

    Every method is a single statement that is atomic on its own (an upsert or an
    UPDATE with the limit in its WHERE clause), so parallel requests on any number of
    nodes can never pass a limit; together they commit or roll back as one. On SQLite
    the first write takes the database's write lock, so call a writing method first
    (all of these write except :meth:`count`).
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def consume(self, name: str, window_start: datetime, limit: int) -> bool:
        """Add one to the counter unless it reached ``limit``; False when refused."""
        if limit <= 0:
            return False
        table = limit_counters
        insert = _upsert(self._conn, table).values(name=name, window_start=window_start, count=1)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.name, table.c.window_start],
            set_={"count": table.c.count + 1},
            where=table.c.count < limit,
        )
        return bool(self._conn.execute(statement).rowcount == 1)

    def count(self, name: str, window_start: datetime) -> int:
        """The counter's value in this window (0 when it has none)."""
        table = limit_counters
        query = (
            sa.select(table.c.count)
            .where(table.c.name == name)
            .where(table.c.window_start == window_start)
        )
        return int(self._conn.execute(query).scalar() or 0)

    def claim(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """Claim an idempotency key; False when it was claimed less than ``ttl`` ago."""
        table = idempotency_keys
        insert = _upsert(self._conn, table).values(key=key, created_at=now)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"created_at": now},
            where=table.c.created_at <= now - ttl,
        )
        return bool(self._conn.execute(statement).rowcount == 1)

    def start_attempt(
        self,
        conversation_hash: str,
        pupil_number: str,
        code_hash: str | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> int:
        """Record a code request (earlier pending ones of the conversation end); its id."""
        RecordsStore._supersede_pending(self._conn, conversation_hash)
        insert = _attempt_insert(conversation_hash, pupil_number, code_hash, created_at,
                                 expires_at)
        return int(self._conn.execute(insert).inserted_primary_key[0])

    def use_try(self, attempt_id: int, max_tries: int) -> int | None:
        """Take one of the attempt's ``max_tries`` code tries BEFORE the code is compared.

        Returns the number of tries used now, or None when the attempt is not pending
        any more or has no tries left.
        """
        table = verification_attempts
        update = (
            table.update()
            .where(table.c.id == attempt_id)
            .where(table.c.state == AttemptState.PENDING.value)
            .where(table.c.failed_tries < max_tries)
            .values(failed_tries=table.c.failed_tries + 1)
        )
        if self._conn.execute(update).rowcount != 1:
            return None
        query = sa.select(table.c.failed_tries).where(table.c.id == attempt_id)
        return int(self._conn.execute(query).scalar_one())


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _pupil_from_row(row: Any) -> Pupil:
    values = dict(row._mapping)
    values["lwoo_status"] = LwooStatus(values["lwoo_status"])
    return Pupil(**values)


def _pupil_values(pupil: Pupil) -> dict[str, Any]:
    values = dataclasses.asdict(pupil)
    values["lwoo_status"] = pupil.lwoo_status.value
    return values


def _attempt_from_row(row: Any) -> Attempt:
    values = dict(row._mapping)
    values["state"] = AttemptState(values["state"])
    return Attempt(**values)


def _audit_from_row(row: Any) -> AuditEvent:
    return AuditEvent(**dict(row._mapping))


def _callback_from_row(row: Any) -> CallbackRequest:
    values = dict(row._mapping)
    values["contact_method"] = ContactMethod(values["contact_method"])
    return CallbackRequest(**values)


class RecordsStore:
    """Typed access to the records database. Thread-safe; the engine is made lazily.

    Every public method raises :class:`StoreUnavailable` when the database fails.
    Datetimes in and out are timezone-aware UTC.
    """

    def __init__(
        self, url: str, *, schema: str | None = None, timeout_s: float = DB_TIMEOUT_S
    ) -> None:
        """``schema``: a PostgreSQL schema to put the tables in (tests use a unique one)."""
        self._url = url
        self._schema = schema
        self._timeout_s = timeout_s
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        # SQLite has one writer at a time and polls for its lock; threads of this
        # process queue here instead (bounded by the timeout), so a burst of parallel
        # requests does not starve one of them into "database is locked".
        self._sqlite_gate = threading.RLock() if url.startswith("sqlite") else None

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordsStore:
        """The store at ``settings.records_db_url``."""
        return cls(settings.records_db_url)

    # -- engine and schema -------------------------------------------------------------

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine = create_store_engine(self._url, timeout_s=self._timeout_s)
                if self._schema:
                    engine = engine.execution_options(schema_translate_map={None: self._schema})
                try:
                    self._create_tables(engine)
                except BaseException:
                    engine.dispose()
                    raise
                self._engine = engine
            return self._engine

    def _create_tables(self, engine: Engine) -> None:
        with engine.begin() as conn:
            if self._schema and self._schema not in sa.inspect(conn).get_schema_names():
                conn.execute(CreateSchema(self._schema))
            metadata.create_all(conn, checkfirst=True)
            self._drop_unused_columns(conn)

    def _drop_unused_columns(self, conn: Connection) -> None:
        """Migration (data minimisation): earlier versions stored test scores the
        assistant never uses. Drop those columns, and their values, from an existing
        database (SQLite >= 3.35 and PostgreSQL both support DROP COLUMN)."""
        present = {column["name"] for column in
                   sa.inspect(conn).get_columns("pupils", schema=self._schema)}
        unused = [name for name in UNUSED_PUPIL_COLUMNS if name in present]
        if not unused:
            return
        table = conn.dialect.identifier_preparer.quote("pupils")
        if self._schema:
            table = f"{conn.dialect.identifier_preparer.quote_schema(self._schema)}.{table}"
        for name in unused:
            column = conn.dialect.identifier_preparer.quote(name)
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        logger.info("records store: dropped %d unused pupil columns", len(unused))

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[Connection]:
        with self._serialized(operation), _unavailable_on_error(operation), \
                self._get_engine().begin() as conn:
            yield conn

    @contextmanager
    def _serialized(self, operation: str) -> Iterator[None]:
        gate = self._sqlite_gate
        if gate is None:
            yield
            return
        if not gate.acquire(timeout=self._timeout_s):
            logger.warning("records store: %s waited too long for SQLite", operation)
            raise StoreUnavailable(f"records store unavailable ({operation})")
        try:
            yield
        finally:
            gate.release()

    @contextmanager
    def atomic(self, operation: str) -> Iterator[AtomicOps]:
        """One transaction for limit checks and the writes they guard.

        Any exception inside rolls everything back (raise your own to refuse).
        """
        with self._transaction(operation) as conn:
            yield AtomicOps(conn)

    def counters(self, names: Sequence[tuple[str, datetime]]) -> dict[str, int]:
        """Current values of the (name, window start) counters; a read-only peek."""
        values: dict[str, int] = {}
        with self._transaction("counters") as conn:
            for name, window_start in names:
                values[name] = AtomicOps(conn).count(name, window_start)
        return values

    def ping(self) -> None:
        """Check the database answers (and create the tables if needed)."""
        with self._transaction("ping") as conn:
            conn.execute(sa.select(sa.literal(1)))

    def dispose(self) -> None:
        """Close all pooled connections; the next call reconnects."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def drop_all(self) -> None:
        """Drop every table (and the schema given to the constructor). For tests."""
        with self._transaction("drop_all") as conn:
            metadata.drop_all(conn, checkfirst=True)
            if self._schema:
                conn.execute(DropSchema(self._schema, cascade=True))
        self.dispose()

    # -- pupils ------------------------------------------------------------------------

    def get_pupil(self, pupil_number: str) -> Pupil | None:
        """The pupil with this number, or None."""
        query = sa.select(pupils).where(pupils.c.pupil_number == pupil_number)
        with self._transaction("get_pupil") as conn:
            row = conn.execute(query).first()
        return None if row is None else _pupil_from_row(row)

    def get_pupils(self, pupil_numbers: Collection[str]) -> list[Pupil]:
        """The pupils with these numbers that exist, by first name."""
        query = (
            sa.select(pupils)
            .where(pupils.c.pupil_number.in_(sorted(set(pupil_numbers))))
            .order_by(pupils.c.first_name, pupils.c.pupil_number)
        )
        with self._transaction("get_pupils") as conn:
            return [_pupil_from_row(row) for row in conn.execute(query)]

    def pupils_with_parent_email(self, email: str) -> list[Pupil]:
        """All pupils whose parent e-mail equals ``email`` (case-insensitive): siblings."""
        query = (
            sa.select(pupils)
            .where(sa.func.lower(pupils.c.parent_email) == email.strip().lower())
            .order_by(pupils.c.first_name, pupils.c.pupil_number)
        )
        with self._transaction("pupils_with_parent_email") as conn:
            return [_pupil_from_row(row) for row in conn.execute(query)]

    def count_pupils(self) -> int:
        """Number of pupils in the store."""
        with self._transaction("count_pupils") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(pupils)).scalar_one())

    def upsert_pupils(self, new_pupils: Sequence[Pupil]) -> UpsertCounts:
        """Insert or update pupils by number, in ONE transaction (all or nothing).

        Rows that are already identical are not touched, so a repeated import changes
        nothing. Pupils missing from ``new_pupils`` are kept.
        """
        inserted = updated = unchanged = 0
        with self._transaction("upsert_pupils") as conn:
            existing = self._existing(conn, [pupil.pupil_number for pupil in new_pupils])
            for pupil in new_pupils:
                old = existing.get(pupil.pupil_number)
                if old is None:
                    conn.execute(pupils.insert().values(**_pupil_values(pupil)))
                    inserted += 1
                elif old != pupil:
                    where = pupils.c.pupil_number == pupil.pupil_number
                    conn.execute(pupils.update().where(where).values(**_pupil_values(pupil)))
                    updated += 1
                else:
                    unchanged += 1
        return UpsertCounts(inserted=inserted, updated=updated, unchanged=unchanged)

    @staticmethod
    def _existing(conn: Connection, numbers: Sequence[str]) -> dict[str, Pupil]:
        found: dict[str, Pupil] = {}
        for chunk in _chunks(numbers):
            query = sa.select(pupils).where(pupils.c.pupil_number.in_(chunk))
            found.update((row.pupil_number, _pupil_from_row(row)) for row in conn.execute(query))
        return found

    # -- audit (append-only) -----------------------------------------------------------

    def append_audit(self, event: AuditEvent) -> None:
        """Append one audit row. Audit rows are never updated."""
        values = {
            "time": event.time,
            "channel": event.channel[:32],
            "sender_hash": event.sender_hash[:64],
            "pupil_number": None if event.pupil_number is None else event.pupil_number[:32],
            "outcome": event.outcome[:32],
        }
        with self._transaction("append_audit") as conn:
            conn.execute(audit_events.insert().values(**values))

    def audit_since(self, since: datetime) -> list[AuditEvent]:
        """Audit rows from ``since`` on, oldest first."""
        query = (
            sa.select(audit_events)
            .where(audit_events.c.time >= since)
            .order_by(audit_events.c.time, audit_events.c.id)
        )
        with self._transaction("audit_since") as conn:
            return [_audit_from_row(row) for row in conn.execute(query)]

    # -- verification attempts ---------------------------------------------------------

    def start_attempt(
        self,
        conversation_hash: str,
        pupil_number: str,
        code_hash: str | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> Attempt:
        """Record a code request; earlier pending attempts of the conversation end."""
        insert = _attempt_insert(conversation_hash, pupil_number, code_hash, created_at,
                                 expires_at)
        with self._transaction("start_attempt") as conn:
            self._supersede_pending(conn, conversation_hash)
            attempt_id = int(conn.execute(insert).inserted_primary_key[0])
        return Attempt(
            id=attempt_id,
            conversation_hash=conversation_hash,
            pupil_number=pupil_number,
            code_hash=code_hash,
            created_at=created_at,
            expires_at=expires_at,
            failed_tries=0,
            state=AttemptState.PENDING,
        )

    @staticmethod
    def _supersede_pending(conn: Connection, conversation_hash: str) -> None:
        table = verification_attempts
        conn.execute(
            table.update()
            .where(table.c.conversation_hash == conversation_hash)
            .where(table.c.state == AttemptState.PENDING.value)
            .values(state=AttemptState.SUPERSEDED.value)
        )

    def latest_attempt(self, conversation_hash: str) -> Attempt | None:
        """The conversation's most recent attempt, whatever its state."""
        table = verification_attempts
        query = (
            sa.select(table)
            .where(table.c.conversation_hash == conversation_hash)
            .order_by(table.c.id.desc())
            .limit(1)
        )
        with self._transaction("latest_attempt") as conn:
            row = conn.execute(query).first()
        return None if row is None else _attempt_from_row(row)

    def record_failed_try(self, attempt_id: int, max_tries: int) -> Attempt | None:
        """Count a wrong code atomically; the attempt locks at ``max_tries``.

        Returns the updated attempt, or None when it was no longer pending.
        """
        table = verification_attempts
        tries = table.c.failed_tries + 1
        locked = sa.case((tries >= max_tries, AttemptState.LOCKED.value), else_=table.c.state)
        update = (
            table.update()
            .where(table.c.id == attempt_id)
            .where(table.c.state == AttemptState.PENDING.value)
            .values(failed_tries=tries, state=locked)
        )
        with self._transaction("record_failed_try") as conn:
            if conn.execute(update).rowcount != 1:
                return None
            row = conn.execute(sa.select(table).where(table.c.id == attempt_id)).one()
        return _attempt_from_row(row)

    def end_attempt(self, attempt_id: int, state: AttemptState) -> bool:
        """Move a pending attempt to ``state``; False when it was not pending any more."""
        with self._transaction("end_attempt") as conn:
            return self._end_attempt(conn, attempt_id, state)

    @staticmethod
    def _end_attempt(conn: Connection, attempt_id: int, state: AttemptState) -> bool:
        table = verification_attempts
        update = (
            table.update()
            .where(table.c.id == attempt_id)
            .where(table.c.state == AttemptState.PENDING.value)
            .values(state=state.value)
        )
        return bool(conn.execute(update).rowcount == 1)

    def count_attempts(
        self,
        since: datetime,
        *,
        conversation_hash: str | None = None,
        pupil_number: str | None = None,
    ) -> int:
        """Code requests since ``since``, for a conversation and/or a typed pupil number."""
        table = verification_attempts
        query = sa.select(sa.func.count()).select_from(table).where(table.c.created_at >= since)
        if conversation_hash is not None:
            query = query.where(table.c.conversation_hash == conversation_hash)
        if pupil_number is not None:
            query = query.where(table.c.pupil_number == pupil_number)
        with self._transaction("count_attempts") as conn:
            return int(conn.execute(query).scalar_one())

    def failed_tries_for_pupil(self, pupil_number: str, since: datetime) -> int:
        """Wrong codes for this typed pupil number across all conversations."""
        table = verification_attempts
        query = (
            sa.select(sa.func.coalesce(sa.func.sum(table.c.failed_tries), 0))
            .where(table.c.pupil_number == pupil_number)
            .where(table.c.created_at >= since)
        )
        with self._transaction("failed_tries_for_pupil") as conn:
            return int(conn.execute(query).scalar_one())

    # -- verified sessions -------------------------------------------------------------

    def complete_verification(self, attempt_id: int, grant: SessionGrant) -> bool:
        """Mark the attempt verified and store the grant, in one transaction.

        Returns False (and changes nothing) when the attempt was no longer pending, so
        a code can be used only once.
        """
        with self._transaction("complete_verification") as conn:
            if not self._end_attempt(conn, attempt_id, AttemptState.VERIFIED):
                return False
            self._replace_grant(conn, grant)
        return True

    def grant_session(self, grant: SessionGrant) -> None:
        """Replace what the conversation may see by ``grant``."""
        with self._transaction("grant_session") as conn:
            self._replace_grant(conn, grant)

    @staticmethod
    def _replace_grant(conn: Connection, grant: SessionGrant) -> None:
        table = verified_sessions
        conn.execute(table.delete().where(table.c.conversation_hash == grant.conversation_hash))
        rows = [
            {
                "conversation_hash": grant.conversation_hash,
                "pupil_number": number,
                "method": grant.method.value,
                "parent_ref_hash": grant.parent_ref_hash,
                "created_at": grant.created_at,
                "expires_at": grant.expires_at,
            }
            for number in sorted(set(grant.pupil_numbers))
        ]
        if rows:
            conn.execute(table.insert(), rows)

    def verified_pupils(self, conversation_hash: str, now: datetime) -> list[Pupil]:
        """Pupils the conversation is verified for at ``now``, by first name."""
        sessions = verified_sessions
        query = (
            sa.select(pupils)
            .join(sessions, sessions.c.pupil_number == pupils.c.pupil_number)
            .where(sessions.c.conversation_hash == conversation_hash)
            .where(sessions.c.expires_at > now)
            .order_by(pupils.c.first_name, pupils.c.pupil_number)
        )
        with self._transaction("verified_pupils") as conn:
            return [_pupil_from_row(row) for row in conn.execute(query)]

    def clear_conversation(self, conversation_hash: str) -> None:
        """Forget the conversation's verification and end its pending attempt (new
        session, verification cleared). Its resume tokens stop working too: only the
        connection that holds the conversation gets a new one after its turn."""
        with self._transaction("clear_conversation") as conn:
            self._clear(conn, conversation_hash)
            tokens = resume_tokens
            conn.execute(tokens.update()
                         .where(tokens.c.conversation_hash == conversation_hash)
                         .values(grant_marker=_CLEARED_MARKER))

    def end_conversation(self, conversation_hash: str, now: datetime) -> None:
        """"Gesprek wissen": forget the verification and revoke every resume token of the
        conversation for good (no token of it is ever issued or accepted again)."""
        with self._transaction("end_conversation") as conn:
            self._clear(conn, conversation_hash)
            insert = _upsert(conn, resume_tokens).values(
                conversation_hash=conversation_hash, token_hash=None,
                grant_marker=_CLEARED_MARKER, revoked=True, updated_at=now)
            conn.execute(insert.on_conflict_do_update(
                index_elements=[resume_tokens.c.conversation_hash],
                set_={"token_hash": None, "grant_marker": _CLEARED_MARKER,
                      "revoked": True, "updated_at": now}))

    def _clear(self, conn: Connection, conversation_hash: str) -> None:
        sessions = verified_sessions
        conn.execute(sessions.delete().where(sessions.c.conversation_hash == conversation_hash))
        self._supersede_pending(conn, conversation_hash)

    # -- resume tokens of the website widget -------------------------------------------

    @staticmethod
    def _grant_marker(conn: Connection, conversation_hash: str) -> str:
        """Identifies the conversation's current grant ("" when unverified): it changes
        when the conversation is verified, re-granted or cleared."""
        sessions = verified_sessions
        row = conn.execute(
            sa.select(sessions.c.method, sessions.c.created_at)
            .where(sessions.c.conversation_hash == conversation_hash)
            .order_by(sessions.c.created_at).limit(1)
        ).first()
        return "" if row is None else f"{row.method}:{row.created_at.timestamp():.6f}"

    def resume_register(self, conversation_hash: str, token_hash: str, now: datetime) -> bool:
        """A new conversation's first token; False when the conversation already had a
        row (then nothing changes)."""
        with self._transaction("resume_register") as conn:
            insert = _upsert(conn, resume_tokens).values(
                conversation_hash=conversation_hash, token_hash=token_hash,
                grant_marker=self._grant_marker(conn, conversation_hash), revoked=False,
                updated_at=now)
            return bool(conn.execute(insert.on_conflict_do_nothing()).rowcount == 1)

    def resume_claim(self, conversation_hash: str, token_hash: str, new_token_hash: str,
                     now: datetime, ttl: timedelta) -> bool:
        """Resume with a token: atomically, when ``token_hash`` is the conversation's
        current token, it was used less than ``ttl`` ago, the conversation was not ended
        and its grant is still the one the token was issued under, the token is
        replaced by ``new_token_hash`` (so it works once) and True is returned."""
        tokens = resume_tokens
        with self._transaction("resume_claim") as conn:
            marker = self._grant_marker(conn, conversation_hash)
            update = (
                tokens.update()
                .where(tokens.c.conversation_hash == conversation_hash)
                .where(tokens.c.token_hash == token_hash)
                .where(tokens.c.revoked.is_(False))
                .where(tokens.c.updated_at > now - ttl)
                .where(tokens.c.grant_marker == marker)
                .values(token_hash=new_token_hash, updated_at=now)
            )
            return bool(conn.execute(update).rowcount == 1)

    def resume_owner(self, conversation_hash: str, token_hash: str) -> ResumeOutcome:
        """Whether the connection holding ``token_hash`` still holds the conversation
        (before a turn). No row (the store was down at connect): KEPT."""
        tokens = resume_tokens
        with self._transaction("resume_owner") as conn:
            row = conn.execute(sa.select(tokens.c.token_hash, tokens.c.revoked)
                               .where(tokens.c.conversation_hash == conversation_hash)).first()
        if row is None:
            return ResumeOutcome.KEPT
        if row.revoked:
            return ResumeOutcome.REVOKED
        return ResumeOutcome.KEPT if row.token_hash == token_hash else ResumeOutcome.SUPERSEDED

    def resume_refresh(self, conversation_hash: str, token_hash: str, new_token_hash: str,
                       now: datetime) -> ResumeOutcome:
        """After a turn of the connection holding ``token_hash``: renew its lifetime, and
        when the grant changed (verified, cleared, a new session) replace the token by
        ``new_token_hash`` (ROTATED), so no earlier token reaches the new state."""
        tokens = resume_tokens
        with self._transaction("resume_refresh") as conn:
            row = conn.execute(
                sa.select(tokens).where(tokens.c.conversation_hash == conversation_hash)
                .with_for_update()
            ).first()
            marker = self._grant_marker(conn, conversation_hash)
            if row is None:  # never registered (store down at connect): start now
                conn.execute(_upsert(conn, tokens).values(
                    conversation_hash=conversation_hash, token_hash=new_token_hash,
                    grant_marker=marker, revoked=False, updated_at=now,
                ).on_conflict_do_nothing())
                return ResumeOutcome.ROTATED
            if row.revoked:
                return ResumeOutcome.REVOKED
            if row.token_hash != token_hash:
                return ResumeOutcome.SUPERSEDED
            where = tokens.c.conversation_hash == conversation_hash
            if row.grant_marker != marker:
                conn.execute(tokens.update().where(where).values(
                    token_hash=new_token_hash, grant_marker=marker, updated_at=now))
                return ResumeOutcome.ROTATED
            conn.execute(tokens.update().where(where).values(updated_at=now))
            return ResumeOutcome.KEPT

    def pupil_names(self) -> list[tuple[str, str]]:
        """(first name, last name) of every pupil: for masking names in free text."""
        query = sa.select(pupils.c.first_name, pupils.c.last_name)
        with self._transaction("pupil_names") as conn:
            return [(row.first_name, row.last_name) for row in conn.execute(query)]

    # -- callback requests (hand-over to a person) -------------------------------------

    def add_callback_request(self, request: CallbackRequest) -> CallbackRequest:
        """Store a parent's callback request; returns it with its id."""
        values = {
            "created_at": request.created_at,
            "channel": request.channel[:32],
            "conversation_hash": request.conversation_hash[:64],
            "question": request.question,
            "contact_method": request.contact_method.value,
            "contact": request.contact[:254],
            "callback_date": request.callback_date,
            "mailed_at": request.mailed_at,
        }
        with self._transaction("add_callback_request") as conn:
            new_id = int(conn.execute(callback_requests.insert().values(**values))
                         .inserted_primary_key[0])
        return dataclasses.replace(request, id=new_id)

    def mark_callback_mailed(self, request_id: int, mailed_at: datetime) -> bool:
        """Record that the care desk was mailed; False when the request does not exist."""
        update = (
            callback_requests.update()
            .where(callback_requests.c.id == request_id)
            .values(mailed_at=mailed_at)
        )
        with self._transaction("mark_callback_mailed") as conn:
            return bool(conn.execute(update).rowcount == 1)

    def callback_requests(
        self, since: datetime | None = None, *, unmailed_only: bool = False
    ) -> list[CallbackRequest]:
        """Callback requests (from ``since`` on), oldest first."""
        query = sa.select(callback_requests).order_by(
            callback_requests.c.created_at, callback_requests.c.id
        )
        if since is not None:
            query = query.where(callback_requests.c.created_at >= since)
        if unmailed_only:
            query = query.where(callback_requests.c.mailed_at.is_(None))
        with self._transaction("callback_requests") as conn:
            return [_callback_from_row(row) for row in conn.execute(query)]

    # -- retention ---------------------------------------------------------------------

    def purge(self, cutoff: datetime, now: datetime) -> PurgeCounts:
        """Delete attempts, audit rows and callback requests older than ``cutoff``, and
        sessions that were created before ``cutoff`` or have expired at ``now``. Nothing
        younger than the cut-off is deleted except expired sessions and resume-token rows
        untouched for a day, which nobody can use any more."""
        attempts_q = verification_attempts.delete().where(
            verification_attempts.c.created_at < cutoff
        )
        sessions_q = verified_sessions.delete().where(
            sa.or_(verified_sessions.c.created_at < cutoff, verified_sessions.c.expires_at <= now)
        )
        audit_q = audit_events.delete().where(audit_events.c.time < cutoff)
        callbacks_q = callback_requests.delete().where(callback_requests.c.created_at < cutoff)
        counters_q = limit_counters.delete().where(
            limit_counters.c.window_start < min(cutoff, now - timedelta(days=2))
        )
        keys_q = idempotency_keys.delete().where(
            idempotency_keys.c.created_at < min(cutoff, now - timedelta(days=1))
        )
        resume_q = resume_tokens.delete().where(
            resume_tokens.c.updated_at < max(cutoff, now - RESUME_ROW_RETENTION)
        )
        with self._transaction("purge") as conn:
            conn.execute(counters_q)
            conn.execute(keys_q)
            return PurgeCounts(
                attempts=conn.execute(attempts_q).rowcount,
                sessions=conn.execute(sessions_q).rowcount,
                audit_events=conn.execute(audit_q).rowcount,
                callback_requests=conn.execute(callbacks_q).rowcount,
                resume_tokens=conn.execute(resume_q).rowcount,
            )
