"""``python -m bot callbacks [--since 7d] [--resend]``: the parents' callback requests.

For the care desk and the administrator: lists the requests of a period, and with
``--resend`` mails the care desk every request that was stored but could not be mailed
(the mail server was down when the parent asked). Nothing a parent asked for is lost.
Output is Dutch. Exit codes: 0 ok; 2 bad argument; 3 database or mail not reachable.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from bot.admin import (
    EXIT_OK,
    EXIT_STORE_DOWN,
    EXIT_UNREADABLE,
    format_table,
    settings_and_period,
)
from core.mail import Mailer, MailUnavailable, callback_message, get_mailer
from core.records import CallbackRequest, ContactMethod, RecordsStore, StoreUnavailable
from core.school_calendar import MONTHS, WEEKDAYS, clock, school_timezone
from core.settings import Settings
from core.texts import staff_text

_HEADER = ("nr", "ontvangen", "kanaal", "terugbellen op", "contact", "gemaild", "vraag")


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _promise(request: CallbackRequest, settings: Settings) -> str:
    day = request.callback_date
    start, end = settings.callback_hours
    return (f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} tussen "
            f"{clock(start)} en {clock(end)}")


def _row(request: CallbackRequest, settings: Settings) -> tuple[str, ...]:
    tz = school_timezone(settings.school_timezone)
    method = "e-mail" if request.contact_method is ContactMethod.EMAIL else "telefoon"
    return (
        str(request.id),
        f"{request.created_at.astimezone(tz):%Y-%m-%d %H:%M}",
        request.channel,
        f"{request.callback_date:%Y-%m-%d}",
        f"{method}: {request.contact}",
        "ja" if request.mailed_at else "NEE",
        _short(request.question),
    )


def callbacks_command(
    since: str,
    resend: bool = False,
    *,
    store: RecordsStore | None = None,
    mailer: Mailer | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> int:
    """List the callback requests of the period; ``resend``: mail the unmailed ones."""
    resolved = settings_and_period(since, settings, now)
    if resolved is None:
        return EXIT_UNREADABLE
    settings, start, _ = resolved
    store = store or RecordsStore.from_settings(settings)
    try:
        requests = store.callback_requests(start)
    except StoreUnavailable:
        print(staff_text("admin.store_down"), file=sys.stderr)
        return EXIT_STORE_DOWN
    if not requests:
        print(staff_text("callbacks.none", since=f"{start:%Y-%m-%d %H:%M}"))
        return EXIT_OK
    print(format_table(_HEADER, [_row(r, settings) for r in requests]))
    unmailed = [r for r in requests if r.mailed_at is None]
    print(staff_text("callbacks.count", requests=len(requests), unmailed=len(unmailed)))
    if not resend or not unmailed:
        if unmailed:
            print(staff_text("callbacks.resend_hint"))
        return EXIT_OK
    mailer = mailer or get_mailer(settings)
    for request in unmailed:
        message = callback_message(
            sender=settings.smtp_from, recipient=settings.care_desk_email,
            request_id=request.id, channel=request.channel, question=request.question,
            contact_method=request.contact_method.value, contact=request.contact,
            promise=_promise(request, settings),
            transcript=[staff_text("callbacks.resent_transcript")],
        )
        try:
            mailer.send(message)
            if request.id is not None:
                store.mark_callback_mailed(request.id, datetime.now(timezone.utc))
        except (MailUnavailable, StoreUnavailable):
            print(staff_text("callbacks.resend_failed", id=request.id), file=sys.stderr)
            return EXIT_STORE_DOWN
        print(staff_text("callbacks.resent", id=request.id,
                         recipient=settings.care_desk_email))
    return EXIT_OK
