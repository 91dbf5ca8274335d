"""Input channels: REST (tests, staff, integrations), socket.io (website widget),
WhatsApp via Twilio, Telegram. Shared safety lives in :mod:`bot.channels.common`."""
