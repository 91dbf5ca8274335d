"""The verification form the way parents really type (issue 14): several values in one
message, digressions, corrections (also after the code was requested), "weet ik niet",
pausing and picking up again, the other child and typed choices."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import status
from core.records import LwooStatus
from core.verification import CheckResult, CodeCheck, RequestResult


class FakeVerifier:
    def __init__(self, pupils: list[Any] | None = None,
                 request: RequestResult = RequestResult.CODE_REQUESTED) -> None:
        self.requests: list[tuple[str, str]] = []
        self.checks: list[str] = []
        self.pupils = pupils or []
        self.request = request

    def request_code(self, conversation_id: str, channel: str, number: str,
                     born: str) -> RequestResult:
        self.requests.append((number, born))
        return self.request

    def check_code(self, conversation_id: str, channel: str, code: str) -> CodeCheck:
        self.checks.append(code)
        return CodeCheck(CheckResult.WRONG_CODE, 4)

    def verified_pupils(self, conversation_id: str) -> list[Any]:
        return self.pupils

    def verified_pupil(self, conversation_id: str, number: str, channel: str) -> Any:
        return next((p for p in self.pupils if p.pupil_number == number), None)


class P:
    def __init__(self, number: str, first_name: str) -> None:
        self.pupil_number, self.first_name = number, first_name
        self.lwoo_status = LwooStatus.GRANTED


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> FakeVerifier:
    fake = FakeVerifier()
    monkeypatch.setattr(status, "get_verifier", lambda: fake)
    monkeypatch.setattr(status, "status_text", lambda p: f"Status van {p.first_name}")
    return fake


def form_tracker(text: str, intent: str = "nlu_fallback", requested: str = "pupil_number",
                 after: list[str] | None = None, **slots: Any) -> Tracker:
    """The temporary tracker FormAction gives validate_verification_form."""
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": {}},
    ]
    events += [{"event": "action", "name": name} for name in after or []]
    events += [{"event": "slot", "name": "requested_slot", "value": requested},
               {"event": "action", "name": "verification_form"}]
    latest = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return Tracker("conv-1", {"requested_slot": requested, **slots}, latest, events, False,
                   None, {"name": "verification_form"}, "verification_form")


async def run_form(tracker: Tracker) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await status.ValidateVerificationForm().run(dispatcher, tracker, {})
    return {e["name"]: e["value"] for e in events}, dispatcher.messages


@pytest.mark.parametrize("text", [
    "100292 28-10-2012", "28 oktober 2012 en het leerlingnummer is 100292",
    "nummer 100 292, geboren 28/10/2012", "28-10-12 100-292",
])
async def test_number_and_date_in_one_message_request_the_code(
        verifier: FakeVerifier, text: str) -> None:
    slots, messages = await run_form(form_tracker(text))
    assert verifier.requests == [("100292", "2012-10-28")]
    assert slots["pupil_number"] == "100292" and slots["birth_date"] == "2012-10-28"
    assert slots["otp_code"] is None
    assert "Als het leerlingnummer en de geboortedatum kloppen" in messages[0]["text"]


async def test_date_first_then_number(verifier: FakeVerifier) -> None:
    slots, _ = await run_form(form_tracker("14 mrt 2013"))
    assert slots == {"birth_date": "2013-03-14"} and not verifier.requests
    slots, _ = await run_form(form_tracker("100231", requested="pupil_number",
                                           birth_date="2013-03-14"))
    assert verifier.requests == [("100231", "2013-03-14")]


@pytest.mark.parametrize("text,intent", [
    ("wat is lwoo eigenlijk?", "faq"), ("waarom?", "followup_why"), ("hallo", "greet"),
    ("ben jij een robot", "bot_challenge"), ("stop", "stop"), ("weet ik niet", "dont_know"),
    ("wanneer is de kerstvakantie?", "out_of_scope"), ("moet dat?", "followup_required"),
    ("hoe zit het met de zorg op school?", "nlu_fallback"),
])
async def test_a_question_never_fills_a_slot(verifier: FakeVerifier, text: str,
                                             intent: str) -> None:
    """No slot event: FormAction rejects, a rule answers, the form asks again."""
    slots, messages = await run_form(form_tracker(text, intent))
    assert slots == {} and messages == [] and not verifier.requests


async def test_back_from_a_digression_the_message_is_not_read_again(
        verifier: FakeVerifier) -> None:
    slots, messages = await run_form(form_tracker("100292 28-10-2012", "faq",
                                                  after=["action_answer_faq"]))
    assert slots == {} and messages == [] and not verifier.requests


@pytest.mark.parametrize("text", ["12345", "abc", "100231' OR '1'='1 --x", "ja"])
async def test_bad_input_is_refused_with_a_hint(verifier: FakeVerifier, text: str) -> None:
    slots, messages = await run_form(form_tracker(text, "out_of_scope"))
    if text.startswith("100231"):
        assert slots == {"pupil_number": "100231"}  # the number in it is used, safely
        return
    assert slots == {"pupil_number": None}
    assert "6 cijfers" in messages[0]["text"]


async def test_correction_of_the_number_before_the_date(verifier: FakeVerifier) -> None:
    slots, messages = await run_form(form_tracker(
        "oeps, dat moet 100293 zijn", requested="birth_date", pupil_number="100292"))
    assert slots == {"pupil_number": "100293"}
    assert messages[0]["response"] == "utter_corrected_pupil_number"
    assert not verifier.requests


async def test_correction_after_the_code_was_requested_requests_a_new_code(
        verifier: FakeVerifier) -> None:
    asked = {"pupil_number": "100292", "birth_date": "2012-10-28"}
    slots, messages = await run_form(form_tracker(
        "de datum klopt niet, het is 15-03-2013", requested="otp_code", **asked))
    assert verifier.requests == [("100292", "2013-03-15")] and not verifier.checks
    assert slots["birth_date"] == "2013-03-15" and slots["otp_code"] is None
    assert messages[0]["response"] == "utter_corrected_birth_date"
    slots, _ = await run_form(form_tracker(
        "oeps, het leerlingnummer moet 100293 zijn", requested="otp_code", **asked))
    assert verifier.requests[-1] == ("100293", "2012-10-28") and not verifier.checks


async def test_rate_limit_on_a_corrected_request_ends_the_attempt(
        verifier: FakeVerifier) -> None:
    verifier.request = RequestResult.RATE_LIMITED
    slots, messages = await run_form(form_tracker(
        "sorry, het nummer is 100293", requested="otp_code", pupil_number="100292",
        birth_date="2012-10-28"))
    assert slots["otp_code"] == status.ENDED
    assert "te veel pogingen" in messages[-1]["text"]


@pytest.mark.parametrize("text", ["404 141", "404-141", "de code is 404141"])
async def test_code_with_spaces_or_dashes_is_checked(verifier: FakeVerifier,
                                                     text: str) -> None:
    await run_form(form_tracker(text, requested="otp_code", pupil_number="100292",
                                birth_date="2012-10-28"))
    assert verifier.checks == ["404141"] and not verifier.requests


async def test_activation_message_with_both_values(verifier: FakeVerifier) -> None:
    tracker = form_tracker("krijgt mijn zoon lwoo? 100292, 28-10-2012", "ask_status",
                           requested=None, after=["action_status_start"])  # type: ignore
    slots, _ = await run_form(tracker)
    assert verifier.requests == [("100292", "2012-10-28")]
    tracker = form_tracker("krijgt mijn zoon lwoo?", "ask_status", requested=None,
                           after=["action_status_start"])  # type: ignore[arg-type]
    assert await run_form(tracker) == ({}, [])


async def test_dont_know_says_where_to_find_it_and_counts_nothing(
        verifier: FakeVerifier) -> None:
    d = CollectingDispatcher()
    tracker = form_tracker("weet ik niet", "dont_know", pupil_number="100292")
    await status.ActionVerificationDontKnow().run(d, tracker, {})
    assert d.messages[0]["response"] == "utter_dont_know_birth_date"
    assert not verifier.requests and not verifier.checks


async def test_stop_pauses_and_asking_again_resumes(verifier: FakeVerifier) -> None:
    d = CollectingDispatcher()
    tracker = form_tracker("laat maar", "stop", requested="birth_date",
                           pupil_number="100292")
    events = await status.ActionStopVerification().run(d, tracker, {})
    assert d.messages[0]["response"] == "utter_verification_paused"
    assert "pupil_number" not in {e["name"] for e in events}  # kept for later
    d = CollectingDispatcher()
    events = await status.ActionStatusStart().run(
        d, form_tracker("toch de status graag", "ask_status", pupil_number="100292"), {})
    assert d.messages[0]["response"] == "utter_status_resume"


async def test_other_child_without_a_new_code(verifier: FakeVerifier) -> None:
    verifier.pupils = [P("100231", "Sanne"), P("100232", "Daan")]
    d = CollectingDispatcher()
    events = await status.ActionStatusStart().run(
        d, form_tracker("en de andere?", "ask_status", pupil_shown="1"), {})
    assert d.messages[0]["text"] == "Status van Daan"
    assert [b["title"] for b in d.messages[1]["buttons"]] == ["Sanne"]
    assert {"event": "slot", "timestamp": None, "name": "pupil_shown", "value": "2"} in events
    d = CollectingDispatcher()
    await status.ActionStatusStart().run(d, form_tracker("krijgt daan lwoo?", "ask_status"), {})
    assert d.messages[0]["text"] == "Status van Daan"
    assert not verifier.requests
