"""``python -m bot review --since 7d [--out DIR]``: what parents asked, for school staff.

Reads Rasa's tracker store (the ``events`` table: the SQLite file at TRACKER_DB_PATH, or
TRACKER_DB_URL, e.g. PostgreSQL) and writes a self-contained HTML report with PNG charts
beside it, plus CSV files (semicolon-separated, UTF-8, for Excel):

* questions the assistant did not understand, asked back about, or answered with low
  confidence, each with the topic it guessed -> candidates for the training data;
* 👍/👎 feedback, with what the parent said was missing;
* the most-asked FAQ topics; conversations per channel and per day.

Everything a parent typed is masked (:mod:`core.masking`) with the pupils' names from
the records store; without that list no report is made. All HTML is escaped.
Exit codes: 0 ok; 2 bad argument; 3 a database is not reachable.
"""

from __future__ import annotations

import csv
import html
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from bot.admin import EXIT_OK, EXIT_STORE_DOWN, EXIT_UNREADABLE, parse_duration
from core.answers import FAQ_TOPICS, topic_title
from core.masking import Masker
from core.records import RecordsStore, StoreUnavailable, create_store_engine
from core.settings import Settings, get_settings

LOW_CONFIDENCE = 0.7
READ_TIMEOUT_S = 60.0  # a batch report may read many events (PostgreSQL statement timeout)
INTENT_LABELS = {
    "ask_status": "status van het eigen kind",
    "request_human": "contact met een medewerker",
    "out_of_scope": "buiten het onderwerp lwoo",
    "followup_why": "vervolgvraag 'waarom?'",
    "followup_who_decides": "vervolgvraag 'wie beslist?'",
    "greet": "begroeting",
    "goodbye": "afscheid",
    "thanks": "bedankje",
    "bot_challenge": "'ben je een robot?'",
    "affirm": "ja",
    "deny": "nee",
    "stop": "stoppen",
    "feedback": "feedback",
}
CHANNEL_LABELS = {
    "rest": "REST (test/koppeling)",
    "socketio": "website",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "cmdline": "terminal",
}
KIND_NOT_UNDERSTOOD = "niet begrepen"
KIND_CLARIFIED = "teruggevraagd (Bedoelt u …?)"
KIND_LOW = "beantwoord met lage zekerheid"

events_table = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


# -- reading the tracker store ------------------------------------------------------------



def _title(topic: str) -> str:
    """A topic's readable title, as the bot's buttons show it."""
    return topic_title(topic) if topic in FAQ_TOPICS else topic


def load_events(url: str, since: datetime) -> dict[str, list[dict[str, Any]]]:
    """Events from ``since`` on, per conversation, in order. {} without the table."""
    engine = create_store_engine(url, timeout_s=READ_TIMEOUT_S)
    query = (
        sa.select(events_table.c.sender_id, events_table.c.data)
        .where(events_table.c.timestamp >= since.timestamp())
        .order_by(events_table.c.id)
    )
    conversations: dict[str, list[dict[str, Any]]] = {}
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(events_table.name):
                return {}
            rows = conn.execute(query).all()
    except (SQLAlchemyError, OSError):
        raise StoreUnavailable("tracker store unavailable (review)") from None
    finally:
        engine.dispose()
    for sender, raw in rows:
        try:
            event = json.loads(raw or "{}")
        except ValueError:
            continue
        if isinstance(event, dict):
            conversations.setdefault(str(sender), []).append(event)
    return conversations


# -- analysis ----------------------------------------------------------------------------


@dataclass
class Turn:
    """A user message and what the assistant did until the next one."""

    user: dict[str, Any]
    active_loop: str | None
    actions: list[str] = field(default_factory=list)
    slots: list[tuple[str, Any]] = field(default_factory=list)
    utterances: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return str(self.user.get("text") or "")

    @property
    def parse(self) -> dict[str, Any]:
        parse = self.user.get("parse_data")
        return parse if isinstance(parse, dict) else {}

    @property
    def intent(self) -> str:
        return str((self.parse.get("intent") or {}).get("name") or "")

    @property
    def confidence(self) -> float:
        return float((self.parse.get("intent") or {}).get("confidence") or 0.0)

    @property
    def channel(self) -> str:
        return str(self.user.get("input_channel") or "onbekend")

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(float(self.user.get("timestamp") or 0), timezone.utc)

    @property
    def is_button(self) -> bool:
        return self.text.lstrip().startswith("/")

    def slot(self, name: str) -> tuple[bool, Any]:
        """(was it set in this turn, the last value)."""
        found, value = False, None
        for slot_name, slot_value in self.slots:
            if slot_name == name:
                found, value = True, slot_value
        return found, value


