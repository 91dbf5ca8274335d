"""``TfidfLabelClassifier``: intents and FAQ answers from one TF-IDF + logistic-regression
model (scikit-learn), as a Rasa 3.6 NLU component.

Why (bench/reports/latest.md): on this small Dutch data set a plain TF-IDF + logistic
regression over the full labels (``faq/<topic>`` as classes of their own) was more
accurate on 5-fold cross-validation than DIETClassifier + ResponseSelector, parses a
message in a few milliseconds instead of ~12 (no TensorFlow call per message) and trains
in seconds instead of minutes.

Output is Rasa's own format, so nothing downstream changes:

* ``intent`` / ``intent_ranking``: the probability of an intent is the sum over its
  labels (``faq`` = all ``faq/<topic>``); FallbackClassifier reads these as usual.
* ``response_selector["faq"]``: the topic ranking with the topic's probability *given*
  ``faq`` (what ResponseSelector's confidence means), ``intent_response_key``
  ``faq/<topic>`` and ``utter_action`` ``utter_faq/<topic>``; ``action_answer_faq``
  checks that confidence before it answers.

Words are the spaCy lemmas of the tokenizer (``use_lemma``), so "toetsen", "toetst" and
"getoetst" count as one word; character n-grams (2–4, within words) of the lower-cased
text catch spelling variants and compounds. The model is stored with skops (no pickle).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    TEXT,
    TEXT_TOKENS,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

RESPONSE_SELECTOR = "response_selector"
RETRIEVAL_INTENTS = "all_retrieval_intents"
MODEL_FILE = "tfidf_label_classifier.skops"
# What skops may load: scikit-learn's own classes and the numpy/scipy types they hold.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "bot.nlu_classifier.")


def build_model(c: float = 30.0, word_ngrams: tuple[int, int] = (1, 2),
                char_ngrams: tuple[int, int] = (2, 4)) -> Any:
    """The scikit-learn pipeline: input is ``"<words>\\t<text>"`` (see :func:`model_input`),
    words go to a word TF-IDF, the text to a character TF-IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    return Pipeline([
        ("features", FeatureUnion([
            ("words", TfidfVectorizer(analyzer="word", ngram_range=word_ngrams,
                                      sublinear_tf=True, lowercase=True,
                                      preprocessor=_words_part)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=char_ngrams,
                                      sublinear_tf=True, lowercase=True,
                                      preprocessor=_text_part)),
        ])),
        ("classifier", LogisticRegression(C=c, max_iter=3000, random_state=42)),
    ])


def _words_part(value: str) -> str:
    return value.split("\t", 1)[0].lower()


def _text_part(value: str) -> str:
    return value.split("\t", 1)[-1].lower()


MULTI_ANSWERS = "multi_answers"
PART_INTENT_MIN = 0.5  # a part's intent must have the majority ...
PART_TOPIC_MIN = 0.5  # ... and its topic the answer confidence of action_answer_faq
_QUESTION_WORDS = ("wat|waarom|waarvoor|hoe|wie|wanneer|welke|is|zijn|kan|kunnen|krijgt|"
                   "moet|mag|heeft|hebben|bepaalt|beslist")
# sentence ends: also the Arabic question mark and semicolon (U+061F, U+061B)
_SPLIT = re.compile(rf"(?<=[?!.;\u061f\u061b])\s+"
                    rf"|\s+(?:en|maar|of)\s+(?:ook\s+)?(?=(?:{_QUESTION_WORDS})\b)",
                    re.IGNORECASE)


def split_questions(text: str) -> list[str]:
    """The questions in a message: sentences, and clauses joined by "en"/"maar"/"of" +
    a question word. Parts of fewer than three words are not questions of their own."""
    parts = [p.strip(" ,") for p in _SPLIT.split(text) if p and p.strip(" ,")]
    return [p for p in parts if len(p.split()) >= 3]


def confident_label(labels: list[str], row: Any, retrievals: list[str]) -> str | None:
    """The retrieval label ("faq/budget") a part clearly asks, or None."""
    intents: dict[str, float] = {}
    for label, probability in zip(labels, row, strict=False):
        intent = label.split("/", 1)[0]
        intents[intent] = intents.get(intent, 0.0) + float(probability)
    intent, confidence = max(intents.items(), key=lambda item: item[1])
    if intent not in retrievals or confidence < PART_INTENT_MIN:
        return None
    best, p = max(((lab, float(pr)) for lab, pr in zip(labels, row, strict=False)
                   if lab.startswith(intent + "/")), key=lambda item: item[1])
    return best if p / confidence >= PART_TOPIC_MIN else None


