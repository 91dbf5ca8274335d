"""The per-conversation circuit breaker of bot/compat.py."""

from __future__ import annotations

from bot import compat


def test_breaker_is_per_conversation_and_closes_on_success(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(compat.time, "monotonic", lambda: now[0])
    breaker = compat._Breaker()
    breaker.record_failure("a")
    assert breaker.is_open("a")
    assert not breaker.is_open("b")  # other parents are not affected
    now[0] += compat.BREAKER_SECONDS + 0.1
    assert not breaker.is_open("a")  # closes by itself
    breaker.record_failure("a")
    breaker.record_success("a")
    assert not breaker.is_open("a")


def test_action_responses_are_checked_with_one_prebuilt_validator(monkeypatch) -> None:
    import jsonschema
    import pytest
    from rasa.core.actions.action import RemoteAction

    compat.apply()
    calls: list[object] = []
    real_validate = jsonschema.validate

    def counting_validate(*args: object, **kwargs: object) -> None:
        calls.append(args)
        real_validate(*args, **kwargs)

    monkeypatch.setattr(jsonschema, "validate", counting_validate)
    action = RemoteAction("action_answer_faq", None)
    valid = {"events": [{"event": "slot", "name": "faq_topic", "value": "budget"}],
             "responses": [{"response": "utter_faq/budget"}]}
    for _ in range(3):
        assert action._validate_action_result(valid) is True
    assert calls == []  # no per-call schema build for a valid response

    invalid = {"events": [{"event": "slot"}], "responses": "not a list"}
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server"):
        action._validate_action_result(invalid)
    assert len(calls) == 1  # an invalid one gets Rasa's own check and message


def test_importing_channels_and_the_pipeline_patches_nothing() -> None:
    """Patches come from the launcher only, never from an import (issue 15)."""
    import subprocess
    import sys

    code = ("import bot.channels.rest, bot.channels.socketio, bot.spacy_provider\n"
            "from rasa.core.processor import MessageProcessor\n"
            "from rasa.core.actions.action import RemoteAction\n"
            "from bot import compat\n"
            "assert compat.applied() == ()\n"
            "assert MessageProcessor.parse_message.__module__ == 'rasa.core.processor'\n"
            "assert RemoteAction.run.__module__ == 'rasa.core.actions.action'\n"
            "print('unpatched')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "unpatched" in done.stdout


def test_apply_names_every_patch_and_installs_them() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor

    assert compat.apply() == compat.PATCHES
    assert MessageProcessor.parse_message.__module__ == "bot.compat"
    assert RemoteAction.run.__module__ == "bot.compat"


def test_another_rasa_release_is_refused() -> None:
    import pytest

    compat.check_version("3.6.21")
    for other in ("3.6.20", "3.7.0", "3.6.21.post1"):
        with pytest.raises(compat.RasaVersionMismatch, match="3.6.21"):
            compat.check_version(other)
