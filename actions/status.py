"""The parent's own child's lwoo status, for verified parents only.

Verification lives in the action server's store (:mod:`core.verification`), keyed by
the conversation; no slot, entity, ``/intent{...}`` message or metadata can set it. The
slots of ``verification_form`` only carry what the parent typed through the form, and
are masked as soon as they have been used.

Every store or mail call runs in a thread with a time limit; a fault gives the parent
``utter_technical_problem`` (in Dutch, within seconds) and ends the form, disclosing
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.localize import localized
from core.blocking import PoolBusy, run_blocking
from core.form_input import FormInput, read_form_input
from core.mail import MailUnavailable
from core.namespaces import owns
from core.records import Pupil, StoreUnavailable
from core.texts import text as msg
from core.verification import CheckResult, RequestResult, get_verifier, status_text

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 2.5  # seconds; Rasa waits ACTION_TIMEOUT (3 s) for the whole action
ENDED = "-"  # fills the remaining form slots when the attempt is over, so the form ends
MASKED = "***"
FORM_SLOTS = ("pupil_number", "birth_date", "otp_code")

T = TypeVar("T")

# the message key for a value the form cannot read, per slot (data/answers/messages.yml)
BAD_TEXT = {
    "pupil_number": "status.bad_number",
    "birth_date": "status.bad_date",
    "otp_code": "status.bad_code",
}


# the message just typed, as seen by the form's validation action
TURN_FRESH = "fresh"  # a new message while the form asks its question
TURN_ACTIVATION = "activation"  # the message that started the form ("status? 100292 ...")
TURN_RETURNING = "returning"  # the form comes back after a digression was answered
_FORM_MACHINERY = {"action_listen", "action_extract_slots", "verification_form"}
# intents that, without a value in the message, are a (failed) answer, not a digression
_ANSWER_LIKE = {None, "affirm", "deny", "feedback", "nlu_fallback", "out_of_scope",
                "ask_status"}
_QUESTION_WORDS = {
    "wat", "wie", "waar", "wanneer", "waarom", "hoe", "hoeveel", "welke", "welk", "kan",
    "kun", "kunt", "mag", "moet", "is", "zijn", "heeft", "hebben", "krijgt", "krijg",
    "wordt", "worden", "bestaat", "geldt", "betekent", "hoezo", "klopt", "weet",
}


def form_turn(tracker: Tracker) -> str:
    """Which call of the validation action this is (see the TURN_* constants)."""
    names: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        if event.get("event") == "action" and event.get("name") not in _FORM_MACHINERY:
            names.append(str(event.get("name")))
    if not names:
        return TURN_FRESH
    if set(names) == {"action_status_start"}:
        return TURN_ACTIVATION
    return TURN_RETURNING


def intent_of(message: dict[str, Any]) -> str | None:
    return ((message.get("intent") or {}).get("name")) or None


def is_digression(intent: str | None, text: str) -> bool:
    """A message without a form value that should be answered, not refused: any intent
    of its own, and questions the NLU could not place (answered by their rules)."""
    if intent not in _ANSWER_LIKE:
        return True
    if intent in ("nlu_fallback", "out_of_scope"):
        words = text.lower().replace("?", " ? ").split()
        return len(words) >= 2 and ("?" in words or words[0] in _QUESTION_WORDS)
    return False


async def call(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking store/mail call in the bounded pool, with a time limit."""
    return await run_blocking(func, *args, timeout=CALL_TIMEOUT)


FAULTS = (StoreUnavailable, MailUnavailable, asyncio.TimeoutError, TimeoutError)


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


def own_conversation(tracker: Tracker) -> bool:
    """True when the latest message came from the channel that owns this conversation id
    (:mod:`core.namespaces`): a grant is only usable, and earned, there."""
    return owns(tracker.get_latest_input_channel(), tracker.sender_id)


