"""Translations of every parent-facing text: Dutch is the source, the others live beside it.

Languages (:data:`LANGUAGES`): Dutch (``nl``, the source and the default), simple Dutch
(``nl-b1``), English, Turkish, Arabic, Polish and Ukrainian. A translation lives in
``data/translations/<language>/<source>.yml``, one file per source of Dutch texts
(:data:`SOURCES`)::

    language: en
    translations:
      utter_greet:
        source: 3fa9c1e2b7d0     # source_hash() of the Dutch text it was made from
        review: concept          # concept | gecontroleerd
        text: Hello! ...
        buttons: ["...", "..."]  # only when the Dutch has buttons: titles, same order

A translation whose ``source`` differs from the hash of today's Dutch text is *outdated*:
the Dutch changed after it was made, so its facts may be wrong and the parent gets the
Dutch text (with a note in their language). A ``concept`` translation is shown with a
one-line note and a button for the Dutch original, or not at all: the school decides
(setting ``TRANSLATION_CONCEPTS``). ``terms.yml`` per language explains the Dutch words
that stay Dutch (:data:`KEPT_TERMS`); :func:`explain_terms` adds that explanation the first
time a term appears in a conversation. Everything here is plain data: no Rasa.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs

from core.texts import staff_text

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TRANSLATIONS_DIR = DATA / "translations"

SOURCE_LANGUAGE = "nl"
SIMPLE_DUTCH = "nl-b1"
LANGUAGES = ("nl", "nl-b1", "en", "tr", "ar", "pl", "uk")
TRANSLATED = tuple(language for language in LANGUAGES if language != SOURCE_LANGUAGE)
RIGHT_TO_LEFT = frozenset({"ar"})
REVIEW_STATES = ("concept", "gecontroleerd")
REVIEWED = "gecontroleerd"
CONCEPT_POLICIES = ("show", "dutch")  # TRANSLATION_CONCEPTS

# Dutch school words kept in Dutch in every translation, so a parent can use them at school
KEPT_TERMS = ("lwoo", "vmbo", "handelingsplan", "rugzak", "samenwerkingsverband", "NIO",
              "OPP", "mentor", "zorgcoördinator")

RESPONSE_FILES = (ROOT / "domain.yml", DATA / "answers" / "faq.yml",
                  DATA / "answers" / "neighbours.yml")
MESSAGES_FILE = DATA / "answers" / "messages.yml"
GLOSSARY_FILE = DATA / "answers" / "glossary.yml"
FOLLOWUPS_FILE = DATA / "answers" / "followups.yml"
WIDGET_FILE = DATA / "answers" / "widget.yml"
SOURCES = ("responses", "messages", "glossary", "followups", "widget")


class TranslationsError(Exception):
    """A translation file cannot be read or has the wrong shape."""


@dataclass(frozen=True)
class SourceText:
    """One Dutch text that can be translated."""

    source: str
    key: str
    text: str
    buttons: tuple[str, ...] = ()

    @property
    def hash(self) -> str:
        return source_hash(self.text, self.buttons)


@dataclass(frozen=True)
class Translation:
    language: str
    source: str
    key: str
    text: str
    buttons: tuple[str, ...]
    source_hash: str
    review: str


@dataclass(frozen=True)
class Rendered:
    """What a parent in ``language`` is shown for one Dutch text.

    ``shown`` is the language of ``text`` (Dutch when there is no usable translation);
    ``note`` is ``None``, ``"concept"`` (an unreviewed translation is shown) or
    ``"outdated"`` / ``"missing"`` (the Dutch text is shown to a parent of another
    language)."""

    text: str
    buttons: tuple[str, ...]
    language: str
    shown: str
    note: str | None = None


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def source_hash(text: str, buttons: Iterable[str] = ()) -> str:
    """12 hex digits of SHA-256 over the whitespace-normalised Dutch text and button titles."""
    joined = "\n".join([_normal(text), *(_normal(title) for title in buttons)])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:12]


def base_language(language: str | None) -> str:
    """``nl`` for both Dutch variants; the language itself otherwise."""
    if not language or language in (SOURCE_LANGUAGE, SIMPLE_DUTCH):
        return SOURCE_LANGUAGE
    return language


def text_direction(language: str | None) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TranslationsError(staff_text("texts.unreadable", path=path,
                                           error=type(exc).__name__)) from exc


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


# --- the Dutch sources -------------------------------------------------------------------

def _response_texts(paths: Iterable[Path]) -> dict[str, SourceText]:
    found: dict[str, SourceText] = {}
    for path in paths:
        data = _read(path)
        for name, variants in (data.get("responses") or {}).items():
            if not isinstance(variants, list) or not variants:
                continue
            first = variants[0] if isinstance(variants[0], dict) else {}
            text = first.get("text")
            if not isinstance(text, str):
                continue
            titles = tuple(str(button.get("title", "")) for button in first.get("buttons") or []
                           if isinstance(button, dict))
            found[str(name)] = SourceText("responses", str(name), _normal(text), titles)
    return found


def _flat(prefix: str, value: Any, into: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, str):
        into[prefix] = _normal(value)


def _source_texts(source: str) -> dict[str, SourceText]:
    if source == "responses":
        return _response_texts(RESPONSE_FILES)
    if source == "messages":
        entries = _read(MESSAGES_FILE).get("messages") or {}
        found = {}
        for key, entry in entries.items():
            text = entry.get("text") if isinstance(entry, dict) else entry
            if isinstance(entry, dict) and entry.get("translate") is False:
                continue  # read by the care desk, or sent before there is a conversation
            if isinstance(text, str):
                kind = entry.get("kind") if isinstance(entry, dict) else None
                # a mail body keeps its lines; everything else is one paragraph
                found[str(key)] = SourceText(source, str(key),
                                             text if kind == "mail_body" else _normal(text))
        return found
    if source == "glossary":
        return {str(entry["term"]): SourceText(source, str(entry["term"]),
                                               _normal(entry["explanation"]))
                for entry in _read(GLOSSARY_FILE).get("glossary") or []
                if isinstance(entry, dict) and entry.get("term") and entry.get("explanation")}
    if source == "followups":
        flat: dict[str, str] = {}
        _flat("", _read(FOLLOWUPS_FILE).get("followups") or {}, flat)
        return {key: SourceText(source, key, text) for key, text in flat.items()}
    if source == "widget":
        if not WIDGET_FILE.exists():
            return {}
        flat = {}
        _flat("", _read(WIDGET_FILE).get("widget") or {}, flat)
        return {key: SourceText(source, key, text) for key, text in flat.items()}
    raise TranslationsError(f"unknown source {source!r}")


def _source_mtimes(source: str) -> tuple[float, ...]:
    paths = {"responses": RESPONSE_FILES, "messages": (MESSAGES_FILE,),
             "glossary": (GLOSSARY_FILE,), "followups": (FOLLOWUPS_FILE,),
             "widget": (WIDGET_FILE,)}[source]
    return tuple(_mtime(path) for path in paths)


@lru_cache(maxsize=16)
def _cached_sources(source: str, mtimes: tuple[float, ...]) -> dict[str, SourceText]:
    return _source_texts(source)


def source_texts(source: str) -> dict[str, SourceText]:
    """Every Dutch text of ``source`` by key, read again when its file changed."""
    if source not in SOURCES:
        raise TranslationsError(f"unknown source {source!r}")
    return _cached_sources(source, _source_mtimes(source))


# --- the translations --------------------------------------------------------------------

def translation_file(language: str, source: str) -> Path:
    return TRANSLATIONS_DIR / language / f"{source}.yml"


def load_translations(language: str, source: str,
                      path: Path | None = None) -> dict[str, Translation]:
    path = path or translation_file(language, source)
    if not path.exists():
        return {}
    data = _read(path)
    if not isinstance(data, dict) or not isinstance(data.get("translations") or {}, dict):
        raise TranslationsError(staff_text("translations.no_translations", path=path))
    if data.get("language") not in (None, language):
        raise TranslationsError(staff_text("translations.wrong_language", path=path,
                                           found=repr(data.get("language")),
                                           expected=repr(language)))
    found: dict[str, Translation] = {}
    for key, entry in (data.get("translations") or {}).items():
        if not isinstance(entry, dict):
            raise TranslationsError(staff_text("translations.not_a_translation", path=path,
                                               key=key))
        text = entry.get("text")
        if not isinstance(text, str) or not text.strip():
            continue  # an empty skeleton entry: not translated yet
        buttons = entry.get("buttons") or []
        if not isinstance(buttons, list):
            raise TranslationsError(staff_text("translations.bad_buttons", path=path, key=key))
        review = str(entry.get("review") or "concept")
        kind_keeps_lines = source == "messages" and "\n" in text.strip()
        found[str(key)] = Translation(language, source, str(key),
                                      text if kind_keeps_lines else _normal(text),
                                      tuple(_normal(b) for b in buttons),
                                      str(entry.get("source") or ""), review)
    return found


@lru_cache(maxsize=64)
def _cached_translations(language: str, source: str, mtime: float) -> dict[str, Translation]:
    return load_translations(language, source)


def translations(language: str, source: str) -> dict[str, Translation]:
    """The translations of ``source`` into ``language``, read again when the file changed."""
    return _cached_translations(language, source, _mtime(translation_file(language, source)))


def load_terms(language: str) -> dict[str, str]:
    path = TRANSLATIONS_DIR / language / "terms.yml"
    if not path.exists():
        return {}
    data = _read(path)
    terms = data.get("terms") if isinstance(data, dict) else None
    if not isinstance(terms, dict):
        raise TranslationsError(staff_text("translations.no_terms", path=path))
    return {str(term): _normal(text) for term, text in terms.items() if isinstance(text, str)}


@lru_cache(maxsize=16)
def _cached_terms(language: str, mtime: float) -> dict[str, str]:
    return load_terms(language)


def terms(language: str) -> dict[str, str]:
    return _cached_terms(language, _mtime(TRANSLATIONS_DIR / language / "terms.yml"))


# --- choosing what a parent sees ---------------------------------------------------------

def render(source: str, key: str, language: str | None, policy: str = "show",
           dutch: SourceText | None = None) -> Rendered:
    """The text of ``key`` for a parent of ``language`` (see :class:`Rendered`).

    ``dutch`` is the Dutch text when the caller already has it (for example a response
    Rasa selected); otherwise it is looked up. ``policy`` is the school's choice for
    concept translations: ``show`` (with the note) or ``dutch``."""
    language = language if language in LANGUAGES else SOURCE_LANGUAGE
    if dutch is None:
        dutch = source_texts(source).get(key)
        if dutch is None:
            raise TranslationsError(f"no Dutch text for {source}:{key}")
    if language == SOURCE_LANGUAGE:
        return Rendered(dutch.text, dutch.buttons, language, SOURCE_LANGUAGE)
    translation = translations(language, source).get(key)
    # simple Dutch without its own version of this text is plain Dutch: no note needed
    quiet = language == SIMPLE_DUTCH
    if translation is None:
        return Rendered(dutch.text, dutch.buttons, language, SOURCE_LANGUAGE,
                        None if quiet else "missing")
    if translation.source_hash != dutch.hash:
        return Rendered(dutch.text, dutch.buttons, language, SOURCE_LANGUAGE,
                        None if quiet else "outdated")
    if translation.review != REVIEWED and policy == "dutch":
        return Rendered(dutch.text, dutch.buttons, language, SOURCE_LANGUAGE,
                        None if quiet else "missing")
    buttons = translation.buttons if len(translation.buttons) == len(dutch.buttons) \
        else dutch.buttons
    note = None if translation.review == REVIEWED else "concept"
    return Rendered(translation.text, buttons, language, language, note)


_TERM_CACHE: dict[str, re.Pattern[str]] = {}


def _term_pattern(term: str) -> re.Pattern[str]:
    pattern = _TERM_CACHE.get(term)
    if pattern is None:
        pattern = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w])", re.IGNORECASE)
        _TERM_CACHE[term] = pattern
    return pattern


def terms_in(text: str) -> list[str]:
    """The kept Dutch terms that occur in ``text`` (as words: "lwoo-budget" holds lwoo)."""
    return [term for term in KEPT_TERMS if _term_pattern(term).search(text)]


# names that hold a kept term but are not it: the bot's and the school's
_NAMES_WITH_TERMS = re.compile(r"lwoo-assist\w*|\w*-?асистент|compaen\s+vmbo", re.IGNORECASE)


def _first_free_occurrence(term: str, text: str, names: list[tuple[int, int]]
                           ) -> tuple[int, int] | None | bool:
    """(start, end of the whole word) of the first occurrence of ``term`` to explain;
    ``True`` when the text already explains it (the term in brackets, or followed by
    brackets, as "leerwegondersteunend onderwijs (lwoo)"); ``None`` when absent.
    ``names``: the spans of the names that hold a term but are not it."""
    for match in _term_pattern(term).finditer(text):
        if any(start <= match.start() < end for start, end in names):
            continue
        end = match.end()
        # the whole word: "lwoo-budget", Turkish "mentor'u", Arabic/Polish endings
        while end < len(text) and (text[end].isalnum() or text[end] in "-'’"):
            end += 1
        before = text[:match.start()].rstrip()
        after = text[end:].lstrip()
        if before.endswith("(") or after.startswith("("):
            return True
        return match.start(), end
    return None


def _free_occurrences(text: str) -> dict[str, tuple[int, int] | bool]:
    """Per kept term that occurs in ``text``: see :func:`_first_free_occurrence`."""
    names = [m.span() for m in _NAMES_WITH_TERMS.finditer(text)]
    found: dict[str, tuple[int, int] | bool] = {}
    for term in KEPT_TERMS:
        hit = _first_free_occurrence(term, text, names)
        if hit is not None:
            found[term] = hit
    return found


def terms_shown(text: str) -> list[str]:
    """The kept Dutch terms a parent read in ``text``, explained or not (not inside the
    bot's or the school's name). A message's list is kept in its metadata, so a later
    message knows which terms were explained without reading the conversation again."""
    return list(_free_occurrences(text))


def explain_terms(text: str, language: str | None, seen: Iterable[str] = ()) -> str:
    """``text`` with the first occurrence of each kept Dutch term explained in ``language``
    ("lwoo (…)"), unless it is one of the terms an earlier bot message of this
    conversation had (``seen``, :func:`terms_shown`). The bot's and school's names
    ("LWOO-assistent", "Compaen vmbo") are not the terms; a term the text explains itself
    is left alone; explanations are never explained again."""
    if base_language(language) == SOURCE_LANGUAGE:
        return text
    glosses = terms(str(language))
    if not glosses:
        return text
    already = set(seen)
    inserts: list[tuple[int, str]] = []
    for term, found in _free_occurrences(text).items():
        gloss = glosses.get(term)
        if not gloss or term in already or gloss.lower() in text.lower():
            continue  # no explanation, or in an earlier message (explained there)
        if isinstance(found, tuple):
            inserts.append((found[1], gloss))
    for end, gloss in sorted(inserts, reverse=True):  # positions in the original text
        text = f"{text[:end]} ({gloss}){text[end:]}"
    return text


# --- what the school still has to do ---------------------------------------------------

@dataclass(frozen=True)
class Finding:
    language: str
    source: str
    key: str
    problem: str  # missing | outdated | concept | error

    def __str__(self) -> str:
        return f"{self.language}/{self.source}: {self.key}: {self.problem}"


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_translation(dutch: SourceText, translation: Translation) -> list[str]:
    """Dutch descriptions of what is wrong with one translation (empty: nothing)."""
    problems: list[str] = []
    if sorted(_PLACEHOLDER.findall(dutch.text)) != sorted(_PLACEHOLDER.findall(translation.text)):
        problems.append(staff_text("translations.placeholders_differ"))
    if len(translation.buttons) != len(dutch.buttons):
        problems.append(staff_text("translations.button_count", found=len(translation.buttons),
                                   expected=len(dutch.buttons)))
    for term in terms_in(dutch.text):
        if not _term_pattern(term).search(translation.text):
            problems.append(staff_text("translations.term_missing", term=term))
    if translation.review not in REVIEW_STATES:
        problems.append(staff_text("translations.bad_review", review=translation.review))
    return problems


def status_report(languages: Iterable[str] = TRANSLATED,
                  sources: Iterable[str] = SOURCES) -> list[Finding]:
    """Every text that is missing, outdated, unreviewed or wrong, per language and source."""
    findings: list[Finding] = []
    sources = tuple(sources)
    for language in languages:
        for source in sources:
            dutch_texts = source_texts(source)
            done = translations(language, source)
            for key, dutch in dutch_texts.items():
                translation = done.get(key)
                if translation is None:
                    if language != SIMPLE_DUTCH:  # simple Dutch may keep a plain text
                        findings.append(Finding(language, source, key, "missing"))
                    continue
                if translation.source_hash != dutch.hash:
                    findings.append(Finding(language, source, key, "outdated"))
                    continue
                findings.extend(Finding(language, source, key, problem)
                                for problem in check_translation(dutch, translation))
                if translation.review != REVIEWED:
                    findings.append(Finding(language, source, key, "concept"))
            for key in done:
                if key not in dutch_texts:
                    findings.append(Finding(language, source, key,
                                            staff_text("translations.no_dutch_source")))
    return findings


def summary(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    """Counts per language: missing, outdated, concept, other problems."""
    counts: dict[str, dict[str, int]] = {}
    for finding in findings:
        kind = finding.problem if finding.problem in ("missing", "outdated", "concept") \
            else "problems"
        per = counts.setdefault(finding.language,
                                {"missing": 0, "outdated": 0, "concept": 0, "problems": 0})
        per[kind] += 1
    return counts


def skeleton(language: str, source: str,
             existing: Mapping[str, Translation] | None = None) -> str:
    """A translation file for ``language``/``source``: every key with its hash, the Dutch
    text as a comment, and the existing translation where there is one."""
    existing = existing if existing is not None else translations(language, source)
    lines = [f"language: {language}", "translations:"]
    for key, dutch in source_texts(source).items():
        lines.append(f"  {_yaml_key(key)}:")
        for line in dutch.text.splitlines() or [""]:
            lines.append(f"    # nl: {line}")
        for title in dutch.buttons:
            lines.append(f"    # nl knop: {title}")
        done = existing.get(key)
        lines.append(f"    source: {dutch.hash}")
        lines.append(f"    review: {done.review if done else 'concept'}")
        lines.append(f"    text: {_yaml_str(done.text if done else '')}")
        if dutch.buttons:
            titles = done.buttons if done else ()
            lines.append(f"    buttons: [{', '.join(_yaml_str(t) for t in titles)}]")
    return "\n".join(lines) + "\n"


def _yaml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_./-]+", key) else _yaml_str(key)


def _yaml_str(value: str) -> str:
    dumped: str = yaml.safe_dump(value, allow_unicode=True, default_style='"', width=10**6)
    return dumped.strip().removesuffix("...").strip()