def split_turns(events: Iterable[dict[str, Any]]) -> list[list[Turn]]:
    """The events of one sender as sessions (conversations) of turns."""
    sessions: list[list[Turn]] = [[]]
    active_loop: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "session_started":
            if sessions[-1]:
                sessions.append([])
            active_loop = None
        elif kind == "active_loop":
            active_loop = event.get("name")
        elif kind == "user":
            sessions[-1].append(Turn(event, active_loop))
        elif sessions[-1]:
            turn = sessions[-1][-1]
            if kind == "action" and event.get("name"):
                turn.actions.append(str(event["name"]))
            elif kind == "slot":
                turn.slots.append((str(event.get("name")), event.get("value")))
            elif kind == "bot":
                utter = (event.get("metadata") or {}).get("utter_action")
                if utter:
                    turn.utterances.append(str(utter))
    return [session for session in sessions if session]


def _topic(key: Any) -> str | None:
    if isinstance(key, str) and key.startswith("faq/"):
        return key.split("/", 1)[1]
    return None


def faq_selection(parse: dict[str, Any]) -> tuple[str | None, float]:
    """The FAQ topic the response selector picked, and its confidence."""
    selector = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
    return _topic(selector.get("intent_response_key")), float(selector.get("confidence") or 0)


def guessed(turn: Turn) -> tuple[str, float]:
    """The bot's best guess for a message: ``faq/<topic>`` or another intent."""
    ranking = [entry for entry in turn.parse.get("intent_ranking") or []
               if isinstance(entry, dict) and entry.get("name") != "nlu_fallback"]
    if not ranking and turn.intent and turn.intent != "nlu_fallback":
        ranking = [{"name": turn.intent, "confidence": turn.confidence}]
    if not ranking:
        return "", 0.0
    best = ranking[0]
    if best.get("name") == "faq":
        topic, confidence = faq_selection(turn.parse)
        if topic:
            return f"faq/{topic}", confidence
    return str(best.get("name")), float(best.get("confidence") or 0)


def guess_label(guess: str) -> str:
    topic = _topic(guess)
    if topic:
        return f"{guess} ({_title(topic)})"
    return f"{guess} ({INTENT_LABELS[guess]})" if guess in INTENT_LABELS else guess


def unclear_kind(turn: Turn, low_confidence: float) -> str | None:
    """Why a typed question counts as unclear, or None."""
    if turn.active_loop or turn.is_button or not turn.text.strip():
        return None  # answers inside a form (numbers, dates, comments) or buttons
    if turn.intent == "nlu_fallback":
        return KIND_NOT_UNDERSTOOD
    answered, _ = turn.slot("faq_topic")
    clarified = (
        "action_clarify" in turn.actions
        or "utter_offer_contact" in turn.utterances
        or ("action_answer_faq" in turn.actions and not answered)
    )
    if clarified:
        return KIND_CLARIFIED
    confidence = turn.confidence
    if turn.intent == "faq":
        confidence = min(confidence, faq_selection(turn.parse)[1])
    if confidence < low_confidence and turn.intent not in ("feedback",):
        return KIND_LOW
    return None


@dataclass(frozen=True)
class UnclearQuestion:
    time: datetime
    channel: str
    text: str
    kind: str
    guess: str
    confidence: float


@dataclass
class FeedbackItem:
    time: datetime
    channel: str
    helpful: bool
    topic: str
    question: str
    comment: str = ""


@dataclass
class Review:
    since: datetime
    until: datetime
    conversations: int = 0
    questions: int = 0
    contact_requests: int = 0
    unclear: list[UnclearQuestion] = field(default_factory=list)
    feedback: list[FeedbackItem] = field(default_factory=list)
    topics_typed: Counter[str] = field(default_factory=Counter)
    topics_button: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    days: Counter[date] = field(default_factory=Counter)

    @property
    def topics(self) -> Counter[str]:
        return self.topics_typed + self.topics_button


