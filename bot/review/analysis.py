"""What parents asked, from Rasa's conversation events: the turns of each conversation,
the questions the assistant did not (well) understand and what it guessed, 👍/👎
feedback, topics, channels and days. Pure analysis over event dicts; reading the store
is :mod:`core.conversation_log`, the report is :mod:`bot.review.report`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from core.answers import FAQ_TOPICS, topic_title
from core.language import conversation_language
from core.masking import Masker

LOW_CONFIDENCE = 0.7
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


def _title(topic: str) -> str:
    """A topic's readable title, as the bot's buttons show it."""
    return topic_title(topic) if topic in FAQ_TOPICS else topic


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
    # the language(s) of each conversation in the order used: "nl", "nl > en", "ar"
    languages: Counter[str] = field(default_factory=Counter)
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
    language, simple, used = "nl", "false", ["nl"]
    for turn in session:
        for name, value in turn.slots:
            if name == "language" and value:
                language = str(value)
            elif name == "simple_dutch" and value:
                simple = str(value)
        now = conversation_language(language, simple)
        if now != used[-1]:
            used.append(now)
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
    review.languages[" > ".join(used)] += 1
