"""``GET /api/v1/schedules/{id}/calendar.ics``: a schedule's on-call shifts as an iCalendar feed.

Calendar apps subscribe to the URL, so it authenticates with a secret token in the query
(``?token=``, made by CreateCalendarToken and stored hashed). A token made for one user
serves only that user's shifts; a schedule-wide token serves every shift, or one user's
with ``&user=<id>``. The feed covers two weeks back to eight weeks ahead, in UTC, written
by hand to RFC 5545 (CRLF lines folded at 75 octets, TEXT values escaped).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from ..clock import SYSTEM_CLOCK
from ..errors import PermissionDenied, Unauthenticated
from ..paths import CALENDAR_PATH
from ..schedules import LayerReason, OverrideReason, Reason, Shift, store
from .requests import CONTEXT, credential

PRODID = "-//OnCall//On-call schedules//EN"
FEED_PAST = timedelta(weeks=2)
FEED_AHEAD = timedelta(weeks=8)
MAX_LINE_OCTETS = 75


# --------------------------------------------------------------------------- RFC 5545


def escape_text(value: str) -> str:
    """A TEXT property value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped.

    Other control characters are not allowed in TEXT at all, so they are dropped.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(c for c in value if c in "\t\n" or ord(c) >= 0x20 and c != "\x7f")
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> bytes:
    """One content line as CRLF-terminated octets, folded so no physical line exceeds 75 octets.

    A continuation line starts with a space, which counts towards its 75; a fold never
    falls inside a UTF-8 sequence, so every physical line is valid UTF-8 on its own.
    """
    data = line.encode()
    parts: list[bytes] = []
    start, limit = 0, MAX_LINE_OCTETS
    while len(data) - start > limit:
        cut = start + limit
        while data[cut] & 0xC0 == 0x80:  # a continuation byte: back up to the character's start
            cut -= 1
        parts.append(data[start:cut])
        start, limit = cut, MAX_LINE_OCTETS - 1
    parts.append(data[start:])
    return b"\r\n ".join(parts) + b"\r\n"


def utc_text(value: datetime) -> str:
    """A DATE-TIME in UTC ("form #2"), whole seconds."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _why(reason: Reason) -> str:
    if isinstance(reason, LayerReason):
        return f"through layer {reason.name!r} (layer {reason.index})"
    if isinstance(reason, OverrideReason):
        return f"through override {reason.override_id}"
    return f"through temporary schedule {reason.temporary_schedule_id}"


def _uid(schedule_id: str, shift: Shift) -> str:
    # Stable across fetches as long as the shift is: same schedule, user and start.
    digest = hashlib.sha256(f"{schedule_id}\0{shift.user}\0{shift.start.isoformat()}".encode()).hexdigest()
    return f"{digest[:32]}@oncall"


def render_calendar(
    schedule_id: str, schedule_name: str, stamp: datetime, found: Iterable[Shift], user: str | None = None
) -> bytes:
    """A VCALENDAR with one VEVENT per shift. ``stamp`` (DTSTAMP) is when the schedule last changed."""
    title = f"On call: {schedule_name}" + (f" ({user})" if user else "")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{escape_text(title)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    dtstamp = utc_text(stamp)
    for shift in found:
        start, end = utc_text(shift.start), utc_text(shift.end)
        if start == end:
            continue  # shorter than the second the format can say
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_uid(schedule_id, shift)}",
            f"DTSTAMP:{dtstamp}",
            f"DTSTART:{start}",
            f"DTEND:{end}",
            f"SUMMARY:{escape_text(f'On call: {shift.user}')}",
            f"DESCRIPTION:{escape_text(f'{shift.user} is on call on {schedule_name} {_why(shift.reason)}.')}",
            # being on call doesn't make anyone busy: keep free/busy lookups honest
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return b"".join(fold(line) for line in lines)


# --------------------------------------------------------------------------- the handler


async def calendar(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    schedule_id = request.match_info["id"]
    secret = credential(request.query.get("token"), "calendar token")
    if not secret:
        raise Unauthenticated("a calendar token is required: add '?token=TOKEN' to the URL")
    token = await store.find_calendar_token(ctx.pool, secret)
    if token is None:
        raise Unauthenticated("the calendar token is not valid (it may have been revoked)")
    if token.schedule_id != schedule_id:
        raise PermissionDenied("this calendar token belongs to another schedule")
    wanted = request.query.get("user") or None
    if token.user_id is not None and wanted is not None and wanted != token.user_id:
        raise PermissionDenied(f"this calendar token opens only {token.user_id}'s shifts")
    user = token.user_id or wanted

    # From midnight UTC: the feed's edges, and so the edge events' UIDs, move once a day.
    today = SYSTEM_CLOCK.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - FEED_PAST, today + FEED_AHEAD + timedelta(days=1)
    built, found = await store.shifts_in(store.cache_for(ctx), ctx.pool, schedule_id, start, end, user)
    body = render_calendar(schedule_id, built.name, built.updated_at, found, user)
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        # the URL carries a secret: shared caches must not keep it
        headers={"Cache-Control": "private, max-age=300"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(CALENDAR_PATH, calendar)
