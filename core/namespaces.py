"""Conversation-id namespaces: every channel owns the ids it creates.

The website widget's ids start with ``web-``, WhatsApp's with ``wa-``, Telegram's with
``tg-``; each of those channels makes its ids itself (random, or an HMAC of the provider's
user id). REST (tests, staff tools, integrations) may choose its sender ids, but never one
in another channel's namespace: otherwise whoever learns a website conversation id (it is
the first part of the widget's resume token) could talk as that conversation over REST.

The rule is checked twice: by the REST channel, which refuses such ids, and by the action
server (:func:`owns`), which treats a conversation as unverified when its id does not
belong to the channel of the latest message, so a grant is only usable by the channel and
the conversation that earned it. No Rasa imports here: the action server uses it too.
"""

from __future__ import annotations

# Rasa input channel name -> the prefix of the conversation ids it creates
CHANNEL_PREFIXES: dict[str, str] = {
    "socketio": "web-",
    "whatsapp": "wa-",
    "telegram": "tg-",
}
RESERVED_PREFIXES: tuple[str, ...] = tuple(CHANNEL_PREFIXES.values())


def reserved(sender_id: str) -> bool:
    """True when ``sender_id`` lies in a namespace a channel keeps for itself (any case)."""
    return sender_id.lower().startswith(RESERVED_PREFIXES)


def owns(channel: str | None, sender_id: str) -> bool:
    """True when a message on ``channel`` may speak for conversation ``sender_id``.

    ``socketio``/``whatsapp``/``telegram`` own exactly their prefix; every other channel
    (``rest``, Rasa's ``cmdline`` of ``make shell``) owns only ids outside those prefixes.
    """
    prefix = CHANNEL_PREFIXES.get(channel or "")
    if prefix is not None:
        return sender_id.startswith(prefix)
    return not reserved(sender_id)
