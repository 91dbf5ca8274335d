"""The widget's texts in every language (core/widget_texts.py, data/answers/widget.yml and
data/translations/<lang>/widget.yml): every key is there in every language, a missing,
outdated or unreviewed translation falls back to the Dutch text."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import translations
from core.translations import source_hash, status_report
from core.widget_texts import (
    DEFAULT_LANGUAGE,
    WidgetTextsError,
    load_source,
    widget_payload,
)

LANGUAGES = ["nl", "nl-b1", "en", "tr", "ar", "pl", "uk"]
NAMES = ["Nederlands", "Eenvoudig Nederlands", "English", "Türkçe", "العربية", "Polski",
         "Українська"]
WIDGET_JS = Path(__file__).resolve().parents[3] / "bot" / "web" / "src" / "widget.js"


def widget_js_keys() -> set[str]:
    """The keys widget.js looks up (its Dutch fallback, DUTCH = {...})."""
    source = WIDGET_JS.read_text(encoding="utf-8")
    block = source[source.index("const DUTCH = {"):source.index("};", source.index("const DUTCH"))]
    return set(re.findall(r"^  ([a-z_]+):", block, re.MULTILINE))


def test_source_hash_is_sha256_of_the_normalised_text() -> None:
    assert source_hash("Voordat u  begint\n") == source_hash("Voordat u begint")
    assert source_hash("Voordat u begint") == (
        "b906071f62d7")  # sha256("Voordat u begint")[:12]
    assert len(source_hash("x")) == 12


def test_the_menu_has_the_seven_languages_each_in_its_own_language() -> None:
    payload = widget_payload()
    assert payload["default"] == DEFAULT_LANGUAGE == "nl"
    assert [lang["code"] for lang in payload["languages"]] == LANGUAGES
    assert [lang["name"] for lang in payload["languages"]] == NAMES
    assert {lang["code"]: lang["dir"] for lang in payload["languages"]}["ar"] == "rtl"
    assert {lang["dir"] for lang in payload["languages"] if lang["code"] != "ar"} == {"ltr"}


def test_every_key_is_served_in_every_language() -> None:
    payload = widget_payload()
    keys = set(load_source())
    assert keys == widget_js_keys()  # the widget's own fallback has the same keys
    for code in LANGUAGES:
        texts = payload["texts"][code]
        assert set(texts) == keys, code
        assert all(isinstance(t, str) and t.strip() for t in texts.values()), code


def test_the_shipped_translations_are_complete_and_current() -> None:
    dutch = load_source()
    for code in LANGUAGES[1:]:
        done = translations.translations(code, "widget")
        assert set(done) == set(dutch), code
        for key, translation in done.items():
            assert translation.source_hash == source_hash(dutch[key]), (code, key)
            assert translation.review in ("concept", "gecontroleerd")
            # translated, not copied (simple Dutch may keep a plain text)
            assert translation.text != dutch[key] or code == "nl-b1", (code, key)
    # placeholders, Dutch terms, unknown keys: the shared check finds nothing wrong
    assert [str(f) for f in status_report(sources=["widget"]) if f.problem != "concept"] == []
    payload = widget_payload()
    assert payload["texts"]["en"]["privacy_title"] == "Before you start"
    assert payload["texts"]["ar"]["privacy_title"] == "قبل أن تبدأوا"
    for code in LANGUAGES:  # the Dutch terms stay Dutch
        assert "lwoo" in payload["texts"][code]["placeholder"], code
        assert "vmbo" in payload["texts"][code]["subtitle"], code


def test_the_dutch_source_speaks_to_parents_with_u() -> None:
    informal = re.compile(r"(?<!\w)(je|jij|jou|jouw)(?!\w)", re.IGNORECASE)
    for language in ("nl", "nl-b1"):
        for key, text in widget_payload()["texts"][language].items():
            assert not informal.search(text), (language, key)


def test_the_privacy_notice_names_the_clear_button_in_every_language() -> None:
    texts = widget_payload()["texts"]
    for code in LANGUAGES:
        assert texts[code]["clear"] in texts[code]["privacy_tab"], code
        assert "{max}" in texts[code]["too_long"], code


# -- fallback, on files of our own --------------------------------------------------------

SOURCE = """\
widget:
  launcher: Chat met de assistent
  placeholder: Typ uw vraag over lwoo…
  too_long: Meer dan {max} tekens.
  clear: Gesprek wissen
