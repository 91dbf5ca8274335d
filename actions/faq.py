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

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.localize import localized
from core.answers import (
    ANSWER_CONFIDENCE_THRESHOLD,
    FAQ_TOPICS,
    NEIGHBOUR_CONFIDENCE_THRESHOLD,
    combined_answers,
    prefers_neighbour,
    selected_answer,
    selected_neighbour,
    topic_of,
    topic_title,
)
from core.texts import record_piece, translated
from core.texts import text as msg

# non-FAQ intents worth offering in a clarification: intent -> payload (the title is
# faq.button_<intent> in data/answers/messages.yml)
OTHER_CHOICES: dict[str, str] = {
    "ask_status": "/ask_status",
    "request_human": "/request_human",
}


def something_else() -> dict[str, str]:
    return {"title": msg("faq.button_something_else"), "payload": "/deny"}


def topic_button(topic: str) -> dict[str, str]:
    return {"title": topic_title(topic), "payload": f'/faq{{"faq_topic": "{topic}"}}'}


def candidate_buttons(parse_data: dict[str, Any], limit: int = 2) -> list[dict[str, str]]:
    """The best guesses for an unclear message, as readable buttons."""
    buttons: list[dict[str, str]] = []
    seen: set[str] = set()
    faq_ranking = ((parse_data.get("response_selector") or {}).get("faq") or {}).get(
        "ranking"
    ) or []
    faq_topics = [t for t in (topic_of(r.get("intent_response_key")) for r in faq_ranking) if t]
    for entry in parse_data.get("intent_ranking") or []:
        name = entry.get("name")
        if name == "faq":
            for topic in faq_topics[:limit]:
                if topic not in seen:
                    seen.add(topic)
                    buttons.append(topic_button(topic))
        elif name in OTHER_CHOICES and name not in seen:
            seen.add(name)
            buttons.append({"title": msg(f"faq.button_{name}"),
                            "payload": OTHER_CHOICES[name]})
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
    buttons = candidate_buttons(tracker.latest_message or {}) + [something_else()]
    dispatcher.utter_message(text=msg("faq.clarify"), buttons=buttons)
    return [SlotSet("fallback_count", misses + 1)]


@localized
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


@localized
class ActionClarify(Action):
    """Rasa's nlu_fallback: the intent itself was unclear."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return clarify(dispatcher, tracker)


@localized
class ActionSomethingElse(Action):
    """The parent pressed "Iets anders" (or said no) under a clarification."""

    def name(self) -> str:
        return "action_something_else"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_rephrase")
        return []


def answer_neighbour(dispatcher: CollectingDispatcher,
                     parse_data: dict[str, Any]) -> list[EventType]:
    subject, confidence = selected_neighbour(parse_data)
    if subject is not None and confidence >= NEIGHBOUR_CONFIDENCE_THRESHOLD:
        dispatcher.utter_message(response=f"utter_neighbour/{subject}")
    else:
        dispatcher.utter_message(response="utter_neighbour_general")
    # a follow-up ("waarom?") must not be answered in the context of an older lwoo topic
    return [SlotSet("faq_topic", None), SlotSet("fallback_count", 0)]


def answer_several(dispatcher: CollectingDispatcher, parse_data: dict[str, Any],
                   domain: dict[str, Any]) -> list[EventType] | None:
    """Two (or more) questions in one message (``multi_answers`` from the classifier):
    every answer, in order, without repeating a shared sentence
    (:func:`core.answers.combined_answers`). ``None`` when the message holds one question."""
    labels = [str(label) for label in parse_data.get("multi_answers") or []]
    responses = (domain or {}).get("responses") or {}
    dutch = combined_answers(labels, responses)
    if not dutch:
        return None
    # the domain's responses are Dutch: each answer in the conversation's language (the
    # NLG only translates responses asked for by name), then the shared sentences left out
    keys = [f"utter_{label}" for label in labels]
    in_language = {key: [{"text": translated("responses", key, str(responses[key][0]["text"]))}]
                   for key in keys if (responses.get(key) or [{}])[0].get("text")}
    texts = combined_answers(labels, in_language)
    if len(texts) == len(dutch):
        for text, original in zip(texts, dutch, strict=True):
            record_piece(text, original)
    for text in texts:
        dispatcher.utter_message(text=text)
    topics = [label.split("/", 1)[1] for label in labels if label.startswith("faq/")]
    topic = topics[-1] if topics and topics[-1] in FAQ_TOPICS else None
    return [SlotSet("faq_topic", topic), SlotSet("fallback_count", 0)]


@localized
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
