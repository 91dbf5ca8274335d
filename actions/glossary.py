"""Intent ``ask_term``: the glossary's explanation of a word our answers use
(:mod:`core.glossary`), a neighbouring subject's reply, or an honest "not in the list"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import answer_neighbour
from actions.localize import localized
from core.answers import selected_neighbour
from core.glossary import NEIGHBOUR_INSTEAD, lookup_term


@localized
class ActionExplainTerm(Action):
    """Intent ``ask_term``: explain a word from the glossary, or say it is not in it."""

    def name(self) -> str:
        return "action_explain_term"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        explanation = lookup_term(text, tracker.get_slot("faq_topic"))
        if explanation is None:
            latest = tracker.latest_message or {}
            _, confidence = selected_neighbour(latest)
            if confidence >= NEIGHBOUR_INSTEAD:  # "wat is cluster 4?": a neighbouring subject
                return answer_neighbour(dispatcher, latest)
            dispatcher.utter_message(response="utter_term_unknown")
            return []
        dispatcher.utter_message(text=explanation)
        return [SlotSet("fallback_count", 0)]
