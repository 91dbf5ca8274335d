"""The texts parents (and the care desk) read that the code puts together: status wording,
form prompts, verification and hand-over messages, channel messages and the mails.

They live in ``data/answers/messages.yml`` (staff edit them there, like the answers), one
entry per key::

    status.wrong_code:
      text: Deze code klopt niet. U kunt het nog {tries} keer proberen.
      values: [tries]        # what the code fills in; do not change this list
      kind: chat             # chat (default), button, mail_subject, mail_body

:func:`text` gives the text with its values filled in. A placeholder must be a plain
name listed under ``values`` (no attribute or index access: a text is never a template
language); ``make check-content`` checks that, the u-vorm and the length per kind before
a change goes live (:func:`check_messages`). The file is read on first use and again when
it changes, never at import.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs

MESSAGES_FILE = Path(__file__).resolve().parent.parent / "data" / "answers" / "messages.yml"

KINDS = ("chat", "button", "mail_subject", "mail_body", "mail_line")
MAX_LENGTH = {"chat": 700, "button": 60, "mail_subject": 90, "mail_body": 4000,
              "mail_line": 300}
INFORMAL = re.compile(r"(?<!\w)(je|jij|jou|jouw)(?!\w)", re.IGNORECASE)  # use "u"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class TextsError(Exception):
    """The messages file cannot be read, has the wrong shape, or a text cannot be filled."""


@dataclass(frozen=True)
class Message:
    key: str
    text: str
    values: tuple[str, ...] = ()
    kind: str = "chat"
    translate: bool = True  # False: read by staff, or sent before a conversation has a language

    def placeholders(self) -> list[str]:
        """The ``{names}`` in the text (raises TextsError on a malformed brace)."""
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(self.text)
                      if field is not None]
        except ValueError as exc:
            raise TextsError(f"{self.key}: accolades kloppen niet ({exc})") from exc
        return fields


def load_messages(path: Path = MESSAGES_FILE) -> dict[str, Message]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TextsError(_problem(path, "texts.unreadable", error=type(exc).__name__)) from exc
    entries = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise TextsError(_problem(path, "texts.no_messages"))
    messages: dict[str, Message] = {}
    for key, entry in entries.items():
        if isinstance(entry, str):
            entry = {"text": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            raise TextsError(_problem(path, "texts.no_text", key=key))
        values = entry.get("values") or []
        kind = entry.get("kind") or "chat"
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise TextsError(_problem(path, "texts.bad_values", key=key))
        if kind not in KINDS:
            raise TextsError(_problem(path, "texts.bad_kind", key=key, kind=kind))
        text = entry["text"]
        if kind != "mail_body":
            text = " ".join(text.split())  # chat texts: one paragraph, as YAML '>-' gives
        translate = entry.get("translate", True)
        if not isinstance(translate, bool):
            raise TextsError(_problem(path, "texts.bad_translate", key=key))
        messages[str(key)] = Message(str(key), text, tuple(values), kind, translate)
    return messages


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> dict[str, Message]:
    return load_messages(Path(path))


def messages(path: Path = MESSAGES_FILE) -> dict[str, Message]:
    """Every message, read again when the file changed."""
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise TextsError(_problem(path, "texts.unreadable", error=type(exc).__name__)) from exc
    return _cached(str(path), mtime)


@dataclass
class Spoken:
    """What :func:`text` gave while :func:`speaking` was active: each text in the parent's
    language with its Dutch original, and the strongest translation note."""

    language: str
    pieces: list[tuple[str, str]] = dataclass_field(default_factory=list)
    note: str | None = None
    shown: set[str] = dataclass_field(default_factory=set)

    def dutch(self, localized: str) -> str:
        """``localized`` (a message put together from texts) with every piece in Dutch."""
        for piece, original in sorted(self.pieces, key=lambda p: len(p[0]), reverse=True):
            if piece and piece != original:
                localized = localized.replace(piece, original)
        return localized


_SPEAKING: ContextVar[Spoken | None] = ContextVar("lwoo_speaking", default=None)
_NOTE_RANK = {None: 0, "missing": 1, "outdated": 2, "concept": 3}


@contextmanager
def speaking(language: str) -> Iterator[Spoken]:
    """Within the block, :func:`text` answers in ``language`` and records what it gave."""
    spoken = Spoken(language)
    token = _SPEAKING.set(spoken)
    try:
        yield spoken
    finally:
        _SPEAKING.reset(token)


def _fill(key: str, template: str, message: Message, values: dict[str, object]) -> str:
    missing = [name for name in message.placeholders() if name not in values]
    if missing:
        raise TextsError(f"{key}: no value for {', '.join(missing)}")
    return template.format_map({k: str(v) for k, v in values.items()})


def text(key: str, language: str | None = None, **values: object) -> str:
    """The text of ``key`` with ``values`` filled in, in ``language`` (default: the
    language of the :func:`speaking` block, else Dutch)."""
    try:
        message = messages()[key]
    except KeyError as exc:
        raise TextsError(f"unknown message key {key!r}") from exc
    dutch = _fill(key, message.text, message, values)
    if not message.translate:
        return dutch
    return translated("messages", key, dutch, language,
                      lambda template: _fill(key, template, message, values))


def translated(source: str, key: str, dutch: str, language: str | None = None,
               fill: Any = None) -> str:
    """``dutch`` (the text of ``key`` in ``source``, filled in) in ``language`` (default:
    the :func:`speaking` block's), recorded for the block; ``fill`` fills the translated
    template the way ``dutch`` was filled."""
    spoken = _SPEAKING.get()
    language = language or (spoken.language if spoken else None)
    if not language or language == "nl":
        return dutch
    from core.settings import get_settings
    from core.translations import render

    rendered = render(source, key, language, get_settings().translation_concepts)
    if rendered.shown == "nl":
        localized = dutch
    else:
        localized = fill(rendered.text) if fill is not None else rendered.text
    if spoken is not None:
        spoken.pieces.append((localized, dutch))
        spoken.shown.add(rendered.shown)
        if _NOTE_RANK.get(rendered.note, 0) > _NOTE_RANK.get(spoken.note, 0):
            spoken.note = rendered.note
    return localized


def record_piece(localized: str, dutch: str) -> None:
    """Tell the :func:`speaking` block that ``localized`` — put together from texts it
    gave, e.g. two answers with a shared sentence left out — stands for ``dutch``, so the
    message keeps its Dutch original ("Nederlandse tekst")."""
    spoken = _SPEAKING.get()
    if spoken is not None and localized != dutch:
        spoken.pieces.append((localized, dutch))


def check_messages(found: dict[str, Message]) -> list[tuple[str, str]]:
    """(key, Dutch problem) for every text that may not go live."""
    problems: list[tuple[str, str]] = []
    for key, message in found.items():
        try:
            fields = message.placeholders()
        except TextsError as exc:
            problems.append((key, str(exc)))
            continue
        for field in fields:
            if not _NAME.match(field):
                problems.append((key, staff_text("texts.not_a_name", field=field)))
            elif field not in message.values:
                problems.append((key, staff_text(
                    "texts.not_filled", field=field,
                    values=", ".join(message.values) or staff_text("texts.nothing"))))
        informal = INFORMAL.search(message.text)
        if informal:
            problems.append((key, staff_text("texts.informal", word=informal.group(0))))
        limit = MAX_LENGTH[message.kind]
        if len(message.text) > limit:
            problems.append((key, staff_text("texts.too_long", length=len(message.text),
                                             limit=limit, kind=message.kind)))
        if not message.text.strip():
            problems.append((key, staff_text("texts.empty")))
    return problems


# -- staff texts ------------------------------------------------------------------------
# What school staff and operators read on the command line (import, audit, purge,
# callbacks, review, check-content, run, cluster, init) lives in data/staff/messages.yml:
# the same format and placeholder rules as the parent texts, read through staff_text.

STAFF_MESSAGES_FILE = MESSAGES_FILE.parent.parent / "staff" / "messages.yml"


def staff_messages(path: Path | None = None) -> dict[str, Message]:
    """Every staff message, read again when the file changed."""
    return messages(path or STAFF_MESSAGES_FILE)


def staff_text(key: str, /, **values: object) -> str:
    """The staff text of ``key`` with ``values`` filled in (placeholders as in text())."""
    found = staff_messages()
    if key not in found:
        raise TextsError(f"unknown staff message key {key!r}")
    message = found[key]
    missing = [name for name in message.placeholders() if name not in values]
    if missing:
        raise TextsError(f"{key}: no value for {', '.join(missing)}")
    return message.text.format_map({name: str(value) for name, value in values.items()})


def check_staff_messages(path: Path | None = None) -> list[tuple[str, str]]:
    """(key, Dutch problem) for every staff text that may not go live (as check_messages)."""
    return check_messages(load_messages(path or STAFF_MESSAGES_FILE))


def _problem(path: Path, key: str, /, **values: object) -> str:
    """A staff text about a texts file; in English when the broken file is the staff
    file itself (its texts cannot be read then)."""
    if Path(path).resolve() == STAFF_MESSAGES_FILE.resolve():
        return f"{path}: the staff texts file is broken ({key})"
    try:
        return staff_text(key, path=path, **values)
    except TextsError as exc:
        return f"{path}: {key} ({exc})"
