"""The per-conversation circuit breaker of bot/rasa_patches.py."""

from __future__ import annotations

from bot import rasa_patches


def test_breaker_is_per_conversation_and_closes_on_success(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(rasa_patches.time, "monotonic", lambda: now[0])
    breaker = rasa_patches._Breaker()
    breaker.record_failure("a")
    assert breaker.is_open("a")
    assert not breaker.is_open("b")  # other parents are not affected
    now[0] += rasa_patches.BREAKER_SECONDS + 0.1
    assert not breaker.is_open("a")  # closes by itself
    breaker.record_failure("a")
    breaker.record_success("a")
    assert not breaker.is_open("a")


def test_action_responses_are_checked_with_one_prebuilt_validator(monkeypatch) -> None:
    import jsonschema
    import pytest
    from rasa.core.actions.action import RemoteAction

    rasa_patches.apply()
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
