"""Quick 5-fold cross-validation of data/nlu with the issue-13 decision (no Rasa, no
spaCy lemmas: the TF-IDF + logistic-regression model of bot/nlu_classifier.py on the
plain text). ``python -m bench.cv_neighbours`` prints, per fold pooled:

* FAQ answer accuracy and **false rejects** (an FAQ question answered with "Bedoelt u …?",
  out of scope or a neighbour reply instead of its answer);
* neighbours + out of scope **given a lwoo answer** (should stay low);
* neighbour subject accuracy;
* **all-in-scope false rejects** with bench/nlu.py's ``is_false_reject`` definition (the
  six lwoo answers, status and the conversation intents answered with out of scope or
  "Bedoelt u …?", or a lwoo question with a neighbour reply), per intent, with the misses
  (``--misses``), and out-of-scope recall.

Words are spaCy lemmas of the project pipeline (as ``TfidfLabelClassifier`` with
``use_lemma``) unless ``--no-lemma``.

An approximation of ``make bench`` (which trains real Rasa models and is slow here).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from bot.nlu_classifier import build_model, model_input
from bot.nlu_eval import ANSWER_THRESHOLD, NEIGHBOUR_THRESHOLD, load_examples, scope_of
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


def lemma_inputs(texts: list[str]) -> list[str]:
    """``model_input`` with the lemmas of the project's spaCy pipeline (as Rasa's
    SpacyTokenizer gives them to TfidfLabelClassifier)."""
    import spacy

    from bot.nlp import resolve_pipeline

    nlp = spacy.load(resolve_pipeline()[0])
    out = []
    for text, doc in zip(texts, nlp.pipe(texts), strict=False):
        lemmas = [t.lemma_ or t.text for t in doc if not t.is_space]
        out.append(model_input(text, lemmas or None))
    return out


def is_false_reject(gold: str, got: str) -> bool:
    """bench/nlu.py's definition on the quick-CV outcome."""
    if gold == "out_of_scope":
        return False
    if got in ("out_of_scope", "clarify"):
        return True
    return gold.startswith("faq/") and not got.startswith("faq/")


def per_language(languages: list[str], gold: list[str], got: list[str]) -> list[str]:
    """Per language (issue 16): FAQ answer accuracy, FAQ false rejects, neighbour + out
    of scope given a lwoo answer, out-of-scope recall."""
    lines = []
    for language in sorted(set(languages), key=lambda lang: (lang != "nl", lang)):
        mine = [i for i, lang in enumerate(languages) if lang == language]
        faq = [i for i in mine if gold[i].startswith("faq/")]
        other = [i for i in mine if gold[i].startswith("neighbour/") or gold[i] == "out_of_scope"]
        oos = [i for i in mine if gold[i] == "out_of_scope"]
        lines.append(
            f"  {language}: n {len(mine)}, FAQ answer "
            f"{sum(got[i] == gold[i] for i in faq) / max(len(faq), 1):.1%}, FAQ false rejects "
            f"{sum(not got[i].startswith('faq/') for i in faq) / max(len(faq), 1):.1%}, "
            f"neighbour+oos lwoo answer "
            f"{sum(got[i].startswith('faq/') for i in other) / max(len(other), 1):.1%}, "
            f"oos recall {sum(got[i] == 'out_of_scope' for i in oos) / max(len(oos), 1):.1%}")
    return lines


def main(k: int = 5, lemma: bool = True, misses: bool = False, seed: int = 42,
         c: float = 30.0) -> None:
    from sklearn.model_selection import StratifiedKFold

    examples = load_examples(Path("data/nlu"))
    raw = [e.text for e in examples]
    texts = lemma_inputs(raw) if lemma else [model_input(t) for t in raw]
    gold = [e.intent for e in examples]
    got: list[str] = [""] * len(examples)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in folds.split(texts, gold):
        model = build_model(c)
        model.fit([texts[i] for i in train], [gold[i] for i in train])
        labels = [str(c) for c in model.classes_]
        for i, row in zip(test, model.predict_proba([texts[i] for i in test]), strict=False):
            got[i] = decide(labels, list(row))
    faq = [i for i, g in enumerate(gold) if g.startswith("faq/")]
    neighbours = [i for i, g in enumerate(gold) if g.startswith("neighbour/")]
    oos = [i for i, g in enumerate(gold) if g == "out_of_scope"]
    print(f"{len(examples)} examples, {k}-fold (seed {seed}, C {c})")
    print(f"FAQ answer accuracy: {sum(got[i] == gold[i] for i in faq) / len(faq):.1%}")
    print(f"FAQ false rejects:   {sum(not got[i].startswith('faq/') for i in faq) / len(faq):.1%}")
    print(f"neighbour subject:   "
          f"{sum(got[i] == gold[i] for i in neighbours) / len(neighbours):.1%}")
    lwoo = [i for i in neighbours + oos if got[i].startswith("faq/")]
    print(f"neighbour+oos given a lwoo answer: {len(lwoo) / len(neighbours + oos):.1%}")
    print(f"out-of-scope recall: {sum(got[i] == 'out_of_scope' for i in oos) / len(oos):.1%}")
    in_scope = [i for i, g in enumerate(gold) if scope_of(g) == "in scope"]
    rejected = [i for i in in_scope if is_false_reject(gold[i], got[i])]
    print(f"all in-scope false rejects: {len(rejected) / len(in_scope):.1%} "
          f"({len(rejected)}/{len(in_scope)})")
    print("per language:")
    print("\n".join(per_language([e.language for e in examples], gold, got)))
    total = Counter(gold[i] for i in in_scope)
    bad = Counter(gold[i] for i in rejected)
    print("per intent (rejects/examples):")
    for label in sorted(total, key=lambda lab: (-bad[lab] / total[lab], lab)):
        if bad[label]:
            print(f"  {label:32} {bad[label]:3}/{total[label]:<3} {bad[label] / total[label]:.0%}")
    if misses:
        print("misses (expected -> got: text):")
        for i in sorted(rejected, key=lambda i: gold[i]):
            print(f"  {gold[i]} -> {got[i]}: {raw[i]}")
        print("neighbours + out of scope given a lwoo answer (expected -> got: text):")
        for i in sorted(lwoo, key=lambda i: gold[i]):
            print(f"  {gold[i]} -> {got[i]}: {raw[i]}")
        print("out of scope not taken as out of scope (got: text):")
        for i in sorted((i for i in oos if got[i] != "out_of_scope"), key=lambda i: got[i]):
            print(f"  {got[i]}: {raw[i]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-lemma", action="store_true", help="plain words, no spaCy")
    parser.add_argument("--seed", type=int, default=42, help="fold split seed")
    parser.add_argument("--misses", action="store_true", help="list the rejected examples")
    parser.add_argument("--c", type=float, default=30.0,
                        help="logistic regression C (config.yml)")
    args = parser.parse_args()
    main(args.folds, lemma=not args.no_lemma, misses=args.misses, seed=args.seed, c=args.c)