def choice_buttons(pupils: list[Pupil], skip: int | None = None) -> list[dict[str, str]]:
    """One button per child: first name, with the pupil's position as the choice."""
    return [
        {"title": pupil.first_name, "payload": f'/ask_status{{"pupil_choice": "{index}"}}'}
        for index, pupil in enumerate(pupils, start=1)
        if index != skip
    ]


def _choice_from(tracker: Tracker, pupils: list[Pupil], choice: str | None) -> int | None:
    """The position of the child meant: a button, a typed first name, or "the other one"
    after one child's status was shown (two children)."""
    if choice and choice.isdigit() and 1 <= int(choice) <= len(pupils):
        return int(choice)
    if len(pupils) == 1:
        return 1
    words = set(re.findall(r"\w+", str((tracker.latest_message or {}).get("text") or "").lower()))
    named = [i for i, p in enumerate(pupils, start=1) if p.first_name.lower() in words]
    if len(named) == 1:
        return named[0]
    shown = str(tracker.get_slot("pupil_shown") or "")
    if len(pupils) == 2 and shown in ("1", "2") and not named:
        return 3 - int(shown)  # "en mijn dochter?", "en de andere?"
    return None


async def show_status(
    dispatcher: CollectingDispatcher, tracker: Tracker, choice: str | None
) -> list[EventType] | None:
    """Show the status to a verified parent; None when not verified, else the events
    that remember which child was shown (its position) and its status."""
    if not own_conversation(tracker):
        logger.warning("status asked from a channel that does not own the conversation")
        return None
    verifier = get_verifier()
    pupils = sorted(await call(verifier.verified_pupils, tracker.sender_id),
                    key=lambda p: p.pupil_number)
    if not pupils:
        return None
    position = _choice_from(tracker, pupils, choice)
    if position is None:
        dispatcher.utter_message(text=msg("status.choose_child"), buttons=choice_buttons(pupils))
        return []
    chosen = pupils[position - 1]
    # verified_pupil re-checks the grant and writes the disclosure to the audit trail
    pupil = await call(verifier.verified_pupil, tracker.sender_id, chosen.pupil_number,
                       channel_of(tracker))
    if pupil is None:
        return None
    dispatcher.utter_message(text=status_text(pupil))
    if len(pupils) > 1:
        dispatcher.utter_message(response="utter_other_child",
                                 buttons=choice_buttons(pupils, skip=position))
    return [SlotSet("pupil_shown", str(position)),
            SlotSet("status_shown", pupil.lwoo_status.value)]


async def forget_verification(tracker: Tracker, when: str) -> None:
    """End this conversation's attempt and grant. A fault is logged, not raised: nothing
    is disclosed either way, and grants also expire by themselves."""
    try:
        await call(get_verifier().clear, tracker.sender_id)
    except FAULTS as exc:
        logger.error("clearing verification %s failed: %s", when, type(exc).__name__)


def clear_form_slots() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS] + [SlotSet("needs_verification", None)]


def paused_answers(tracker: Tracker) -> bool:
    """True when an earlier, paused verification left answers to pick up again."""
    return any(tracker.get_slot(slot) not in (None, MASKED, ENDED)
               for slot in ("pupil_number", "birth_date"))


def first_missing(tracker: Tracker) -> str:
    for slot in FORM_SLOTS:
        if tracker.get_slot(slot) in (None, ""):
            return slot
    return "otp_code"


@localized
class ActionStatusStart(Action):
    """``ask_status``: show the status when this conversation is verified, else start
    the verification form (the rule reads ``needs_verification``)."""

    def name(self) -> str:
        return "action_status_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        choice = next(tracker.get_latest_entity_values("pupil_choice"), None)
        try:
            shown = await show_status(dispatcher, tracker, choice)
            if shown is not None:
                return [SlotSet("needs_verification", False), *shown]
        except FAULTS as exc:
            logger.error("status lookup failed: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_technical_problem")
            return [SlotSet("needs_verification", False)]
        if paused_answers(tracker):
            # picked up again: what was answered before is not asked again
            dispatcher.utter_message(response="utter_status_resume")
            return [SlotSet("needs_verification", True)]
        dispatcher.utter_message(response="utter_status_intro")
        # (the form slots are already empty: the form's end and "stop" clear them, and
        # setting them here would make the form validate empty values)
        return [SlotSet("needs_verification", True)]


