"""Quick 5-fold cross-validation of data/nlu with the issue-13 decision (no Rasa, no
spaCy lemmas: the TF-IDF + logistic-regression model of bot/nlu_classifier.py on the
plain text). ``python -m bench.cv_neighbours`` prints, per fold pooled:

* FAQ answer accuracy and **false rejects** (an FAQ question answered with "Bedoelt u …?",
  out of scope or a neighbour reply instead of its answer);
* neighbours + out of scope **given a lwoo answer** (should stay low);
* neighbour subject accuracy.

An approximation of ``make bench`` (which trains real Rasa models and is slow here).
"""

from __future__ import annotations

from pathlib import Path

from bot.nlu_classifier import build_model, model_input
from bot.nlu_eval import ANSWER_THRESHOLD, NEIGHBOUR_THRESHOLD, load_examples
from core.answers import FAQ_INTENT_MAJORITY  # the action server's number

FALLBACK = 0.2  # config.yml FallbackClassifier threshold


def decide(labels: list[str], row: list[float]) -> str:
    """What the parent gets: faq/<topic>, neighbour/<subject>, 'clarify' or an intent."""
    intents: dict[str, float] = {}
    for label, p in zip(labels, row, strict=False):
        name = label.split("/", 1)[0]
        intents[name] = intents.get(name, 0.0) + p
    ranking = sorted(intents.items(), key=lambda item: -item[1])
    top, conf = ranking[0]
    if conf < FALLBACK:
        return "clarify"

    def best(prefix: str) -> tuple[str, float]:
        part = [(lab, p) for lab, p in zip(labels, row, strict=False)
                if lab.startswith(prefix + "/")]
        total = sum(p for _, p in part) or 1.0
        lab, p = max(part, key=lambda item: item[1])
        return lab, p / total

    if top == "faq":
        if conf < FAQ_INTENT_MAJORITY and len(ranking) > 1 and ranking[1][0] == "neighbour":
            top = "neighbour"
        else:
            key, p = best("faq")
            return key if p >= ANSWER_THRESHOLD else "clarify"
    if top == "neighbour":
        key, p = best("neighbour")
        return key if p >= NEIGHBOUR_THRESHOLD else "neighbour_general"
    return top


def main(k: int = 5) -> None:
    from sklearn.model_selection import StratifiedKFold

    examples = load_examples(Path("data/nlu"))
    texts = [model_input(e.text) for e in examples]
    gold = [e.intent for e in examples]
    got: list[str] = [""] * len(examples)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=42)
    for train, test in folds.split(texts, gold):
        model = build_model()
        model.fit([texts[i] for i in train], [gold[i] for i in train])
        labels = [str(c) for c in model.classes_]
        for i, row in zip(test, model.predict_proba([texts[i] for i in test]), strict=False):
            got[i] = decide(labels, list(row))
    faq = [i for i, g in enumerate(gold) if g.startswith("faq/")]
    neighbours = [i for i, g in enumerate(gold) if g.startswith("neighbour/")]
    oos = [i for i, g in enumerate(gold) if g == "out_of_scope"]
    print(f"{len(examples)} examples, {k}-fold")
    print(f"FAQ answer accuracy: {sum(got[i] == gold[i] for i in faq) / len(faq):.1%}")
    print(f"FAQ false rejects:   {sum(not got[i].startswith('faq/') for i in faq) / len(faq):.1%}")
    print(f"neighbour subject:   "
          f"{sum(got[i] == gold[i] for i in neighbours) / len(neighbours):.1%}")
    lwoo = [i for i in neighbours + oos if got[i].startswith("faq/")]
    print(f"neighbour+oos given a lwoo answer: {len(lwoo) / len(neighbours + oos):.1%}")


if __name__ == "__main__":
    main()