def model_input(text: str, lemmas: list[str] | None = None) -> str:
    """``"<lemmas or text>\\t<text>"``: one string per message for the pipeline."""
    words = " ".join(lemmas) if lemmas else text
    return f"{words.replace(chr(9), ' ')}\t{text.replace(chr(9), ' ')}"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class TfidfLabelClassifier(IntentClassifier, GraphComponent):
    """Intent classification and FAQ answer selection with one scikit-learn model."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "skops"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 30.0,
            "use_lemma": True,
            "word_ngrams": [1, 2],
            "char_ngrams": [2, 4],
            "retrieval_intent": "faq",
            # every retrieval intent gets its response_selector entry (issue 13: the
            # neighbouring subjects, neighbour/<subject>)
            "retrieval_intents": ["faq", "neighbour"],
            "ranking_length": 10,
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage,
                 resource: Resource, model: Any = None,
                 responses: dict[str, Any] | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.responses = responses or {}

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext
               ) -> TfidfLabelClassifier:
        return cls(config, model_storage, resource)

    # --- training ------------------------------------------------------------------------

    def _input(self, message: Message) -> str:
        text = message.get(TEXT) or ""
        lemmas = None
        if self.config["use_lemma"]:
            tokens = message.get(TEXT_TOKENS) or []
            lemmas = [t.lemma or t.text for t in tokens] or None
        return model_input(text, lemmas)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.warning("TfidfLabelClassifier: no intent examples, nothing trained")
            return self._resource
        labels = [e.get_full_intent() for e in examples]
        self.model = build_model(float(self.config["C"]), tuple(self.config["word_ngrams"]),
                                 tuple(self.config["char_ngrams"]))
        self.model.fit([self._input(e) for e in examples], labels)
        prefixes = tuple(f"utter_{r}/" for r in self._retrievals())
        self.responses = {key: value for key, value in training_data.responses.items()
                          if key.startswith(prefixes)}
        self.persist()
        return self._resource

    def persist(self) -> None:
        import json

        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(self.model, directory / MODEL_FILE)
            (directory / "responses.json").write_text(json.dumps(self.responses),
                                                      encoding="utf-8")

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> TfidfLabelClassifier:
        import json

        import skops.io as sio

        try:
            with model_storage.read_from(resource) as directory:
                path = directory / MODEL_FILE
                untrusted = sio.get_untrusted_types(file=path)
                refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES)]
                if refused:
                    raise ValueError(f"refusing to load types {refused} from {path}")
                model = sio.load(path, trusted=untrusted)
                responses = json.loads((directory / "responses.json").read_text("utf-8"))
        except ValueError as exc:  # no trained model (e.g. no NLU data): an empty one
            logger.warning("TfidfLabelClassifier not loaded (%s)", exc)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, responses)

    # --- prediction ----------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        labels = [str(label) for label in self.model.classes_]
        probabilities = self.model.predict_proba([self._input(m) for m in messages])
        for message, row in zip(messages, probabilities, strict=False):
            self._annotate(message, labels, row)
            self._annotate_parts(message, labels)
        return messages

    # --- two questions in one message (issue 13) -------------------------------------------

    def _annotate_parts(self, message: Message, labels: list[str]) -> None:
        """``multi_answers``: when the message holds two or more questions (sentences, or
        clauses joined by "en" + a question word) that each clearly ask a different FAQ
        topic or neighbouring subject, their labels in order ("faq/budget",
        "neighbour/nio"); ``action_answer_faq`` then answers each."""
        parts = split_questions(message.get(TEXT) or "")
        if len(parts) < 2:
            return
        rows = self.model.predict_proba([model_input(part) for part in parts])
        found: list[str] = []
        for row in rows:
            label = confident_label(labels, row, self._retrievals())
            if label and label not in found:
                found.append(label)
        if len(found) >= 2:
            message.set(MULTI_ANSWERS, found, add_to_output=True)

    def _retrievals(self) -> list[str]:
        names = list(self.config.get("retrieval_intents") or [])
        if self.config["retrieval_intent"] not in names:
            names.insert(0, self.config["retrieval_intent"])
        return names

    def _annotate(self, message: Message, labels: list[str], row: np.ndarray) -> None:
        intents: dict[str, float] = {}
        topics_of: dict[str, list[tuple[str, float]]] = {}
        retrievals = set(self._retrievals())
        for label, probability in zip(labels, row, strict=False):
            intent = label.split("/", 1)[0]
            intents[intent] = intents.get(intent, 0.0) + float(probability)
            if intent in retrievals and "/" in label:
                topics_of.setdefault(intent, []).append((label, float(probability)))
        ranking: list[dict[str, Any]] = [
            {"name": name, "confidence": confidence}
            for name, confidence in sorted(intents.items(), key=lambda item: -item[1])]
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking[: self.config["ranking_length"]],
                    add_to_output=True)
        for retrieval, topics in topics_of.items():
            self._select(message, retrieval, topics)

    def _select(self, message: Message, retrieval: str,
                topics: list[tuple[str, float]]) -> None:
        total = sum(p for _, p in topics) or 1.0
        topics.sort(key=lambda item: -item[1])
        best_key, best_p = topics[0]
        selector = message.get(RESPONSE_SELECTOR) or {}
        selector.setdefault(RETRIEVAL_INTENTS, [])
        if retrieval not in selector[RETRIEVAL_INTENTS]:
            selector[RETRIEVAL_INTENTS].append(retrieval)
        selector[retrieval] = {
            "response": {
                "responses": self.responses.get(f"utter_{best_key}", []),
                "confidence": best_p / total,
                INTENT_RESPONSE_KEY: best_key,
                "utter_action": f"utter_{best_key}",
            },
            "ranking": [{"id": None, "confidence": p / total, INTENT_RESPONSE_KEY: key}
                        for key, p in topics[: self.config["ranking_length"]]],
        }
        message.set(RESPONSE_SELECTOR, selector, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        merged = {**cls.get_default_config(), **config}
        if float(merged["C"]) <= 0:
            raise ValueError("TfidfLabelClassifier: C must be > 0")
