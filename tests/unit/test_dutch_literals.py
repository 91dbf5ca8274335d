"""Runtime code keeps (almost) no Dutch sentences as string literals (issue 15).

Parent texts live in ``data/answers/messages.yml`` (``core.texts.text``), staff and operator
texts in ``data/staff/messages.yml`` (``core.texts.staff_text``). This test reads the
runtime packages (``core``, ``actions``, ``bot``; not ``tests`` or ``bench``) with the
``ast`` module and counts the string literals that are Dutch sentences: at least four
words (separated by white space), of which at least two are Dutch function words and more
are Dutch than English function words ("is", "in" are both). Not counted: docstrings and
the arguments of logger calls (``logger.info(...)``, ``log.warning(...)``,
``logging.error(...)``), which developers read; and vocabularies the code recognises
input with, never shows: the elements of a set display (``{"ja", "dat is goed"}``) and
word lists split into words (``"van de der den".split()``). A regular expression's
alternation (``wat|waarom|hoe``) is one word. An f-string counts as one literal, its
``{...}`` parts as one word each.

Run it as a script to list what it finds::

    .venv/bin/python tests/unit/test_dutch_literals.py
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("core", "actions", "bot")
MAX_DUTCH_LITERALS = 5

FUNCTION_WORDS = frozenset("""
    de het een van niet is u uw en op voor met te er dat die kan wordt worden zijn
    geen of in aan als om naar bij ook nog maar dan deze dit door uit over tot wel
    niets heeft hebben moet mag kunt zal wilt ik we wij hun zij ze hij
""".split())
ENGLISH_WORDS = frozenset("""
    the and of to a an is in it not at for with from on are be use this that or by as
    was were has have no run
""".split())
LOG_NAMES = frozenset({"logger", "log", "logging", "_log", "_logger", "LOGGER", "LOG"})
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception",
                         "critical", "log"})
_LETTER = re.compile(r"[^\W\d_]")
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def is_dutch_sentence(text: str) -> bool:
    words = [_EDGE.sub("", token).lower() for token in text.split() if _LETTER.search(token)]
    dutch = sum(word in FUNCTION_WORDS for word in words)
    english = sum(word in ENGLISH_WORDS for word in words)
    return len(words) >= 4 and dutch >= 2 and dutch > english


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else " x "
                       for part in node.values)
    return None


def _is_logger_call(node: ast.Call) -> bool:
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in LOG_METHODS:
        return False
    owner = func.value
    if isinstance(owner, ast.Name):
        return owner.id in LOG_NAMES
    if isinstance(owner, ast.Attribute):  # self.logger.info(...)
        return owner.attr in LOG_NAMES
    if isinstance(owner, ast.Call):  # logging.getLogger(...).info(...)
        return _is_logger_call_target(owner)
    return False


def _is_logger_call_target(node: ast.Call) -> bool:
    func = node.func
    return isinstance(func, ast.Attribute) and func.attr == "getLogger"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                      | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                skipped.add(id(body[0].value))
    return skipped


def dutch_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) for every Dutch-sentence literal in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_logger_call(node):
            for inner in ast.walk(node):
                skipped.add(id(inner))
        if isinstance(node, ast.JoinedStr):  # its parts are not literals of their own
            for part in node.values:
                skipped.add(id(part))
        if isinstance(node, ast.Set):  # a vocabulary: matched against, never shown
            skipped.update(id(element) for element in node.elts)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "split" and not node.args):  # a word list
            skipped.add(id(node.func.value))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        literal = _literal_text(node)
        if literal is not None and is_dutch_sentence(literal):
            found.append((getattr(node, "lineno", 0), literal))
    return sorted(found)


def runtime_files() -> list[Path]:
    return sorted(path for package in RUNTIME_PACKAGES
                  for path in (ROOT / package).rglob("*.py"))


def all_dutch_literals() -> list[tuple[str, int, str]]:
    return [(str(path.relative_to(ROOT)), line, text)
            for path in runtime_files() for line, text in dutch_literals(path)]


def test_the_scanner_recognises_dutch_sentences() -> None:
    assert is_dutch_sentence("Het bestand kan niet worden gelezen.")
    assert is_dutch_sentence("Geef een token van minstens 32 tekens.")
    assert not is_dutch_sentence("unknown message key")
    assert not is_dutch_sentence("de tekst")  # too short
    assert not is_dutch_sentence("the store is closed for writing")  # English
    assert not is_dutch_sentence("wat|waarom|waarvoor|hoe|wie|is|kan|moet")  # a pattern
    assert not is_dutch_sentence(
        "environment variable X is too weak: use at least 32 random characters, for "
        "example the output of secrets.token_hex (the same value on every node)")


def test_the_scanner_skips_docstrings_and_log_calls(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        '"""Dit is de uitleg van de module."""\n'
        "import logging\n"
        "logger = logging.getLogger(__name__)\n"
        "def f(x):\n"
        '    """Dit is de uitleg van de functie."""\n'
        '    logger.warning("het bestand %s kan niet worden gelezen", x)\n'
        '    raise ValueError(f"het bestand {x} kan niet worden gelezen")\n'
        'YES = {"ja dat is goed", "nee dat hoeft niet"}\n'
        'STOP = frozenset("van de der den het ten ter te".split())\n',
        encoding="utf-8")
    assert dutch_literals(source) == [(7, "het bestand  x  kan niet worden gelezen")]


def test_runtime_code_holds_at_most_five_dutch_sentences() -> None:
    found = all_dutch_literals()
    listing = "\n".join(f"{path}:{line}: {text!r}" for path, line, text in found)
    assert len(found) <= MAX_DUTCH_LITERALS, (
        f"{len(found)} Dutch sentences in runtime code (at most {MAX_DUTCH_LITERALS}); put "
        f"parent texts in data/answers/messages.yml and staff texts in "
        f"data/staff/messages.yml:\n{listing}")


if __name__ == "__main__":
    rows = all_dutch_literals()
    for file, line, literal in rows:
        print(f"{file}:{line}: {literal!r}")
    print(f"{len(rows)} Dutch sentences in runtime code", file=sys.stderr)
