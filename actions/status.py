"""The parent's own child's lwoo status, for verified parents only.

Verification lives in the action server's store (:mod:`actions.verification`), keyed by
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
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.blocking import PoolBusy, run_blocking
from actions.formats import normalize_pupil_number
from actions.messaging import MailUnavailable
from actions.records import Pupil, StoreUnavailable
from actions.verification import CheckResult, RequestResult, get_verifier, status_text
from bot.namespaces import owns

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 2.5  # seconds; Rasa waits ACTION_TIMEOUT (3 s) for the whole action
ENDED = "-"  # fills the remaining form slots when the attempt is over, so the form ends
MASKED = "***"
FORM_SLOTS = ("pupil_number", "birth_date", "otp_code")

T = TypeVar("T")

CODE_REQUESTED_TEXT = (
    "Dank u. Als het leerlingnummer en de geboortedatum kloppen met onze administratie, "
    "stuur ik nu een e-mail met een code van 6 cijfers naar het e-mailadres dat bij school "
    "bekend is. De code is 10 minuten geldig. Krijgt u geen e-mail (kijk ook in uw "
    "spam-map)? Neem dan contact op met de administratie van school."
)
RATE_LIMITED_TEXT = (
    "Er zijn te veel pogingen gedaan. Om de gegevens van leerlingen te beschermen kan ik "
    "nu geen code sturen of controleren. U kunt het later opnieuw proberen (soms pas "
    "morgen), of u neemt contact op met de administratie."
)
BAD_NUMBER_TEXT = (
    "Een leerlingnummer bestaat uit 6 cijfers, bijvoorbeeld 123456. "
    "Wilt u het nog eens proberen?"
)
BAD_DATE_TEXT = "Ik herken die datum niet. Wilt u de geboortedatum zo typen: 14-03-2013?"
BAD_CODE_TEXT = "Een code bestaat uit 6 cijfers. Wilt u de code uit de e-mail typen?"
WRONG_CODE_TEXT = "Deze code klopt niet. U kunt het nog {tries} keer proberen."
LOCKED_TEXT = (
    "De code is 5 keer verkeerd ingevuld. Om uw gegevens te beschermen stop ik deze "
    "controle. U kunt later opnieuw een code aanvragen door te vragen naar de status."
)
EXPIRED_TEXT = (
    "Deze code is verlopen (een code is 10 minuten geldig). Vraag gerust opnieuw naar de "
    "status, dan stuur ik een nieuwe code."
)
NO_ATTEMPT_TEXT = "Er loopt geen controle meer. Vraag gerust opnieuw naar de status van uw kind."
NOT_VERIFIED_TEXT = (
    "Ik kan de status nog niet laten zien, omdat ik niet heb kunnen controleren wie u bent. "
    "Vraag gerust opnieuw naar de status, of neem contact op met de mentor van uw kind."
)
CHOOSE_TEXT = "Over welk kind gaat uw vraag?"


async def call(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking store/mail call in the bounded pool, with a time limit."""
    return await run_blocking(func, *args, timeout=CALL_TIMEOUT)


FAULTS = (StoreUnavailable, MailUnavailable, asyncio.TimeoutError, TimeoutError)


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


def own_conversation(tracker: Tracker) -> bool:
    """True when the latest message came from the channel that owns this conversation id
    (:mod:`bot.namespaces`): a grant is only usable, and earned, there."""
    return owns(tracker.get_latest_input_channel(), tracker.sender_id)


def choice_buttons(pupils: list[Pupil]) -> list[dict[str, str]]:
    """One button per child: first name, with the pupil's position as the choice."""
    return [
        {"title": pupil.first_name, "payload": f'/ask_status{{"pupil_choice": "{index}"}}'}
        for index, pupil in enumerate(pupils, start=1)
    ]


async def show_status(
    dispatcher: CollectingDispatcher, tracker: Tracker, choice: str | None
) -> bool:
    """Show the status to a verified parent; return False when not verified."""
    if not own_conversation(tracker):
        logger.warning("status asked from a channel that does not own the conversation")
        return False
    verifier = get_verifier()
    pupils = sorted(await call(verifier.verified_pupils, tracker.sender_id),
                    key=lambda p: p.pupil_number)
    if not pupils:
        return False
    chosen: Pupil | None = pupils[0] if len(pupils) == 1 else None
    if choice and choice.isdigit() and 1 <= int(choice) <= len(pupils):
        chosen = pupils[int(choice) - 1]
    if chosen is None:
        dispatcher.utter_message(text=CHOOSE_TEXT, buttons=choice_buttons(pupils))
        return True
    # verified_pupil re-checks the grant and writes the disclosure to the audit trail
    pupil = await call(verifier.verified_pupil, tracker.sender_id, chosen.pupil_number,
                       channel_of(tracker))
    if pupil is None:
        return False
    dispatcher.utter_message(text=status_text(pupil))
    if len(pupils) > 1:
        dispatcher.utter_message(text="Wilt u de status van een ander kind zien?",
                                 buttons=choice_buttons(pupils))
    return True


