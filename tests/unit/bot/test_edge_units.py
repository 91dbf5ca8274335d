"""Namespaces, the keyed rate limiter, REST's token rules, the action endpoint's token and
the pinned Rasa (issue 12, "edge")."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

from bot.channels.common import KeyedRateLimiter
from bot.channels.rest import bearer_matches
from bot.run import rasa_command
from core.namespaces import owns, reserved
from core.settings import get_settings, is_loopback, rest_token_problem

ROOT = Path(__file__).resolve().parents[3]


def test_each_channel_owns_only_its_namespace() -> None:
    web, wa, tg = "web-" + "a" * 32, "wa-" + "b" * 32, "tg-" + "c" * 32
    assert owns("socketio", web) and not owns("socketio", wa) and not owns("socketio", "x")
    assert owns("whatsapp", wa) and not owns("whatsapp", web) and not owns("whatsapp", tg)
    assert owns("telegram", tg) and not owns("telegram", wa)
    for channel in ("rest", "cmdline", None, "unknown"):
        assert owns(channel, "ouder-1") and owns(channel, "webmaster")
        assert not any(owns(channel, s) for s in (web, wa, tg, "WEB-1", "Wa-2", "tG-3"))
    assert reserved("WEB-x") and not reserved("web") and not reserved("wachter")


def test_keyed_rate_limiter_is_per_key_and_slides() -> None:
    limiter = KeyedRateLimiter(3, window_s=60)
    assert [limiter.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.allow("b", now=3)  # another key is not affected
    assert not limiter.allow("a", now=59.9)
    assert limiter.allow("a", now=60.1)  # the first event left the window


def test_keyed_rate_limiter_memory_is_bounded() -> None:
    limiter = KeyedRateLimiter(1, window_s=60, max_keys=100)
    for i in range(1000):
        limiter.allow(f"k{i}", now=0)
    assert len(limiter._events) == 100


def test_rest_token_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1")
    assert is_loopback("localhost") and not is_loopback("0.0.0.0")  # noqa: S104
    assert not is_loopback("10.0.0.5") and not is_loopback("::")
    assert rest_token_problem("127.0.0.1", "") is None
    assert "REST_API_TOKEN" in (rest_token_problem("0.0.0.0", "") or "")  # noqa: S104
    assert rest_token_problem("10.0.0.5", "short") is not None
    assert rest_token_problem("10.0.0.5", "x" * 32) is None
    token = "s3cret-" * 6
    assert bearer_matches(f"Bearer {token}", token) and bearer_matches(f"bearer {token}", token)
    for header in (None, "", token, f"Basic {token}", f"Bearer {token}x", "Bearer "):
        assert not bearer_matches(header, token)
    assert not bearer_matches("Bearer ", "")


def test_action_endpoint_sends_the_token_from_env() -> None:
    for name in ("endpoints.yml", "endpoints.cluster.yml"):
        config = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        assert config["action_endpoint"]["token"] == "${ACTION_SERVER_TOKEN}", name


def test_rasa_is_pinned_at_a_fixed_release_and_the_api_stays_off() -> None:
    installed = tuple(int(p) for p in version("rasa").split(".")[:3])
    assert installed >= (3, 6, 21)  # the advisory of the HTTP API is fixed from 3.6.21
    requirement = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "rasa[spacy]==3.6.21" in requirement.replace(" ", "")
    for in_terminal in (False, True):
        argv = rasa_command(get_settings(), in_terminal)
        assert "--enable-api" not in argv and "--cors" not in argv
        assert not any(a.startswith("--auth-token") for a in argv)


def test_resume_tokens_are_bound_to_their_origin() -> None:
    from bot.channels.socketio import (
        issue_resume_token,
        new_conversation_id,
        new_token_id,
        read_resume_token,
    )

    conversation, token_id = new_conversation_id(), new_token_id()
    token = issue_resume_token(conversation, token_id, "s", now=1000,
                               origin="https://www.school.example")
    assert read_resume_token(token, "s", now=1001,
                             origin="https://www.school.example/") == (conversation, token_id)
    for origin in ("", "https://evil.example", "http://www.school.example"):
        assert read_resume_token(token, "s", now=1001, origin=origin) is None
