"""One settings registry (issue 15): every environment variable is a Settings field, read
in core/settings.py only; Rasa's ${VAR}s come from it; the README documents exactly them;
secrets are made by an explicit set-up step, never by reading the settings."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.settings import (
    ensure_key_files,
    environment_variables,
    get_settings,
    load_settings,
    rasa_env,
)

ROOT = Path(__file__).resolve().parents[3]
RASA_FILES = ("endpoints.yml", "endpoints.cluster.yml", "credentials.yml")
_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")


def _readme_variables() -> set[str]:
    """The variables in the first column of the README's configuration tables."""
    names: set[str] = set()
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        names.update(n for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", first)
                     if n.upper() == n)
    return names


def test_every_rasa_variable_is_a_setting_and_given_to_rasa() -> None:
    registry = environment_variables()
    for profile in ("", "cluster"):
        env = rasa_env(load_settings({"PROFILE": profile, "HASH_SECRET": "0123456789abcdef" * 3}))
        for name in RASA_FILES:
            lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
            used = [v for line in lines if not line.lstrip().startswith("#")
                    for v in _VAR.findall(line)]
            assert used, name
            for var in used:
                assert var in registry, f"{name}: ${{{var}}} is no setting"
                assert var in env, f"{name}: ${{{var}}} is not given to Rasa ({profile=})"


def test_the_readme_documents_exactly_the_settings() -> None:
    registry = set(environment_variables())
    documented = _readme_variables()
    assert documented - registry == set(), "README rows that are no setting"
    assert registry - documented == set(), "settings without a README row"


def test_no_runtime_module_reads_the_environment_itself() -> None:
    """Copies of os.environ for a child process are fine; reading a variable is not."""
    offenders = []
    for folder in ("core", "actions", "bot"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "settings.py" and path.parent.name == "core" \
                    or "node_modules" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                text = ast.unparse(node) if isinstance(
                    node, ast.Call | ast.Subscript | ast.Compare) else ""
                if re.search(r"os\.environ\.get\(|os\.environ\[|os\.getenv\(|in os\.environ",
                             text):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_cluster_profile_defaults_to_postgresql_and_redis() -> None:
    settings = load_settings({"PROFILE": "cluster", "TRACKER_DB_PASSWORD": "p@ss word"})
    assert settings.records_db_url.startswith("postgresql+psycopg2://postgres:p%40ss%20word@")
    assert settings.tracker_db_url.endswith("/lwoo_conversations")
    assert settings.redis_url == "redis://127.0.0.1:6379/2"
    assert settings.sanic_workers == 2 and settings.explicit == {"PROFILE",
                                                                 "TRACKER_DB_PASSWORD"}
    embedded = load_settings({})
    assert embedded.records_db_url.startswith("sqlite:///") and embedded.redis_url == ""


def test_secrets_are_never_in_repr() -> None:
    settings = load_settings({"HASH_SECRET": "h" * 20 + "0123456789abcdefghij",
                              "SMTP_PASSWORD": "smtp-canary-password",
                              "TELEGRAM_BOT_TOKEN": "123:telegram-canary"})
    shown = repr(settings)
    for secret in ("0123456789abcdefghij", "smtp-canary-password", "telegram-canary"):
        assert secret not in shown


def test_reading_the_settings_makes_no_key_file_the_set_up_step_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("HASH_SECRET", raising=False)
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.hash_secret == "" and settings.action_server_token == ""
        assert list(tmp_path.iterdir()) == []
        made = ensure_key_files()
        assert {p.name for p in made} == {"hash_secret.key", "action_server.key"}
        assert all(p.stat().st_mode & 0o077 == 0 for p in made)
        again = get_settings()
        assert len(again.hash_secret) == 64 and len(again.action_server_token) == 64
        assert ensure_key_files() == made and get_settings().hash_secret == again.hash_secret
    finally:
        get_settings.cache_clear()
