"""bot.store_privacy at the conversation store's boundary: what parents type into the
verification form is masked, verification slots are encrypted and come back decrypted,
and the live tracker is never changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import store_privacy
from bot.tracker_store import ResilientSQLTrackerStore

DOMAIN = Domain.from_yaml("""
version: "3.1"
slots:
  pupil_number: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  birth_date: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  otp_code: {type: text, influence_conversation: false, mappings: [{type: custom}]}
forms:
  verification_form: {required_slots: [pupil_number, birth_date, otp_code]}
""")
CANARIES = ("999001", "29-02-2012", "2012-02-29", "29 februari 2012", "404 141", "404141",
            "29/2/12")


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_privacy, "_secret", lambda: "unit-test-secret")


def _conversation() -> list:
    user = [UserUttered(text, {"name": "inform", "confidence": 1.0},
                        entities=[{"entity": "number", "value": text, "start": 0,
                                   "end": len(text)}])
            for text in ("het nummer is 999001", "29-02-2012", "2012-02-29",
                         "29 februari 2012", "29/2/12", "404 141", "404141")]
    return [
        UserUttered("krijgt mijn zoon lwoo?", {"name": "ask_status", "confidence": 1.0}),
        ActiveLoop("verification_form"), SlotSet("requested_slot", "pupil_number"),
        BotUttered("Wat is het leerlingnummer van uw kind?"),
        ActionExecuted("action_listen"),
        *[e for u in user for e in (u, ActionExecuted("action_listen"))],
        SlotSet("pupil_number", "999001"), SlotSet("birth_date", "29-02-2012"),
        SlotSet("otp_code", "404141"),
        ActiveLoop(None),
        UserUttered("Wat is lwoo?", {"name": "faq", "confidence": 1.0}),
    ]


async def test_nothing_typed_into_the_form_is_stored_in_clear_text(tmp_path: Path) -> None:
    store = ResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "c.db"))
    events = _conversation()
    tracker = DialogueStateTracker.from_events("privacy", events, DOMAIN.slots)
    await store.save(tracker)
    store.engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for canary in CANARIES:
        assert canary.encode() not in raw, canary
        assert json.dumps(canary).encode() not in raw, canary
    # the live tracker is untouched (the running turn still needs the values)
    assert tracker.get_slot("pupil_number") == "999001"
    assert [e.parse_data["text"] for e in tracker.events if isinstance(e, UserUttered)][1] \
        == "het nummer is 999001"

    reader = ResilientSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "c.db"))
    loaded = await reader.retrieve("privacy")
    assert loaded is not None
    # slots come back (the form reads the number typed in the previous turn) ...
    assert loaded.get_slot("pupil_number") == "999001"
    assert loaded.get_slot("birth_date") == "29-02-2012"
    assert loaded.get_slot("otp_code") == "404141"
    # ... typed texts do not; text outside the form is kept as typed
    texts = [e.text for e in loaded.events if isinstance(e, UserUttered)]
    assert texts[0] == "krijgt mijn zoon lwoo?" and texts[-1] == "Wat is lwoo?"
    assert texts[1:-1] == ["het nummer is [nummer]", "[datum]", "[datum]", "[datum]",
                           "[datum]", "[nummer]", "[nummer]"]
    reader.engine.dispose()


def test_a_value_encrypted_with_another_key_loads_as_empty() -> None:
    token = store_privacy.encrypt_value("999001", secret="old-secret")
    assert "999001" not in token
    assert store_privacy.decrypt_value(token, secret="old-secret") == "999001"
    assert store_privacy.decrypt_value(token, secret="new-secret") is None
    assert store_privacy.decrypt_value("not encrypted") == "not encrypted"


def test_numbers_outside_the_form_are_masked_too() -> None:
    assert store_privacy.mask_typed("mijn zoon 999001 is 29-02-2012 geboren", False) == \
        "mijn zoon [nummer] is [datum] geboren"
    assert store_privacy.mask_typed("klas 1B, 2 vragen", False) == "klas 1B, 2 vragen"
    assert store_privacy.mask_typed("code 404 141", True) == "code [nummer]"
