"""NLU component: the language of each message, as entities the slots are filled from.

Runs last in the pipeline (config.yml), after the intent classifier. It adds

* ``language`` (nl, en, tr, ar, pl, uk) when the message is clear enough to follow
  (:func:`core.language.detect`: short Latin-script messages keep the conversation's
  language), or when the parent asks for a language (intent ``switch_language``:
  "English please", "in het Turks", a digit of the language menu);
* ``simple_dutch`` ("true"/"false") when the parent asks for simple or plain Dutch.

The slots ``language`` and ``simple_dutch`` are filled from these entities (domain.yml);
the NLG (:mod:`bot.nlg`) and the actions answer in that language. Button payloads
(``/switch_language{"language": "en"}``) skip the NLU pipeline and carry the entity
themselves. Detection only reads the text; nothing is stored.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core.language import detect, menu_choice, named_language, only_language_name, preload
from core.translations import SIMPLE_DUTCH, SOURCE_LANGUAGE

logger = logging.getLogger(__name__)

SWITCH_INTENT = "switch_language"
EXTRACTOR = "LanguageDetector"


def language_entities(text: str, intent: str | None) -> list[dict[str, Any]]:
    """The ``language`` / ``simple_dutch`` entities for one message."""
    chosen = None
    if intent == SWITCH_INTENT:
        chosen = named_language(text) or menu_choice(text)
    else:
        # "English" / "Türkçe graag" alone (a language menu button typed): a choice too;
        # "hulp bij Engels" is not
        chosen = only_language_name(text)
    found: list[dict[str, Any]] = []
    if chosen is not None:
        base = SOURCE_LANGUAGE if chosen == SIMPLE_DUTCH else chosen
        found.append(_entity("language", base, 1.0, choice=True))
        if base == SOURCE_LANGUAGE:
            found.append(_entity("simple_dutch", "true" if chosen == SIMPLE_DUTCH else "false",
                                 1.0, choice=True))
        return found
    detection = detect(text)
    if detection.language is not None:
        found.append(_entity("language", detection.language, detection.confidence))
    return found


def _entity(name: str, value: str, confidence: float, choice: bool = False
            ) -> dict[str, Any]:
    # ``choice``: the parent asked for this language (action_switch_language confirms it);
    # otherwise the language the message was written in
    return {"entity": name, "value": value, "start": 0, "end": 0,
            "confidence_entity": round(confidence, 3), "extractor": EXTRACTOR,
            "choice": choice}


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class LanguageDetector(GraphComponent):
    """The language entities of every message (see the module docs)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> LanguageDetector:
        return cls()

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LanguageDetector:
        preload()  # the models now, not on the first parent's message
        logger.info("language detection: lingua, languages nl en tr ar pl uk")
        return cls()

    @staticmethod
    def required_packages() -> list[str]:
        return ["lingua"]

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            extra = language_entities(text, intent)
            if extra:
                entities = [e for e in message.get(ENTITIES, []) or []
                            if e.get("entity") not in ("language", "simple_dutch")]
                message.set(ENTITIES, entities + extra, add_to_output=True)
        return messages
