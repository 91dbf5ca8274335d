"""Masking personal data in free text (what parents typed), before staff see it.

Used by the review report (``python -m bot review``) and by the hand-over mail to the
care desk (:mod:`core.callbacks`). Masked are:

* e-mail addresses -> ``[e-mail]``; phone numbers -> ``[telefoon]``;
* pupil numbers (6 digits), codes and any other run of 5 or more digits -> ``[nummer]``;
* dates (14-03-2013, 2013-03-14, 14 maart 2013, 14 maart) -> ``[datum]``;
* names: the first and last names of the pupils in the records store, anywhere and in
  any case, and (with ``guess_names``) capitalised words that do not start a sentence
  and are not known words such as "Compaen" -> ``[naam]``.

Masking is a safety net, not a guarantee: a name typed in lower case that is not in the
records store stays visible. Over-masking (a pupil called "Bos" masks "bos") is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = "[e-mail]"
PHONE = "[telefoon]"
NUMBER = "[nummer]"
DATE = "[datum]"
NAME = "[naam]"

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# starts with +, 00 or 0 (optionally in brackets); 9-13 digits in all (checked below)
_PHONE = re.compile(r"(?<![\w+])(?:\+|\(?0)[\d\s().\-]{7,22}\d(?!\w)")
_DIGITS = re.compile(r"(?<!\d)\d{5,}(?!\d)")
_MONTHS = (
    "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|"
    "december|jan|feb|mrt|apr|jun|jul|aug|sept|sep|okt|nov|dec"
)
_DATES_WITH_YEAR = (
    re.compile(r"(?<!\d)\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*(?:\d{4}|\d{2})(?!\d)"),
    re.compile(r"(?<!\d)\d{4}-\d{1,2}-\d{1,2}(?!\d)"),
    re.compile(rf"(?<!\d)\d{{1,2}}\s+(?:{_MONTHS})\.?\s+\d{{4}}(?!\d)", re.IGNORECASE),
)
_DATES_WITHOUT_YEAR = (
    re.compile(rf"(?<!\d)\d{{1,2}}\s+(?:{_MONTHS})\b\.?", re.IGNORECASE),
    re.compile(r"(?<![\d/\-])\d{1,2}[-/]\d{1,2}(?![\d/\-])"),
)
_CAPITALISED = re.compile(r"(?<![\w\[])[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’\-]+")
_SENTENCE_END = ".!?:;\n"
_PARTICLES = frozenset(
    "van de der den het ten ter te la le du el al 't in op von uit".split()
)
# capitalised words that are not names (lower case); all-caps words never count
KNOWN_WORDS = frozenset("""
    compaen vmbo lwoo lwo zaanse zaandam zaanstad zaanstreek nederland nederlands
    nederlandse engels frans duits wiskunde rekenen taal havo vwo mavo basisschool
    brugklas ouderportaal magister somtoday whatsapp telegram google chatgpt
    samenwerkingsverband passend onderwijs rec nio iq opp swv tlv dhr mevr mw meneer
    mevrouw juf meester mentor zorgcoördinator zorgcoordinator ik u jij je wij we mijn
    uw hij zij ze het de een dit dat wat wie waarom waar wanneer hoe kan kunt mag moet
    is ja nee goed dank bedankt hallo hoi goedemorgen goedemiddag goedenavond
    maandag dinsdag woensdag donderdag vrijdag zaterdag zondag januari februari maart
    april mei juni juli augustus september oktober november december kerst pasen
    herfstvakantie kerstvakantie voorjaarsvakantie meivakantie zomervakantie
""".split())


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for full names and their non-particle parts."""
    variants: set[str] = set()
    for name in names:
        name = " ".join(name.split())
        if len(name) < 2:
            continue
        variants.add(name)
        for part in name.split(" "):
            if len(part) >= 3 and part.lower() not in _PARTICLES:
                variants.add(part)
    if not variants:
        return None
    ordered = sorted(variants, key=len, reverse=True)
    alternatives = "|".join(re.escape(v).replace(r"\ ", r"\s+") for v in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _normalized(value: str) -> str:
    return re.sub(r"[\s().\-]", "", value).lower()


class Masker:
    """Masks personal data in text.

    ``names``: names to mask wherever they occur (the records store's pupils).
    ``keep``: values that stay visible (a verified parent's own child's name, the
    contact details the parent gave for the callback).
    ``guess_names``: also mask capitalised words that do not start a sentence.
    ``dates_without_year``: also mask "14 maart" and "14-03" (not only full dates).
    """

    def __init__(
        self,
        names: Iterable[str] = (),
        *,
        keep: Iterable[str] = (),
        guess_names: bool = True,
        dates_without_year: bool = True,
    ) -> None:
        self._keep = {_normalized(value) for value in keep if value}
        kept_names = {value.lower() for value in keep if value}
        self._names = _name_pattern(
            name for name in names if name and name.lower() not in kept_names
        )
        self._guess_names = guess_names
        self._dates = _DATES_WITH_YEAR + (_DATES_WITHOUT_YEAR if dates_without_year else ())

    def _kept(self, value: str) -> bool:
        return _normalized(value) in self._keep

    def mask(self, text: str | None) -> str:
        """The text with personal data replaced by ``[e-mail]``, ``[naam]`` etc."""
        if not text:
            return ""
        text = _EMAIL.sub(lambda m: m.group(0) if self._kept(m.group(0)) else EMAIL, text)
        text = _PHONE.sub(self._phone, text)
        for pattern in self._dates:
            text = pattern.sub(DATE, text)
        text = _DIGITS.sub(lambda m: m.group(0) if self._kept(m.group(0)) else NUMBER, text)
        if self._names is not None:
            text = self._names.sub(NAME, text)
        if self._guess_names:
            original = text
            text = _CAPITALISED.sub(lambda m: self._guess(original, m), original)
        return text

    def _phone(self, match: re.Match[str]) -> str:
        value = match.group(0)
        trailing = value[len(value.rstrip()):]
        if not 9 <= _digit_count(value) <= 13 or self._kept(value):
            return value
        return PHONE + trailing

    @staticmethod
    def _guess(text: str, match: re.Match[str]) -> str:
        word = match.group(0)
        if word.lower().strip("'’-") in KNOWN_WORDS:
            return word
        before = text[: match.start()].rstrip(" \t\"'“‘(*-•")
        if not before or before[-1] in _SENTENCE_END:
            return word  # the first word of a sentence
        return NAME
