"""Rasa component: the Dutch spaCy provider (``bot.spacy_provider.SpacyNLP`` in config.yml).

It is Rasa's SpacyNLP with ``model: auto`` resolved by :func:`bot.nlp.resolve_pipeline`:
nl_core_news_sm when installed, else the project's Dutch base pipeline. It logs which
one it loads. The class keeps Rasa's name on purpose: SpacyTokenizer finds its model
provider by the class name ``SpacyNLP``.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.utils.spacy_utils import SpacyNLP as RasaSpacyNLP

from bot.nlp import resolve_pipeline

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.MODEL_LOADER,
        DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
    ],
    is_trainable=False,
    model_from="SpacyNLP",
)
class SpacyNLP(RasaSpacyNLP):
    """Rasa's SpacyNLP, loading the Dutch pipeline chosen at start-up."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**RasaSpacyNLP.get_default_config(), "model": "auto"}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpacyNLP:
        config = {**cls.get_default_config(), **config}
        if config.get("model") in (None, "", "auto"):
            name, description = resolve_pipeline()
            config["model"] = name
        else:
            description = str(config["model"])
        logger.info("Dutch spaCy pipeline in use: %s", description)
        model = cls.load_model(config["model"])
        cls.ensure_proper_language_model(model.model)
        return cls(model, config)
