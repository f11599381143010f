"""The iCal feed of a schedule's shifts: RFC 5545 as a calendar library reads it, and its tokens.

Tokens are made through the real gRPC CreateCalendarToken; the feed is served by the
calendar routes on an aiohttp app of their own over the running server's context (the
lead wires ``calendar.add_routes`` into the main app).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import grpc
import icalendar
import pytest
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from oncall.alerting.v1 import schedules_pb2 as pb
from oncall.alerting.v1 import schedules_pb2_grpc
from oncall.http import calendar
from oncall.http.app import CONTEXT, errors_middleware
from oncall.schedules import LayerReason, Shift, instant_at

BERLIN = ZoneInfo("Europe/Berlin")
# A user id with everything TEXT must escape, non-ASCII letters, and long enough to fold.
ODD_USER = 'zoë, "the; boss" \\ ' + "ü" * 40


def ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> schedules_pb2_grpc.ScheduleServiceStub:
    return schedules_pb2_grpc.ScheduleServiceStub(grpc_channel)


@pytest.fixture
async def feed_url(server: Any) -> AsyncIterator[str]:
    """The calendar routes, served with the running server's context and error middleware."""
    app = web.Application(middlewares=[errors_middleware])
    app[CONTEXT] = server.ctx
    calendar.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def fetch(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def week_start() -> datetime:
    """Monday 09:00 Berlin time, six weeks before this week's: before the feed's window opens."""
    today = datetime.now(BERLIN).date()
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=6)
    return instant_at(BERLIN, monday, time(9))


async def weekly_schedule(stub: schedules_pb2_grpc.ScheduleServiceStub, name: str = "db") -> pb.Schedule:
    """alice and bob take turns weekly, Mondays 09:00 Berlin time; ODD_USER covers tomorrow 10:00–12:00."""
    schedule = (await stub.CreateSchedule(pb.CreateScheduleRequest(name=name, time_zone="Europe/Berlin", layers=[
        pb.Layer(name="weekly", participants=["alice", "bob"], handoff="09:00", start=ts(week_start()),
                 shift_length=pb.ShiftLength(count=1, unit=pb.SHIFT_UNIT_WEEK)),
    ]))).schedule
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    await stub.AddOverride(pb.AddOverrideRequest(
        schedule_id=schedule.id, add_user_id=ODD_USER,
        start=ts(instant_at(BERLIN, tomorrow, time(10))), end=ts(instant_at(BERLIN, tomorrow, time(12)))))
    return schedule


async def token_for(stub, schedule_id: str, user_id: str = "") -> pb.CreateCalendarTokenResponse:
    return await stub.CreateCalendarToken(pb.CreateCalendarTokenRequest(schedule_id=schedule_id, user_id=user_id))


def feed_path(schedule_id: str, secret: str, user: str = "") -> str:
    return f"/api/v1/schedules/{schedule_id}/calendar.ics?token={secret}" + (f"&user={user}" if user else "")


def events(body: bytes) -> list[tuple[datetime, datetime, str]]:
    """(start, end, summary) of every VEVENT, as the calendar library reads them."""
    parsed = icalendar.Calendar.from_ical(body)
    return sorted(
        (e.decoded("DTSTART"), e.decoded("DTEND"), str(e["SUMMARY"])) for e in parsed.walk("VEVENT")
    )


async def test_the_feed_is_rfc_5545_with_one_utc_event_per_shift(stub, feed_url):
    schedule = await weekly_schedule(stub)
    token = await token_for(stub, schedule.id)
    assert token.calendar_url.endswith(feed_path(schedule.id, token.secret))

    status, content_type, body = await fetch(feed_url + feed_path(schedule.id, token.secret))
    assert status == 200
    assert content_type.startswith("text/calendar")

    # CRLF everywhere, physical lines folded at 75 octets, each one whole UTF-8
    assert body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b"")
    physical = body.split(b"\r\n")[:-1]
    assert max(len(line) for line in physical) <= 75
    assert any(line.startswith(b" ") for line in physical), "the long SUMMARY should be folded"
    for line in physical:
        line.decode()

    parsed = icalendar.Calendar.from_ical(body)
    assert (str(parsed["VERSION"]), str(parsed["PRODID"])) == ("2.0", calendar.PRODID)
    vevents = list(parsed.walk("VEVENT"))
    uids = [str(e["UID"]) for e in vevents]
    assert len(set(uids)) == len(uids)
    for e in vevents:
        assert e.decoded("DTSTAMP").tzinfo is not None
        for prop in ("DTSTART", "DTEND"):
            assert e[prop].to_ical().endswith(b"Z"), "instants are written in UTC"

    found = events(body)
    now = datetime.now(UTC)
    assert found[0][0] <= now - timedelta(days=14) and found[-1][1] >= now + timedelta(weeks=8)
    weekly = [(s, e, who) for s, e, who in found if who != f"On call: {ODD_USER}"]
    # every handoff the feed doesn't clip is Monday 09:00 on the Berlin clock, summer or winter
    for start, _, _ in weekly[1:]:
        local = start.astimezone(BERLIN)
        assert (local.weekday(), local.time()) == (0, time(9))
    assert {who for _, _, who in weekly} == {"On call: alice", "On call: bob"}

    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    assert (instant_at(BERLIN, tomorrow, time(10)), instant_at(BERLIN, tomorrow, time(12)),
            f"On call: {ODD_USER}") in found

    # the same shifts ListShifts gives over the feed's range
    listed = await stub.ListShifts(pb.ListShiftsRequest(
        schedule_id=schedule.id, start=ts(found[0][0]), end=ts(max(e for _, e, _ in found))))
    assert sorted(
        (s.start.ToDatetime(tzinfo=UTC), s.end.ToDatetime(tzinfo=UTC), f"On call: {s.user_id}") for s in listed.shifts
    ) == found


