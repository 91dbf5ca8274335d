"""Every text the code puts together lives in data/answers/messages.yml (issue 15):
the code asks for keys that exist with the values they declare, ``check-content`` refuses
a text that cannot be filled, is informal, too long or lost a required fact, and no
Dutch sentence is left as a string literal in the runtime code."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from bot.content_check import check_message_texts
from core import texts
from core.texts import MESSAGES_FILE, Message, TextsError, check_messages, load_messages

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = [ROOT / "core", ROOT / "actions", ROOT / "bot"]


def _calls() -> list[tuple[str, int, ast.Call]]:
    """Every call of core.texts.text (imported as ``msg``) in the runtime code."""
    found = []
    for folder in RUNTIME:
        for path in sorted(folder.rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "msg"):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node))
    return found


def _key_pattern(node: ast.expr) -> re.Pattern[str] | None:
    """The key a call asks for, as a pattern (f-strings: each {…} is one key part)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.compile(re.escape(node.value) + "$")
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else r"[a-z0-9_-]+"
                 for v in node.values]
        return re.compile("".join(parts) + "$")
    return None


def test_every_key_the_code_asks_for_exists_with_the_values_it_declares() -> None:
    found = load_messages()
    calls = _calls()
    assert len(calls) > 40
    for where, line, call in calls:
        pattern = _key_pattern(call.args[0]) if call.args else None
        if pattern is None:  # a variable key: checked through its dictionary below
            continue
        keys = [key for key in found if pattern.match(key)]
        assert keys, f"{where}:{line} asks for a key that is not in messages.yml"
        passed = {kw.arg for kw in call.keywords} - {"language"}  # text()'s own parameter
        for key in keys:
            assert passed == set(found[key].values), (where, line, key)


def test_every_message_in_the_file_is_used_by_the_code() -> None:
    patterns = [p for p in (_key_pattern(c.args[0]) for _, _, c in _calls() if c.args) if p]
    source = "\n".join(p.read_text(encoding="utf-8") for folder in RUNTIME
                       for p in folder.rglob("*.py") if "node_modules" not in p.parts)
    for key in load_messages():
        used = any(p.match(key) for p in patterns) or f'"{key}"' in source
        assert used, f"{key} is in messages.yml but no code uses it"


def test_the_committed_messages_pass_check_content() -> None:
    assert check_message_texts() == []


@pytest.mark.parametrize(("text", "values", "kind", "problem"), [
    ("Deze code klopt niet. U kunt het nog {pogingen} keer proberen.", ("tries",), "chat",
     "wordt niet ingevuld"),
    ("Hallo {tries.__class__}", ("tries",), "chat", "geen gewone naam"),
    ("Hallo {tries[0]}", ("tries",), "chat", "geen gewone naam"),
    ("Kun je de code typen?", (), "chat", 'spreek ouders aan met "u"'),
    ("Ja, neem contact met mij op en bel mij vandaag of morgen nog even terug, graag", (), "button",
     "hooguit 60"),
    ("Een open { accolade", (), "chat", "accolades kloppen niet"),
])
def test_a_text_that_may_not_go_live_is_named(text: str, values: tuple[str, ...],
                                              kind: str, problem: str) -> None:
    problems = check_messages({"status.wrong_code": Message("status.wrong_code", text,
                                                           values, kind)})
    assert problems and problem in problems[0][1], problems


def test_check_content_fails_on_a_broken_or_factless_message(tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    from bot.__main__ import main

    copy = tmp_path / "messages.yml"
    shutil.copyfile(MESSAGES_FILE, copy)
    original = copy.read_text(encoding="utf-8")
    assert "{code}" in original
    copy.write_text(original.replace("    {code}\n", "    {kode}\n", 1), encoding="utf-8")
    monkeypatch.setattr(texts, "MESSAGES_FILE", copy)
    assert main(["check-content", "--skip-validate"]) == 1
    err = capsys.readouterr().err
    assert "bericht/mail.code.body" in err
    assert "{kode}" in err and "de code zelf" in err


def test_text_fills_values_and_refuses_a_missing_one() -> None:
    assert texts.text("status.wrong_code", tries=2) == \
        "Deze code klopt niet. U kunt het nog 2 keer proberen."
    with pytest.raises(TextsError):
        texts.text("status.wrong_code")
    with pytest.raises(TextsError):
        texts.text("status.no_such_key")


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "messages.yml"
    path.write_text("messages:\n  a.b: Goedemorgen.\n", encoding="utf-8")
    assert texts.messages(path)["a.b"].text == "Goedemorgen."
    path.write_text("messages:\n  a.b: Goedemiddag, fijn dat u er bent.\n", encoding="utf-8")
    import os

    os.utime(path, (1, 1))
    assert texts.messages(path)["a.b"].text == "Goedemiddag, fijn dat u er bent."
