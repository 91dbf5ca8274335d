"""Which answer a parsed message gets: the FAQ topic the classifier chose and how sure it
is, and the two-stage decision between a lwoo topic and a subject next to lwoo.

Pure functions over Rasa's parse data (``intent``, ``intent_ranking``,
``response_selector``), shared by the action server (:mod:`actions.faq`), the NLU
evaluation and the staff review, so all three decide the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from core.texts import text as msg

# the six FAQ topics (their answers: data/answers/faq.yml; their button titles:
# faq.button_<topic> in data/answers/messages.yml)
FAQ_TOPICS: tuple[str, ...] = (
    "wat_is_lwoo", "regering", "rugzak", "budget", "hertoets", "handelingsplan",
)
# Chosen on cross-validation of data/nlu (docs/intents.md, "Decision"), never on tests/nlu:
# 0.4 (and FAQ_INTENT_MAJORITY 0.4) halved the false rejects ("Bedoelt u …?" to a
# question with a clear answer) for +0.6 points of lwoo answers on neighbours.
ANSWER_CONFIDENCE_THRESHOLD = 0.4


def topic_title(topic: str) -> str:
    """The readable title of a topic, as its button shows it ("Wat is lwoo?")."""
    return msg(f"faq.button_{topic}")


def topic_of(response_key: str | None) -> str | None:
    """'faq/budget' -> 'budget' (only known topics)."""
    if not response_key or "/" not in response_key:
        return None
    topic = response_key.split("/", 1)[1]
    return topic if topic in FAQ_TOPICS else None


def selected_answer(parse_data: dict[str, Any]) -> tuple[str | None, float]:
    """The FAQ topic the answer selection chose and its confidence."""
    selector = (parse_data.get("response_selector") or {}).get("faq") or {}
    response = selector.get("response") or {}
    return topic_of(response.get("intent_response_key")), float(response.get("confidence") or 0)


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


def sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if p.strip()]



def combined_answers(labels: Sequence[str], responses: Mapping[str, Any]) -> list[str]:
    """Two (or more) questions in one message: the texts of every answer (``faq/budget``,
    ``neighbour/nio`` …), in the order asked, each sentence only once (answers share
    sentences such as the "Goed om te weten" notes). Fewer than two texts: ``[]``."""
    texts: list[str] = []
    for label in labels:
        variants = responses.get(f"utter_{label}") or []
        if variants and variants[0].get("text"):
            texts.append(str(variants[0]["text"]))
    if len(texts) < 2:
        return []
    said: set[str] = set()
    out: list[str] = []
    for text in texts:
        fresh = []
        for sentence in sentences(text):
            key = sentence.lower()
            if key not in said:
                said.add(key)
                fresh.append(sentence)
        if fresh:
            out.append(" ".join(fresh))
    return out
