"""The supervisor's logs rotate by size (bot.run.RotatingLog, LOG_MAX_BYTES /
LOG_BACKUPS): a server that writes without end never fills the disk between two
``purge`` runs, and the newest lines are always in the current file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.run import RotatingLog
from core.settings import get_settings


def test_a_chatty_server_is_rotated_and_bounded(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "logs" / "actions.log", max_bytes=4096, backups=2)
    # a child that writes ~60 KB, like a server under load, through a pipe
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfor i in range(1000): print(f'line {i:04d} ' + 'x' * 50)\n"
         "print('the last line', file=sys.stderr)"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    pump = log.follow(child.stdout)
    child.wait(timeout=30)
    pump.join(timeout=30)
    log.close()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["actions.log", "actions.log.1", "actions.log.2"]  # 2 backups, no more
    for name in files:
        assert (tmp_path / "logs" / name).stat().st_size <= 4096
    current = (tmp_path / "logs" / "actions.log").read_text()
    assert current.rstrip("\n").endswith("the last line")  # stderr too, nothing lost at the end
    older = (tmp_path / "logs" / "actions.log.1").read_text().splitlines()
    assert older and all(line.startswith("line ") for line in older)


def test_retention_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("LOG_MAX_BYTES", "1048576")
        monkeypatch.setenv("LOG_BACKUPS", "3")
        settings = get_settings()
        assert (settings.log_max_bytes, settings.log_backups) == (1048576, 3)
        monkeypatch.delenv("LOG_MAX_BYTES")
        monkeypatch.delenv("LOG_BACKUPS")
        get_settings.cache_clear()
        assert (get_settings().log_max_bytes, get_settings().log_backups) == (10 * 1024**2, 5)
    finally:
        get_settings.cache_clear()