def analyse(
    conversations: dict[str, list[dict[str, Any]]],
    masker: Masker,
    *,
    since: datetime,
    until: datetime,
    tz: tzinfo = timezone.utc,
    low_confidence: float = LOW_CONFIDENCE,
) -> Review:
    """Everything the report shows; every text a parent typed is masked here."""
    review = Review(since=since, until=until)
    for events in conversations.values():
        for session in split_turns(events):
            _analyse_session(session, masker, review, tz, low_confidence)
    review.unclear.sort(key=lambda item: item.time)
    review.feedback.sort(key=lambda item: item.time)
    day, last = since.astimezone(tz).date(), until.astimezone(tz).date()
    while day <= last and review.conversations:  # days without conversations show as 0
        review.days[day] += 0
        day += timedelta(days=1)
    return review


def _analyse_session(
    session: list[Turn], masker: Masker, review: Review, tz: tzinfo, low_confidence: float
) -> None:
    review.conversations += 1
    first = session[0]
    review.channels[first.channel] += 1
    review.days[first.time.astimezone(tz).date()] += 1
    last_topic, last_question = "", ""
    waiting_for_comment: FeedbackItem | None = None
    for turn in session:
        if not turn.active_loop and not turn.is_button and turn.intent != "feedback":
            review.questions += 1
        if "action_callback_start" in turn.actions:
            review.contact_requests += 1
        kind = unclear_kind(turn, low_confidence)
        if kind:
            guess, confidence = guessed(turn)
            review.unclear.append(UnclearQuestion(
                turn.time, turn.channel, masker.mask(turn.text), kind, guess, confidence
            ))
        comment = next((value for name, value in turn.slots
                        if name == "feedback_comment" and value), None)
        if comment and waiting_for_comment is not None:
            # set when the parent typed it; action_feedback_done clears it again
            waiting_for_comment.comment = masker.mask(str(comment))
            waiting_for_comment = None
        rated, helpful = turn.slot("feedback_helpful")
        if rated and isinstance(helpful, bool):
            item = FeedbackItem(turn.time, turn.channel, helpful, last_topic, last_question)
            review.feedback.append(item)
            waiting_for_comment = None if helpful else item
        answered, topic = turn.slot("faq_topic")
        if answered and topic:
            last_topic = str(topic)
            last_question = "[knop]" if turn.is_button else masker.mask(turn.text)
            (review.topics_button if turn.is_button else review.topics_typed)[last_topic] += 1


# -- output ------------------------------------------------------------------------------


