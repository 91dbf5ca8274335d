"""Who may see a child's lwoo status: one-time e-mail codes and portal grants.

API summary (for ``actions/status.py``)
---------------------------------------
``get_verifier() -> Verifier``
    The process-wide verifier built from the settings (lazily; nothing at import).

``Verifier.request_code(conversation_id, channel, pupil_number, birth_date) -> RequestResult``
    ``pupil_number`` and ``birth_date`` are the texts the parent typed.
    ``CODE_REQUESTED``: the SAME value whether a code was mailed, the data did not match,
    or the pupil has no parent e-mail on record; reply identically ("if the data is
    right, a code is on its way; no e-mail? contact the school").
    ``INVALID_INPUT``: not 6 digits / not a date (nothing was looked up).
    ``RATE_LIMITED``: too many requests from this conversation, or this pupil's (or the
    school's) daily budget is spent -- the same for every date typed.
    Raises ``MailUnavailable`` (checked before any lookup) or ``StoreUnavailable``.

``Verifier.check_code(conversation_id, channel, code) -> CodeCheck(result, tries_left)``
    ``CheckResult``: ``VERIFIED``, ``WRONG_CODE`` (``tries_left`` > 0), ``LOCKED`` (5 wrong:
    the attempt is over), ``EXPIRED`` (after 10 minutes), ``NO_ATTEMPT``, ``INVALID_INPUT``
    (not 6 digits; no try counted), ``RATE_LIMITED`` (a guess budget of the conversation,
    the pupil or the school is spent for today). Raises ``StoreUnavailable``.

``Verifier.grant_portal(conversation_id, pupil_numbers, parent_ref, expires_at, channel)``
    After ``core.portal.verify_portal_token``: the conversation may see those pupils.

``Verifier.verified_pupils(conversation_id) -> list[Pupil]``  (siblings: choose one)
``Verifier.verified_pupil(conversation_id, pupil_number, channel) -> Pupil | None``
    The pupil when the conversation is verified for it; audited as a disclosure.
``Verifier.clear(conversation_id)``  on session start (also ends the resume tokens).
``Verifier.end_conversation(conversation_id)``  "Gesprek wissen": clear + revoke tokens.
``Verifier.resume_register/claim/owner/refresh(...)``  the website's resume tokens
    (``bot/channels/socketio.py``): one current token id per conversation, rotated when
    the grant changes; only HMACs are stored.

``status_text(pupil) -> str``: the Dutch status message (never test scores).

Defaults (:class:`Limits`): codes live 10 minutes, 5 tries per code; at most 3 code
requests per conversation per hour; per day (UTC) 5 codes per pupil (only requests with
the matching birth date count), 10 guesses per pupil and 100 school-wide (only guesses
against a real code count) and 15 guesses per conversation. All limits are consumed
atomically in the database (see README "Limits"). A verification lasts 60 minutes. The
e-mail is sent in a background thread, so the reply takes as long whether or not the
data matched. A repeated request (same conversation, number and date within 2 minutes)
sends no second mail.

Everything is synchronous (SQLAlchemy, smtplib, with 3 s timeouts). From an async
Rasa action use ``await core.blocking.run_blocking(func, *args, timeout=...)`` and answer
``utter_technical_problem`` on ``StoreUnavailable``, ``MailUnavailable`` or a timeout.
Only the conversation id's HMAC is stored; no method logs personal data.
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

from core.formats import local_date, normalize_code, normalize_pupil_number, parse_date
from core.importer import MAX_PUPILS_PER_EMAIL
from core.keys import derive_key
from core.mail import Mailer, MailUnavailable, code_message, get_mailer
from core.records import (
    AtomicOps,
    Attempt,
    AttemptState,
    AuditEvent,
    LwooStatus,
    Pupil,
    RecordsStore,
    ResumeOutcome,
    SessionGrant,
    StoreUnavailable,
    VerificationMethod,
)
from core.texts import text as msg

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = [
    "AuditOutcome",
    "CheckResult",
    "CodeCheck",
    "Limits",
    "MailUnavailable",
    "PortalTokenReplayed",
    "RequestResult",
    "StoreUnavailable",
    "Verifier",
    "get_verifier",
    "new_code",
    "normalize_code",
    "normalize_pupil_number",
    "parse_date",
    "run_in_background",
    "run_inline",
    "status_text",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Job = Callable[[], None]
Dispatcher = Callable[[Job], None]

_NO_CODE_HASH = "-" * 64  # never equal to a hex digest


class RequestResult(str, enum.Enum):
    """Outcome of a code request as the parent may learn it."""

    CODE_REQUESTED = "code_requested"
    INVALID_INPUT = "invalid_input"
    RATE_LIMITED = "rate_limited"


class CheckResult(str, enum.Enum):
    """Outcome of entering a code."""

    VERIFIED = "verified"
    WRONG_CODE = "wrong_code"
    LOCKED = "locked"
    EXPIRED = "expired"
    NO_ATTEMPT = "no_attempt"
    INVALID_INPUT = "invalid_input"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class CodeCheck:
    """Result of :meth:`Verifier.check_code`; ``tries_left`` for the current code."""

    result: CheckResult
    tries_left: int = 0


class AuditOutcome(str, enum.Enum):
    """Outcomes in the audit trail (for staff; finer than what the parent sees)."""

    CODE_SENT = "code_sent"
    NO_MATCH = "no_match"
    NO_EMAIL = "no_email"
    INVALID_INPUT = "invalid_input"
    LIMIT_SENDER = "rate_limited_sender"
    LIMIT_PUPIL = "rate_limited_pupil"
    LIMIT_TOTAL = "rate_limited_total"
    DUPLICATE = "duplicate_request"
    SHARED_EMAIL = "shared_email"
    PORTAL_REPLAY = "portal_token_replayed"
    MAIL_UNAVAILABLE = "mail_unavailable"
    MAIL_FAILED = "mail_failed"
    VERIFIED = "verified"
    WRONG_CODE = "wrong_code"
    LOCKED = "locked"
    EXPIRED = "expired"
    NO_ATTEMPT = "no_attempt"
    INVALID_CODE = "invalid_code"
    PORTAL_GRANTED = "portal_granted"
    STATUS_SHOWN = "status_shown"
    STATUS_REFUSED = "status_refused"


@dataclass(frozen=True)
class Limits:
    """Validity periods and rate limits.

    ``requests_per_sender`` counts per ``window`` (an hour); the ``*_per_day`` limits per
    calendar day (UTC). Only requests whose birth date MATCHES count towards the pupil's
    code limit, and only guesses against a real code (one that was mailed) count towards
    the pupil's and the school-wide guess limits: strangers typing wrong dates cannot
    use up a parent's budget, and every pupil is refused alike once a budget is spent.
    """

    code_ttl: timedelta = timedelta(minutes=10)
    session_ttl: timedelta = timedelta(minutes=60)
    max_wrong_per_attempt: int = 5
    window: timedelta = timedelta(hours=1)
    requests_per_sender: int = 3
    codes_per_pupil_per_day: int = 5
    guesses_per_pupil_per_day: int = 10
    guesses_per_sender_per_day: int = 15
    guesses_per_day: int = 100
    retry_window: timedelta = timedelta(minutes=2)
    portal_token_memory: timedelta = timedelta(hours=1)  # > any valid token's lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits from the ``VERIFY_*`` settings."""
        return cls(
            requests_per_sender=settings.verify_requests_per_conversation,
            codes_per_pupil_per_day=settings.verify_codes_per_pupil,
            guesses_per_pupil_per_day=settings.verify_guesses_per_pupil,
            guesses_per_sender_per_day=settings.verify_guesses_per_conversation,
            guesses_per_day=settings.verify_guesses_per_day,
        )


