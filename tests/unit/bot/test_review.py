"""``python -m bot review``: the staff report on a seeded tracker store, with canaries
(a pupil number, e-mail, phone number and names) that must be masked everywhere."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.review import review_command
from core.records import RecordsStore, StoreUnavailable
from tests.support.unit import (
    CANARY_EMAIL,
    CANARY_FIRST,
    CANARY_LAST,
    CANARY_NUMBER,
    RASA_EVENTS_DDL,
    START,
    assert_no_canary,
    canary_pupil,
    demo_pupils,
)

PHONE = "0612345678"
GUESSED_NAME = "Pietje"
CANARIES = (CANARY_NUMBER, CANARY_FIRST, CANARY_LAST, CANARY_EMAIL, PHONE, GUESSED_NAME,
            "19-07-2012", "Sanne")


class Conversation:
    """Builds Rasa 3.6 tracker events for one sender."""

    def __init__(self, sender: str, channel: str, start: datetime) -> None:
        self.sender, self.channel, self.time = sender, channel, start.timestamp()
        self.rows: list[tuple[str, str, float, str | None, str | None, str]] = []
        self.event({"event": "action", "name": "action_session_start"})
        self.event({"event": "session_started"})
        self.event({"event": "action", "name": "action_listen"})

    def event(self, data: dict[str, Any]) -> Conversation:
        self.time += 1
        data = {**data, "timestamp": self.time}
        intent = (data.get("parse_data") or {}).get("intent", {}).get("name")
        action = data.get("name") if data["event"] in ("action", "slot") else None
        self.rows.append((self.sender, data["event"], self.time, intent, action,
                          json.dumps(data)))
        return self

    def user(self, text: str, intent: str, confidence: float = 0.99,
             faq: tuple[str, float] | None = None, ranking: list[tuple[str, float]] | None = None,
             entities: list[dict[str, Any]] | None = None) -> Conversation:
        parse: dict[str, Any] = {
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities or [], "text": text,
            "intent_ranking": [{"name": n, "confidence": c}
                               for n, c in (ranking or [(intent, confidence)])],
        }
        if faq:
            parse["response_selector"] = {"all_retrieval_intents": ["faq"], "faq": {
                "response": {"intent_response_key": f"faq/{faq[0]}", "confidence": faq[1]},
                "ranking": [{"intent_response_key": f"faq/{faq[0]}", "confidence": faq[1]}]}}
        return self.event({"event": "user", "text": text, "parse_data": parse,
                           "input_channel": self.channel})

    def action(self, name: str, *slots: tuple[str, Any], utter: str | None = None
               ) -> Conversation:
        self.event({"event": "action", "name": name})
        if utter:
            self.event({"event": "bot", "text": "...", "metadata": {"utter_action": utter}})
        for slot, value in slots:
            self.event({"event": "slot", "name": slot, "value": value})
        return self.event({"event": "action", "name": "action_listen"})

    def loop(self, name: str | None) -> Conversation:
        return self.event({"event": "active_loop", "name": name})


def seeded_conversations() -> list[Conversation]:
    day1, day2 = START - timedelta(days=2), START - timedelta(days=1)
    web = (Conversation("rest-parent", "rest", day1)
           .user("Wat is lwoo?", "faq", 1.0, faq=("wat_is_lwoo", 0.98))
           .action("action_answer_faq", ("faq_topic", "wat_is_lwoo"), ("fallback_count", 0),
                   utter="utter_faq/wat_is_lwoo")
           .user('/feedback{"helpful": "no"}', "feedback", 1.0,
                 entities=[{"entity": "helpful", "value": "no"}])
           .action("action_feedback", ("feedback_helpful", False), ("feedback_comment", None))
           .loop("feedback_form")
           .user(f"Ik miste hoe het zit voor {CANARY_FIRST} {CANARY_LAST}, mail "
                 f"{CANARY_EMAIL} of bel {PHONE}", "out_of_scope")
           .action("feedback_form", ("feedback_comment",
                                     f"Ik miste hoe het zit voor {CANARY_FIRST} {CANARY_LAST}, "
                                     f"mail {CANARY_EMAIL} of bel {PHONE}"))
           .loop(None)
           .action("action_feedback_done", ("feedback_helpful", None),
                   ("feedback_comment", None)))
    whatsapp = (Conversation("whatsapp:hash", "whatsapp", day2)
                .user(f"mijn dochter {CANARY_NUMBER} heeft iets met geld", "nlu_fallback", 0.45,
                      faq=("budget", 0.38),
                      ranking=[("nlu_fallback", 0.45), ("faq", 0.40), ("ask_status", 0.3)])
                .action("action_clarify", ("fallback_count", 1))
                .user(f"hoe zit het met {GUESSED_NAME} en het budget", "faq", 0.95,
                      faq=("budget", 0.41))
                .action("action_answer_faq", ("fallback_count", 1))
                .user("<script>alert('x')</script> waarom opnieuw toetsen", "faq", 0.9,
                      faq=("hertoets", 0.62))
                .action("action_answer_faq", ("faq_topic", "hertoets"), ("fallback_count", 0))
                .user("ja", "affirm", 0.99)
                .action("action_feedback", ("feedback_helpful", True))
                .user("krijgt mijn kind lwoo", "ask_status", 0.99)
                .action("action_status_start", ("needs_verification", True))
                .loop("verification_form")
                .user(CANARY_NUMBER, "out_of_scope", 0.3)
                .action("verification_form", ("pupil_number", CANARY_NUMBER))
                .user("19-07-2012", "out_of_scope", 0.2)
                .action("verification_form", ("birth_date", "***")))
    widget = (Conversation("widget-1", "socketio", day2)
              .user('/faq{"faq_topic": "budget"}', "faq", 1.0,
                    entities=[{"entity": "faq_topic", "value": "budget"}])
              .action("action_answer_faq", ("faq_topic", "budget"), ("fallback_count", 0))
              .user("أريد التحدث مع شخص من المدرسة", "request_human", 0.98)
              .action("action_extract_slots", ("language", "ar"))
              .action("action_callback_start", ("callback_consent", None)))
    old = (Conversation("old", "rest", START - timedelta(days=20))
           .user("Sanne oud en vergeten", "nlu_fallback", 0.2))
    return [web, whatsapp, widget, old]


@pytest.fixture
def report(settings: Any, tmp_path: Path) -> Path:
    with sqlite3.connect(settings.tracker_db_path) as conn:
        conn.execute(RASA_EVENTS_DDL)
        for conversation in seeded_conversations():
            conn.executemany(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                "action_name, data) VALUES (?, ?, ?, ?, ?, ?)", conversation.rows)
    store = RecordsStore.from_settings(settings)
    store.upsert_pupils([*demo_pupils(), canary_pupil()])
    out = tmp_path / "report"
    assert review_command("7d", str(out), settings=settings, store=store, now=START) == 0
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))


def all_output(out: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8-sig") for p in sorted(out.iterdir())
                     if p.suffix in (".html", ".csv"))


def test_personal_data_is_masked_in_html_and_csv(report: Path) -> None:
    text = all_output(report)
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} leaked"
    assert_no_canary(text)
    assert "[nummer]" in text and "[e-mail]" in text and "[telefoon]" in text
    assert "[naam]" in text


def test_html_is_escaped_and_self_contained(report: Path) -> None:
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html  # escaped (markupsafe)
    assert "http" not in html  # no external CSS, scripts or images
    for chart in ("topics.png", "channels.png", "days.png"):
        assert f'src="{chart}"' in html
        assert (report / chart).read_bytes().startswith(b"\x89PNG")


def test_unclear_questions_with_the_guessed_topic(report: Path) -> None:
    rows = read_csv(report / "unclear.csv")
    assert [(r["wat er gebeurde"], r["gok van de assistent"]) for r in rows] == [
        ("niet begrepen", "faq/budget"),
        ("teruggevraagd (Bedoelt u …?)", "faq/budget"),
        ("beantwoord met lage zekerheid", "faq/hertoets"),
    ]
    assert rows[0]["vraag (afgeschermd)"] == "mijn dochter [nummer] heeft iets met geld"
    assert rows[1]["vraag (afgeschermd)"] == "hoe zit het met [naam] en het budget"
    assert rows[0]["kanaal"] == "WhatsApp" and rows[0]["zekerheid"] == "0.38"
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "faq/budget (Waarvoor is het lwoo-budget?)" in html
    # answers typed inside the verification form and old conversations are not listed
    assert len(rows) == 3


def test_feedback_with_the_parents_comment(report: Path) -> None:
    rows = read_csv(report / "feedback.csv")
    assert [(r["oordeel"], r["onderwerp"]) for r in rows] == [
        ("hielp niet", "wat_is_lwoo"), ("hielp", "hertoets")]
    assert rows[0]["vraag (afgeschermd)"] == "Wat is lwoo?"
    assert rows[0]["wat miste de ouder (afgeschermd)"] == \
        "Ik miste hoe het zit voor [naam] [naam], mail [e-mail] of bel [telefoon]"
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Ik miste hoe het zit voor [naam] [naam]" in html
    assert "1 × hielp, 1 × hielp niet" in html


def test_topics_channels_and_days(report: Path) -> None:
    topics = {r["onderwerp"]: (r["getypt"], r["via knop"]) for r in
              read_csv(report / "topics.csv")}
    assert topics == {"wat_is_lwoo": ("1", "0"), "hertoets": ("1", "0"), "budget": ("0", "1")}
    channels = {r["kanaal"]: r["gesprekken"] for r in read_csv(report / "channels.csv")}
    assert channels == {"REST (test/koppeling)": "1", "WhatsApp": "1", "website": "1"}
    days = {r["dag"]: r["gesprekken"] for r in read_csv(report / "days.csv")}
    assert len(days) == 8  # every day of the period, also those without conversations
    assert {d: n for d, n in days.items() if n != "0"} == {"2026-11-25": "1", "2026-11-26": "2"}
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Vroegen om contact met een medewerker</td><td><strong>1<" in html


def test_the_language_of_each_conversation(report: Path) -> None:
    languages = {r["taal"]: r["gesprekken"] for r in read_csv(report / "languages.csv")}
    assert languages == {"nl": "2", "nl > ar": "1"}  # the widget parent switched to Arabic
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Nederlands → Arabisch</td>" in html


def test_empty_store_bad_period_and_store_down(settings: Any, tmp_path: Path, capsys) -> None:
    out = tmp_path / "empty"
    assert main(["review", "--since", "7d", "--out", str(out)]) == 0
    assert "Geen gegevens in deze periode" in (out / "report.html").read_text(encoding="utf-8")
    assert not (out / "topics.png").exists()
    assert main(["review", "--since", "7"]) == 2
    class Down(RecordsStore):
        def pupil_names(self) -> list[tuple[str, str]]:
            raise StoreUnavailable("down")

    down = Down(f"sqlite:///{tmp_path / 'unused.db'}")
    assert review_command("7d", str(tmp_path / "x"), settings=settings, store=down) == 3
    assert "leerlingenlijst" in capsys.readouterr().err


def test_review_reads_a_postgresql_tracker_store(
    settings: Any, postgres_tracker: tuple[str, Any], tmp_path: Path
) -> None:
    from dataclasses import replace

    import sqlalchemy as sa

    url, tracker = postgres_tracker
    with tracker.begin() as conn:
        for conversation in seeded_conversations():
            conn.execute(sa.text(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                "action_name, data) VALUES (:s, :t, :ts, :i, :a, :d)"),
                [dict(zip(("s", "t", "ts", "i", "a", "d"), row)) for row in conversation.rows])
    store = RecordsStore.from_settings(settings)
    store.upsert_pupils([*demo_pupils(), canary_pupil()])
    out = tmp_path / "pg"
    assert review_command("7d", str(out), settings=replace(settings, tracker_db_url=url),
                          store=store, now=START) == 0
    assert len(read_csv(out / "unclear.csv")) == 3
    assert len(read_csv(out / "feedback.csv")) == 2
    text = all_output(out)
    for canary in CANARIES:
        assert canary not in text
    # a tracker database that is down: exit 3 with a Dutch message
    down = "postgresql+psycopg2://nobody@127.0.0.1:1/none"
    assert review_command("7d", str(tmp_path / "down"), settings=settings, store=store,
                          tracker_url=down, now=START) == 3
