"""The schedule pages over real HTTP against real PostgreSQL, without a browser.

Proves: the list shows each schedule with its team, zone, who is on call now and next, linked
to its page; a schedule's page draws an SVG with one lane per layer, an overrides lane and the
final lane, day gridlines and a "now" line, and the same shifts as a table; ``?weeks=`` and
``?tz=`` change the window and zone (a zone that is none is a 400 sentence); a hostile user id
in an override is text everywhere; a viewer gets no forms and a forged viewer POST is a 403
that writes nothing; a responder adds an override by form (303 with a message, the final lane
shows them) and removes it; a form that is not valid is a sentence and writes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from fixtures.ui import cookie_header, csrf_of, session_cookie
from google.protobuf.timestamp_pb2 import Timestamp

from oncall.alerting.v1 import schedules_pb2 as pb
from oncall.alerting.v1 import schedules_pb2_grpc
from oncall.ui import schedules

from conftest import RunningServer

HOSTILE = "<script>alert(1)</script>"
BERLIN = ZoneInfo("Europe/Berlin")


def ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


async def _get(server: RunningServer, path: str, cookie: str | None = None) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as client, client.get(
        server.http_url + path, headers=cookie_header(cookie) if cookie else {}, allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text(), resp.headers


async def _post(server: RunningServer, path: str, cookie: str | None, data: Any) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as client, client.post(
        server.http_url + path, headers=cookie_header(cookie) if cookie else {}, data=data, allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text(), resp.headers


async def _overrides(server: RunningServer) -> list[dict[str, Any]]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT id, add_user, remove_user, starts_at, ends_at "
                                 "FROM alerting.schedule_overrides ORDER BY seq")
        return [dict(r) for r in await cur.fetchall()]


@pytest.fixture
async def schedule(server: RunningServer) -> pb.Schedule:
    """Two layers in Berlin: alice and bob daily at 09:00, and carol on weekday nights above them."""
    start = datetime.now(BERLIN).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=3)
    async with server.channel() as channel:
        stub = schedules_pb2_grpc.ScheduleServiceStub(channel)
        return (await stub.CreateSchedule(pb.CreateScheduleRequest(name="db primary", time_zone="Europe/Berlin",
                                                                   team_id="", layers=[
            pb.Layer(name="daily", participants=["alice", "bob"], handoff="09:00", start=ts(start),
                     shift_length=pb.ShiftLength(count=1, unit=pb.SHIFT_UNIT_DAY)),
            pb.Layer(name="nights", participants=["carol"], handoff="09:00", start=ts(start),
                     shift_length=pb.ShiftLength(count=1, unit=pb.SHIFT_UNIT_WEEK),
                     restrictions=[pb.WeeklyWindow(start_day=d, start_time="22:00", end_day=d + 1, end_time="06:00")
                                   for d in (pb.WEEKDAY_MONDAY, pb.WEEKDAY_TUESDAY)]),
        ]))).schedule


async def _add(server: RunningServer, schedule_id: str, user: str, start: datetime, end: datetime) -> str:
    async with server.channel() as channel:
        stub = schedules_pb2_grpc.ScheduleServiceStub(channel)
        answer = await stub.AddOverride(pb.AddOverrideRequest(schedule_id=schedule_id, add_user_id=user,
                                                              start=ts(start), end=ts(end)))
    return str(answer.override.id)


def _svg(page: str, which: str = "sched-wide") -> str:
    """The wide drawing (for screens) or the narrow one (for phones) of the page's timeline."""
    found = re.search(rf'<svg class="sched-svg {which}".*?</svg>', page, re.S)
    assert found is not None
    return found.group(0)


def _lanes(page: str, which: str = "sched-wide") -> list[str]:
    return re.findall(r'<g class="sched-lane[^"]*" data-lane="([^"]*)"', _svg(page, which))


def _final_lane(page: str) -> str:
    found = re.search(r'<g class="sched-lane sched-final".*?(?=<g class="sched-now"|</svg>)', _svg(page), re.S)
    assert found is not None
    return found.group(0)


async def test_the_list_shows_each_schedule_with_who_is_on_call_now_and_next(
    server: RunningServer, schedule: pb.Schedule,
) -> None:
    viewer = await session_cookie(server, "vic", "viewer")
    status, page, _ = await _get(server, "/schedules", viewer)
    assert status == 200, page
    assert f'href="/schedules/{schedule.id}"' in page and "db primary" in page and "Europe/Berlin" in page
    now_cell = re.search(r"db primary</a></th>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>",
                         page, re.S)
    assert now_cell is not None
    assert now_cell.group(3) in ("alice", "bob", "carol")
    assert re.search(r"(alice|bob|carol) <span class=\"quiet\">\(<time datetime=\"[^\"]+\">[0-9-]+ [0-9:]+ UTC</time>\)", now_cell.group(4), re.S)
    assert '<a href="/schedules" aria-current="page">Schedules</a>' in page
    # no session: to the login, with the page as next
    status, _, headers = await _get(server, "/schedules")
    assert status == 303 and headers["Location"] == "/login?next=%2Fschedules"


