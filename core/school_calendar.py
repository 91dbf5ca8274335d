"""The school's calendar: school days, the day the care desk calls back, Dutch day and
clock phrases ("morgen tussen 8:30 en 16:00")."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.texts import text as msg

logger = logging.getLogger(__name__)

WEEKDAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december")



def school_timezone(name: str) -> tzinfo:
    """The school's time zone; the machine's local zone when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown SCHOOL_TIMEZONE %r; using the machine's local time", name)
        return datetime.now().astimezone().tzinfo or timezone.utc


def is_school_day(day: date, closed: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and day not in closed


def callback_day(now: datetime, hours: tuple[time, time], closed: Collection[date] = ()) -> date:
    """The school day on which the care desk calls back: the next school day, or today
    when the request comes in on a school day before opening time. ``now`` is local."""
    today = now.date()
    if is_school_day(today, closed) and now.time() < hours[0]:
        return today
    day = today + timedelta(days=1)
    for _ in range(366):
        if is_school_day(day, closed):
            return day
        day += timedelta(days=1)
    return day


def day_label(day: date, today: date) -> str:
    """"vandaag", "morgen", or the Dutch weekday (with the date when it is a week away)."""
    delta = (day - today).days
    if delta == 0:
        return msg("handoff.today")
    if delta == 1:
        return msg("handoff.tomorrow")
    weekdays = msg("formats.weekdays").split()  # in the conversation's language
    label = (weekdays if len(weekdays) == 7 else WEEKDAYS)[day.weekday()]
    if delta >= 7:
        months = msg("formats.months").split()
        label += f" {day.day} {(months if len(months) == 12 else MONTHS)[day.month - 1]}"
    return label


def clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


def contact_promise(
    now: datetime, hours: tuple[time, time], closed: Collection[date] = ()
) -> tuple[date, str]:
    """(day, Dutch phrase) e.g. "maandag tussen 8:30 en 16:00". ``now`` is local."""
    day = callback_day(now, hours, closed)
    return day, msg("handoff.when", day=day_label(day, now.date()), start=clock(hours[0]),
                    end=clock(hours[1]))
