"""Translations beside the Dutch source: hashes, review state, outdated, kept terms."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core import translations as tr
from core.texts import speaking, text, translated


@pytest.fixture
def tdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tr, "TRANSLATIONS_DIR", tmp_path)
    monkeypatch.delenv("TRANSLATION_CONCEPTS", raising=False)
    from core.settings import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def write(tdir: Path, language: str, source: str, entries: dict[str, dict]) -> None:
    (tdir / language).mkdir(parents=True, exist_ok=True)
    (tdir / language / f"{source}.yml").write_text(
        yaml.safe_dump({"language": language, "translations": entries}, allow_unicode=True),
        encoding="utf-8")


def dutch(source: str, key: str) -> tr.SourceText:
    return tr.source_texts(source)[key]


def test_every_source_has_texts_and_stable_hashes() -> None:
    for source in ("responses", "messages", "glossary", "followups"):
        found = tr.source_texts(source)
        assert found, source
    greet = dutch("responses", "utter_greet")
    assert greet.buttons and greet.hash == tr.source_hash(greet.text, greet.buttons)
    # whitespace does not change the hash, a word does
    assert tr.source_hash("a  b\n c") == tr.source_hash("a b c") != tr.source_hash("a b d")


def test_care_desk_texts_are_not_translated() -> None:
    messages = tr.source_texts("messages")
    assert "mail.callback.body" not in messages and "mail.code.body" in messages


def test_reviewed_translation_is_shown_without_a_note(tdir: Path) -> None:
    goodbye = dutch("responses", "utter_goodbye")
    write(tdir, "en", "responses", {"utter_goodbye": {
        "source": goodbye.hash, "review": "gecontroleerd", "text": "Goodbye!"}})
    rendered = tr.render("responses", "utter_goodbye", "en")
    assert (rendered.text, rendered.shown, rendered.note) == ("Goodbye!", "en", None)


def test_concept_is_shown_with_a_note_or_not_at_all_by_policy(tdir: Path) -> None:
    goodbye = dutch("responses", "utter_goodbye")
    write(tdir, "tr", "responses", {"utter_goodbye": {
        "source": goodbye.hash, "review": "concept", "text": "Hoşça kalın!"}})
    shown = tr.render("responses", "utter_goodbye", "tr", "show")
    assert (shown.text, shown.note) == ("Hoşça kalın!", "concept")
    dutch_only = tr.render("responses", "utter_goodbye", "tr", "dutch")
    assert (dutch_only.text, dutch_only.shown) == (goodbye.text, "nl")


def test_a_changed_dutch_text_makes_its_translation_outdated(tdir: Path) -> None:
    write(tdir, "pl", "responses", {"utter_goodbye": {
        "source": "000000000000", "review": "gecontroleerd", "text": "Do widzenia!"}})
    rendered = tr.render("responses", "utter_goodbye", "pl")
    assert rendered.shown == "nl" and rendered.note == "outdated"
    report = tr.status_report(["pl"], ["responses"])
    assert any(f.key == "utter_goodbye" and f.problem == "outdated" for f in report)


def test_check_finds_dropped_terms_placeholders_and_buttons(tdir: Path) -> None:
    wat = dutch("responses", "utter_faq/wat_is_lwoo")
    write(tdir, "en", "responses", {"utter_faq/wat_is_lwoo": {
        "source": wat.hash, "review": "concept", "text": "Learning support is for pupils.",
        "buttons": ["one"]}})
    problems = [f.problem for f in tr.status_report(["en"], ["responses"])
                if f.key == "utter_faq/wat_is_lwoo"]
    assert any("'lwoo'" in p for p in problems)
    assert any("knoppen" in p for p in problems)
    wrong = dutch("messages", "status.wrong_code")
    write(tdir, "en", "messages", {"status.wrong_code": {
        "source": wrong.hash, "review": "concept", "text": "Wrong code. {attempts} left."}})
    assert any("plaatshouders" in f.problem for f in tr.status_report(["en"], ["messages"])
               if f.key == "status.wrong_code")


def test_kept_terms_are_explained_once_per_conversation(tdir: Path) -> None:
    (tdir / "en").mkdir()
    (tdir / "en" / "terms.yml").write_text(
        "language: en\nterms:\n  lwoo: learning support in vmbo\n", encoding="utf-8")
    first = tr.explain_terms("Your child gets lwoo-support.", "en")
    assert first == "Your child gets lwoo-support (learning support in vmbo)."
    again = tr.explain_terms("lwoo is free.", "en", seen=tr.terms_shown(first))
    assert again == "lwoo is free."
    assert tr.explain_terms("lwoo is gratis.", "nl") == "lwoo is gratis."


def test_texts_speak_the_language_and_remember_the_dutch(tdir: Path) -> None:
    wrong = dutch("messages", "status.wrong_code")
    write(tdir, "en", "messages", {"status.wrong_code": {
        "source": wrong.hash, "review": "concept",
        "text": "This code is not right. You can try {tries} more times."}})
    assert text("status.wrong_code", tries=2).startswith("Deze code klopt niet")
    with speaking("en") as spoken:
        english = text("status.wrong_code", tries=2)
        untranslated = text("status.bad_code")
    assert english == "This code is not right. You can try 2 more times."
    assert untranslated == text("status.bad_code")  # no translation: Dutch
    assert spoken.note == "concept"
    assert spoken.dutch(english + " " + untranslated) == \
        text("status.wrong_code", tries=2) + " " + untranslated


def test_translated_glossary_text_outside_a_conversation_is_dutch() -> None:
    assert translated("glossary", "REC", "Dutch text") == "Dutch text"


def test_project_translation_files_have_no_errors() -> None:
    """What is committed: every file readable, no wrong translation (placeholders, buttons,
    kept Dutch terms), every entry for a Dutch text that exists."""
    findings = tr.status_report()
    wrong = [str(f) for f in findings if f.problem not in ("missing", "outdated", "concept")]
    assert wrong == []


def test_names_spelled_out_terms_and_suffixes(tdir: Path) -> None:
    (tdir / "tr").mkdir()
    (tdir / "tr" / "terms.yml").write_text(
        "language: tr\nterms:\n  mentor: sınıf öğretmeni\n  vmbo: meslek ortaokulu\n"
        "  lwoo: öğrenme desteği\n", encoding="utf-8")
    # a Turkish case ending stays on the word; the school's and the bot's names are not terms
    assert tr.explain_terms("Compaen vmbo'nun mentor'u bilir.", "tr") == \
        "Compaen vmbo'nun mentor'u (sınıf öğretmeni) bilir."
    assert tr.explain_terms("Ben LWOO-assistent.", "tr") == "Ben LWOO-assistent."
    # the text spells the term out itself: no second explanation, and it counts as explained
    spelled = "leerwegondersteunend onderwijs (lwoo) nedir?"
    assert tr.explain_terms(spelled, "tr") == spelled
    assert tr.explain_terms("lwoo ücretsiz.", "tr", seen=tr.terms_shown(spelled)) == \
        "lwoo ücretsiz."