@localized
class ValidateVerificationForm(FormValidationAction):
    """Reads what the parent types in the form, the way people really type it.

    Rasa's ``FormAction`` calls this action after every message while the form runs
    (the three slots have custom mappings, so nothing is filled before we look). One
    message may carry the pupil number and the birth date in either order, a code with
    spaces or dashes, or a correction of an earlier answer (also after the code was
    requested: then a new code is requested with the corrected data, within the
    verifier's limits). A message without a value that is a question or a remark
    (an FAQ question, "waarom?", "hallo", "stop", "weet ik niet", ...) returns no
    slot: the form is rejected, a rule answers it, and the form asks its question
    again. The number and the date stay in their slots until the form ends (they are
    needed for a corrected code request) and are cleared then, or at the end of the
    session.
    """

    def name(self) -> str:
        return "validate_verification_form"

    @staticmethod
    def _end(**extra: Any) -> dict[str, Any]:
        """Fill every remaining slot so the form ends (the attempt is over)."""
        return {"pupil_number": MASKED, "birth_date": MASKED, "otp_code": ENDED, **extra}

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        turn = form_turn(tracker)
        if turn == TURN_RETURNING:
            return []  # back from a digression: the form asks its question again
        requested = tracker.get_slot("requested_slot")
        latest = tracker.latest_message or {}
        text = str(latest.get("text") or "")
        found = read_form_input("" if text.startswith("/") else text)
        if turn == TURN_ACTIVATION:
            if not found.has_values:
                return []
            requested = "pupil_number"
        values = await self._read(dispatcher, tracker, found, requested,
                                  intent_of(latest), text)
        if values is None:
            return []
        return [SlotSet(slot, value) for slot, value in values.items()]

    async def _read(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, found: FormInput,
        requested: str | None, intent: str | None, text: str,
    ) -> dict[str, Any] | None:
        """The slots this message fills, or None when it is no answer (a digression)."""
        number = tracker.get_slot("pupil_number")
        born = tracker.get_slot("birth_date")
        if not found.has_values:
            if not found.looks_like_input and is_digression(intent, text):
                return None
            if intent == "ask_status" and not found.looks_like_input:
                return {requested: None} if requested else {}  # the form asks again
            dispatcher.utter_message(text=msg(BAD_TEXT.get(requested or "", "status.bad_number")))
            return {requested: None} if requested else {}
        if found.bad_date and not found.dates:
            dispatcher.utter_message(text=msg("status.bad_date"))
            if not found.numbers:
                return {requested or "birth_date": None}
        new_number = found.numbers[-1] if found.numbers else None
        code_expected = requested == "otp_code" and bool(number) and bool(born)
        if code_expected and new_number and not (
            found.mentions_number and not found.mentions_code
        ) and not (found.correction and not found.mentions_code and not found.dates):
            return await self._check_code(dispatcher, tracker, new_number)
        values: dict[str, Any] = {}
        if new_number and new_number != number:
            if number:
                dispatcher.utter_message(response="utter_corrected_pupil_number")
            values["pupil_number"] = new_number
            number = new_number
        new_date = found.dates[-1] if found.dates else None
        if new_date and new_date != born:
            if born:
                dispatcher.utter_message(response="utter_corrected_birth_date")
            values["birth_date"] = new_date
            born = new_date
        if not values:  # the same values again
            return {requested: tracker.get_slot(requested)} if requested else {}
        if number and born:
            return {**values, **await self._request_code(dispatcher, tracker, number, born)}
        return values

    async def _request_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, number: str, born: str
    ) -> dict[str, Any]:
        if not own_conversation(tracker):
            dispatcher.utter_message(text=msg("status.not_verified"))
            return self._end()
        try:
            result = await call(get_verifier().request_code, tracker.sender_id,
                                channel_of(tracker), str(number), str(born))
        except FAULTS as exc:
            logger.error("code request failed: %s", type(exc).__name__)
            # after a time-out the request may still complete (and mail a code): say so
            uncertain = isinstance(exc, asyncio.TimeoutError | TimeoutError) and not \
                isinstance(exc, PoolBusy)
            dispatcher.utter_message(response="utter_code_request_uncertain" if uncertain
                                     else "utter_technical_problem")
            return self._end()
        if result is RequestResult.INVALID_INPUT:
            dispatcher.utter_message(text=msg("status.bad_date"))
            return {"birth_date": None}
        if result is RequestResult.RATE_LIMITED:
            dispatcher.utter_message(text=msg("status.rate_limited"))
            return self._end()
        dispatcher.utter_message(text=msg("status.code_requested"))
        return {"pupil_number": number, "birth_date": born, "otp_code": None}

    async def _check_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, value: str
    ) -> dict[str, Any]:
        if not own_conversation(tracker):
            dispatcher.utter_message(text=msg("status.not_verified"))
            return self._end()
        try:
            check = await call(get_verifier().check_code, tracker.sender_id,
                               channel_of(tracker), value)
        except FAULTS as exc:
            logger.error("code check failed: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_technical_problem")
            return self._end()
        result = check.result
        if result is CheckResult.VERIFIED:
            return {"otp_code": MASKED}
        if result is CheckResult.INVALID_INPUT:
            dispatcher.utter_message(text=msg("status.bad_code"))
            return {"otp_code": None}
        if result is CheckResult.WRONG_CODE:
            dispatcher.utter_message(text=msg("status.wrong_code", tries=check.tries_left))
            return {"otp_code": None}
        key = {
            CheckResult.LOCKED: "status.locked",
            CheckResult.EXPIRED: "status.expired",
            CheckResult.RATE_LIMITED: "status.rate_limited",
        }.get(result, "status.no_attempt")
        dispatcher.utter_message(text=msg(key))
        return self._end()


