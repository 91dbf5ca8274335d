"""The callback desk: a parent's callback request stored in the records store and mailed
to the care desk with the last messages of the conversation, masked of other children's
data; limits first (per conversation per day, school-wide per hour), retries recognised.
Blocking; the action server runs it in its bounded pool (core.blocking)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from core.mail import Mailer, MailUnavailable, callback_message, get_mailer
from core.masking import Masker
from core.records import CallbackRequest, ContactMethod, RecordsStore, StoreUnavailable
from core.school_calendar import contact_promise, school_timezone
from core.texts import speaking
from core.texts import text as msg

if TYPE_CHECKING:
    from core.settings import Settings

logger = logging.getLogger(__name__)

MAX_TRANSCRIPT_LINE = 400
CHANNELS = ("socketio", "whatsapp", "telegram", "rest")  # mail.channel.<name> is the label

# -- the conversation for the care desk ---------------------------------------------------


def _readable(text: str) -> str:
    """Button payloads as words: ``/faq{"faq_topic": "budget"}`` -> ``[knop: faq budget]``."""
    match = re.match(r"^/(\w+)(\{.*\})?$", text.strip(), re.DOTALL)
    if not match:
        return text
    values = re.findall(r'"\w+"\s*:\s*"([^"]*)"', match.group(2) or "")
    return f"[{msg('mail.callback.button')}: " + " ".join([match.group(1), *values]) + "]"


def conversation_excerpt(events: Sequence[dict[str, Any]], limit: int) -> list[tuple[str, str]]:
    """The last ``limit`` (who, text) messages before the callback form started."""
    end = len(events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "active_loop" and event.get("name") == "callback_form":
            end = index
            break
    messages: list[tuple[str, str]] = []
    for event in events[:end]:
        kind, text = event.get("event"), event.get("text")
        if kind in ("user", "bot") and isinstance(text, str) and text.strip():
            who = msg("mail.callback.parent" if kind == "user" else "mail.callback.assistant")
            messages.append((who, text.strip()))
    return messages[-limit:] if limit > 0 else []


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TRANSCRIPT_LINE else text[: MAX_TRANSCRIPT_LINE - 1] + "…"


# -- storing and mailing ------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackInput:
    """What the action hands to :meth:`CallbackDesk.submit`."""

    conversation_id: str
    channel: str
    question: str
    contact_method: ContactMethod
    contact: str
    events: Sequence[dict[str, Any]]
    language: str = "nl"  # the parent's language in the conversation (named in the mail)


@dataclass(frozen=True)
class SubmitResult:
    stored: bool
    mailed: bool
    promise: str
    limited: bool = False  # refused by a limit: nothing stored or mailed
    duplicate: bool = False  # the same request was already handed in (a retry)

    @property
    def ok(self) -> bool:
        return self.stored and self.mailed


@dataclass(frozen=True)
class CallbackLimits:
    """Callback requests per conversation per day and school-wide per hour; a retry of
    the same request within ``retry_window`` is recognised and not repeated."""

    per_conversation: int = 2
    per_hour: int = 20
    retry_window: timedelta = timedelta(minutes=10)


class _LimitRefused(Exception):
    """Rolls back the limit transaction."""


class _FallbackCounters:
    """In-process counters, used only while the records store is down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, datetime], int] = {}

    def consume(self, name: str, window_start: datetime, limit: int) -> bool:
        with self._lock:
            for key in [k for k in self._counts if k[1] < window_start - timedelta(days=1)]:
                del self._counts[key]
            count = self._counts.get((name, window_start), 0)
            if count >= limit:
                return False
            self._counts[(name, window_start)] = count + 1
            return True


