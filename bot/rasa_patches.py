"""Small, deliberate adjustments to Rasa 3.6, applied in every Rasa process we start.

1. Timeout: Rasa waits up to 5 minutes for the action server. We wait ACTION_TIMEOUT
   seconds (default 3), so a parent is answered within 5 s when the action server hangs.
2. Silence: when a custom action fails (action server down, slow or erroring), Rasa 3.6
   logs the error and says nothing to the user. We say ``utter_technical_problem`` in
   Dutch, end any active form (so the parent is not stuck in it), and the conversation
   goes on.
3. Logs: Rasa's JSON logs render exceptions with every frame's local variables, which
   can hold slot values and message text. We render tracebacks without locals.

Applied once per process by every Rasa process of this project: the Dutch spaCy provider
(loaded with every model) and the channels import this module and call :func:`apply`.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_applied = False
TECHNICAL_PROBLEM_RESPONSE = "utter_technical_problem"


def apply() -> None:
    """Patch ``rasa.core.actions.action.RemoteAction`` (idempotent)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions import action as rasa_action
    from rasa.core.actions.action import RemoteAction
    from rasa.core.actions.loops import LoopAction
    from rasa.shared.core.events import ActiveLoop, SlotSet
    from rasa.shared.exceptions import RasaException

    from bot.settings import get_settings

    rasa_action.DEFAULT_REQUEST_TIMEOUT = get_settings().action_timeout  # type: ignore[attr-defined]
    original_run = RemoteAction.run

    async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any,
                  domain: Any) -> list:
        try:
            return await original_run(self, output_channel, nlg, tracker, domain)
        except rasa_action.ActionExecutionRejection:
            raise
        except (RasaException, OSError, TimeoutError) as exc:
            cause = exc.__cause__ or exc.__context__
            logger.error("custom action %s failed (%s%s); told the user in Dutch",
                         self.name(), type(exc).__name__,
                         f" caused by {type(cause).__name__}" if cause else "")
            message = await nlg.generate(TECHNICAL_PROBLEM_RESPONSE, tracker,
                                         output_channel.name())
            events: list = []
            if message:
                await output_channel.send_response(tracker.sender_id, message)
                events.append(rasa_action.create_bot_utterance(message))
            if tracker.active_loop_name:
                events += [ActiveLoop(None), SlotSet("requested_slot", None)]
            return events

    RemoteAction.run = run  # type: ignore[method-assign]
    _ = LoopAction  # forms call RemoteAction for validation and get the same treatment
    _tracebacks_without_locals()
    _applied = True


def _tracebacks_without_locals() -> None:
    """Swap structlog's ``dict_tracebacks`` for one without local variables, in place
    (loggers Rasa already created share the processor list)."""
    import structlog
    from structlog.tracebacks import ExceptionDictTransformer

    processors = structlog.get_config()["processors"]
    safe = structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
    for index, processor in enumerate(processors):
        if processor is structlog.processors.dict_tracebacks:
            processors[index] = safe
