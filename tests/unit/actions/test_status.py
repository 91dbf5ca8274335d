"""Status actions: verification state only from the server-side store; faults answered
in Dutch; a new session starts unverified."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import status
from core.records import LwooStatus, StoreUnavailable


class FakeVerifier:
    def __init__(self, pupils: list[Any] | None = None, fail: bool = False,
                 slow: float = 0.0) -> None:
        self.pupils = pupils or []
        self.fail = fail
        self.slow = slow
        self.cleared: list[str] = []

    def _maybe_fail(self) -> None:
        if self.slow:
            import time
            time.sleep(self.slow)
        if self.fail:
            raise StoreUnavailable("down")

    def verified_pupils(self, conversation_id: str) -> list[Any]:
        self._maybe_fail()
        return self.pupils

    def verified_pupil(self, conversation_id: str, number: str, channel: str) -> Any:
        return next((p for p in self.pupils if p.pupil_number == number), None)

    def clear(self, conversation_id: str) -> None:
        self._maybe_fail()
        self.cleared.append(conversation_id)


class P:
    def __init__(self, number: str, first_name: str) -> None:
        self.pupil_number, self.first_name = number, first_name
        self.lwoo_status = LwooStatus.GRANTED


def tracker(entities: list[dict[str, Any]] | None = None,
            slots: dict[str, Any] | None = None) -> Tracker:
    latest = {"intent": {"name": "ask_status", "confidence": 1.0}, "entities": entities or [],
              "text": "krijgt mijn zoon lwoo?"}
    return Tracker("conv-1", slots or {}, latest, [], False, None, {}, "action_listen")


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch):
    def install(verifier: FakeVerifier) -> FakeVerifier:
        monkeypatch.setattr(status, "get_verifier", lambda: verifier)
        monkeypatch.setattr(status, "status_text", lambda p: f"Status van {p.first_name}")
        return verifier
    return install


async def test_unverified_parent_starts_the_form(use) -> None:
    use(FakeVerifier())
    d = CollectingDispatcher()
    events = await status.ActionStatusStart().run(d, tracker(), {})
    assert d.messages[0]["response"] == "utter_status_intro"
    assert events == [{"event": "slot", "timestamp": None, "name": "needs_verification",
                       "value": True}]


async def test_a_slot_claiming_verification_changes_nothing(use) -> None:
    use(FakeVerifier())
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(
        d, tracker(slots={"needs_verification": False, "otp_code": "***"}), {})
    assert d.messages[0]["response"] == "utter_status_intro"


async def test_verified_parent_with_siblings_chooses(use) -> None:
    use(FakeVerifier([P("100232", "Daan"), P("100231", "Sanne")]))
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(d, tracker(), {})
    assert [b["title"] for b in d.messages[0]["buttons"]] == ["Sanne", "Daan"]
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(
        d, tracker(entities=[{"entity": "pupil_choice", "value": "2"}]), {})
    assert d.messages[0]["text"] == "Status van Daan"


async def test_choice_out_of_range_shows_nothing_new(use) -> None:
    use(FakeVerifier([P("100231", "Sanne"), P("100232", "Daan")]))
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(
        d, tracker(entities=[{"entity": "pupil_choice", "value": "100263"}]), {})
    assert "Status" not in (d.messages[0].get("text") or "")


async def test_store_down_is_told_in_dutch(use) -> None:
    use(FakeVerifier(fail=True))
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(d, tracker(), {})
    assert d.messages[0]["response"] == "utter_technical_problem"


async def test_store_too_slow_is_told_in_dutch(use, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "CALL_TIMEOUT", 0.2)
    use(FakeVerifier(slow=1.0))
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(d, tracker(), {})
    assert d.messages[0]["response"] == "utter_technical_problem"
    await asyncio.sleep(0)


async def test_new_session_clears_verification(use) -> None:
    verifier = use(FakeVerifier())
    events = await status.ActionSessionStart().run(CollectingDispatcher(), tracker(), {})
    assert verifier.cleared == ["conv-1"]
    assert [e["event"] for e in events] == ["session_started", "action"]


async def test_new_session_starts_even_when_the_store_is_down(use) -> None:
    use(FakeVerifier(fail=True))
    events = await status.ActionSessionStart().run(CollectingDispatcher(), tracker(), {})
    assert events[0]["event"] == "session_started"


class SlowRequest(FakeVerifier):
    def request_code(self, *args: Any) -> Any:
        import time
        time.sleep(self.slow)
        raise StoreUnavailable("down") if self.fail else AssertionError("not reached")


@pytest.mark.parametrize(("fail", "slow", "expected"), [
    (False, 1.0, "utter_code_request_uncertain"),  # timed out: a mail may still go out
    (True, 0.0, "utter_technical_problem"),  # failed: nothing was sent
])
async def test_a_timed_out_code_request_says_a_mail_may_still_come(
    use, monkeypatch: pytest.MonkeyPatch, fail: bool, slow: float, expected: str
) -> None:
    monkeypatch.setattr(status, "CALL_TIMEOUT", 0.2)
    use(SlowRequest(fail=fail, slow=slow))
    d = CollectingDispatcher()
    result = await status.ValidateVerificationForm()._request_code(
        d, tracker(slots={"pupil_number": "100231"}), "100231", "14-03-2013")
    assert d.messages[0]["response"] == expected
    assert result["otp_code"] == status.ENDED
