"""Server-side state of the widget's resume tokens (issue 12, item 3), on SQLite and
PostgreSQL: a token resumes once, is rotated when the parent gets verified or the
verification is cleared, is revoked by "Gesprek wissen", expires, and all of that is
seen by every node (two stores on one database stand for two Rasa nodes)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.channels.socketio import new_conversation_id, new_token_id
from core.mail import OutboxMailer
from core.records import RecordsStore, ResumeOutcome, resume_tokens
from core.verification import Verifier, run_inline
from tests.support.unit import HASH_SECRET, MAIL_FROM, START, FakeClock, demo_pupils

TTL = timedelta(minutes=30)
CONVERSATION = "web-" + "ab" * 16


def node(store: RecordsStore, clock: FakeClock, tmp_path: Path) -> Verifier:
    """A verifier on its OWN store object (own engine and pool) on ``store``'s database,
    as a second Rasa node has."""
    same_db = RecordsStore(store._url, schema=store._schema)
    return Verifier(same_db, OutboxMailer(tmp_path / "outbox"), HASH_SECRET,
                    mail_from=MAIL_FROM, clock=clock, dispatch=run_inline)


def portal(verifier: Verifier, conversation: str, clock: FakeClock) -> None:
    verifier.grant_portal(conversation, ["100231"], "parent-1",
                          clock.now + timedelta(minutes=15), "web")


def nodes_with_token(store: RecordsStore, tmp_path: Path,
                     count: int = 2) -> tuple[FakeClock, list[Verifier], str]:
    """``count`` nodes on ``store``'s database and a token registered for CONVERSATION
    on the first node."""
    clock = FakeClock()
    nodes = [node(store, clock, tmp_path) for _ in range(count)]
    token = new_token_id()
    assert nodes[0].resume_register(CONVERSATION, token)
    return clock, nodes, token


def test_a_token_resumes_once_and_hands_over_to_the_new_connection(
        store: RecordsStore, tmp_path: Path) -> None:
    clock = FakeClock()
    one = node(store, clock, tmp_path)
    first, second, third = new_token_id(), new_token_id(), new_token_id()
    assert one.resume_register(CONVERSATION, first)
    assert not one.resume_register(CONVERSATION, second)  # never overwrites
    assert one.resume_claim(CONVERSATION, first, second, TTL)
    assert not one.resume_claim(CONVERSATION, first, third, TTL)  # captured copy: used
    assert one.resume_owner(CONVERSATION, first) is ResumeOutcome.SUPERSEDED
    assert one.resume_owner(CONVERSATION, second) is ResumeOutcome.KEPT
    assert one.resume_claim(CONVERSATION, second, third, TTL)
    # a token of another conversation, or an unknown one, resumes nothing
    assert not one.resume_claim(new_conversation_id(), third, new_token_id(), TTL)


def test_parallel_resumes_with_one_token_let_exactly_one_in(
        store: RecordsStore, tmp_path: Path) -> None:
    clock = FakeClock()
    nodes = [node(store, clock, tmp_path) for _ in range(2)]
    captured = new_token_id()
    nodes[0].resume_register(CONVERSATION, captured)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(
            lambda i: nodes[i % 2].resume_claim(CONVERSATION, captured, new_token_id(), TTL),
            range(8)))
    assert results.count(True) == 1


def test_tokens_expire_server_side_after_the_last_turn(
        store: RecordsStore, tmp_path: Path) -> None:
    clock, (one,), token = nodes_with_token(store, tmp_path, count=1)
    clock.advance(minutes=25)
    assert one.resume_refresh(CONVERSATION, token, new_token_id()) is ResumeOutcome.KEPT
    clock.advance(minutes=25)  # 50 minutes after the start, 25 after the last turn
    assert one.resume_claim(CONVERSATION, token, token, TTL)
    clock.advance(minutes=31)
    assert not one.resume_claim(CONVERSATION, token, new_token_id(), TTL)


def test_verification_rotates_the_token(store: RecordsStore, tmp_path: Path) -> None:
    """A token from before the verification never opens the verified conversation,
    not even before the verifying connection got its new one."""
    store.upsert_pupils(demo_pupils())
    clock, (one,), before = nodes_with_token(store, tmp_path, count=1)
    clock.advance(seconds=5)
    portal(one, CONVERSATION, clock)  # the parent is verified in this turn
    assert not one.resume_claim(CONVERSATION, before, new_token_id(), TTL)
    after = new_token_id()
    assert one.resume_refresh(CONVERSATION, before, after) is ResumeOutcome.ROTATED
    assert not one.resume_claim(CONVERSATION, before, new_token_id(), TTL)
    assert one.resume_refresh(CONVERSATION, after, new_token_id()) is ResumeOutcome.KEPT
    newest = new_token_id()
    assert one.resume_claim(CONVERSATION, after, newest, TTL)  # the legitimate client
    # a later grant (a new session, a new code) rotates again
    clock.advance(seconds=5)
    portal(one, CONVERSATION, clock)
    assert not one.resume_claim(CONVERSATION, newest, new_token_id(), TTL)


def test_clearing_the_verification_stops_earlier_tokens(
        store: RecordsStore, tmp_path: Path) -> None:
    """Rasa's session start (and any clear) ends the tokens; only the connection that
    holds the conversation gets a new one after its turn."""
    store.upsert_pupils(demo_pupils())
    clock = FakeClock()
    one = node(store, clock, tmp_path)
    holder, captured = new_token_id(), new_token_id()
    one.resume_register(CONVERSATION, captured)
    assert one.resume_claim(CONVERSATION, captured, holder, TTL)
    one.clear(CONVERSATION)  # unverified conversation: its tokens end all the same
    assert not one.resume_claim(CONVERSATION, holder, new_token_id(), TTL)
    assert one.resume_refresh(CONVERSATION, captured, new_token_id()) is \
        ResumeOutcome.SUPERSEDED
    fresh = new_token_id()
    assert one.resume_refresh(CONVERSATION, holder, fresh) is ResumeOutcome.ROTATED
    assert one.resume_claim(CONVERSATION, fresh, new_token_id(), TTL)


def test_ending_the_conversation_revokes_it_on_every_node(
        store: RecordsStore, tmp_path: Path) -> None:
    store.upsert_pupils(demo_pupils())
    clock, (one, two), token = nodes_with_token(store, tmp_path)
    portal(one, CONVERSATION, clock)
    one.resume_refresh(CONVERSATION, token, token)
    assert two.resume_owner(CONVERSATION, token) is ResumeOutcome.KEPT
    one.end_conversation(CONVERSATION)  # "Gesprek wissen" on node one
    assert two.verified_pupils(CONVERSATION) == []
    assert not two.resume_claim(CONVERSATION, token, new_token_id(), TTL)
    assert two.resume_owner(CONVERSATION, token) is ResumeOutcome.REVOKED
    assert two.resume_refresh(CONVERSATION, token, new_token_id()) is ResumeOutcome.REVOKED
    assert not two.resume_register(CONVERSATION, new_token_id())  # and never again
    # a conversation that never had a row can be ended as well
    other = new_conversation_id()
    two.end_conversation(other)
    assert not one.resume_register(other, new_token_id())


def test_rotation_on_one_node_is_seen_by_the_other(
        store: RecordsStore, tmp_path: Path) -> None:
    store.upsert_pupils(demo_pupils())
    clock, (one, two), before = nodes_with_token(store, tmp_path)
    portal(two, CONVERSATION, clock)
    assert two.resume_refresh(CONVERSATION, before, new_token_id()) is ResumeOutcome.ROTATED
    assert not one.resume_claim(CONVERSATION, before, new_token_id(), TTL)


def test_only_hashes_are_stored_and_old_rows_are_purged(
        store: RecordsStore, tmp_path: Path) -> None:
    clock, (one,), token = nodes_with_token(store, tmp_path, count=1)
    clock.advance(hours=30)
    young, young_token = new_conversation_id(), new_token_id()
    one.resume_register(young, young_token)
    with store._get_engine().connect() as conn:
        rows = [tuple(row) for row in conn.execute(sa.select(resume_tokens))]
    stored = repr(rows)
    for clear in (CONVERSATION, token, young, young_token, CONVERSATION[4:], token[:16]):
        assert clear not in stored
    counts = store.purge(clock.now - timedelta(days=30), clock.now)
    assert counts.resume_tokens == 1
    assert not one.resume_claim(CONVERSATION, token, new_token_id(), TTL)
    assert one.resume_claim(young, young_token, new_token_id(), TTL)


def test_purge_keeps_rows_that_can_still_resume(store: RecordsStore) -> None:
    store.resume_register("h" * 64, "t" * 64, START)
    now: datetime = START + timedelta(hours=2)
    assert store.purge(now - timedelta(days=30), now).resume_tokens == 0
