"""Hand-over to a person: a callback request, with the parent's consent first.

"ik wil iemand spreken" (``request_human``), the "Contact met school" button after a
second miss, or "ja" to the contact offer after 👎 start ``callback_form``
(data/rules/handoff.yml): consent (ja/nee), the question, and an e-mail address or
phone number. :class:`ActionCallbackSubmit` then stores the request
(``callback_requests``, via :class:`~actions.records.RecordsStore`) and mails the care
desk (``CARE_DESK_EMAIL``) the question plus the last messages of the conversation,
masked of other children's data. The parent hears when to expect contact: the next
school day (Mon–Fri, not on ``SCHOOL_CLOSED_DATES``) within ``CALLBACK_HOURS``.

No consent: ``utter_contact``. Store or mail down: ``utter_technical_problem`` and the
advice to call the school; whatever did work is kept (the mail is still tried when the
store is down; a stored request without ``mailed_at`` shows it was not mailed).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.blocking import run_blocking
from actions.masking import Masker
from actions.messaging import Mailer, MailUnavailable, callback_message, get_mailer
from actions.records import CallbackRequest, ContactMethod, RecordsStore, StoreUnavailable

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)

SUBMIT_TIMEOUT = 2.5  # seconds; Rasa waits ACTION_TIMEOUT (3 s) for the whole action
SKIPPED = "-"  # fills the remaining slots when the parent said no, so the form ends
FORM_SLOTS = ("callback_consent", "callback_question", "callback_contact")
MAX_QUESTION_CHARS = 1000
MAX_TRANSCRIPT_LINE = 400

CHANNELS = {"socketio": "website", "whatsapp": "WhatsApp", "telegram": "Telegram",
            "rest": "REST-koppeling"}
WEEKDAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december")

YES_NO_TEXT = "Wilt u antwoorden met ja of nee?"
QUESTION_TOO_SHORT_TEXT = "Wilt u uw vraag in een paar woorden beschrijven?"
BAD_CONTACT_TEXT = (
    "Dat herken ik niet als e-mailadres of telefoonnummer. Typ bijvoorbeeld "
    "naam@voorbeeld.nl of 06-12345678."
)
CONFIRM_TEXT = (
    "Dank u. Ik heb uw vraag doorgegeven aan de zorgcoördinator van Compaen vmbo. "
    "Iemand van school neemt {when} contact met u op, {how}."
)
FAILED_TEXT = (
    "Uw vraag is daardoor misschien niet bij school aangekomen. Belt u de school liever "
    "zelf: {school_contact}."
)

_YES_WORDS = frozenset("ja jawel jazeker yes graag goed prima oke oké ok akkoord zeker 👍".split())
_NO_WORDS = frozenset("nee neen no niet liever nooit 👎".split())
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")
_PHONE_CANDIDATE = re.compile(r"(?:\+|\(?0)[\d\s().\-]{7,22}\d")


# -- when to expect contact ---------------------------------------------------------------


def school_timezone(name: str) -> tzinfo:
    """The school's time zone; the machine's local zone when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown SCHOOL_TIMEZONE %r; using the machine's local time", name)
        return datetime.now().astimezone().tzinfo or timezone.utc