"""


def write_translation(root: Path, lang: str, entries: dict[str, tuple[str, str, str]]) -> None:
    lines = [f"language: {lang}", "translations:"]
    for key, (source, review, text) in entries.items():
        lines += [f"  {key}:", f"    source: {source}", f"    review: {review}",
                  f"    text: \"{text}\""]
    path = root / lang / "widget.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    later = time.time() + 10 + len(lines)  # a new mtime: the caches read it again
    os.utime(path, (later, later))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    source = tmp_path / "widget.yml"
    source.write_text(SOURCE, encoding="utf-8")
    root = tmp_path / "translations"
    root.mkdir()
    monkeypatch.setattr(translations, "WIDGET_FILE", source)
    monkeypatch.setattr(translations, "TRANSLATIONS_DIR", root)
    caches = (translations._cached_sources, translations._cached_translations)
    for cache in caches:
        cache.cache_clear()
    yield source, root
    for cache in caches:
        cache.cache_clear()


def test_missing_outdated_and_unreviewed_translations_fall_back_to_dutch(
        files: tuple[Path, Path]) -> None:
    _, root = files
    write_translation(root, "en", {
        "launcher": (source_hash("Chat met de assistent"), "concept", "Chat with the assistant"),
        "placeholder": ("000000000000", "gecontroleerd", "Old text about lwoo"),  # outdated
        "clear": (source_hash("Gesprek wissen"), "gecontroleerd", "Clear conversation"),
    })
    payload = widget_payload()
    en = payload["texts"]["en"]
    assert en["launcher"] == "Chat with the assistant"  # concept: shown by default
    assert en["placeholder"] == "Typ uw vraag over lwoo…"  # outdated: the Dutch text
    assert en["too_long"] == "Meer dan {max} tekens."  # missing: the Dutch text
    assert en["clear"] == "Clear conversation"
    assert payload["texts"]["ar"] == payload["texts"]["nl"]  # no file at all: all Dutch
    # the school shows only checked translations (TRANSLATION_CONCEPTS=dutch)
    checked_only = widget_payload("dutch")["texts"]["en"]
    assert checked_only["launcher"] == "Chat met de assistent"
    assert checked_only["clear"] == "Clear conversation"
    with pytest.raises(WidgetTextsError):
        widget_payload("sometimes")


def test_an_edited_file_is_read_again(files: tuple[Path, Path]) -> None:
    source, root = files
    assert widget_payload()["texts"]["en"]["clear"] == "Gesprek wissen"
    write_translation(root, "en", {
        "clear": (source_hash("Gesprek wissen"), "concept", "Clear conversation")})
    assert widget_payload()["texts"]["en"]["clear"] == "Clear conversation"
    source.write_text(SOURCE.replace("Gesprek wissen", "Gesprek  verwijderen"),
                      encoding="utf-8")
    later = time.time() + 100
    os.utime(source, (later, later))
    texts = widget_payload()["texts"]
    assert texts["nl"]["clear"] == "Gesprek verwijderen"
    assert texts["en"]["clear"] == "Gesprek verwijderen"  # the translation is outdated now


@pytest.mark.parametrize("bad", [
    "widget: {}\n",
    "launcher: Chat\n",  # no widget:
    SOURCE.replace("  clear: Gesprek wissen", "  clear: ''"),
    "[not, a, mapping]\n",
])
def test_a_malformed_source_is_refused(files: tuple[Path, Path], bad: str) -> None:
    source, _ = files
    source.write_text(bad, encoding="utf-8")
    later = time.time() + 200
    os.utime(source, (later, later))
    with pytest.raises(WidgetTextsError):
        load_source()
    with pytest.raises(WidgetTextsError):
        widget_payload()
