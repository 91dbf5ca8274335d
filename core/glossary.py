"""The glossary: short explanations of the words our own answers use.

The data is ``data/answers/glossary.yml`` (staff edit it). :func:`lookup_term` is the
interface other actions use (for example a contextual follow-up "wat bedoelt u met
leervorderingen?"): it finds the glossary term in a message and returns its explanation,
or ``None``.

Term finding is a lookup, not a per-sentence model: the message is normalised (lower
case, accents and punctuation removed), every term and synonym is searched as a whole
phrase (the longest match wins), and when nothing matches, each word and word pair of
the message is compared with the terms with a similarity ratio (difflib), so small
typing errors ("leervorderingne", "zorgcoordinater") still find their term.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs

from core.texts import translated

GLOSSARY_FILE = Path(__file__).resolve().parent.parent / "data" / "answers" / "glossary.yml"
FUZZY_CUTOFF = 0.84
NEIGHBOUR_INSTEAD = 0.6  # no glossary term, but a clear neighbouring subject: its reply
MIN_FUZZY_LENGTH = 5  # short words ("kb", "iq") only match exactly
# question words around a term; never compared fuzzily (so "bedoelt" never becomes a term)
_STOP = frozenset("""wat is een de het betekent betekenen bedoelt bedoel bedoeld u je jij jullie
    met zijn is dat dit die eigenlijk precies nou nu hoe werkt woord term afkorting uitleg
    leg uit kunt kun kan mij me ik weet niet van in op over voor waar staat voor en of
    zo'n zon heet noemt noem hier daar daarmee daarin daarbij mean wie""".split())


def normalize(text: str, *, any_script: bool = False) -> str:
    """Lower case, accents removed, every non-alphanumeric character a single space, an
    apostrophe dropped ("zo'n" -> "zon"). ``any_script`` keeps the letters of every
    script (Arabic, Cyrillic: language names) and makes an apostrophe a space."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    if any_script:
        return " ".join(re.sub(r"[^\w]+", " ", plain).split())
    plain = plain.replace("'", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


@dataclass(frozen=True)
class Term:
    term: str
    explanation: str
    synonyms: tuple[str, ...] = field(default_factory=tuple)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for k in (normalize(self.term),
                                               *(normalize(s) for s in self.synonyms)) if k))


def load_glossary(path: Path = GLOSSARY_FILE) -> list[Term]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("glossary") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list under 'glossary'")
    terms = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("term") or not entry.get("explanation"):
            raise ValueError(f"{path}: entry {number} needs a 'term' and an 'explanation'")
        synonyms = entry.get("synonyms") or []
        if not isinstance(synonyms, list):
            raise ValueError(f"{path}: entry {number} ('{entry['term']}'): synonyms must be a list")
        terms.append(Term(str(entry["term"]), " ".join(str(entry["explanation"]).split()),
                          tuple(str(s) for s in synonyms)))
    return terms


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> tuple[Term, ...]:
    return tuple(load_glossary(Path(path)))


def glossary(path: Path = GLOSSARY_FILE) -> tuple[Term, ...]:
    """The glossary, re-read when staff changed the file."""
    return _cached(str(path), path.stat().st_mtime)


def find_term(text: str, terms: tuple[Term, ...] | list[Term] | None = None) -> Term | None:
    """The glossary term a message asks about, or ``None``."""
    terms = glossary() if terms is None else terms
    message = normalize(text)
    if not message:
        return None
    padded = f" {message} "
    best: tuple[int, Term] | None = None
    for term in terms:
        for key in term.keys:
            if f" {key} " in padded and (best is None or len(key) > best[0]):
                best = (len(key), term)
    if best is not None:
        return best[1]
    words = [w for w in message.split() if w not in _STOP]
    candidates = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    scored: tuple[float, Term] | None = None
    for candidate in candidates:
        if len(candidate) < MIN_FUZZY_LENGTH:
            continue
        for term in terms:
            for key in term.keys:
                if len(key) < MIN_FUZZY_LENGTH:
                    continue
                ratio = difflib.SequenceMatcher(None, candidate, key).ratio()
                if ratio >= FUZZY_CUTOFF and (scored is None or ratio > scored[0]):
                    scored = (ratio, term)
    return scored[1] if scored else None


def lookup_term(text: str, last_topic: str | None = None) -> str | None:
    """The explanation of the glossary term in ``text`` ("wat is een NIO-score?"), or None.

    ``last_topic`` (the ``faq_topic`` slot) is accepted so a follow-up on an answer can
    pass its context; the terms are unambiguous today, so it does not change the result.
    """
    term = find_term(text)
    # in the conversation's language (core.texts.speaking), when translated
    return translated("glossary", term.term, term.explanation) if term else None