class PortalTokenReplayed(Exception):
    """A portal token (its ``jti``) was already used by another conversation."""


class _Refused(Exception):
    """Raised inside an atomic block to roll it back; carries the audit outcome."""

    def __init__(self, outcome: AuditOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


class _Duplicate(Exception):
    """The same request of the same conversation was already handled (a retry)."""


def _day_start(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def _window_start(moment: datetime, window: timedelta) -> datetime:
    seconds = max(1, int(window.total_seconds()))
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, timezone.utc)


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(timezone.utc)


def new_code() -> str:
    """A uniformly random 6-digit code."""
    return f"{secrets.randbelow(1_000_000):06d}"


def run_inline(job: Job) -> None:
    """Dispatcher that runs the job now (tests, CLI)."""
    job()


@lru_cache(maxsize=1)
def _mail_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="code-mail")


def _log_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:
        logger.error("background mail job failed (%s)", type(error).__name__)


def run_in_background(job: Job) -> None:
    """Default dispatcher: send mail off the request path, so the reply takes as long
    whether or not the data matched (no timing side channel). The job runs in the
    caller's context: the mail is in the conversation's language (core.texts.speaking)."""
    context = contextvars.copy_context()
    _mail_executor().submit(context.run, job).add_done_callback(_log_failure)


