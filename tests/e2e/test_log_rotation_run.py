"""`python -m bot run` writes rasa.log and actions.log through its rotating writer:
with a small LOG_MAX_BYTES the real servers' logs roll over, keep LOG_BACKUPS old
files, and the newest lines (this turn's) are in the current files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bot import BotServer, start_bot, stop_bot

pytestmark = pytest.mark.e2e

MAX_BYTES, BACKUPS = 2048, 2


@pytest.fixture(scope="module")
def small_logs_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    server = start_bot(tmp_path_factory.mktemp("logrotation"), {
        "LOG_MAX_BYTES": str(MAX_BYTES), "LOG_BACKUPS": str(BACKUPS)})
    yield server
    stop_bot(server)


def test_the_servers_logs_rotate(small_logs_bot: BotServer) -> None:
    bot = small_logs_bot
    sender = bot.new_sender("logs")
    for _ in range(5):
        assert bot.texts(bot.say(sender, "Wat is lwoo?"))
    logs = bot.var_dir / "logs"
    names = {p.name for p in logs.iterdir()}
    assert {"rasa.log", "rasa.log.1"} <= names, names  # start-up alone fills 2 KB
    for stem in ("rasa.log", "actions.log"):
        assert f"{stem}.{BACKUPS + 1}" not in names  # only LOG_BACKUPS old files
        for path in logs.glob(f"{stem}*"):
            assert path.stat().st_size <= MAX_BYTES + 1024, path  # one long line at most
