"""End-to-end fixtures: the real action server + Rasa (``python -m bot run``) with the
trained model, on free loopback ports, with runtime state in a temporary VAR_DIR that
holds the demo pupils plus a canary pupil."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bot import BotServer, start_bot, stop_bot
from tests.support.provider_standin import ProviderStandIn


@pytest.fixture(scope="session")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    """The bot as `make run` starts it, shared by the end-to-end tests."""
    server = start_bot(tmp_path_factory.mktemp("bot"))
    yield server
    stop_bot(server)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotServer]:
    """A bot of the test module's own, started with the module's ``BOT_ENV`` (extra
    environment variables: origins, portal secret, limits …)."""
    env = getattr(request.module, "BOT_ENV", {})
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    bot = start_bot(tmp_path_factory.mktemp(name), dict(env))
    yield bot
    stop_bot(bot)


@pytest.fixture(scope="module")
def standin() -> Iterator[ProviderStandIn]:
    """A local stand-in of the Twilio and Telegram APIs that records what the bot sends."""
    server = ProviderStandIn().start()
    yield server
    server.stop()
