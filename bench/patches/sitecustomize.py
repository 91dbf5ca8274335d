"""Bench-only speed patches for the Rasa process, each switched on by an environment variable.

Only the bench's tuning variants load this file (``PYTHONPATH=bench/patches`` for the Rasa
process); ``make run`` never does. They measure what a fix in ``bot/rasa_patches.py``
would bring, with the exact code that fix would use:

* ``LWOO_BENCH_CACHED_VALIDATOR=1`` — Rasa 3.6 checks every action-server response with
  ``jsonschema.validate``, which re-checks the schema itself on every call (about 50–65 ms
  of CPU with jsonschema 4.17, twice on a parent's first turn). The same validation with
  a validator built once.
* ``LWOO_BENCH_SQLITE_WAL=1`` — SQLite tracker store in WAL mode with
  ``synchronous=NORMAL``: one write instead of three ``fdatasync`` calls per turn (a
  crash of the machine, not of Rasa, can lose the last turns).
"""

from __future__ import annotations

import os
from typing import Any


def cache_action_response_validator() -> None:
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions import action as rasa_action

    schema = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    original = rasa_action.RemoteAction._validate_action_result

    def validate(self: Any, result: dict[str, Any]) -> bool:
        if best_match(validator.iter_errors(result)) is None:
            return True
        return bool(original(self, result))  # Rasa's own error message and exception

    rasa_action.RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


def sqlite_wal() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    event.listen(Engine, "connect", pragmas)


if os.environ.get("LWOO_BENCH_CACHED_VALIDATOR") == "1":
    cache_action_response_validator()
if os.environ.get("LWOO_BENCH_SQLITE_WAL") == "1":
    sqlite_wal()