async def test_a_user_feed_holds_only_that_users_shifts(stub, feed_url):
    schedule = await weekly_schedule(stub)
    everyone = events((await fetch(feed_url + feed_path(schedule.id, (await token_for(stub, schedule.id)).secret)))[2])

    alice = await token_for(stub, schedule.id, "alice")
    assert alice.token.user_id == "alice"
    status, _, body = await fetch(feed_url + feed_path(schedule.id, alice.secret))
    assert status == 200
    assert events(body) == [e for e in everyone if e[2] == "On call: alice"]
    assert events(body)  # alice has turns in ten weeks of a two-person weekly rotation

    # a schedule-wide token may ask for one user's shifts
    wide = await token_for(stub, schedule.id)
    status, _, body = await fetch(feed_url + feed_path(schedule.id, wide.secret, user="bob"))
    assert status == 200
    assert events(body) == [e for e in everyone if e[2] == "On call: bob"]


async def test_feed_tokens_are_checked_401_without_a_valid_one_and_403_for_another_feed(stub, feed_url, server):
    db = await weekly_schedule(stub, "db")
    web_ = await weekly_schedule(stub, "web")
    db_token = await token_for(stub, db.id)
    alice_token = await token_for(stub, db.id, "alice")

    status, _, body = await fetch(f"{feed_url}/api/v1/schedules/{db.id}/calendar.ics")
    assert (status, body.count(b'"error":"unauthorized"')) == (401, 1)
    status, _, _ = await fetch(feed_url + feed_path(db.id, "not-a-token"))
    assert status == 401
    status, _, body = await fetch(feed_url + feed_path(web_.id, db_token.secret))
    assert status == 403
    assert b"another schedule" in body
    status, _, body = await fetch(feed_url + feed_path(db.id, alice_token.secret, user="bob"))
    assert status == 403
    assert b"only alice's shifts" in body

    listed = (await stub.ListCalendarTokens(pb.ListCalendarTokensRequest(schedule_id=db.id))).tokens
    assert [(t.id, t.user_id, t.prefix) for t in listed] == [
        (db_token.token.id, "", db_token.secret[:6]), (alice_token.token.id, "alice", alice_token.secret[:6])]
    await stub.RevokeCalendarToken(pb.RevokeCalendarTokenRequest(schedule_id=db.id, token_id=db_token.token.id))
    status, _, _ = await fetch(feed_url + feed_path(db.id, db_token.secret))
    assert status == 401
    status, _, _ = await fetch(feed_url + feed_path(db.id, alice_token.secret))
    assert status == 200


async def test_feed_tokens_are_stored_only_as_their_sha256(stub, server):
    schedule = await weekly_schedule(stub)
    token = await token_for(stub, schedule.id)
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.schedule_calendar_tokens")
        [row] = await cur.fetchall()
    assert bytes(row["token_hash"]) == hashlib.sha256(token.secret.encode()).digest()
    assert token.secret not in repr(row)


# --------------------------------------------------------------------------- the writer's rules


def test_text_values_escape_backslash_semicolon_comma_and_newlines():
    assert calendar.escape_text('a,b;c\\d\ne\r\nf"g') == 'a\\,b\\;c\\\\d\\ne\\nf"g'
    assert calendar.escape_text("bell\x07 tab\t") == "bell tab\t"


def test_folding_keeps_lines_within_75_octets_without_splitting_a_character():
    line = "SUMMARY:" + "ü" * 100 + "x" * 10
    folded = calendar.fold(line)
    physical = folded.split(b"\r\n")
    assert physical[-1] == b""
    assert all(len(p) <= 75 for p in physical)
    assert all(p.startswith(b" ") for p in physical[1:-1])
    unfolded = folded.replace(b"\r\n ", b"")
    assert unfolded == line.encode() + b"\r\n"
    for p in physical:
        p.decode()
    assert calendar.fold("VERSION:2.0") == b"VERSION:2.0\r\n"


def test_a_rendered_event_round_trips_through_a_calendar_library():
    shift = Shift(datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 3, 29, 7, tzinfo=UTC), ODD_USER,
                  LayerReason(0, "daily; main"))
    body = calendar.render_calendar("s1", "db, primary", datetime(2026, 3, 1, tzinfo=UTC), [shift])
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert str(event["SUMMARY"]) == f"On call: {ODD_USER}"
    assert str(event["DESCRIPTION"]) == f"{ODD_USER} is on call on db, primary through layer 'daily; main' (layer 0)."
    assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (shift.start, shift.end)
    assert event.decoded("DTSTAMP") == datetime(2026, 3, 1, tzinfo=UTC)