def _local(moment: datetime, tz: tzinfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


def _channel(name: str) -> str:
    return CHANNEL_LABELS.get(name, name)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        writer.writerows([_cell(value) for value in row] for row in rows)


def write_csvs(review: Review, out: Path, tz: tzinfo) -> list[Path]:
    files: dict[str, tuple[Sequence[str], list[Sequence[Any]]]] = {
        "unclear.csv": (
            ("tijd", "kanaal", "vraag (afgeschermd)", "wat er gebeurde", "gok van de assistent",
             "zekerheid"),
            [(_local(u.time, tz), _channel(u.channel), u.text, u.kind, u.guess,
              f"{u.confidence:.2f}") for u in review.unclear],
        ),
        "feedback.csv": (
            ("tijd", "kanaal", "oordeel", "onderwerp", "vraag (afgeschermd)",
             "wat miste de ouder (afgeschermd)"),
            [(_local(f.time, tz), _channel(f.channel), "hielp" if f.helpful else "hielp niet",
              f.topic, f.question, f.comment) for f in review.feedback],
        ),
        "topics.csv": (
            ("onderwerp", "vraag", "getypt", "via knop", "totaal"),
            [(topic, _title(topic), review.topics_typed[topic],
              review.topics_button[topic], count)
             for topic, count in review.topics.most_common()],
        ),
        "channels.csv": (
            ("kanaal", "gesprekken"),
            [(_channel(name), count) for name, count in review.channels.most_common()],
        ),
        "days.csv": (
            ("dag", "gesprekken"),
            [(day.isoformat(), count) for day, count in sorted(review.days.items())],
        ),
    }
    paths = []
    for name, (header, rows) in files.items():
        _write_csv(out / name, header, rows)
        paths.append(out / name)
    return paths


def write_charts(review: Review, out: Path) -> dict[str, Path]:
    """PNG bar charts (matplotlib, Agg backend); only for data that exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, Path] = {}

    def bar(name: str, labels: list[str], values: list[int], title: str,
            horizontal: bool = False) -> None:
        if not values:
            return
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * len(values) + 1) if horizontal
                                       else 3.5))
        if horizontal:
            ax.barh(labels[::-1], values[::-1], color="#2b6cb0")
        else:
            ax.bar(labels, values, color="#2b6cb0")
            ax.tick_params(axis="x", labelrotation=45 if len(labels) > 6 else 0)
        ax.set_title(title)
        (ax.xaxis if horizontal else ax.yaxis).get_major_locator().set_params(integer=True)
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        charts[name] = path

    topics = review.topics.most_common()
    bar("topics", [_title(t) for t, _ in topics], [c for _, c in topics],
        "Meest gestelde onderwerpen", horizontal=True)
    channels = review.channels.most_common()
    bar("channels", [_channel(c) for c, _ in channels], [n for _, n in channels],
        "Gesprekken per kanaal")
    days = sorted(review.days.items())
    bar("days", [f"{d:%d-%m}" for d, _ in days], [n for _, n in days], "Gesprekken per dag")
    return charts


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;
color:#1a202c;max-width:70rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #cbd5e0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #cbd5e0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#edf2f7}td.num{text-align:right}.muted{color:#4a5568}
.summary td{border:none;padding:.15rem 1rem .15rem 0}img{max-width:100%;height:auto}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()
           ) -> str:
    if not rows:
        return '<p class="muted">Geen gegevens in deze periode.</p>'
    head = "".join(f"<th scope=\"col\">{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td{" class=num" if i in numeric else ""}>{html.escape(str(v))}</td>'
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(charts: dict[str, Path], name: str, alt: str) -> str:
    if name not in charts:
        return ""
    return f'<p><img src="{html.escape(charts[name].name)}" alt="{html.escape(alt)}"></p>'


def render_html(review: Review, charts: dict[str, Path], tz: tzinfo, generated: datetime
                ) -> str:
    positive = sum(1 for f in review.feedback if f.helpful)
    negative = len(review.feedback) - positive
    summary = [
        ("Periode", f"{_local(review.since, tz)} tot {_local(review.until, tz)}"),
        ("Gesprekken", review.conversations),
        ("Getypte berichten", review.questions),
        ("Onduidelijke vragen", len(review.unclear)),
        ("Feedback", f"{positive} × hielp, {negative} × hielp niet"),
        ("Vroegen om contact met een medewerker", review.contact_requests),
    ]
    per_topic: dict[str, list[int]] = {}
    for item in review.feedback:
        counts = per_topic.setdefault(item.topic or "(geen antwoord)", [0, 0])
        counts[0 if item.helpful else 1] += 1
    negatives = [f for f in review.feedback if not f.helpful]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>LWOO-assistent: overzicht van de gesprekken</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>LWOO-assistent: overzicht van de gesprekken</h1>",
        f'<p class="muted">Gemaakt op {html.escape(_local(generated, tz))}. Namen, '
        "leerlingnummers, datums, e-mailadressen en telefoonnummers zijn afgeschermd "
        "([naam], [nummer], [datum], [e-mail], [telefoon]).</p>",
        '<table class="summary">'
        + "".join(f"<tr><td>{html.escape(k)}</td><td><strong>{html.escape(str(v))}"
                  "</strong></td></tr>" for k, v in summary)
        + "</table>",
        "<h2>Vragen die de assistent niet (goed) begreep</h2>",
        '<p class="muted">Zo stellen ouders hun vragen. Hoort een vraag bij een onderwerp, '
        "geef hem dan (in eigen woorden, zonder namen) door aan de beheerder, zodat hij aan "
        "de trainingsdata van dat onderwerp wordt toegevoegd. De kolom &lsquo;gok&rsquo; "
        "laat zien welk onderwerp de assistent dacht dat het was.</p>",
        _table(("Tijd", "Kanaal", "Vraag", "Wat er gebeurde", "Gok van de assistent",
                "Zekerheid"),
               [(_local(u.time, tz), _channel(u.channel), u.text, u.kind, guess_label(u.guess),
                 f"{u.confidence:.0%}") for u in review.unclear], numeric=(5,)),
        "<h2>Feedback op antwoorden</h2>",
        _table(("Onderwerp", "Hielp", "Hielp niet"),
               [(topic, counts[0], counts[1]) for topic, counts in sorted(per_topic.items())],
               numeric=(1, 2)),
        "<h3>Wat ouders misten (👎)</h3>",
        _table(("Tijd", "Kanaal", "Onderwerp", "Vraag", "Wat miste de ouder"),
               [(_local(f.time, tz), _channel(f.channel), f.topic or "-", f.question or "-",
                 f.comment or "(geen toelichting)") for f in negatives]),
        "<h2>Meest gestelde onderwerpen</h2>",
        _img(charts, "topics", "Staafdiagram: aantal beantwoorde vragen per onderwerp"),
        _table(("Onderwerp", "Vraag", "Getypt", "Via knop", "Totaal"),
               [(t, _title(t), review.topics_typed[t], review.topics_button[t], c)
                for t, c in review.topics.most_common()], numeric=(2, 3, 4)),
        "<h2>Gesprekken per kanaal</h2>",
        _img(charts, "channels", "Staafdiagram: aantal gesprekken per kanaal"),
        _table(("Kanaal", "Gesprekken"),
               [(_channel(c), n) for c, n in review.channels.most_common()], numeric=(1,)),
        "<h2>Gesprekken per dag</h2>",
        _img(charts, "days", "Staafdiagram: aantal gesprekken per dag"),
        _table(("Dag", "Gesprekken"),
               [(d.isoformat(), n) for d, n in sorted(review.days.items())], numeric=(1,)),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def write_report(review: Review, out: Path, tz: tzinfo, generated: datetime) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    charts = write_charts(review, out)
    write_csvs(review, out, tz)
    report = out / "report.html"
    report.write_text(render_html(review, charts, tz, generated), encoding="utf-8")
    return report


# -- the command -------------------------------------------------------------------------


def _error(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def review_command(
    since: str,
    out: str | None = None,
    *,
    settings: Settings | None = None,
    store: RecordsStore | None = None,
    tracker_url: str | None = None,
    now: datetime | None = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> int:
    """Write the report for the last period (e.g. ``7d``); print where it is."""
    from core.school_calendar import school_timezone

    settings = settings or get_settings()
    current = now or datetime.now(timezone.utc)
    try:
        start = current - parse_duration(since)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_UNREADABLE
    if not 0 < low_confidence <= 1:
        _error("--low-confidence moet tussen 0 en 1 liggen, bijvoorbeeld 0.7.")
        return EXIT_UNREADABLE
    tz = school_timezone(settings.school_timezone)
    url = tracker_url or settings.tracker_url
    if url.startswith("sqlite") and not tracker_url and not settings.tracker_db_url \
            and not settings.tracker_db_path.is_file():
        conversations: dict[str, list[dict[str, Any]]] = {}
    else:
        try:
            conversations = load_events(url, start)
        except StoreUnavailable:
            _error("De gespreksdatabase is niet bereikbaar. Probeer het later opnieuw.")
            return EXIT_STORE_DOWN
    try:
        names = (store or RecordsStore.from_settings(settings)).pupil_names()
    except StoreUnavailable:
        _error("De leerlingenlijst is niet bereikbaar; zonder die lijst kan ik namen niet "
               "afschermen, dus maak ik geen overzicht. Probeer het later opnieuw.")
        return EXIT_STORE_DOWN
    masker = Masker([name for pair in names for name in pair])
    review = analyse(conversations, masker, since=start, until=current, tz=tz,
                     low_confidence=low_confidence)
    folder = Path(out) if out else (
        settings.var_dir / "reports" / f"review-{current.astimezone(tz):%Y-%m-%d-%H%M}"
    )
    try:
        report = write_report(review, folder, tz, current)
    except OSError as exc:
        _error(f"Het overzicht kan niet worden geschreven in {folder}: {exc.strerror}.")
        return EXIT_UNREADABLE
    print(f"Overzicht van {review.conversations} gesprek(ken) sinds "
          f"{_local(start, tz)}: {report}")
    print(f"CSV-bestanden en grafieken staan in dezelfde map ({folder}).")
    return EXIT_OK