def _audit_number(text: str) -> str | None:
    """What goes into the audit's pupil column: typed digits only, never free text."""
    compact = "".join(text.split())
    return compact[:12] if compact.isascii() and compact.isdigit() else None


def _recipient(pupil: Pupil | None, birth_date: date) -> tuple[str | None, AuditOutcome]:
    if pupil is None or pupil.birth_date != birth_date:
        return None, AuditOutcome.NO_MATCH
    if not pupil.parent_email:
        return None, AuditOutcome.NO_EMAIL
    return pupil.parent_email, AuditOutcome.CODE_SENT


class Verifier:
    """Verification of parents, on a :class:`RecordsStore` and a :class:`Mailer`.

    Inject ``clock``, ``code_factory`` and ``dispatch=run_inline`` in tests.
    """

    def __init__(
        self,
        store: RecordsStore,
        mailer: Mailer,
        hash_secret: str,
        *,
        mail_from: str,
        clock: Clock = utc_now,
        limits: Limits | None = None,
        code_factory: Callable[[], str] = new_code,
        dispatch: Dispatcher = run_in_background,
    ) -> None:
        if not hash_secret:
            raise ValueError("hash_secret must not be empty")
        self._store = store
        self._mailer = mailer
        self._secret = hash_secret.encode("utf-8")
        self._keys: dict[str, bytes] = {}
        self._mail_from = mail_from
        self._clock = clock
        self._limits = limits or Limits()
        self._code_factory = code_factory
        self._dispatch = dispatch

    # -- hashing -----------------------------------------------------------------------

    def _key(self, purpose: str) -> bytes:
        """A separate key per purpose, derived from HASH_SECRET (HMAC(secret, purpose))."""
        key = self._keys.get(purpose)
        if key is None:
            key = self._keys[purpose] = derive_key(self._secret, purpose)
        return key

    def _hmac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key(purpose), value.encode(), hashlib.sha256).hexdigest()

    def sender_hash(self, conversation_id: str) -> str:
        """The HMAC that stands for a conversation in the store and the audit trail."""
        return self._hmac("conversation", conversation_id)

    def _code_hash(self, sender: str, code: str) -> str:
        return self._hmac("code", f"{sender}\x00{code}")

    # -- audit -------------------------------------------------------------------------

    def _audit(self, channel: str, sender: str, number: str | None, outcome: AuditOutcome) -> None:
        event = AuditEvent(
            time=self._clock(), channel=channel, sender_hash=sender,
            pupil_number=number, outcome=outcome.value,
        )
        self._store.append_audit(event)

    # -- code requests -----------------------------------------------------------------

    def request_code(
        self, conversation_id: str, channel: str, pupil_number: str, birth_date: str
    ) -> RequestResult:
        """Send a code if the data matches a pupil with a parent e-mail; see module doc.

        Order: input check, limits (a read-only peek, so a refused request never opens
        an SMTP session), the mail server check, then ONE transaction that claims the
        request's idempotency key, consumes the limits atomically and records the
        attempt. A retry of the same request (same conversation, number and date within
        ``retry_window``) sends no second mail.
        """
        sender = self.sender_hash(conversation_id)
        number = normalize_pupil_number(pupil_number)
        born = parse_date(birth_date)
        if number is None or born is None:
            self._audit(channel, sender, _audit_number(pupil_number), AuditOutcome.INVALID_INPUT)
            return RequestResult.INVALID_INPUT
        now = self._clock()
        refusal = self._request_refusal(sender, number, now)
        if refusal is not None:
            self._audit(channel, sender, number, refusal)
            return RequestResult.RATE_LIMITED
        self._check_mail(channel, sender, number)
        pupil = self._store.get_pupil(number)
        recipient, outcome = _recipient(pupil, born)
        if recipient and self._shared_address(recipient):
            recipient, outcome = None, AuditOutcome.SHARED_EMAIL
        matched = outcome is not AuditOutcome.NO_MATCH
        code = self._code_factory()
        code_hash = self._code_hash(sender, code) if recipient else None
        key = self._hmac("request", f"code\x00{sender}\x00{number}\x00{born.isoformat()}")
        try:
            with self._store.atomic("request_code") as ops:
                if not ops.claim(key, now, self._limits.retry_window):
                    raise _Duplicate()
                self._consume_request(ops, sender, number, matched, now)
                ops.start_attempt(sender, number, code_hash, now, now + self._limits.code_ttl)
        except _Duplicate:
            self._audit(channel, sender, number, AuditOutcome.DUPLICATE)
            return RequestResult.CODE_REQUESTED
        except _Refused as refused:
            self._audit(channel, sender, number, refused.outcome)
            return RequestResult.RATE_LIMITED
        self._audit(channel, sender, number, outcome)
        if recipient:
            self._dispatch(lambda: self._deliver(recipient, code, channel, sender, number))
        return RequestResult.CODE_REQUESTED

    # counter names; the pupil number is stored as typed, conversations only as HMACs
    @staticmethod
    def _requests_counter(sender: str) -> str:
        return f"requests:conversation:{sender}"

    @staticmethod
    def _codes_counter(number: str) -> str:
        return f"codes:pupil:{number}"

    @staticmethod
    def _guesses_counter(number: str) -> str:
        return f"guesses:pupil:{number}"

    @staticmethod
    def _sender_guesses_counter(sender: str) -> str:
        return f"guesses:conversation:{sender}"

    _TOTAL_GUESSES = "guesses:total"

    def _request_refusal(self, sender: str, number: str, now: datetime) -> AuditOutcome | None:
        """Read-only check of every limit a request would hit (no SMTP before it)."""
        hour, day = _window_start(now, self._limits.window), _day_start(now)
        values = self._store.counters([
            (self._requests_counter(sender), hour),
            (self._codes_counter(number), day),
            (self._guesses_counter(number), day),
            (self._TOTAL_GUESSES, day),
        ])
        limits = self._limits
        if values[self._requests_counter(sender)] >= limits.requests_per_sender:
            return AuditOutcome.LIMIT_SENDER
        if (values[self._codes_counter(number)] >= limits.codes_per_pupil_per_day
                or values[self._guesses_counter(number)] >= limits.guesses_per_pupil_per_day):
            return AuditOutcome.LIMIT_PUPIL
        if values[self._TOTAL_GUESSES] >= limits.guesses_per_day:
            return AuditOutcome.LIMIT_TOTAL
        return None

    def _consume_request(
        self, ops: AtomicOps, sender: str, number: str, matched: bool, now: datetime
    ) -> None:
        """Consume the request's limits atomically; raise _Refused to roll back.

        Every pupil number is refused alike once its budget is spent (the check does
        not depend on the date typed); only a matching date consumes the budget.
        """
        limits = self._limits
        hour, day = _window_start(now, limits.window), _day_start(now)
        if not ops.consume(self._requests_counter(sender), hour, limits.requests_per_sender):
            raise _Refused(AuditOutcome.LIMIT_SENDER)
        codes = self._codes_counter(number)
        if (ops.count(codes, day) >= limits.codes_per_pupil_per_day
                or ops.count(self._guesses_counter(number), day)
                >= limits.guesses_per_pupil_per_day):
            raise _Refused(AuditOutcome.LIMIT_PUPIL)
        if ops.count(self._TOTAL_GUESSES, day) >= limits.guesses_per_day:
            raise _Refused(AuditOutcome.LIMIT_TOTAL)
        if matched and not ops.consume(codes, day, limits.codes_per_pupil_per_day):
            raise _Refused(AuditOutcome.LIMIT_PUPIL)

    def _shared_address(self, email: str) -> bool:
        """More than MAX_PUPILS_PER_EMAIL pupils on one address: a placeholder in the
        export, never a family. It gets no code and grants nothing."""
        return len(self._store.pupils_with_parent_email(email)) > MAX_PUPILS_PER_EMAIL

    def _check_mail(self, channel: str, sender: str, number: str) -> None:
        try:
            self._mailer.check_available()
        except MailUnavailable:
            self._audit(channel, sender, number, AuditOutcome.MAIL_UNAVAILABLE)
            raise

    def _deliver(self, recipient: str, code: str, channel: str, sender: str, number: str) -> None:
        minutes = int(self._limits.code_ttl.total_seconds() // 60)
        message = code_message(
            sender=self._mail_from, recipient=recipient, code=code, valid_minutes=minutes
        )
        try:
            self._mailer.send(message)
        except MailUnavailable:
            logger.warning("code e-mail could not be delivered")
            self._audit_quietly(channel, sender, number, AuditOutcome.MAIL_FAILED)

    def _audit_quietly(
        self, channel: str, sender: str, number: str, outcome: AuditOutcome
    ) -> None:
        try:
            self._audit(channel, sender, number, outcome)
        except StoreUnavailable:
            logger.warning("audit row could not be written")

    # -- code checks -------------------------------------------------------------------

    def check_code(self, conversation_id: str, channel: str, code: str) -> CodeCheck:
        """Check the code the parent typed against the conversation's latest attempt."""
        sender = self.sender_hash(conversation_id)
        attempt = self._store.latest_attempt(sender)
        number = attempt.pupil_number if attempt else None
        check, outcome = self._evaluate(attempt, sender, code, self._clock())
        self._audit(channel, sender, number, outcome or _CHECK_AUDIT[check.result])
        return check

    def _evaluate(
        self, attempt: Attempt | None, sender: str, code: str, now: datetime
    ) -> tuple[CodeCheck, AuditOutcome | None]:
        if attempt is None or attempt.state not in (AttemptState.PENDING, AttemptState.LOCKED):
            return CodeCheck(CheckResult.NO_ATTEMPT), None
        if attempt.state is AttemptState.LOCKED:
            return CodeCheck(CheckResult.LOCKED), None
        if attempt.expires_at <= now:
            self._store.end_attempt(attempt.id, AttemptState.EXPIRED)
            return CodeCheck(CheckResult.EXPIRED), None
        candidate = normalize_code(code)
        if candidate is None:
            tries_left = self._limits.max_wrong_per_attempt - attempt.failed_tries
            return CodeCheck(CheckResult.INVALID_INPUT, tries_left), None
        try:
            with self._store.atomic("check_code") as ops:
                tries = self._consume_guess(ops, attempt, sender, now)
        except _Refused as refused:
            return self._refused_check(attempt, refused.outcome)
        if self._code_matches(attempt, sender, candidate):
            return self._complete(attempt, sender, now), None
        return self._wrong_code(attempt, tries), None

    def _consume_guess(self, ops: AtomicOps, attempt: Attempt, sender: str, now: datetime) -> int:
        """Take a try of the attempt and of every guess budget BEFORE comparing the code.

        Guesses against an attempt without a real code (wrong date, unknown number) use
        the attempt's and the conversation's tries only: they can never succeed, so they
        must not use up the parent's budget. The pupil's and the school-wide budgets
        refuse every attempt alike once spent.
        """
        limits = self._limits
        day = _day_start(now)
        tries = ops.use_try(attempt.id, limits.max_wrong_per_attempt)
        if tries is None:
            raise _Refused(AuditOutcome.LOCKED)
        if not ops.consume(self._sender_guesses_counter(sender), day,
                           limits.guesses_per_sender_per_day):
            raise _Refused(AuditOutcome.LIMIT_SENDER)
        budgets = (
            (self._guesses_counter(attempt.pupil_number), limits.guesses_per_pupil_per_day,
             AuditOutcome.LIMIT_PUPIL),
            (self._TOTAL_GUESSES, limits.guesses_per_day, AuditOutcome.LIMIT_TOTAL),
        )
        for name, limit, outcome in budgets:
            if attempt.code_hash is not None:
                if not ops.consume(name, day, limit):
                    raise _Refused(outcome)
            elif ops.count(name, day) >= limit:
                raise _Refused(outcome)
        return tries

    def _refused_check(
        self, attempt: Attempt, outcome: AuditOutcome
    ) -> tuple[CodeCheck, AuditOutcome | None]:
        if outcome is not AuditOutcome.LOCKED:
            return CodeCheck(CheckResult.RATE_LIMITED), outcome
        # no try left, or the attempt ended meanwhile (verified, replaced, expired)
        current = self._store.latest_attempt(attempt.conversation_hash)
        exhausted = current is not None and current.id == attempt.id and (
            current.state is AttemptState.LOCKED
            or (current.state is AttemptState.PENDING
                and current.failed_tries >= self._limits.max_wrong_per_attempt)
        )
        return CodeCheck(CheckResult.LOCKED if exhausted else CheckResult.NO_ATTEMPT), None

    def _code_matches(self, attempt: Attempt, sender: str, candidate: str) -> bool:
        expected = attempt.code_hash or _NO_CODE_HASH
        matches = hmac.compare_digest(self._code_hash(sender, candidate), expected)
        return matches and attempt.code_hash is not None

    def _wrong_code(self, attempt: Attempt, tries: int) -> CodeCheck:
        tries_left = self._limits.max_wrong_per_attempt - tries
        if tries_left <= 0:
            self._store.end_attempt(attempt.id, AttemptState.LOCKED)
            return CodeCheck(CheckResult.LOCKED)
        return CodeCheck(CheckResult.WRONG_CODE, tries_left)

    def _complete(self, attempt: Attempt, sender: str, now: datetime) -> CodeCheck:
        pupil = self._store.get_pupil(attempt.pupil_number)
        email = pupil.parent_email if pupil else None
        family = self._store.pupils_with_parent_email(email) if email else []
        if len(family) > MAX_PUPILS_PER_EMAIL:  # a placeholder address (_shared_address)
            family = []
        grant = SessionGrant(
            conversation_hash=sender,
            pupil_numbers=tuple(member.pupil_number for member in family),
            method=VerificationMethod.CODE,
            created_at=now,
            expires_at=now + self._limits.session_ttl,
            parent_ref_hash=self._hmac("parent", email.lower()) if email else None,
        )
        if not self._store.complete_verification(attempt.id, grant):
            return CodeCheck(CheckResult.NO_ATTEMPT)
        return CodeCheck(CheckResult.VERIFIED)

    # -- portal, sessions --------------------------------------------------------------

    def grant_portal(
        self,
        conversation_id: str,
        pupil_numbers: Iterable[str],
        parent_ref: str,
        expires_at: datetime,
        channel: str = "portal",
        token_id: str = "",
    ) -> None:
        """Verify the conversation for the pupils a valid portal token names.

        The grant ends at the token's expiry or after the session time, whichever is
        first. Only call this with claims from ``verify_portal_token``. ``token_id`` (the
        token's ``jti``) binds the token to the first conversation that uses it; in any
        other conversation it raises :class:`PortalTokenReplayed` (and grants nothing).
        """
        sender = self.sender_hash(conversation_id)
        now = self._clock()
        if token_id:
            self._bind_token(token_id, sender, now)
        numbers = tuple(n for n in map(normalize_pupil_number, pupil_numbers) if n is not None)
        grant = SessionGrant(
            conversation_hash=sender,
            pupil_numbers=numbers,
            method=VerificationMethod.PORTAL,
            created_at=now,
            expires_at=min(expires_at, now + self._limits.session_ttl),
            parent_ref_hash=self._hmac("parent", parent_ref),
        )
        self._store.grant_session(grant)
        for number in numbers:
            self._audit(channel, sender, number, AuditOutcome.PORTAL_GRANTED)

    def _bind_token(self, token_id: str, sender: str, now: datetime) -> None:
        """Atomically: the first conversation to use a ``jti`` owns it; the owner may
        use it again (reconnect, new session), anybody else is refused."""
        used = self._hmac("portal-jti", token_id)
        owner = self._hmac("portal-jti-owner", f"{token_id}\x00{sender}")
        ttl = self._limits.portal_token_memory
        try:
            with self._store.atomic("portal_token") as ops:
                first = ops.claim(used, now, ttl)
                new_owner = ops.claim(owner, now, ttl)
                if not first and new_owner:
                    raise _Refused(AuditOutcome.PORTAL_REPLAY)
        except _Refused:
            self._audit("portal", sender, None, AuditOutcome.PORTAL_REPLAY)
            raise PortalTokenReplayed("portal token already used elsewhere") from None

    def verified_pupils(self, conversation_id: str) -> list[Pupil]:
        """The pupils this conversation may see now (several for siblings)."""
        return self._store.verified_pupils(self.sender_hash(conversation_id), self._clock())

    def verified_pupil(
        self, conversation_id: str, pupil_number: str, channel: str
    ) -> Pupil | None:
        """The pupil if the conversation is verified for it, else None. Audited."""
        sender = self.sender_hash(conversation_id)
        wanted = normalize_pupil_number(pupil_number)
        found = next(
            (p for p in self.verified_pupils(conversation_id) if p.pupil_number == wanted), None
        )
        outcome = AuditOutcome.STATUS_SHOWN if found else AuditOutcome.STATUS_REFUSED
        self._audit(channel, sender, wanted or _audit_number(pupil_number), outcome)
        return found

    def clear(self, conversation_id: str) -> None:
        """Forget the conversation's verification and pending code (new session, stop);
        its resume tokens stop working (see :meth:`resume_refresh`)."""
        self._store.clear_conversation(self.sender_hash(conversation_id))

    def end_conversation(self, conversation_id: str) -> None:
        """"Gesprek wissen": :meth:`clear`, and revoke the conversation's resume tokens
        for good."""
        self._store.end_conversation(self.sender_hash(conversation_id), self._clock())

    # -- resume tokens of the website widget (bot/channels/socketio.py) ----------------
    # The store keeps only HMACs of the conversation id and of the token id (jti).

    def _token_hash(self, token_id: str) -> str:
        return self._hmac("resume-jti", token_id)

    def resume_register(self, conversation_id: str, token_id: str) -> bool:
        """A new conversation's first token id."""
        return self._store.resume_register(self.sender_hash(conversation_id),
                                           self._token_hash(token_id), self._clock())

    def resume_claim(self, conversation_id: str, token_id: str, new_token_id: str,
                     ttl: timedelta) -> bool:
        """True (once) when ``token_id`` may resume the conversation; it is replaced by
        ``new_token_id``, the id of the connection that resumes."""
        return self._store.resume_claim(
            self.sender_hash(conversation_id), self._token_hash(token_id),
            self._token_hash(new_token_id), self._clock(), ttl)

    def resume_owner(self, conversation_id: str, token_id: str) -> ResumeOutcome:
        """Before a turn: does the connection with ``token_id`` still hold it?"""
        return self._store.resume_owner(self.sender_hash(conversation_id),
                                        self._token_hash(token_id))

    def resume_refresh(self, conversation_id: str, token_id: str,
                       new_token_id: str) -> ResumeOutcome:
        """After a turn: renew, or rotate to ``new_token_id`` when the grant changed."""
        return self._store.resume_refresh(
            self.sender_hash(conversation_id), self._token_hash(token_id),
            self._token_hash(new_token_id), self._clock())


_CHECK_AUDIT: dict[CheckResult, AuditOutcome] = {
    CheckResult.VERIFIED: AuditOutcome.VERIFIED,
    CheckResult.WRONG_CODE: AuditOutcome.WRONG_CODE,
    CheckResult.LOCKED: AuditOutcome.LOCKED,
    CheckResult.EXPIRED: AuditOutcome.EXPIRED,
    CheckResult.NO_ATTEMPT: AuditOutcome.NO_ATTEMPT,
    CheckResult.INVALID_INPUT: AuditOutcome.INVALID_CODE,
    CheckResult.RATE_LIMITED: AuditOutcome.LIMIT_PUPIL,
}


def build_verifier(settings: Settings) -> Verifier:
    """A verifier on the configured records store and mailer."""
    return Verifier(
        RecordsStore.from_settings(settings),
        get_mailer(settings),
        settings.hash_secret,
        mail_from=settings.smtp_from,
        limits=Limits.from_settings(settings),
    )


@lru_cache(maxsize=1)
def get_verifier() -> Verifier:
    """The process-wide verifier (built on first call, never at import)."""
    from core.settings import get_settings

    return build_verifier(get_settings())


# -- the status message -----------------------------------------------------------------

def _status_headline(pupil: Pupil) -> str:
    status = pupil.lwoo_status.value
    retest = ""
    if pupil.lwoo_status is LwooStatus.RETEST_PLANNED and pupil.retest_date:
        retest = " " + msg("status_text.retest_on", date=local_date(pupil.retest_date))
    dated = ""
    if pupil.status_date:
        dated = " " + msg(f"status_text.{status}.dated", date=local_date(pupil.status_date))
    return msg("status_text.headline", first_name=pupil.first_name,
                label=msg(f"status_text.{status}.label"), retest=retest, dated=dated)


def _contact_line(pupil: Pupil) -> str:
    if pupil.mentor:
        who = msg("status_text.contact_mentor", first_name=pupil.first_name,
                   mentor=pupil.mentor)
    else:
        who = msg("status_text.contact_care")
    return msg("status_text.contact", who=who)


def status_text(pupil: Pupil) -> str:
    """The Dutch status message: status, date, next step, whom to contact.

    Uses only the first name, status, dates and mentor: never test scores or delays.
    """
    return " ".join(
        (
            _status_headline(pupil),
            msg(f"status_text.{pupil.lwoo_status.value}.next_step", name=pupil.first_name),
            _contact_line(pupil),
        )
    )
