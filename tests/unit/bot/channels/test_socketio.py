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


# -- languages: metadata.language per message, the widget texts ---------------------------

class RecordingSio:
    """Stands in for the socket.io server: records what would be emitted."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, object, str | None]] = []

    async def emit(self, event: str, data: object = None, room: str | None = None,
                   **_: object) -> None:
        self.emitted.append((event, data, room))


def test_every_bot_message_carries_its_language() -> None:
    import asyncio

    from bot.channels.socketio import WidgetOutput

    sio = RecordingSio()
    output = WidgetOutput(sio, "bot_uttered", sid="sid-1")  # type: ignore[arg-type]

    async def turn() -> None:
        # what Rasa's processor hands the channel (BotUttered.message()): the NLG's
        # metadata, here with two paragraphs and buttons
        await output.send_response("web-x", {
            "text": "مرحبًا.\n\nما هو lwoo؟", "buttons": [{"title": "lwoo", "payload": "/faq"}],
            "metadata": {"language": "ar"}, "utter_action": "utter_greet"})
        await output.send_response("web-x", {"text": "Hallo."})  # no language: Dutch
        await output.send_response("web-x", {"text": "x", "metadata": {"language": "xx"}})
        # as core/localize.py marks it: a Dutch text (no translation yet) in an English
        # conversation
        await output.send_response("web-x", {"text": "Dag.", "lwoo": {
            "language": "nl", "dir": "ltr", "requested": "en"}})

    asyncio.run(turn())
    sent = [data for _, data, _ in sio.emitted]
    assert [m["metadata"] for m in sent] == [  # type: ignore[index]
        {"language": "ar"}, {"language": "ar"}, {"language": "nl"}, {"language": "nl"},
        {"language": "nl"}]
    assert sent[1]["quick_replies"][0]["payload"] == "/faq"  # type: ignore[index]
    assert {room for _, _, room in sio.emitted} == {"sid-1"}  # only this connection
    assert output.sent == 5
    assert output.language == "en"  # the conversation's, as the turn's last answer said


def test_message_language_accepts_only_the_widget_languages() -> None:
    from bot.channels.socketio import message_language

    assert message_language({"metadata": {"language": "nl-b1"}}) == "nl-b1"
    assert message_language({"lwoo": {"language": "uk", "requested": "uk"}}) == "uk"
    assert message_language({"lwoo": {"language": "nl", "requested": "ar"}},
                            "requested") == "ar"
    for message in ({}, {"metadata": {"language": "<b>"}}, {"metadata": "ar"}, None,
                    {"metadata": {"language": ["ar"]}}, {"language": "ar"}):
        assert message_language(message) is None


def test_widget_texts_are_served_to_any_page_as_json() -> None:
    import asyncio
    import json

    from bot.channels.socketio import _texts_response

    resp = asyncio.run(_texts_response())
    assert resp.status == 200
    assert resp.content_type == "application/json; charset=utf-8"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    payload = json.loads(resp.body)
    assert [lang["code"] for lang in payload["languages"]] == [
        "nl", "nl-b1", "en", "tr", "ar", "pl", "uk"]
    assert payload["texts"]["ar"]["privacy_title"] == "قبل أن تبدأوا"
    assert set(payload["texts"]["uk"]) == set(payload["texts"]["nl"])
    assert "zorgcoördinator" in payload["terms"]


def test_the_language_menu_payload_passes_the_button_filter() -> None:
    import json

    from bot.channels.common import sanitize_text

    for code in ("nl", "nl-b1", "en", "tr", "ar", "pl", "uk"):
        payload = "/switch_language" + json.dumps({"language": code})
        assert sanitize_text(payload) == payload
    assert sanitize_text('/switch_language{"language": "ar", "x": "y"}') == "/switch_language"


class StubChannel:
    """Just what a WidgetConnection asks of its channel; the 'bot' answers ``answers``."""

    namespace = None
    bot_message_evt = "bot_uttered"
    _secret = SECRET

    def __init__(self) -> None:
        self.answers: list[dict[str, object]] = []
        self._on_new_message = self._bot

    @staticmethod
    def name() -> str:
        return "socketio"

    async def _tokens(self, method: str, *args: object, timeout: float = 0) -> None:
        return None  # records store down: the connection still holds its conversation

    async def _refreshed(self, conversation_id: str, token_id: str) -> str:
        return token_id

    async def _bot(self, message: object) -> None:
        for answer in self.answers:
            await message.output_channel.send_response(  # type: ignore[attr-defined]
                message.sender_id, dict(answer))  # type: ignore[attr-defined]


def test_turn_done_tells_the_conversation_language() -> None:
    import asyncio

    from bot.channels.socketio import WidgetConnection

    sio, channel = RecordingSio(), StubChannel()
    connection = WidgetConnection(channel, sio, "sid-1", new_conversation_id(),  # type: ignore[arg-type]
                                  new_token_id(), "http://127.0.0.1:5005", False, None, None)

    def turn(*answers: dict[str, object]) -> list[tuple[str, object]]:
        channel.answers = list(answers)
        before = len(sio.emitted)
        asyncio.run(connection.user_message({"message": "hallo"}))
        return [(event, data) for event, data, _ in sio.emitted[before:]]

    # a Dutch answer without a language from the NLG: the messages say nl, turn_done
    # names no conversation language (the widget keeps the one the parent chose)
    events = turn({"text": "Hallo!"})
    assert events[0] == ("bot_uttered", {"text": "Hallo!", "metadata": {"language": "nl"}})
    assert events[-1][0] == "turn_done" and "language" not in events[-1][1]  # type: ignore[operator]
    # an Arabic answer: the conversation is Arabic from now on
    events = turn({"text": "مرحبًا", "lwoo": {"language": "ar", "requested": "ar"}})
    assert events[0][1]["metadata"] == {"language": "ar"}  # type: ignore[index]
    assert events[-1][1]["language"] == "ar"  # type: ignore[index]
    # a turn without an answer: the channel's own Dutch notice, the conversation stays Arabic
    events = turn()
    assert events[0][1]["metadata"] == {"language": "nl"}  # type: ignore[index]
    assert events[-1][1]["language"] == "ar"  # type: ignore[index]
    # switched to English halfway
    events = turn({"text": "Hello!", "lwoo": {"language": "en", "requested": "en"}})
    assert events[-1] == ("turn_done", {"resume_token": connection.resume_token(),
                                        "language": "en"})