@localized
class ActionVerificationDone(Action):
    """After the form: show the status when the code was right; reset the form slots."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("otp_code") == ENDED:
            return clear_form_slots()  # the validation already told the parent why
        shown: list[EventType] = []
        try:
            result = await show_status(dispatcher, tracker, None)
            if result is None:
                dispatcher.utter_message(text=msg("status.not_verified"))
            else:
                shown = result
        except FAULTS as exc:
            logger.error("status lookup failed: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_technical_problem")
        return clear_form_slots() + shown


@localized
class ActionStopVerification(Action):
    """"stop", "laat maar", "ik wil iets anders vragen" during the form: the form is
    paused. What was answered stays (until the session ends), so a parent who asks for
    the status again in this session is not asked it again; a requested code stays
    valid for its 10 minutes."""

    def name(self) -> str:
        return "action_stop_verification"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if paused_answers(tracker):
            dispatcher.utter_message(response="utter_verification_paused")
        else:
            dispatcher.utter_message(response="utter_stopped")
        return [SlotSet("otp_code", None), SlotSet("needs_verification", None)]


@localized
class ActionVerificationDontKnow(Action):
    """"weet ik niet", "heb ik niet bij de hand": where to find it and the hand-over.
    Not a wrong attempt; the form pauses with what was answered so far."""

    def name(self) -> str:
        return "action_verification_dont_know"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response=f"utter_dont_know_{first_missing(tracker)}")
        return [SlotSet("otp_code", None), SlotSet("needs_verification", None)]


@localized
class ActionSessionStart(Action):
    """A new session starts unverified: verification never carries over."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await forget_verification(tracker, "at session start")

        return [SessionStarted(), ActionExecuted("action_listen")]
