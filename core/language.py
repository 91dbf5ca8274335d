"""The language of a parent's message, and a parent's explicit choice of language.

Detection uses lingua (lingua-language-detector), whose models ship inside the package:
nothing is downloaded at run time. It only chooses between the six languages the
assistant speaks, in high-accuracy mode (the low-accuracy mode misjudged short questions
such as "Czym jest lwoo?"). The models are loaded once per process, on first use or by
:func:`preload` at start-up (about 2 s, ~200 MB).

:func:`detect` decides whether a message is clear enough to set the conversation's
language: a message in Latin script needs at least :data:`MIN_WORDS` words and a
confidence of :data:`MIN_CONFIDENCE` ("ok", "ja graag", "123456", "14-03-2013" keep the
language the conversation has); a message in Arabic or Cyrillic script is unambiguous
among these six languages and counts from one word on. :func:`named_language` reads an
explicit choice ("English", "in het Turks", "po polsku", "2" in the language menu).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from core.glossary import normalize
from core.translations import KEPT_TERMS, LANGUAGES, SIMPLE_DUTCH, SOURCE_LANGUAGE

MIN_WORDS = 3
MIN_CONFIDENCE = 0.6
SCRIPT_CONFIDENCE = 0.9

# each language in its own words first (the menu), then how others name it
LANGUAGE_NAMES: dict[str, str] = {
    "nl": "Nederlands", "nl-b1": "Eenvoudig Nederlands", "en": "English", "tr": "Türkçe",
    "ar": "العربية", "pl": "Polski", "uk": "Українська",
}
MENU_ORDER = ("nl", "nl-b1", "en", "tr", "ar", "pl", "uk")

_NAMES: dict[str, tuple[str, ...]] = {
    "nl": ("nederlands", "nederlandse", "dutch", "hollandaca", "felemenkce", "niderlandzki",
           "niderlandzku", "po niderlandzku", "po holendersku", "нідерландська",
           "нідерландською", "голландська", "الهولندية", "بالهولندية", "gewoon nederlands",
           "normaal nederlands", "gewone taal"),
    "nl-b1": ("eenvoudig nederlands", "eenvoudiger nederlands", "makkelijk nederlands",
              "makkelijker nederlands", "simpel nederlands", "simpeler nederlands",
              "eenvoudige taal", "makkelijke taal", "makkelijker taal", "eenvoudiger taal",
              "simple dutch", "easy dutch", "b1", "taalniveau b1", "eenvoudiger",
              "makkelijker", "simpeler"),
    "en": ("english", "engels", "engelse", "ingilizce", "angielski", "po angielsku",
           "англійська", "англійською", "الإنجليزية", "بالإنجليزية", "الانجليزية",
           "بالانجليزية"),
    "tr": ("turkish", "turks", "turkse", "turkce", "türkçe", "tureckim", "turecki",
           "po turecku", "турецька", "турецькою", "التركية", "بالتركية"),
    "ar": ("arabic", "arabisch", "arabische", "arapca", "arapça", "arabski", "po arabsku",
           "арабська", "арабською", "العربية", "عربي", "بالعربية", "بالعربي", "darija",
           "marokkaans", "marokkaans arabisch"),
    "pl": ("polish", "pools", "poolse", "polski", "polsku", "po polsku",
           "польська", "польською", "البولندية", "بالبولندية"),
    "uk": ("ukrainian", "oekraiens", "oekraïens", "oekraiense", "oekraïense", "ukraynaca",
           "ukrainski", "ukraiński", "po ukraińsku", "українська", "українською", "українськa",
           "по-українськи", "украинский", "الأوكرانية", "بالأوكرانية"),
}

_LINGUA_CODES = {"nl": "DUTCH", "en": "ENGLISH", "tr": "TURKISH", "ar": "ARABIC",
                 "pl": "POLISH", "uk": "UKRAINIAN"}
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_NON_LATIN = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u0400-\u04FF]")

_detector: Any = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Detection:
    language: str | None  # None: not clear enough; the conversation keeps its language
    guess: str | None
    confidence: float
    words: int


def _build() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in _LINGUA_CODES.values()]
    return LanguageDetectorBuilder.from_languages(*languages) \
        .with_preloaded_language_models().build()


def detector() -> Any:
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = _build()
    return _detector


def preload() -> None:
    """Load the models now (at start-up) rather than on the first parent's message."""
    detector()


