"""Rasa's conversation store, read and purged by the staff tools: one definition of the
``events`` table of Rasa 3.6's ``SQLTrackerStore`` (only the columns we use) and the two
operations on it, so the review (``python -m bot review``) and the purge
(``python -m bot purge``) read the same thing the same way.

Plain SQLAlchemy: no Rasa import. The stored user texts are already masked by the
Rasa process (bot/store_privacy.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from core.records import StoreUnavailable, create_store_engine

READ_TIMEOUT_S = 60.0  # a batch report may read many events (PostgreSQL statement timeout)

events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


def read_events(url: str, since: datetime,
                timeout_s: float = READ_TIMEOUT_S) -> dict[str, list[dict[str, Any]]]:
    """Events from ``since`` on, per conversation, in order. {} without the table.

    Raises StoreUnavailable when the conversation store fails."""
    engine = create_store_engine(url, timeout_s=timeout_s)
    query = (
        sa.select(events.c.sender_id, events.c.data)
        .where(events.c.timestamp >= since.timestamp())
        .order_by(events.c.id)
    )
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(events.name):
                return {}
            rows = conn.execute(query).all()
    except (SQLAlchemyError, OSError):
        raise StoreUnavailable("conversation store unavailable (read)") from None
    finally:
        engine.dispose()
    conversations: dict[str, list[dict[str, Any]]] = {}
    for sender, raw in rows:
        try:
            event = json.loads(raw or "{}")
        except ValueError:
            continue
        if isinstance(event, dict):
            conversations.setdefault(str(sender), []).append(event)
    return conversations


def purge_events(url: str, cutoff: datetime) -> int:
    """Delete events older than ``cutoff``; 0 without the table.

    Raises StoreUnavailable when the conversation store fails."""
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table(events.name):
                return 0
            delete = events.delete().where(events.c.timestamp < cutoff.timestamp())
            return int(conn.execute(delete).rowcount)
    except (SQLAlchemyError, OSError):
        raise StoreUnavailable("conversation store unavailable (purge)") from None
    finally:
        engine.dispose()