def is_school_day(day: date, closed: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and day not in closed


def callback_day(now: datetime, hours: tuple[time, time], closed: Collection[date] = ()) -> date:
    """The school day on which the care desk calls back: the next school day, or today
    when the request comes in on a school day before opening time. ``now`` is local."""
    today = now.date()
    if is_school_day(today, closed) and now.time() < hours[0]:
        return today
    day = today + timedelta(days=1)
    for _ in range(366):
        if is_school_day(day, closed):
            return day
        day += timedelta(days=1)
    return day


def day_label(day: date, today: date) -> str:
    """"vandaag", "morgen", or the Dutch weekday (with the date when it is a week away)."""
    delta = (day - today).days
    if delta == 0:
        return "vandaag"
    if delta == 1:
        return "morgen"
    label = WEEKDAYS[day.weekday()]
    if delta >= 7:
        label += f" {day.day} {MONTHS[day.month - 1]}"
    return label


def clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


def contact_promise(
    now: datetime, hours: tuple[time, time], closed: Collection[date] = ()
) -> tuple[date, str]:
    """(day, Dutch phrase) e.g. "maandag tussen 8:30 en 16:00". ``now`` is local."""
    day = callback_day(now, hours, closed)
    return day, f"{day_label(day, now.date())} tussen {clock(hours[0])} en {clock(hours[1])}"


# -- what the parent types ----------------------------------------------------------------


def yes_or_no(value: Any) -> bool | None:
    """True/False for a yes/no answer (a bool from the buttons or a typed word)."""
    if isinstance(value, bool):
        return value
    words = re.findall(r"[\w']+|👍|👎", str(value or "").lower())
    if not words:
        return None
    if any(word in _NO_WORDS for word in words):
        return False
    if any(word in _YES_WORDS for word in words):
        return True
    return None


def normalize_phone(text: str) -> str | None:
    """A Dutch (0…, 10 digits) or international (+…, 8–15 digits) number, or None."""
    digits = re.sub(r"[\s().\-]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("+31"):
        national = "0" + digits[3:].removeprefix("0")
        return national if re.fullmatch(r"0\d{9}", national) else None
    if digits.startswith("+"):
        return digits if re.fullmatch(r"\+\d{8,15}", digits) else None
    return digits if re.fullmatch(r"0[1-9]\d{8}", digits) else None


def parse_contact(text: Any) -> tuple[ContactMethod, str] | None:
    """An e-mail address or phone number in what the parent typed (exactly one)."""
    value = str(text or "").strip()
    emails = _EMAIL.findall(value)
    if len(emails) == 1:
        return ContactMethod.EMAIL, emails[0].lower()
    if emails:
        return None
    phones = [p for p in map(normalize_phone, _PHONE_CANDIDATE.findall(value)) if p]
    if len(phones) == 1:
        return ContactMethod.PHONE, phones[0]
    return None


def how_to_reach(method: ContactMethod, contact: str) -> str:
    return (f"per e-mail via {contact}" if method is ContactMethod.EMAIL
            else f"telefonisch via {contact}")


# -- the conversation for the care desk ---------------------------------------------------


def _readable(text: str) -> str:
    """Button payloads as words: ``/faq{"faq_topic": "budget"}`` -> ``[knop: faq budget]``."""
    match = re.match(r"^/(\w+)(\{.*\})?$", text.strip(), re.DOTALL)
    if not match:
        return text
    values = re.findall(r'"\w+"\s*:\s*"([^"]*)"', match.group(2) or "")
    return "[knop: " + " ".join([match.group(1), *values]) + "]"


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
            messages.append(("Ouder" if kind == "user" else "Assistent", text.strip()))
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
            return ["(Het gesprek is niet meegestuurd: de gegevens van leerlingen konden "
                    "niet worden afgeschermd door een storing.)"]
        excerpt = conversation_excerpt(request.events, self._transcript_messages)
        return [f"{who}: {_shorten(masker.mask(_readable(text)))}" for who, text in excerpt]

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
        message = callback_message(
            sender=self._mail_from,
            recipient=self._care_desk,
            request_id=stored.id if stored else None,
            channel=CHANNELS.get(request.channel, request.channel),
            question=question,
            contact_method=request.contact_method.value,
            contact=request.contact,
            promise=promise,
            transcript=self._transcript(request, masker),
            verified=None if own is None else bool(own),
        )
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
    from actions.verification import get_verifier

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
    from bot.settings import get_settings

    return build_desk(get_settings())


# -- actions ------------------------------------------------------------------------------


def clear_slots() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


class ActionCallbackStart(Action):
    """Start a fresh callback request (the form then asks for consent first)."""

    def name(self) -> str:
        return "action_callback_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return clear_slots()


class ValidateCallbackForm(FormValidationAction):
    """Consent (ja/nee), a question of a few words, an e-mail address or phone number."""

    def name(self) -> str:
        return "validate_callback_form"

    async def validate_callback_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:  # cleared by action_callback_start: nothing typed yet
            return {"callback_consent": None}
        consent = yes_or_no(value)
        if consent is None:
            dispatcher.utter_message(text=YES_NO_TEXT)
            return {"callback_consent": None}
        if not consent:
            return {"callback_consent": False, "callback_question": SKIPPED,
                    "callback_contact": SKIPPED}
        return {"callback_consent": True}

    async def validate_callback_question(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or value == SKIPPED:
            return {"callback_question": value}
        question = " ".join(str(value).split())
        if len(question) < 3 or question.startswith("/"):
            dispatcher.utter_message(text=QUESTION_TOO_SHORT_TEXT)
            return {"callback_question": None}
        return {"callback_question": question[:MAX_QUESTION_CHARS]}

    async def validate_callback_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or value == SKIPPED:
            return {"callback_contact": value}
        parsed = parse_contact(value)
        if parsed is None:
            dispatcher.utter_message(text=BAD_CONTACT_TEXT)
            return {"callback_contact": None}
        return {"callback_contact": parsed[1]}


class ActionCallbackSubmit(Action):
    """After the form: no consent -> utter_contact; else store, mail, say when."""

    def name(self) -> str:
        return "action_callback_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        parsed = parse_contact(tracker.get_slot("callback_contact"))
        question = tracker.get_slot("callback_question")
        if tracker.get_slot("callback_consent") is not True or parsed is None or not question \
                or question == SKIPPED:
            dispatcher.utter_message(response="utter_contact")
            return clear_slots()
        method, contact = parsed
        request = CallbackInput(
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "unknown",
            question=str(question),
            contact_method=method,
            contact=contact,
            events=list(tracker.events or []),
        )
        try:
            desk = get_desk()
            result = await run_blocking(desk.submit, request, timeout=SUBMIT_TIMEOUT)
        except (StoreUnavailable, MailUnavailable, asyncio.TimeoutError, TimeoutError) as exc:
            logger.error("callback request failed: %s", type(exc).__name__)
            result = None
        if result is not None and result.limited:
            from bot.settings import get_settings

            dispatcher.utter_message(response="utter_callback_limited",
                                     school_contact=get_settings().school_contact)
            return clear_slots()
        if result is None or not result.ok:
            from bot.settings import get_settings

            dispatcher.utter_message(response="utter_technical_problem")
            dispatcher.utter_message(
                text=FAILED_TEXT.format(school_contact=get_settings().school_contact)
            )
            return clear_slots()
        dispatcher.utter_message(
            text=CONFIRM_TEXT.format(when=result.promise, how=how_to_reach(method, contact))
        )
        return clear_slots()


class ActionCallbackStop(Action):
    """"stop" during the callback form: forget what was typed."""

    def name(self) -> str:
        return "action_callback_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_stopped")
        return clear_slots()
