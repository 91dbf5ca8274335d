"""What staff and operators read on the command line lives in data/staff/messages.yml
(issue 15), read through ``core.texts.staff_text``: every key the code asks for exists
with the values the code fills in, every text in the file is used, ``check-content``
checks the file by the rules of the parent texts, and a broken staff file is named."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from bot.content_check import check_staff_texts
from core import texts
from core.texts import STAFF_MESSAGES_FILE, TextsError, load_messages, staff_text

ROOT = Path(__file__).resolve().parents[3]


def _staff_calls() -> list[tuple[str, str, set[str]]]:
    """(where, key, values passed) for every ``staff_text("key", ...)`` and
    ``_problem(path, "key", ...)`` (which adds ``path``) in the runtime code."""
    calls = []
    for path in sorted(p for package in ("core", "actions", "bot")
                       for p in (ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            passed = {keyword.arg or "**" for keyword in node.keywords}
            if node.func.id == "staff_text" and isinstance(node.args[0], ast.Constant):
                calls.append((where, node.args[0].value, passed))
            elif node.func.id == "_problem" and len(node.args) == 2:
                calls.append((where, node.args[1].value, passed | {"path"}))
    return calls


def test_every_staff_key_the_code_asks_for_exists_with_its_values() -> None:
    found = load_messages(STAFF_MESSAGES_FILE)
    calls = _staff_calls()
    assert len(calls) > 90
    for where, key, passed in calls:
        assert key in found, f"{where} asks for {key}, which is not in data/staff/messages.yml"
        assert passed == set(found[key].values), (where, key)


def test_every_staff_text_is_used() -> None:
    used = {key for _, key, _ in _staff_calls()}
    assert set(load_messages(STAFF_MESSAGES_FILE)) - used == set()


def test_the_committed_staff_texts_pass_check_content() -> None:
    assert check_staff_texts() == []


def test_staff_text_fills_values_and_refuses_a_missing_one() -> None:
    assert staff_text("import.rejected", lines=3) == \
        "3 regel(s) afgekeurd. Er is niets opgeslagen; verbeter het bestand."
    with pytest.raises(TextsError):
        staff_text("import.rejected")
    with pytest.raises(TextsError):
        staff_text("import.no_such_key")


def test_check_content_names_a_broken_staff_text(tmp_path: Path, monkeypatch,
                                                 capsys) -> None:
    from bot.__main__ import main

    copy = tmp_path / "messages.yml"
    shutil.copyfile(STAFF_MESSAGES_FILE, copy)
    original = copy.read_text(encoding="utf-8")
    assert "{lines} regel(s) afgekeurd" in original
    copy.write_text(original.replace("{lines} regel(s) afgekeurd", "{regels} regel(s) "
                                     "afgekeurd", 1), encoding="utf-8")
    monkeypatch.setattr(texts, "STAFF_MESSAGES_FILE", copy)
    assert main(["check-content", "--skip-validate"]) == 1
    err = capsys.readouterr().err
    assert "medewerkers/import.rejected (data/staff/messages.yml)" in err
    assert "'{regels}' wordt niet ingevuld (dat kan alleen met: lines)" in err


def test_an_unreadable_staff_file_is_named_without_recursion(tmp_path: Path,
                                                             monkeypatch) -> None:
    broken = tmp_path / "messages.yml"
    broken.write_text("- not a mapping\n", encoding="utf-8")
    monkeypatch.setattr(texts, "STAFF_MESSAGES_FILE", broken)
    with pytest.raises(TextsError, match="staff texts file is broken"):
        staff_text("import.rejected", lines=1)
    # a broken parent texts file is still named in Dutch, through the staff texts
    monkeypatch.undo()
    parents = tmp_path / "parents.yml"
    parents.write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(TextsError, match="heeft geen 'messages:'"):
        texts.load_messages(parents)


def test_a_broken_entry_of_a_texts_file_is_named_with_its_key(tmp_path: Path) -> None:
    parents = tmp_path / "parents.yml"
    parents.write_text("messages:\n  a.b:\n    text: Hallo.\n    kind: brief\n",
                       encoding="utf-8")
    with pytest.raises(TextsError, match="'a.b' heeft een onbekende kind 'brief'"):
        texts.load_messages(parents)
