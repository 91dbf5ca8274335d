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
