"""The website widget's texts (labels, privacy notice, its own messages) in every language.

Dutch is the source, ``data/answers/widget.yml``::

    widget:
      launcher: Chat met de assistent
      privacy_title: Voordat u begint
      ...

The translations are ``data/translations/<lang>/widget.yml`` in the shared translation
format (:mod:`core.translations`, source ``widget``). :func:`widget_payload` is what the
Rasa process serves to the widget (``GET /widget/texts.json``): the language menu (the
same names and order as the chat's own menu, :data:`core.language.LANGUAGE_NAMES`), and per language
every key, chosen like every other text (:func:`core.translations.render`): the
translation when it was made from today's Dutch text and the school's choice for concept
translations allows it, else the Dutch text. So a missing, outdated or refused
translation never leaves a label empty. (A label has no room for the one-line concept
note the chat messages get.) Read again when a file changed, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core import translations
from core.texts import staff_text
from core.translations import (
    CONCEPT_POLICIES,
    KEPT_TERMS,
    LANGUAGES,
    SOURCE_LANGUAGE,
    TranslationsError,
    render,
    source_texts,
    text_direction,
    translation_file,
)

SOURCE = "widget"  # data/translations/<lang>/widget.yml
DEFAULT_LANGUAGE = SOURCE_LANGUAGE


class WidgetTextsError(Exception):
    """The widget texts file cannot be read or has the wrong shape."""


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own language
    dir: str  # ltr | rtl


def _read(path: Path) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WidgetTextsError(staff_text("texts.unreadable", path=path,
                                          error=type(exc).__name__)) from exc
    if not isinstance(data, dict):
        raise WidgetTextsError(staff_text("texts.not_a_mapping", path=path))
    return data


def widget_file() -> Path:
    return translations.WIDGET_FILE


def load_languages() -> tuple[Language, ...]:
    """The language menu: every language the assistant speaks, in the order of the chat's
    own menu, each named in its own language."""
    from core.language import LANGUAGE_NAMES, MENU_ORDER

    if sorted(MENU_ORDER) != sorted(LANGUAGES):
        raise WidgetTextsError("the language menu and core.translations.LANGUAGES differ")
    return tuple(Language(code, LANGUAGE_NAMES[code], text_direction(code))
                 for code in MENU_ORDER)


def load_source(path: Path | None = None) -> dict[str, str]:
    """The Dutch widget texts by key (``widget:`` in ``widget.yml``)."""
    path = path or widget_file()
    texts = _read(path).get("widget")
    if not isinstance(texts, dict) or not texts:
        raise WidgetTextsError(staff_text("texts.no_widget", path=path))
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise WidgetTextsError(staff_text("texts.empty_text", path=path, key=key))
    return {str(key): " ".join(value.split()) for key, value in texts.items()}


def texts_for(language: str, policy: str = "show") -> dict[str, str]:
    """Every widget text in ``language`` (the Dutch one where no usable translation is);
    ``policy``: the school's choice for concept translations (``show`` or ``dutch``)."""
    dutch = source_texts(SOURCE)
    return {key: render(SOURCE, key, language, policy, dutch=text).text
            for key, text in dutch.items()}


def build_payload(policy: str = "show") -> dict[str, Any]:
    languages = load_languages()
    load_source()  # the shape: every key has a text
    try:
        texts = {lang.code: texts_for(lang.code, policy) for lang in languages}
    except TranslationsError as exc:
        raise WidgetTextsError(str(exc)) from exc
    return {
        "default": DEFAULT_LANGUAGE,
        "languages": [{"code": lang.code, "name": lang.name, "dir": lang.dir}
                      for lang in languages],
        "texts": texts,
        "terms": list(KEPT_TERMS),  # the widget isolates them in right-to-left text
    }


def _mtimes(paths: list[Path]) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime if p.is_file() else -1.0 for p in paths)


@lru_cache(maxsize=4)
def _cached(policy: str, paths: tuple[str, ...], mtimes: tuple[float, ...]) -> dict[str, Any]:
    return build_payload(policy)


def widget_payload(policy: str = "show") -> dict[str, Any]:
    """What ``/widget/texts.json`` serves: the language menu, and per language every
    widget text. Read again when ``widget.yml`` or a translation of it changed."""
    if policy not in CONCEPT_POLICIES:
        raise WidgetTextsError(f"unknown policy for concept translations {policy!r}")
    watched = [widget_file()] + [translation_file(code, SOURCE) for code in LANGUAGES]
    return _cached(policy, tuple(map(str, watched)), _mtimes(watched))


def language_codes() -> tuple[str, ...]:
    """The codes of the widget's languages (the menu), Dutch first."""
    return tuple(language.code for language in load_languages())
