"""Every adjustment this project makes to Rasa 3.6.21, in one place.

Rasa is patched here and nowhere else, and only by the launcher (:mod:`bot.launcher`,
which ``python -m bot run`` / ``shell`` and ``make test-conversations`` use), never as a
side effect of importing a channel or a pipeline component. :func:`apply` checks the
installed Rasa version first and refuses another one: each patch replaces a function
whose behaviour was read in 3.6.21's source.

1. ``action_timeout``: Rasa waits up to 5 minutes for the action server. We wait
   ACTION_TIMEOUT seconds (default 3), so a parent is answered within 5 s when the action
   server hangs.
2. ``dutch_action_failure``: when a custom action fails (action server down, slow or
   erroring), Rasa 3.6 logs the error and says nothing to the user. We say
   ``utter_technical_problem`` in Dutch, end any active form (so the parent is not stuck
   in it), and the conversation goes on. After a failure the action server is skipped
   for that conversation for BREAKER_SECONDS, so a turn with several custom actions
   still answers within ACTION_TIMEOUT. A failed custom ``action_session_start`` falls
   back to Rasa's built-in one (no message).
3. ``tracebacks_without_locals``: Rasa's JSON logs render exceptions with every frame's
   local variables, which can hold slot values and message text. We render tracebacks
   without locals (applied right after Rasa configures structlog).
4. ``cached_response_validator``: Rasa checks every action-server response with
   ``jsonschema.validate``, which builds a validator and re-checks the schema itself on
   every call (50–65 ms of CPU per custom action with jsonschema 4.17; see
   bench/reports/latest.md). We check with a validator built once; an invalid response
   still gets Rasa's own error.
5. ``typed_choices``: a typed answer to buttons ("2", "de eerste", "ja hoor", a child's
   name) is handled as the click it stands for, on every channel, before NLU
   (:mod:`bot.typed_choices` decides; ``MessageProcessor.parse_message`` is wrapped).

Private Rasa APIs used: ``RemoteAction._validate_action_result``,
``rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT``, ``MessageProcessor.parse_message``
with its tracker argument, ``rasa.__main__.configure_structlog`` and
``rasa.core.utils.configure_file_logging`` (wrapped to log the start-up line below into
Rasa's log file).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

RASA_VERSION = "3.6.21"
PATCHES = ("action_timeout", "dutch_action_failure", "tracebacks_without_locals",
           "cached_response_validator", "typed_choices")
START_LINE = "Rasa {version} with this project's patches: {patches}"

_applied: list[str] = []
TECHNICAL_PROBLEM_RESPONSE = "utter_technical_problem"
ACTION_SESSION_START = "action_session_start"
BREAKER_SECONDS = 5.0


class _Breaker:
    """After a failed call for a conversation, skip the action server for that
    conversation for a few seconds, so one turn with several custom actions answers
    within ACTION_TIMEOUT instead of a multiple of it. Per conversation: one slow
    action never penalises other parents."""

    def __init__(self) -> None:
        self._open_until: dict[str, float] = {}

    def is_open(self, sender_id: str) -> bool:
        return time.monotonic() < self._open_until.get(sender_id, 0.0)

    def record_failure(self, sender_id: str) -> None:
        now = time.monotonic()
        if len(self._open_until) > 10_000:  # keep the table small
            self._open_until = {k: v for k, v in self._open_until.items() if v > now}
        self._open_until[sender_id] = now + BREAKER_SECONDS

    def record_success(self, sender_id: str) -> None:
        self._open_until.pop(sender_id, None)


class RasaVersionMismatch(RuntimeError):
    """The installed Rasa is not the one these patches were written for."""


def check_version(installed: str | None = None) -> None:
    if installed is None:
        from importlib.metadata import version

        installed = version("rasa")
    if installed != RASA_VERSION:
        raise RasaVersionMismatch(
            f"Rasa {installed} is installed; this project's patches (bot/compat.py) are "
            f"written for Rasa {RASA_VERSION}. Run `make setup` (requirements.txt pins it).")


def applied() -> tuple[str, ...]:
    """The patches active in this process (empty before :func:`apply`)."""
    return tuple(_applied)


def apply() -> tuple[str, ...]:
    """Check the Rasa version and apply every patch (idempotent); the names applied."""
    if _applied:
        return applied()
    check_version()
    from rasa.core.actions import action as rasa_action
    from rasa.core.actions.action import RemoteAction
    from rasa.core.actions.loops import LoopAction
    from rasa.shared.core.events import ActiveLoop, SlotSet

    from core.settings import get_settings

    rasa_action.DEFAULT_REQUEST_TIMEOUT = get_settings().action_timeout  # type: ignore[attr-defined]
    original_run = RemoteAction.run
    breaker = _Breaker()

    async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any,
                  domain: Any) -> list:
        if breaker.is_open(tracker.sender_id):
            logger.error("custom action %s skipped: the action server failed moments ago",
                         self.name())
        else:
            try:
                events = await original_run(self, output_channel, nlg, tracker, domain)
                breaker.record_success(tracker.sender_id)
                return events
            except rasa_action.ActionExecutionRejection:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: tell the parent, go on
                breaker.record_failure(tracker.sender_id)
                cause = exc.__cause__ or exc.__context__
                logger.error("custom action %s failed (%s%s); told the user in Dutch",
                             self.name(), type(exc).__name__,
                             f" caused by {type(cause).__name__}" if cause else "")
        if self.name() == ACTION_SESSION_START:
            # start the session the built-in way; nothing to tell the parent yet
            return await rasa_action.ActionSessionStart().run(
                output_channel, nlg, tracker, domain)
        message = await nlg.generate(TECHNICAL_PROBLEM_RESPONSE, tracker,
                                     output_channel.name())
        failure_events: list = []
        if message:
            await output_channel.send_response(tracker.sender_id, message)
            failure_events.append(rasa_action.create_bot_utterance(message))
        if tracker.active_loop_name:
            failure_events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return failure_events

    RemoteAction.run = run  # type: ignore[method-assign]
    _ = LoopAction  # forms call RemoteAction for validation and get the same treatment
    _cache_action_response_validator()
    _after_structlog_is_configured(_tracebacks_without_locals)
    _typed_choices()
    _applied.extend(PATCHES)
    _announce_in_log_file()
    logger.info(START_LINE.format(version=RASA_VERSION, patches=", ".join(PATCHES)))
    return applied()


def _after_structlog_is_configured(patch: Callable[[], None]) -> None:
    """Rasa's CLI configures structlog after the launcher applied the patches: run
    ``patch`` now (an already configured process) and again after Rasa's configuration."""
    import rasa.__main__ as rasa_main

    patch()
    original = rasa_main.configure_structlog

    def configure_structlog(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        patch()

    rasa_main.configure_structlog = configure_structlog  # type: ignore[assignment]


def _announce_in_log_file() -> None:
    """Write the start-up line into Rasa's ``--log-file`` too, once it is opened."""
    import rasa.core.utils as rasa_utils

    original = rasa_utils.configure_file_logging

    def configure_file_logging(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        logger.info(START_LINE.format(version=RASA_VERSION, patches=", ".join(_applied)))

    rasa_utils.configure_file_logging = configure_file_logging  # type: ignore[assignment]


def _typed_choices() -> None:
    """Resolve typed choices (bot/typed_choices.py) in ``MessageProcessor.parse_message``."""
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    from bot.typed_choices import last_buttons, resolve

    original = MessageProcessor.parse_message

    async def parse_message(self: MessageProcessor, message: UserMessage,
                            tracker: Any = None, only_output_properties: bool = True
                            ) -> dict[str, Any]:
        if tracker is not None and isinstance(message.text, str):
            payload = resolve(message.text, last_buttons(tracker.events))
            if payload is not None:
                message = UserMessage(
                    payload, message.output_channel, message.sender_id,
                    message.parse_data, message.input_channel, message.message_id,
                    message.metadata,
                )
        return await original(self, message, tracker, only_output_properties)

    MessageProcessor.parse_message = parse_message  # type: ignore[method-assign]


def _cache_action_response_validator() -> None:
    """Validate action-server responses with one validator built at start-up.

    Same schema, same verdict: a valid response passes without Rasa's per-call schema
    check; an invalid one is handed to Rasa's own method, which raises its
    ``ValidationError`` with its explanation."""
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    rasa_validate = RemoteAction._validate_action_result

    def validate(self: RemoteAction, result: dict[str, Any]) -> bool:
        if best_match(validator.iter_errors(result)) is None:
            return True
        return bool(rasa_validate(self, result))

    RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


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