def _code(language: Any) -> str:
    name = language.name
    return next(code for code, lingua in _LINGUA_CODES.items() if lingua == name)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


# Dutch school words a parent of any language types ("is it the same as a rugzak?"):
# left out before detection, so they do not make a foreign question look Dutch
SCHOOL_WORDS = frozenset(word.lower() for word in KEPT_TERMS) | frozenset("""lwoo vmbo rugzak
    rugzakje handelingsplan samenwerkingsverband nio opp mentor zorgcoördinator
    zorgcoordinator hertoets leerwegondersteunend onderwijs praktijkonderwijs brugklas
    ouderportaal compaen zaanstreek leerlingnummer doorstroomtoets schooladvies
    basisschool""".split())


def detect(text: str) -> Detection:
    """The language of ``text`` when it is clear enough to follow (see module docs)."""
    found = [word for word in words(text)
             if word.lower() not in SCHOOL_WORDS and word.lower().split("-")[0] not in SCHOOL_WORDS]
    if not found:
        return Detection(None, None, 0.0, 0)
    values = detector().compute_language_confidence_values(" ".join(found))
    if not values:
        return Detection(None, None, 0.0, len(found))
    best = values[0]
    guess, confidence = _code(best.language), float(best.value)
    non_latin = bool(_NON_LATIN.search(text))
    clear = (non_latin and confidence >= SCRIPT_CONFIDENCE) or (
        len(found) >= MIN_WORDS and confidence >= MIN_CONFIDENCE)
    return Detection(guess if clear else None, guess, confidence, len(found))


def _plain(text: str) -> str:
    return normalize(text, any_script=True)


_PLAIN_NAMES = {code: tuple(sorted({_plain(name) for name in names}, key=len, reverse=True))
                for code, names in _NAMES.items()}


def named_language(text: str) -> str | None:
    """The language a parent asks for ("English please", "in het Turks", "po polsku"),
    or ``None``. The longest name wins, so "eenvoudig Nederlands" is simple Dutch."""
    plain = f" {_plain(text)} "
    best: tuple[int, str] | None = None
    for code, names in _PLAIN_NAMES.items():
        for name in names:
            if name and f" {name} " in plain and (best is None or len(name) > best[0]):
                best = (len(name), code)
    for code, own in LANGUAGE_NAMES.items():  # the menu's own spelling
        name = _plain(own)
        if f" {name} " in plain and (best is None or len(name) > best[0]):
            best = (len(name), code)
    return best[1] if best else None


_FILLER = frozenset(_plain(word) for word in """graag alstublieft alsjeblieft aub a.u.b. please
    pls in het de taal language lutfen lütfen prosze proszę po будь ласка мова мовою من فضلك
    باللغة اللغة dil dilinde ok oke""".split())


def only_language_name(text: str) -> str | None:
    """A language when the message is nothing but its name (and "graag", "please"...)."""
    rest = " ".join(word for word in _plain(text).split() if word not in _FILLER)
    if not rest:
        return None
    return named_language(rest) if any(
        rest == name for names in _PLAIN_NAMES.values() for name in names) or any(
        rest == _plain(own) for own in LANGUAGE_NAMES.values()) else None


def menu_choice(text: str) -> str | None:
    """A digit typed for the numbered language menu (1 = Nederlands, …)."""
    value = text.strip().rstrip(".)")
    if value.isdigit() and 1 <= int(value) <= len(MENU_ORDER):
        return MENU_ORDER[int(value) - 1]
    return None


def conversation_language(language: Any, simple_dutch: Any = None) -> str:
    """The language a conversation's slots give: ``language`` (default Dutch); Dutch with
    ``simple_dutch`` set becomes simple Dutch."""
    code = str(language) if language in LANGUAGES else SOURCE_LANGUAGE
    if code == SOURCE_LANGUAGE and str(simple_dutch).lower() in ("true", "1", "yes"):
        return SIMPLE_DUTCH
    return code
