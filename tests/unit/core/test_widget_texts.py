"""The widget's texts in every language (core/widget_texts.py, data/answers/widget.yml and
data/translations/<lang>/widget.yml): every key is there in every language, a missing,
outdated or unreviewed translation falls back to the Dutch text, the checks find what
may not go live."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from core.widget_texts import (
    DEFAULT_LANGUAGE,
    WidgetTextsError,
    check_widget_texts,
    load_source,
    load_translations,
    source_hash,
    widget_payload,
)

LANGUAGES = ["nl", "nl-b1", "en", "tr", "ar", "pl", "uk"]
NAMES = ["Nederlands", "Eenvoudig Nederlands", "English", "Türkçe", "العربية", "Polski",
         "Українська"]
# the keys widget.js looks up (TEXT_KEYS there)
WIDGET_KEYS = {
    "launcher", "region", "title", "subtitle", "close", "language_menu", "language_choose",
    "privacy_title", "privacy_program", "privacy_storage", "privacy_tab", "accept",
    "conversation", "input_label", "placeholder", "send", "you", "bot", "typing",
    "connecting", "offline", "refused", "not_sent", "no_answer", "too_long", "expired",
    "cleared", "suggestions", "feedback_question", "feedback_yes", "feedback_no",
    "feedback_thanks", "new_window", "shared_computer", "clear",
}


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
    dutch = payload["texts"]["nl"]
    assert set(dutch) == WIDGET_KEYS
    for code in LANGUAGES:
        texts = payload["texts"][code]
        assert set(texts) == WIDGET_KEYS, code
        assert all(isinstance(t, str) and t.strip() for t in texts.values()), code


def test_the_shipped_translations_are_complete_and_current() -> None:
    source = load_source()
    for code in LANGUAGES[1:]:
        translations = load_translations(code)
        assert set(translations) == set(source.texts), code
        for key, translation in translations.items():
            assert translation.source == source_hash(source.texts[key]), (code, key)
            assert translation.review in ("concept", "gecontroleerd")
    payload = widget_payload()
    assert payload["texts"]["en"]["privacy_title"] == "Before you start"
    assert payload["texts"]["ar"]["privacy_title"] == "قبل أن تبدأوا"
    # the Dutch terms stay Dutch
    for code in LANGUAGES:
        assert "lwoo" in payload["texts"][code]["placeholder"], code
        assert "vmbo" in payload["texts"][code]["subtitle"], code
    assert check_widget_texts() == []


def test_the_privacy_notice_tells_the_parent_the_same_in_every_language() -> None:
    texts = widget_payload()["texts"]
    for code in LANGUAGES:
        # the notice names the clear button by its own label in that language
        assert texts[code]["clear"] in texts[code]["privacy_tab"], code
        assert "{max}" in texts[code]["too_long"], code


# -- fallback and checks on files of our own ---------------------------------------------

SOURCE = """\
languages:
  - {code: nl, name: Nederlands, dir: ltr}
  - {code: en, name: English, dir: ltr}
  - {code: ar, name: العربية, dir: rtl}
texts:
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


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "widget.yml"
    source.write_text(SOURCE, encoding="utf-8")
    return source, tmp_path / "translations"


def test_missing_outdated_and_unreviewed_translations_fall_back_to_dutch(
        files: tuple[Path, Path]) -> None:
    source, root = files
    current = source_hash("Chat met de assistent")
    write_translation(root, "en", {
        "launcher": (current, "concept", "Chat with the assistant"),
        "placeholder": ("000000000000", "gecontroleerd", "Old text about lwoo"),  # outdated
        "clear": (source_hash("Gesprek wissen"), "gecontroleerd", "Clear conversation"),
    })
    payload = widget_payload(source, root)
    en = payload["texts"]["en"]
    assert en["launcher"] == "Chat with the assistant"  # concept is shown by default
    assert en["placeholder"] == "Typ uw vraag over lwoo…"  # outdated: the Dutch text
    assert en["too_long"] == "Meer dan {max} tekens."  # missing: the Dutch text
    assert en["clear"] == "Clear conversation"
    # no file at all: every text Dutch
    assert payload["texts"]["ar"] == payload["texts"]["nl"]
    # the school shows only checked translations
    checked_only = widget_payload(source, root, show_concept=False)["texts"]["en"]
    assert checked_only["launcher"] == "Chat met de assistent"
    assert checked_only["clear"] == "Clear conversation"


def test_an_edited_file_is_read_again(files: tuple[Path, Path]) -> None:
    source, root = files
    assert widget_payload(source, root)["texts"]["en"]["clear"] == "Gesprek wissen"
    write_translation(root, "en", {
        "clear": (source_hash("Gesprek wissen"), "concept", "Clear conversation")})
    assert widget_payload(source, root)["texts"]["en"]["clear"] == "Clear conversation"
    source.write_text(SOURCE.replace("Gesprek wissen", "Gesprek  verwijderen"),
                      encoding="utf-8")
    later = time.time() + 5
    os.utime(source, (later, later))
    texts = widget_payload(source, root)["texts"]
    assert texts["nl"]["clear"] == "Gesprek verwijderen"
    assert texts["en"]["clear"] == "Gesprek verwijderen"  # the translation is outdated now


def test_the_check_finds_what_may_not_go_live(files: tuple[Path, Path]) -> None:
    source, root = files
    write_translation(root, "en", {
        "placeholder": (source_hash("Typ uw vraag over lwoo…"), "concept",
                        "Type your question about learning support…"),  # term lost
        "too_long": (source_hash("Meer dan {max} tekens."), "concept", "Over {limit} chars."),
        "goodbye": ("abc", "concept", "Bye"),
    })
    problems = dict(check_widget_texts(source, root))
    assert "lwoo" in problems["widget/en/placeholder"]
    assert "{namen}" in problems["widget/en/too_long"]
    assert "widget/en/goodbye" in problems
    informal = source.read_text(encoding="utf-8").replace("Typ uw vraag", "Typ je vraag")
    source.write_text(informal, encoding="utf-8")
    assert "widget/placeholder" in dict(check_widget_texts(source, root))


@pytest.mark.parametrize("bad", [
    "texts: {launcher: Chat}\n",  # no languages
    "languages: [{code: en, name: English}]\ntexts: {launcher: Chat}\n",  # nl not first
    "languages: [{code: nl, name: Nederlands, dir: up}]\ntexts: {launcher: Chat}\n",
    "languages: [{code: nl, name: Nederlands}]\ntexts: {launcher: ''}\n",
    "languages: [{code: nl, name: Nederlands}]\n",
    "[not, a, mapping]\n",
])
def test_a_malformed_source_is_refused(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "widget.yml"
    path.write_text(textwrap.dedent(bad), encoding="utf-8")
    with pytest.raises(WidgetTextsError):
        load_source(path)
    assert check_widget_texts(path, tmp_path)  # reported, not raised


def test_a_malformed_translation_is_refused(files: tuple[Path, Path]) -> None:
    _, root = files
    write_translation(root, "en", {"clear": ("abc", "klaar", "Clear")})  # unknown review
    with pytest.raises(WidgetTextsError):
        load_translations("en", root)
    (root / "en" / "widget.yml").write_text("language: tr\ntranslations: {}\n",
                                            encoding="utf-8")
    with pytest.raises(WidgetTextsError):
        load_translations("en", root)
