"""The responses of domain.yml and data/answers in the conversation's language.

``endpoints.yml`` names this class (``nlg: type: bot.nlg.LocalizedNLG``). It is Rasa's
templated generator with one step added: after Rasa picked the Dutch response, the text
and button titles are replaced by the translation for the conversation's language
(slots ``language`` / ``simple_dutch``; :func:`core.translations.render`), before the
slot values are filled in. What the parent sees then passes :func:`localize_message`:
the Dutch school words explained the first time, the note and the "Nederlandse tekst"
button for an unreviewed translation (once per turn), and the message's language in its
metadata (the widget sets ``lang``/``dir`` from it; the staff review counts it).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.trackers import DialogueStateTracker

from core.language import conversation_language
from core.localize import NOTES_SHOWN, localize_message, localized_response, seen_in_session
from core.settings import get_settings

logger = logging.getLogger(__name__)


class LocalizedNLG(TemplatedNaturalLanguageGenerator):
    """Rasa's templated NLG, answering in the conversation's language."""

    def __init__(self, endpoint_config: Any = None, domain: Any = None) -> None:
        super().__init__(domain.responses if domain is not None else {})

    async def generate(self, utter_action: str, tracker: DialogueStateTracker,
                       output_channel: str, **kwargs: Any) -> dict[str, Any] | None:
        filled_slots = tracker.current_slot_values()
        language = conversation_language(filled_slots.get("language"),
                                         filled_slots.get("simple_dutch"))
        chosen = self._random_response_for(utter_action, output_channel, filled_slots)
        if chosen is None:
            return None
        response = copy.deepcopy(chosen)
        policy = get_settings().translation_concepts
        response, dutch = localized_response(utter_action, response, language, policy)
        filled = self._fill_response(response, filled_slots, **kwargs)
        dutch_filled = (self._fill_response(dutch, filled_slots, **kwargs)
                        if dutch is not None else None)
        seen = seen_in_session(tracker.events)
        seen.turn_notes.update(kwargs.get(NOTES_SHOWN) or ())
        return localize_message(filled, language, seen, dutch=dutch_filled, key=utter_action)