async def forget_verification(tracker: Tracker, when: str) -> None:
    """End this conversation's attempt and grant. A fault is logged, not raised: nothing
    is disclosed either way, and grants also expire by themselves."""
    try:
        await call(get_verifier().clear, tracker.sender_id)
    except FAULTS as exc:
        logger.error("clearing verification %s failed: %s", when, type(exc).__name__)


def clear_form_slots() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS] + [SlotSet("needs_verification", None)]


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
            if await show_status(dispatcher, tracker, choice):
                return [SlotSet("needs_verification", False)]
        except FAULTS as exc:
            logger.error("status lookup failed: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_technical_problem")
            return [SlotSet("needs_verification", False)]
        dispatcher.utter_message(response="utter_status_intro")
        # (the form slots are already empty: the form's end and "stop" clear them, and
        # setting them here would make the form validate empty values)
        return [SlotSet("needs_verification", True)]


class ValidateVerificationForm(FormValidationAction):
    """Checks what the parent types; requests and checks the one-time code."""

    def name(self) -> str:
        return "validate_verification_form"

    @staticmethod
    def _end(**extra: Any) -> dict[str, Any]:
        """Fill every remaining slot so the form ends (the attempt is over)."""
        return {"pupil_number": MASKED, "birth_date": MASKED, "otp_code": ENDED, **extra}

    async def validate_pupil_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"pupil_number": None}
        number = normalize_pupil_number(str(value))
        if number is None:
            dispatcher.utter_message(text=BAD_NUMBER_TEXT)
            return {"pupil_number": None}
        return {"pupil_number": number}

    async def validate_birth_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"birth_date": None}
        pupil_number = tracker.get_slot("pupil_number")
        if not pupil_number or pupil_number == MASKED:
            return self._end()
        if not own_conversation(tracker):
            dispatcher.utter_message(text=NOT_VERIFIED_TEXT)
            return self._end()
        try:
            result = await call(get_verifier().request_code, tracker.sender_id,
                                channel_of(tracker), str(pupil_number), str(value or ""))
        except FAULTS as exc:
            logger.error("code request failed: %s", type(exc).__name__)
            # after a time-out the request may still complete (and mail a code): say so
            uncertain = isinstance(exc, asyncio.TimeoutError | TimeoutError) and not \
                isinstance(exc, PoolBusy)
            dispatcher.utter_message(response="utter_code_request_uncertain" if uncertain
                                     else "utter_technical_problem")
            return self._end()
        if result is RequestResult.INVALID_INPUT:
            dispatcher.utter_message(text=BAD_DATE_TEXT)
            return {"birth_date": None}
        if result is RequestResult.RATE_LIMITED:
            dispatcher.utter_message(text=RATE_LIMITED_TEXT)
            return self._end()
        dispatcher.utter_message(text=CODE_REQUESTED_TEXT)
        return {"pupil_number": MASKED, "birth_date": MASKED}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or value == ENDED:
            return {"otp_code": value}
        if not own_conversation(tracker):
            dispatcher.utter_message(text=NOT_VERIFIED_TEXT)
            return self._end()
        try:
            check = await call(get_verifier().check_code, tracker.sender_id,
                               channel_of(tracker), str(value or ""))
        except FAULTS as exc:
            logger.error("code check failed: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_technical_problem")
            return self._end()
        result = check.result
        if result is CheckResult.VERIFIED:
            return {"otp_code": MASKED}
        if result is CheckResult.INVALID_INPUT:
            dispatcher.utter_message(text=BAD_CODE_TEXT)
            return {"otp_code": None}
        if result is CheckResult.WRONG_CODE:
            dispatcher.utter_message(text=WRONG_CODE_TEXT.format(tries=check.tries_left))
            return {"otp_code": None}
        message = {
            CheckResult.LOCKED: LOCKED_TEXT,
            CheckResult.EXPIRED: EXPIRED_TEXT,
            CheckResult.RATE_LIMITED: RATE_LIMITED_TEXT,
        }.get(result, NO_ATTEMPT_TEXT)
        dispatcher.utter_message(text=message)
        return self._end()


class ActionVerificationDone(Action):
    """After the form: show the status when the code was right; reset the form slots."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("otp_code") == ENDED:
            return clear_form_slots()  # the validation already told the parent why
        try:
            if not await show_status(dispatcher, tracker, None):
                dispatcher.utter_message(text=NOT_VERIFIED_TEXT)
        except FAULTS as exc:
            logger.error("status lookup failed: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_technical_problem")
        return clear_form_slots()


class ActionStopVerification(Action):
    """"stop" during the form: end the attempt and forget what was typed."""

    def name(self) -> str:
        return "action_stop_verification"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await forget_verification(tracker, "on stop")
        dispatcher.utter_message(response="utter_stopped")
        return clear_form_slots()


class ActionSessionStart(Action):
    """A new session starts unverified: verification never carries over."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await forget_verification(tracker, "at session start")

        return [SessionStarted(), ActionExecuted("action_listen")]
