"""Pure parts of the website channel: resume tokens, origins, rate limit, CSP."""

from __future__ import annotations

import pytest

from bot.channels.socketio import (
    RESUME_TTL_S,
    RateLimiter,
    allowed_origins,
    content_security_policy,
    issue_resume_token,
    new_conversation_id,
    new_token_id,
    read_resume_token,
)

SECRET = "unit-test-hash-secret"
NOW = 1_800_000_000.0


def test_conversation_ids_are_random_and_well_formed() -> None:
    ids = {new_conversation_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("web-") and len(i) == 36 for i in ids)


def test_resume_token_round_trip_and_expiry() -> None:
    conversation, token_id = new_conversation_id(), new_token_id()
    token = issue_resume_token(conversation, token_id, SECRET, now=NOW)
    assert token.split(".")[:2] == [conversation, token_id]
    assert read_resume_token(token, SECRET, now=NOW + 5) == (conversation, token_id)
    assert read_resume_token(token, SECRET, now=NOW + RESUME_TTL_S - 1) == (conversation,
                                                                          token_id)
    assert read_resume_token(token, SECRET, now=NOW + RESUME_TTL_S + 1) is None
    assert read_resume_token(token, SECRET, now=NOW + 61, ttl_s=60) is None  # configurable
    assert read_resume_token(token, SECRET, now=NOW - 3600) is None  # from the future


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # MAC changed
    lambda t: new_conversation_id() + t[36:],  # another conversation, same MAC
    lambda t: t[:37] + new_token_id() + t[69:],  # another token id, same MAC
    lambda t: t.rsplit(".", 2)[0] + ".1800000001." + t.rsplit(".", 1)[1],  # time changed
    lambda t: t.replace(".", "", 1),
    lambda t: t + ".extra",
    lambda t: "",
    lambda t: "x" * 500,
])
def test_tampered_resume_tokens_are_rejected(mangle: object) -> None:
    token = issue_resume_token(new_conversation_id(), new_token_id(), SECRET, now=NOW)
    assert read_resume_token(token, SECRET, now=NOW) is not None  # control
    assert read_resume_token(mangle(token), SECRET, now=NOW) is None  # type: ignore[operator]


def test_resume_token_needs_the_same_secret_origin_and_a_string() -> None:
    token = issue_resume_token(new_conversation_id(), new_token_id(), SECRET, now=NOW,
                               origin="https://www.compaen.example")
    assert read_resume_token(token, SECRET, now=NOW,
                             origin="https://www.compaen.example/") is not None
    assert read_resume_token(token, "another-secret", now=NOW,
                             origin="https://www.compaen.example") is None
    assert read_resume_token(token, SECRET, now=NOW, origin="https://evil.example") is None
    for value in (None, 42, ["a"], {"token": token}):
        assert read_resume_token(value, SECRET, now=NOW) is None


def test_resume_tokens_use_a_key_of_their_own() -> None:
    """Not HASH_SECRET itself: the MAC is keyed with a key derived for this purpose."""
    import hashlib
    import hmac

    from core.keys import derive_key

    token = issue_resume_token(new_conversation_id(), new_token_id(), SECRET, now=NOW)
    body, mac = token.rsplit(".", 1)
    message = f"{body}\x00".encode()
    raw = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    derived = hmac.new(derive_key(SECRET, "socket.io resume token"), message,
                       hashlib.sha256).hexdigest()
    assert mac != raw and mac == derived
    assert derive_key(SECRET, "socket.io resume token") != derive_key(SECRET, "conversation")


def test_allowed_origins_are_normalised_and_include_own_loopback() -> None:
    origins = allowed_origins(["https://www.Compaen.example/ ", " ", "https://portal.example"],
                              "127.0.0.1", 5005)
    assert origins == {"https://www.compaen.example", "https://portal.example",
                       "http://127.0.0.1:5005", "http://localhost:5005"}
    public = allowed_origins(["https://www.compaen.example"], "10.0.0.5", 5005)
    assert public == {"https://www.compaen.example"}


def test_rate_limiter_sliding_window_and_single_notice() -> None:
    limiter = RateLimiter(limit=3, window_s=10)
    assert [limiter.allow(t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.should_tell(3) is True
    assert limiter.should_tell(4) is False
    assert limiter.allow(10.5) is True  # the message at t=0 left the window
    assert limiter.allow(10.6) is False
    assert limiter.should_tell(13.5) is True


def test_csp_is_strict_and_ignores_odd_hosts() -> None:
    csp = content_security_policy("chat.compaen.example")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self' ws://chat.compaen.example wss://chat.compaen.example" in csp
    assert "unsafe" not in csp
    hostile = content_security_policy("evil.example; script-src *")
    assert "connect-src 'self';" in hostile and "script-src *" not in hostile
