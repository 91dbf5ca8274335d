"""FAQ answers and the "Bedoelt u …?" clarification.

Follow-ups ("waarom?", "wie beslist dat?") are rules conditioned on the ``faq_topic``
slot this action sets (data/rules/followups.yml).

Rasa's FallbackClassifier looks only at the intent confidence, not at which FAQ answer
was picked (``response_selector`` in the parse data, filled by our TfidfLabelClassifier
or by Rasa's ResponseSelector; rasa#9723), so :class:`ActionAnswerFaq` checks the answer's
confidence too and asks instead of guessing. A second miss in a row offers contact with
the school instead of asking again (no fallback loops).
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

# topic -> readable Dutch button title
FAQ_TOPICS: dict[str, str] = {
    "wat_is_lwoo": "Wat is lwoo?",
    "regering": "Bepaalt de regering hoe lwoo werkt?",
    "rugzak": "Is lwoo een rugzak?",
    "budget": "Waarvoor is het lwoo-budget?",
    "hertoets": "Waarom opnieuw toetsen na de zomer?",
    "handelingsplan": "Wat is een handelingsplan?",
}
# non-FAQ intents worth offering in a clarification, with their button
OTHER_CHOICES: dict[str, tuple[str, str]] = {
    "ask_status": ("De lwoo-status van mijn kind", "/ask_status"),
    "request_human": ("Contact met iemand van school", "/request_human"),
}
# Chosen on cross-validation of data/nlu (docs/intents.md, "Decision"), never on tests/nlu:
# 0.4 (and FAQ_INTENT_MAJORITY 0.4) halved the false rejects ("Bedoelt u …?" to a
# question with a clear answer) for +0.6 points of lwoo answers on neighbours.
ANSWER_CONFIDENCE_THRESHOLD = 0.4
SOMETHING_ELSE = {"title": "Iets anders", "payload": "/deny"}

def topic_button(topic: str) -> dict[str, str]:
    return {"title": FAQ_TOPICS[topic], "payload": f'/faq{{"faq_topic": "{topic}"}}'}


def _topic_of(response_key: str | None) -> str | None:
    """'faq/budget' -> 'budget' (only known topics)."""
    if not response_key or "/" not in response_key:
        return None
    topic = response_key.split("/", 1)[1]
    return topic if topic in FAQ_TOPICS else None


def selected_answer(parse_data: dict[str, Any]) -> tuple[str | None, float]:
    """The FAQ topic the answer selection chose and its confidence."""
    selector = (parse_data.get("response_selector") or {}).get("faq") or {}
    response = selector.get("response") or {}
    return _topic_of(response.get("intent_response_key")), float(response.get("confidence") or 0)


def candidate_buttons(parse_data: dict[str, Any], limit: int = 2) -> list[dict[str, str]]:
    """The best guesses for an unclear message, as readable buttons."""
    buttons: list[dict[str, str]] = []
    seen: set[str] = set()
    faq_ranking = ((parse_data.get("response_selector") or {}).get("faq") or {}).get(
        "ranking"
    ) or []
    faq_topics = [t for t in (_topic_of(r.get("intent_response_key")) for r in faq_ranking) if t]
    for entry in parse_data.get("intent_ranking") or []:
        name = entry.get("name")
        if name == "faq":
            for topic in faq_topics[:limit]:
                if topic not in seen:
                    seen.add(topic)
                    buttons.append(topic_button(topic))
        elif name in OTHER_CHOICES and name not in seen:
            seen.add(name)
            title, payload = OTHER_CHOICES[name]
            buttons.append({"title": title, "payload": payload})
        if len(buttons) >= limit:
            break
    if not buttons:
        buttons = [topic_button(t) for t in faq_topics[:limit]] or [topic_button("wat_is_lwoo")]
    return buttons[:limit]


def clarify(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """First miss: ask "Bedoelt u …?"; second miss in a row: offer contact, reset."""
    misses = int(tracker.get_slot("fallback_count") or 0)
    if misses >= 1:
        dispatcher.utter_message(response="utter_offer_contact")
        return [SlotSet("fallback_count", 0)]
    buttons = candidate_buttons(tracker.latest_message or {}) + [SOMETHING_ELSE]
    dispatcher.utter_message(
        text="Ik weet niet zeker wat u bedoelt. Bedoelt u een van deze vragen?",
        buttons=buttons,
    )
    return [SlotSet("fallback_count", misses + 1)]


class ActionAnswerFaq(Action):
    """Answer an FAQ question (typed, or chosen with a button) when the answer is sure."""

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        chosen = next(tracker.get_latest_entity_values("faq_topic"), None)
        if chosen is not None:  # a button: /faq{"faq_topic": "..."}
            if chosen not in FAQ_TOPICS:
                dispatcher.utter_message(response="utter_which_topic")
                return []
            topic = chosen
        else:
            several = answer_several(dispatcher, latest, domain)
            if several is not None:
                return several
            if prefers_neighbour(latest):  # a subject next to lwoo: never a lwoo answer
                return answer_neighbour(dispatcher, latest)
            topic, confidence = selected_answer(latest)
            if topic is None or confidence < ANSWER_CONFIDENCE_THRESHOLD:
                return clarify(dispatcher, tracker)
        dispatcher.utter_message(response=f"utter_faq/{topic}")
        return [SlotSet("faq_topic", topic), SlotSet("fallback_count", 0)]


class ActionClarify(Action):
    """Rasa's nlu_fallback: the intent itself was unclear."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return clarify(dispatcher, tracker)


