"""The website widget's texts (labels, privacy notice, its own messages) in every language.

Dutch is the source, ``data/answers/widget.yml``::

    languages:                      # the language menu, each name in its own language
      - {code: nl, name: Nederlands, dir: ltr}
      ...
    texts:
      launcher: Chat met de assistent
      privacy_title: Voordat u begint
      ...

The translations are ``data/translations/<lang>/widget.yml`` in the shared translation
format (docs/widget.md, issue 16)::

    language: en
    translations:
      launcher:
        source: 3fa9c1e2b7d0      # source_hash() of the Dutch text it was made from
        review: concept           # concept | gecontroleerd
        text: Chat with the assistant

:func:`widget_payload` is what the Rasa process serves to the widget
(``GET /widget/texts.json``): per language every key, the translation when it is there,
made from the current Dutch text (same hash) and allowed by its review state, else the
Dutch text. So a missing, outdated or refused translation never leaves a label empty.
The files are read on first use and again when they change, never at import.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WIDGET_FILE = PROJECT_ROOT / "data" / "answers" / "widget.yml"
TRANSLATIONS_DIR = PROJECT_ROOT / "data" / "translations"
SOURCE = "widget"  # data/translations/<lang>/widget.yml
DEFAULT_LANGUAGE = "nl"
REVIEW_STATES = ("concept", "gecontroleerd")
DIRECTIONS = ("ltr", "rtl")
# kept in Dutch inside every translation (translation-format.md); the widget isolates them
# (<bdi lang="nl">) inside right-to-left text
DUTCH_TERMS = ("lwoo", "vmbo", "handelingsplan", "rugzak", "samenwerkingsverband", "NIO",
               "OPP", "mentor", "zorgcoördinator")
INFORMAL = re.compile(r"(?<!\w)(je|jij|jou|jouw)(?!\w)", re.IGNORECASE)  # use "u"
_CODE = re.compile(r"^[a-z]{2}(-[a-z0-9]{1,8})?$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class WidgetTextsError(Exception):
    """A widget texts file cannot be read or has the wrong shape."""


def source_hash(text: str) -> str:
    """The hash of a Dutch text a translation was made from: sha256 of the text with its
    whitespace normalised, first 12 hex digits (``core.translations.source_hash``)."""
    try:  # the lead's shared implementation, once it is there
        from core.translations import source_hash as shared  # type: ignore[import-not-found]
    except ImportError:
        normalised = " ".join(text.split())
        return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:12]
    return str(shared(text))


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own language
    dir: str  # ltr | rtl


@dataclass(frozen=True)
class Translation:
    text: str
    source: str
    review: str


@dataclass(frozen=True)
class WidgetSource:
    languages: tuple[Language, ...]
    texts: dict[str, str]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WidgetTextsError(f"{path} kan niet worden gelezen: {type(exc).__name__}") from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load_source(path: Path = WIDGET_FILE) -> WidgetSource:
    """The Dutch texts and the language menu of ``data/answers/widget.yml``."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise WidgetTextsError(f"{path} is geen lijst met teksten.")
    raw_languages = data.get("languages")
    if not isinstance(raw_languages, list) or not raw_languages:
        raise WidgetTextsError(f"{path} heeft geen 'languages:'.")
    languages = []
    for entry in raw_languages:
        if not (isinstance(entry, dict) and isinstance(entry.get("code"), str)
                and _CODE.match(entry["code"]) and isinstance(entry.get("name"), str)
                and entry["name"].strip() and entry.get("dir", "ltr") in DIRECTIONS):
            raise WidgetTextsError(f"{path}: taal {entry!r} heeft geen geldige code, "
                                   "naam of richting (ltr/rtl).")
        languages.append(Language(entry["code"], entry["name"].strip(), entry.get("dir", "ltr")))
    codes = [language.code for language in languages]
    if codes[0] != DEFAULT_LANGUAGE or len(set(codes)) != len(codes):
        raise WidgetTextsError(f"{path}: de eerste taal moet '{DEFAULT_LANGUAGE}' zijn en "
                               "elke taal mag één keer voorkomen.")
    raw_texts = data.get("texts")
    if not isinstance(raw_texts, dict) or not raw_texts:
        raise WidgetTextsError(f"{path} heeft geen 'texts:'.")
    texts: dict[str, str] = {}
    for key, value in raw_texts.items():
        if not (isinstance(key, str) and _KEY.match(key)):
            raise WidgetTextsError(f"{path}: sleutel {key!r} is ongeldig.")
        if not isinstance(value, str) or not value.strip():
            raise WidgetTextsError(f"{path}: '{key}' heeft geen tekst.")
        texts[key] = _one_line(value)
    return WidgetSource(tuple(languages), texts)


def translation_path(language: str, root: Path = TRANSLATIONS_DIR) -> Path:
    return root / language / f"{SOURCE}.yml"