class CallbackDesk:
    """Stores a callback request and mails the care desk. Blocking; run it in a thread.

    Limits come first (nothing is stored or mailed for a refused request), in one
    atomic transaction in the records store; while the store is down, in-process
    counters stand in so the school's sender still cannot be made to mail without end.
    """

    def __init__(
        self,
        store: RecordsStore,
        mailer: Mailer,
        *,
        care_desk: str,
        mail_from: str,
        hours: tuple[time, time],
        closed: Collection[date] = (),
        tz: tzinfo = timezone.utc,
        transcript_messages: int = 10,
        sender_hash: Callable[[str], str],
        verified_names: Callable[[str], list[tuple[str, str, str]]] = lambda _: [],
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        limits: CallbackLimits | None = None,
    ) -> None:
        self._limits = limits or CallbackLimits()
        self._fallback = _FallbackCounters()
        self._store = store
        self._mailer = mailer
        self._care_desk = care_desk
        self._mail_from = mail_from
        self._hours = hours
        self._closed = frozenset(closed)
        self._tz = tz
        self._transcript_messages = transcript_messages
        self._sender_hash = sender_hash
        self._verified_names = verified_names
        self._clock = clock

    def promise(self) -> tuple[date, str]:
        return contact_promise(self._clock().astimezone(self._tz), self._hours, self._closed)

    def _admit(self, request: CallbackInput, now: datetime) -> str:
        """``"ok"``, ``"duplicate"`` (a retry of the same request) or ``"limited"``."""
        sender = self._sender_hash(request.conversation_id)
        fingerprint = "\x00".join(("callback", sender, request.question, request.contact))
        key = hashlib.sha256(fingerprint.encode()).hexdigest()
        hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        counters = (
            (f"callbacks:conversation:{sender}", day, self._limits.per_conversation),
            ("callbacks:total", hour, self._limits.per_hour),
        )
        try:
            with self._store.atomic("callback_limits") as ops:
                if not ops.claim(key, now, self._limits.retry_window):
                    return "duplicate"
                for name, window, limit in counters:
                    if not ops.consume(name, window, limit):
                        raise _LimitRefused()
        except _LimitRefused:
            return "limited"
        except StoreUnavailable:
            logger.warning("callback limits: records store down, using in-process counters")
            for name, window, limit in counters:
                if not self._fallback.consume(name, window, limit):
                    return "limited"
        return "ok"

    def _own_children(self, request: CallbackInput) -> list[tuple[str, str, str]] | None:
        """The verified children of the conversation; None when the store is down."""
        try:
            return self._verified_names(request.conversation_id)
        except StoreUnavailable:
            return None

    def _masker(self, request: CallbackInput, own: list[tuple[str, str, str]] | None
                ) -> Masker | None:
        """Masks other children's data; None when the pupil list cannot be read."""
        if own is None:
            return None
        try:
            names = [name for pair in self._store.pupil_names() for name in pair]
        except StoreUnavailable:
            return None
        keep = [value for pupil in own for value in pupil] + [request.contact]
        return Masker(names, keep=keep, guess_names=False, dates_without_year=False)

    def _transcript(self, request: CallbackInput, masker: Masker | None) -> list[str]:
        if masker is None:
            return [msg("mail.callback.transcript_masking_failed")]
        excerpt = conversation_excerpt(request.events, self._transcript_messages)
        return [f"{who}: {_shorten(masker.mask(_readable(text)))}" for who, text in excerpt]

    def _mail(self, request: CallbackInput, stored: CallbackRequest | None, question: str,
              masker: Masker | None, own: list[tuple[str, str, str]] | None) -> Any:
        """The Dutch mail to the care desk (called inside ``speaking("nl")``)."""
        _, promise = self.promise()  # in Dutch for the desk; the parent got their language
        return callback_message(
            sender=self._mail_from,
            recipient=self._care_desk,
            request_id=stored.id if stored else None,
            channel=(msg(f"mail.channel.{request.channel}") if request.channel in CHANNELS
                     else request.channel),
            question=question,
            contact_method=request.contact_method.value,
            contact=request.contact,
            promise=promise,
            transcript=self._transcript(request, masker),
            verified=None if own is None else bool(own),
            language=request.language,
        )

    def submit(self, request: CallbackInput) -> SubmitResult:
        """Store, then mail (also when storing failed); report what worked."""
        now = self._clock()
        day, promise = self.promise()
        admitted = self._admit(request, now)
        if admitted != "ok":
            logger.info("callback request refused (%s)", admitted)
            duplicate = admitted == "duplicate"
            return SubmitResult(stored=duplicate, mailed=duplicate, promise=promise,
                                limited=not duplicate, duplicate=duplicate)
        own = self._own_children(request)
        masker = self._masker(request, own)
        fallback = Masker(guess_names=True, dates_without_year=False, keep=[request.contact])
        question = (masker or fallback).mask(request.question)
        stored: CallbackRequest | None = None
        try:
            stored = self._store.add_callback_request(CallbackRequest(
                created_at=now,
                channel=request.channel,
                conversation_hash=self._sender_hash(request.conversation_id),
                question=question,
                contact_method=request.contact_method,
                contact=request.contact,
                callback_date=day,
            ))
        except StoreUnavailable:
            logger.error("callback request could not be stored; mailing it anyway")
        with speaking("nl"):  # the care desk reads Dutch, whatever the parent's language
            message = self._mail(request, stored, question, masker, own)
        try:
            self._mailer.send(message)
        except MailUnavailable:
            logger.error("callback mail to the care desk failed (request %s kept)",
                         stored.id if stored else "not stored")
            return SubmitResult(stored=stored is not None, mailed=False, promise=promise)
        if stored is not None and stored.id is not None:
            try:
                self._store.mark_callback_mailed(stored.id, self._clock())
            except StoreUnavailable:
                logger.warning("callback %s mailed, but not marked as mailed", stored.id)
        return SubmitResult(stored=stored is not None, mailed=True, promise=promise)


def build_desk(settings: Settings) -> CallbackDesk:
    from core.verification import get_verifier

    verifier = get_verifier()

    def verified_names(conversation_id: str) -> list[tuple[str, str, str]]:
        return [(p.first_name, p.last_name, p.pupil_number)
                for p in verifier.verified_pupils(conversation_id)]

    return CallbackDesk(
        RecordsStore.from_settings(settings),
        get_mailer(settings),
        care_desk=settings.care_desk_email,
        mail_from=settings.smtp_from,
        hours=settings.callback_hours,
        closed=settings.school_closed_dates,
        tz=school_timezone(settings.school_timezone),
        transcript_messages=settings.callback_transcript_messages,
        sender_hash=verifier.sender_hash,
        verified_names=verified_names,
        limits=CallbackLimits(per_conversation=settings.callbacks_per_conversation,
                              per_hour=settings.callbacks_per_hour),
    )


@lru_cache(maxsize=1)
def get_desk() -> CallbackDesk:
    """The process-wide callback desk (built on first call, never at import)."""
    from core.settings import get_settings

    return build_desk(get_settings())