class ActionSomethingElse(Action):
    """The parent pressed "Iets anders" (or said no) under a clarification."""

    def name(self) -> str:
        return "action_something_else"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_rephrase")
        return []


# --- issue 13: subjects next to lwoo ("neighbours") ----------------------------------
NEIGHBOUR_CONFIDENCE_THRESHOLD = 0.3
FAQ_INTENT_MAJORITY = 0.4  # see ANSWER_CONFIDENCE_THRESHOLD


def selected_neighbour(parse_data: dict[str, Any]) -> tuple[str | None, float]:
    """The neighbouring subject the answer selection chose ('tlv') and its confidence."""
    selector = (parse_data.get("response_selector") or {}).get("neighbour") or {}
    response = selector.get("response") or {}
    key = response.get("intent_response_key") or ""
    subject = key.split("/", 1)[1] if key.startswith("neighbour/") else None
    return subject, float(response.get("confidence") or 0)


def prefers_neighbour(parse_data: dict[str, Any]) -> bool:
    """Two-stage decision: lwoo or a neighbouring subject first, then the topic.

    A lwoo answer needs the ``faq`` intent to be the clear majority
    (``FAQ_INTENT_MAJORITY``); when it is not and ``neighbour`` is the runner-up, the
    message is about a subject next to lwoo and gets that reply instead.
    """
    intent = parse_data.get("intent") or {}
    if intent.get("name") != "faq" or float(intent.get("confidence") or 0) >= FAQ_INTENT_MAJORITY:
        return False
    others = [e for e in parse_data.get("intent_ranking") or [] if e.get("name") != "faq"]
    return bool(others) and others[0].get("name") == "neighbour"


def answer_neighbour(dispatcher: CollectingDispatcher,
                     parse_data: dict[str, Any]) -> list[EventType]:
    subject, confidence = selected_neighbour(parse_data)
    if subject is not None and confidence >= NEIGHBOUR_CONFIDENCE_THRESHOLD:
        dispatcher.utter_message(response=f"utter_neighbour/{subject}")
    else:
        dispatcher.utter_message(response="utter_neighbour_general")
    # a follow-up ("waarom?") must not be answered in the context of an older lwoo topic
    return [SlotSet("faq_topic", None), SlotSet("fallback_count", 0)]


def _sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if p.strip()]


def answer_several(dispatcher: CollectingDispatcher, parse_data: dict[str, Any],
                   domain: dict[str, Any]) -> list[EventType] | None:
    """Two (or more) questions in one message (``multi_answers`` from the classifier:
    "faq/budget", "neighbour/nio" …): every answer, in the order asked, each sentence
    only once (answers share sentences such as the "Goed om te weten" notes). ``None``
    when the message holds one question."""
    labels = [str(label) for label in parse_data.get("multi_answers") or []]
    responses = (domain or {}).get("responses") or {}
    texts: list[str] = []
    for label in labels:
        variants = responses.get(f"utter_{label}") or []
        if variants and variants[0].get("text"):
            texts.append(str(variants[0]["text"]))
    if len(texts) < 2:
        return None
    said: set[str] = set()
    for text in texts:
        fresh = []
        for sentence in _sentences(text):
            key = sentence.lower()
            if key not in said:
                said.add(key)
                fresh.append(sentence)
        if fresh:
            dispatcher.utter_message(text=" ".join(fresh))
    topics = [label.split("/", 1)[1] for label in labels if label.startswith("faq/")]
    topic = topics[-1] if topics and topics[-1] in FAQ_TOPICS else None
    return [SlotSet("faq_topic", topic), SlotSet("fallback_count", 0)]


class ActionAnswerNeighbour(Action):
    """A question about a subject next to lwoo (NIO, OPP, tlv, leerplicht …): its own short
    reply from data/answers/neighbours.yml, or — when the subject is unsure — a general
    referral. Never one of the six lwoo answers, never "Bedoelt u …?" with lwoo topics."""

    def name(self) -> str:
        return "action_answer_neighbour"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        several = answer_several(dispatcher, latest, domain)
        if several is not None:
            return several
        return answer_neighbour(dispatcher, latest)
