"""Hand-over to a person: a callback request, with the parent's consent first.

"ik wil iemand spreken" (``request_human``), the "Contact met school" button after a
second miss, or "ja" to the contact offer after 👎 start ``callback_form``
(data/rules/handoff.yml): consent (ja/nee), the question, and an e-mail address or
phone number. :class:`ActionCallbackSubmit` then stores the request
(``callback_requests``, via :class:`~core.records.RecordsStore`) and mails the care
desk (``CARE_DESK_EMAIL``) the question plus the last messages of the conversation,
masked of other children's data. The parent hears when to expect contact: the next
school day (Mon–Fri, not on ``SCHOOL_CLOSED_DATES``) within ``CALLBACK_HOURS``.

No consent: ``utter_contact``. Store or mail down: ``utter_technical_problem`` and the
advice to call the school; whatever did work is kept (the mail is still tried when the
store is down; a stored request without ``mailed_at`` shows it was not mailed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.localize import localized, tracker_language
from core.blocking import run_blocking
from core.callbacks import CallbackInput, get_desk
from core.contact import how_to_reach, parse_contact, yes_or_no
from core.mail import MailUnavailable
from core.records import StoreUnavailable
from core.texts import text as msg

logger = logging.getLogger(__name__)

SUBMIT_TIMEOUT = 2.5  # seconds; Rasa waits ACTION_TIMEOUT (3 s) for the whole action
SKIPPED = "-"  # fills the remaining slots when the parent said no, so the form ends
FORM_SLOTS = ("callback_consent", "callback_question", "callback_contact")
MAX_QUESTION_CHARS = 1000




# -- actions ------------------------------------------------------------------------------


def clear_slots() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


@localized
class ActionCallbackStart(Action):
    """Start a fresh callback request (the form then asks for consent first)."""

    def name(self) -> str:
        return "action_callback_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return clear_slots()


@localized
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
            dispatcher.utter_message(text=msg("handoff.yes_or_no"))
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
            dispatcher.utter_message(text=msg("handoff.question_too_short"))
            return {"callback_question": None}
        return {"callback_question": question[:MAX_QUESTION_CHARS]}

    async def validate_callback_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None or value == SKIPPED:
            return {"callback_contact": value}
        parsed = parse_contact(value)
        if parsed is None:
            dispatcher.utter_message(text=msg("handoff.bad_contact"))
            return {"callback_contact": None}
        return {"callback_contact": parsed[1]}


@localized
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
            language=tracker_language(tracker),
        )
        try:
            desk = get_desk()
            result = await run_blocking(desk.submit, request, timeout=SUBMIT_TIMEOUT)
        except (StoreUnavailable, MailUnavailable, asyncio.TimeoutError, TimeoutError) as exc:
            logger.error("callback request failed: %s", type(exc).__name__)
            result = None
        if result is not None and result.limited:
            from core.settings import get_settings

            dispatcher.utter_message(response="utter_callback_limited",
                                     school_contact=get_settings().school_contact)
            return clear_slots()
        if result is None or not result.ok:
            from core.settings import get_settings

            dispatcher.utter_message(response="utter_technical_problem")
            dispatcher.utter_message(
                text=msg("handoff.failed", school_contact=get_settings().school_contact)
            )
            return clear_slots()
        dispatcher.utter_message(
            text=msg("handoff.confirm", when=result.promise,
                     how=how_to_reach(method, contact))
        )
        return clear_slots()


@localized
class ActionCallbackStop(Action):
    """"stop" during the callback form: forget what was typed."""

    def name(self) -> str:
        return "action_callback_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_stopped")
        return clear_slots()