async def test_the_page_draws_a_lane_per_layer_overrides_and_the_final_lane_with_a_table(
    server: RunningServer, schedule: pb.Schedule,
) -> None:
    tomorrow = datetime.now(BERLIN).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
    await _add(server, schedule.id, HOSTILE, tomorrow, tomorrow + timedelta(hours=2))
    viewer = await session_cookie(server, "vic", "viewer")
    status, page, headers = await _get(server, f"/schedules/{schedule.id}", viewer)
    assert status == 200, page
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert _lanes(page) == _lanes(page, "sched-narrow") == ["1. daily", "2. nights", "Overrides", "On call"]
    assert re.search(r'<svg class="sched-svg sched-wide" viewBox="0 0 1000 [0-9.]+"', page)
    assert re.search(r'<svg class="sched-svg sched-narrow" viewBox="0 0 420 [0-9.]+"', page)
    assert _svg(page).count('class="sched-grid"') == 8  # a gridline at each of the week's 8 midnights
    assert 'class="sched-now"' in page
    # the hostile id is text in the SVG, its <title>, the table and the overrides list, never markup
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") >= 4
    assert "+ &lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the table lists the same shifts as the final lane, in the schedule's zone
    final_rects = _final_lane(page).count("<rect x=")
    table_rows = re.findall(r"<tr(?: class=\"sched-mine-row\")?><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)", page)
    assert final_rects == len(table_rows) > 5
    assert any(who.startswith("&lt;script&gt;") for _, _, who in table_rows)
    assert {who for _, _, who in table_rows} >= {"alice", "bob", "carol"}
    assert "(Europe/Berlin)" in page


async def test_weeks_and_tz_change_the_window_and_a_bad_zone_is_a_400_sentence(
    server: RunningServer, schedule: pb.Schedule,
) -> None:
    viewer = await session_cookie(server, "vic", "viewer")
    status, page, _ = await _get(server, f"/schedules/{schedule.id}?weeks=4&tz=America/New_York", viewer)
    assert status == 200, page
    assert _svg(page).count('class="sched-grid"') == 29
    assert "for 4 weeks" in page and "(America/New_York)" in page
    today_ny = datetime.now(ZoneInfo("America/New_York")).date()
    assert f"From {today_ny:%a %Y-%m-%d} 00:00 for 4 weeks" in page
    status, page, _ = await _get(server, f"/schedules/{schedule.id}?weeks=2", viewer)
    assert status == 200 and _svg(page, "sched-narrow").count('class="sched-grid"') == 15
    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 80):
        status, page, _ = await _get(server, f"/schedules/{schedule.id}?tz={bad}", viewer)
        assert status == 400, bad
        assert "time zone" in page and "IANA" in page
        assert "<svg" not in page
    status, page, _ = await _get(server, f"/schedules/{schedule.id}?weeks=3", viewer)
    assert status == 400 and "Weeks must be 1, 2 or 4." in page
    status, page, _ = await _get(server, "/schedules/no-such-schedule", viewer)
    assert status == 404


async def test_a_viewer_sees_no_forms_and_a_forged_post_is_refused_changing_nothing(
    server: RunningServer, schedule: pb.Schedule,
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=3)
    oid = await _add(server, schedule.id, "dave", soon, soon + timedelta(hours=1))
    before = await _overrides(server)
    viewer = await session_cookie(server, "vic", "viewer")
    _, page, _ = await _get(server, f"/schedules/{schedule.id}", viewer)
    assert "Add an override" not in page and "/remove" not in page and 'name="add_user_id"' not in page
    token = csrf_of(page)  # the sign-out form's: the viewer's own valid token, so the role is what refuses
    for path, data in [
        (f"/schedules/{schedule.id}/overrides", {"csrf_token": token, "add_user_id": "vic",
                                                 "start": "2030-01-01T10:00", "end": "2030-01-01T12:00"}),
        (f"/schedules/{schedule.id}/overrides/{oid}/remove", {"csrf_token": token}),
    ]:
        status, body, _ = await _post(server, path, viewer, data)
        assert status == 403, (path, body)
        assert "Not allowed" in body
    assert await _overrides(server) == before
    # without the session's token even a responder's form is refused
    responder = await session_cookie(server, "ann", "responder")
    status, body, _ = await _post(server, f"/schedules/{schedule.id}/overrides/{oid}/remove", responder,
                                  {"csrf_token": "forged"})
    assert status == 403 and "CSRF" in body
    assert await _overrides(server) == before