def load_translations(language: str, root: Path = TRANSLATIONS_DIR) -> dict[str, Translation]:
    """The widget translations of one language ({} when the file is not there)."""
    path = translation_path(language, root)
    if not path.is_file():
        return {}
    data = _read_yaml(path)
    if not isinstance(data, dict) or data.get("language") != language:
        raise WidgetTextsError(f"{path}: 'language: {language}' ontbreekt.")
    entries = data.get("translations") or {}
    if not isinstance(entries, dict):
        raise WidgetTextsError(f"{path}: 'translations:' is geen lijst.")
    found: dict[str, Translation] = {}
    for key, entry in entries.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("text"), str)
                and entry["text"].strip()):
            raise WidgetTextsError(f"{path}: '{key}' heeft geen 'text:'.")
        review = entry.get("review", "concept")
        if review not in REVIEW_STATES:
            raise WidgetTextsError(f"{path}: '{key}' heeft review '{review}' "
                                   f"(toegestaan: {', '.join(REVIEW_STATES)}).")
        found[str(key)] = Translation(_one_line(entry["text"]), str(entry.get("source", "")),
                                      review)
    return found


def usable(translation: Translation | None, dutch: str, show_concept: bool) -> bool:
    """Whether a translation may be shown instead of the Dutch text: made from the current
    Dutch text, and reviewed unless the school shows concept translations."""
    return (translation is not None and translation.source == source_hash(dutch)
            and (show_concept or translation.review == "gecontroleerd"))


def texts_for(language: str, source: WidgetSource, translations: dict[str, Translation],
              show_concept: bool = True) -> dict[str, str]:
    """Every key of the Dutch source, in ``language`` where a usable translation is."""
    if language == DEFAULT_LANGUAGE:
        return dict(source.texts)
    result = {}
    for key, dutch in source.texts.items():
        translation = translations.get(key)
        if translation is not None and usable(translation, dutch, show_concept):
            result[key] = translation.text
        else:
            result[key] = dutch
    return result


def build_payload(source: WidgetSource, root: Path = TRANSLATIONS_DIR,
                  show_concept: bool = True) -> dict[str, Any]:
    return {
        "default": DEFAULT_LANGUAGE,
        "languages": [{"code": lang.code, "name": lang.name, "dir": lang.dir}
                      for lang in source.languages],
        "texts": {lang.code: texts_for(lang.code, source, load_translations(lang.code, root),
                                       show_concept)
                  for lang in source.languages},
        "terms": list(DUTCH_TERMS),
    }


def _mtimes(paths: list[Path]) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime if p.is_file() else -1.0 for p in paths)


@lru_cache(maxsize=4)
def _cached(path: str, root: str, show_concept: bool,
            mtimes: tuple[float, ...]) -> dict[str, Any]:
    return build_payload(load_source(Path(path)), Path(root), show_concept)


def widget_payload(path: Path = WIDGET_FILE, root: Path = TRANSLATIONS_DIR,
                   show_concept: bool = True) -> dict[str, Any]:
    """What ``/widget/texts.json`` serves: the language menu, and per language every
    widget text (Dutch where no usable translation is). Read again when a file changed."""
    source = _cached_source(str(path), _mtimes([path]))  # tells which files to watch
    watched = [path] + [translation_path(lang.code, root) for lang in source.languages]
    return _cached(str(path), str(root), show_concept, _mtimes(watched))


@lru_cache(maxsize=4)
def _cached_source(path: str, mtimes: tuple[float, ...]) -> WidgetSource:
    return load_source(Path(path))


def language_codes(path: Path = WIDGET_FILE) -> tuple[str, ...]:
    """The codes of the widget's languages (the menu), Dutch first."""
    return tuple(lang.code for lang in _cached_source(str(path), _mtimes([path])).languages)


def check_widget_texts(path: Path = WIDGET_FILE,
                       root: Path = TRANSLATIONS_DIR) -> list[tuple[str, str]]:
    """(where, Dutch problem) for the widget texts: the source's shape and u-vorm, and per
    translation: unknown keys, placeholders as in the Dutch, Dutch terms kept."""
    try:
        source = load_source(path)
    except WidgetTextsError as exc:
        return [("widget", str(exc))]
    problems: list[tuple[str, str]] = []
    for key, dutch in source.texts.items():
        if INFORMAL.search(dutch):
            problems.append((f"widget/{key}", "spreek ouders aan met 'u', niet met 'je/jij'."))
    for language in source.languages[1:]:
        try:
            translations = load_translations(language.code, root)
        except WidgetTextsError as exc:
            problems.append((f"widget/{language.code}", str(exc)))
            continue
        for key, translation in translations.items():
            where = f"widget/{language.code}/{key}"
            if key not in source.texts:
                problems.append((where, "deze sleutel staat niet in data/answers/widget.yml."))
                continue
            dutch = source.texts[key]
            if _placeholders(translation.text) != _placeholders(dutch):
                problems.append((where, "de {namen} moeten dezelfde zijn als in het Nederlands."))
            for term in DUTCH_TERMS:
                if _has_word(dutch, term) and not _has_word(translation.text, term):
                    problems.append((where, f"de Nederlandse term '{term}' ontbreekt."))
    return problems


def _placeholders(text: str) -> list[str]:
    try:
        return sorted(f for _, f, _, _ in string.Formatter().parse(text) if f is not None)
    except ValueError:
        return ["<accolades kloppen niet>"]


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None