async def test_a_responder_adds_an_override_by_form_and_removes_it(
    server: RunningServer, schedule: pb.Schedule,
) -> None:
    responder = await session_cookie(server, "ann", "responder")
    _, page, _ = await _get(server, f"/schedules/{schedule.id}?tz=UTC", responder)
    assert "Add an override" in page
    token = csrf_of(page)
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    status, _, headers = await _post(server, f"/schedules/{schedule.id}/overrides", responder, {
        "csrf_token": token, "add_user_id": "ann", "start": f"{day}T10:00", "end": f"{day}T14:30",
        "weeks": "2", "tz": "UTC"})
    assert status == 303
    assert headers["Location"] == f"/schedules/{schedule.id}?weeks=2&tz=UTC&done=override-added"
    rows = await _overrides(server)
    assert [(r["add_user"], r["starts_at"], r["ends_at"]) for r in rows] == [
        ("ann", datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
         datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC))]
    status, page, _ = await _get(server, headers["Location"], responder)
    assert status == 200 and "Override added." in page
    assert "ann" in _final_lane(page) and "sched-mine" in _final_lane(page)
    assert f"<td>{day:%a %Y-%m-%d} 10:00</td><td>{day:%a %Y-%m-%d} 14:30</td><td>ann" in page

    # the form's times are read in the zone shown: 10:00 Berlin is 09:00 or 08:00 UTC
    status, _, _ = await _post(server, f"/schedules/{schedule.id}/overrides", responder, {
        "csrf_token": token, "add_user_id": "bea", "remove_user_id": "alice", "start": f"{day}T10:00",
        "end": f"{day}T11:00", "tz": "Europe/Berlin"})
    assert status == 303
    bea = (await _overrides(server))[1]
    assert bea["remove_user"] == "alice"
    assert bea["starts_at"] == datetime(day.year, day.month, day.day, 10, tzinfo=BERLIN)

    status, _, headers = await _post(server, f"/schedules/{schedule.id}/overrides/{rows[0]['id']}/remove",
                                     responder, {"csrf_token": token, "weeks": "1", "tz": "UTC"})
    assert status == 303 and headers["Location"].endswith("done=override-removed")
    assert [r["add_user"] for r in await _overrides(server)] == ["bea"]
    _, page, _ = await _get(server, headers["Location"], responder)
    assert "Override removed." in page
    # audited as the person, through the same interceptors as the API
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT principal, method, outcome FROM access.audit_events "
                                 "WHERE method LIKE '%Override' ORDER BY id")
        audited = [(r["principal"], r["method"].rsplit("/", 1)[-1], r["outcome"]) for r in await cur.fetchall()]
    assert audited == [("session:ann", "AddOverride", "OK"), ("session:ann", "AddOverride", "OK"),
                       ("session:ann", "RemoveOverride", "OK")]


async def test_a_form_that_is_not_valid_is_a_sentence_and_writes_nothing(
    server: RunningServer, schedule: pb.Schedule,
) -> None:
    editor = await session_cookie(server, "eve", "editor")
    _, page, _ = await _get(server, f"/schedules/{schedule.id}", editor)
    token = csrf_of(page)
    for data, sentence in [
        ({"add_user_id": "", "start": "2030-01-01T10:00", "end": "2030-01-01T12:00"}, "Name the person"),
        ({"add_user_id": "eve", "start": "tomorrow", "end": "2030-01-01T12:00"}, "The start must be a date"),
        ({"add_user_id": "eve", "start": "2030-01-01T12:00", "end": "2030-01-01T10:00"}, "must end after it starts"),
        ({"add_user_id": "eve", "start": "2030-01-01T10:00", "end": "2030-01-01T12:00", "tz": "Nowhere/At_All"},
         "not a time zone"),
        ({"add_user_id": "eve" * 100, "start": "2030-01-01T10:00", "end": "2030-01-01T12:00"}, "at most 200"),
        ({"add_user_id": "eve", "start": "2030-01-01T10:00", "end": "2030-01-01T12:00", "weeks": "9"},
         "Weeks must be 1, 2 or 4."),
    ]:
        status, body, _ = await _post(server, f"/schedules/{schedule.id}/overrides", editor,
                                      {"csrf_token": token, **data})
        assert status == 400, (data, body)
        assert sentence in body
        assert 'class="message error" role="alert"' in body
    assert await _overrides(server) == []
    # removing an override that is not there says so
    status, body, _ = await _post(server, f"/schedules/{schedule.id}/overrides/nope/remove", editor,
                                  {"csrf_token": token})
    assert status == 404 and await _overrides(server) == []


def test_a_name_too_long_for_its_rect_is_cut_with_an_ellipsis() -> None:
    assert schedules.fit("alice", 200) == "alice"
    cut = schedules.fit("a-very-long-user-name@example.com", 80)
    assert cut.endswith("…") and len(cut) < 12
    assert schedules.fit("alice", 10) == ""
