"""The schedule pages: the list (``/schedules``: who is on call now and next) and one schedule
(``/schedules/{id}``: a server-drawn SVG timeline of 1, 2 or 4 weeks, its shifts as a table, overrides
added and removed by form).

Each read and change is a ScheduleService call made as the browser (``calls.Caller``). The
timeline's lanes come from what the service answers: ListShifts gives the final shifts with
their reason, so a layer's lane shows where that layer decided (the service has no call for a
layer's own rotation where a higher layer or an override wins); ListOverrides gives the
overrides lane. A change is a form POST that answers 303 back to the page with a message from a
fixed table (``done=``); a refused one is a sentence on the page, nothing written.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from ..alerting.v1 import schedules_pb2 as pb
from ..rest.status import http_status
from . import site
from .calls import Caller, RpcFailure
from .render import instant

_SERVICE = "/oncall.alerting.v1.ScheduleService/"
LIST = _SERVICE + "ListSchedules"
GET = _SERVICE + "GetSchedule"
ON_CALL = _SERVICE + "GetOnCallUsers"
SHIFTS = _SERVICE + "ListShifts"
OVERRIDES = _SERVICE + "ListOverrides"
ADD_OVERRIDE = _SERVICE + "AddOverride"
REMOVE_OVERRIDE = _SERVICE + "RemoveOverride"

WEEKS = (1, 2, 4)
#: how far ahead the list looks for the next handoff
NEXT_HORIZON = timedelta(days=14)
MAX_USER_ID = 200

#: what a finished change says, by the ``done`` of its redirect (nothing else is ever shown)
DONE = {
    "override-added": "Override added.",
    "override-removed": "Override removed.",
}

# --------------------------------------------------------------------------- the drawing

#: the SVG's coordinate system (it scales to the page's width through its viewBox): a wide
#: drawing for screens, and a narrow one of the same lanes for phones, where the wide one's
#: names would be a few pixels high (CSS shows one of them)
WIDTH = 1000
LABEL_W = 120
NARROW_WIDTH = 420
NARROW_LABEL_W = 78
RIGHT_PAD = 8
HEAD_H = 34
ROW_H = 30
LANE_GAP = 8
FONT = 13
#: roughly how wide a character of the lanes' font is, in viewBox units
CHAR_W = FONT * 0.58
PALETTE = 8


class BadParameter(Exception):
    """A page parameter that is not one: its sentence."""


@dataclass(frozen=True)
class Bar:
    """One rect of a lane: a shift or an override, from ``start`` to ``end``."""

    start: datetime
    end: datetime
    label: str
    title: str
    colour: int
    mine: bool = False
    kind: str = "shift"


@dataclass(frozen=True)
class DrawnBar:
    x: float
    y: float
    w: float
    h: float
    text: str
    text_x: float
    text_y: float
    bar: Bar


@dataclass(frozen=True)
class Lane:
    name: str
    y: float
    h: float
    bars: list[DrawnBar]
    empty: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    labelled: bool


@dataclass(frozen=True)
class Timeline:
    """What the template draws: the lanes, the day gridlines and the "now" line, in viewBox units."""

    width: int
    height: float
    plot_x: float
    plot_end: float
    lanes: list[Lane]
    ticks: list[Tick]
    now_x: float | None


def colour_of(user_id: str) -> int:
    """A user's colour, the same on every page (a stable hash, not Python's salted one)."""
    return hashlib.sha256(user_id.encode()).digest()[0] % PALETTE


def fit(text: str, width: float) -> str:
    """``text`` cut to what fits ``width`` (an ellipsis where cut); "" when not even two characters do."""
    room = int((width - 8) // CHAR_W)
    if room < 2:
        return ""
    return text if len(text) <= room else text[: room - 1] + "…"


def _rows(bars: list[Bar]) -> list[tuple[int, Bar]]:
    """Each bar's row in its lane: overlapping bars (several people on call at once) stack."""
    ends: list[datetime] = []
    placed = []
    for bar in sorted(bars, key=lambda b: (b.start, b.end)):
        row = next((i for i, end in enumerate(ends) if end <= bar.start), len(ends))
        if row == len(ends):
            ends.append(bar.end)
        else:
            ends[row] = bar.end
        placed.append((row, bar))
    return placed


def draw(lanes: list[tuple[str, list[Bar], str]], start: datetime, end: datetime, zone: ZoneInfo,
         now: datetime, *, width: int = WIDTH, label_w: int = LABEL_W) -> Timeline:
    """Lay out ``lanes`` (name, bars, what an empty lane says) over [start, end), ``width`` units wide."""
    plot_x, plot_end = float(label_w), float(width - RIGHT_PAD)
    span = (end - start).total_seconds()

    def x_of(at: datetime) -> float:
        at = min(max(at, start), end)
        return plot_x + (at - start).total_seconds() / span * (plot_end - plot_x)

    drawn: list[Lane] = []
    y = float(HEAD_H)
    for name, bars, empty in lanes:
        placed = _rows(bars)
        rows = max((r for r, _ in placed), default=0) + 1
        h = rows * ROW_H
        out = []
        for row, bar in placed:
            x0, x1 = x_of(bar.start), x_of(bar.end)
            w = max(x1 - x0, 1.5)
            by = y + row * ROW_H + 2
            out.append(DrawnBar(x=round(x0, 2), y=by, w=round(w, 2), h=ROW_H - 4, text=fit(bar.label, w),
                                text_x=round(x0 + 4, 2), text_y=by + (ROW_H - 4) / 2 + FONT * 0.35, bar=bar))
        drawn.append(Lane(name=name, y=y, h=h, bars=out, empty=empty if not bars else ""))
        y += h + LANE_GAP
    days = round(span / 86400)
    step = 1 if days <= 7 else 2 if days <= 14 else 7
    ticks = []
    first = start.astimezone(zone).date()
    for i in range(days + 1):
        local = _midnight(first + timedelta(days=i), zone)
        if local > end:
            break
        label = f"{local:%a} {local.day}" if step < 7 else f"{local:%b} {local.day}"
        ticks.append(Tick(x=round(x_of(local), 2), label=label, labelled=i % step == 0 and local < end))
    now_x = round(x_of(now), 2) if start <= now < end else None
    return Timeline(width=width, height=y - LANE_GAP + 6, plot_x=plot_x, plot_end=plot_end, lanes=drawn,
                    ticks=ticks, now_x=now_x)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


# --------------------------------------------------------------------------- parameters


def zone_of(raw: str, default: str) -> ZoneInfo:
    """The zone asked for (``?tz=``), or the schedule's; BadParameter when it is no IANA zone."""
    name = raw.strip() or default
    if len(name) > 64 or not name.isascii() or name.startswith("/") or ".." in name:
        raise BadParameter("The time zone must be an IANA zone name, like Europe/Berlin or UTC.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadParameter(f"{name!r} is not a time zone this server knows; use an IANA name like "
                           "Europe/Berlin or UTC.") from None


def weeks_of(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return 1
    if raw not in {str(w) for w in WEEKS}:
        raise BadParameter("Weeks must be 1, 2 or 4.")
    return int(raw)


def _ts(at: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(at.astimezone(UTC))
    return out


def _schedule_id(request: web.Request) -> str | None:
    raw = request.match_info["id"]
    if not raw or len(raw) > 100 or not raw.isascii() or not raw.isprintable():
        return None
    return raw


def _now(request: web.Request) -> datetime:
    return datetime.now(UTC)


def _reason(shift: pb.Shift, schedule: pb.Schedule) -> str:
    which = shift.reason.WhichOneof("reason")
    if which == "layer":
        return f"layer {shift.reason.layer.name or shift.reason.layer.index + 1}"
    if which == "override_id":
        return "override"
    if which == "temporary_schedule_id":
        return "temporary schedule"
    return ""


def override_text(o: pb.Override) -> str:
    if o.add_user_id and o.remove_user_id:
        return f"{o.add_user_id} for {o.remove_user_id}"
    if o.add_user_id:
        return f"+ {o.add_user_id}"
    return f"− {o.remove_user_id}"


# --------------------------------------------------------------------------- the list


@dataclass
class Row:
    schedule: pb.Schedule
    now: list[str]
    next: list[str]
    next_at: datetime | None


async def _row(caller: Caller, schedule: pb.Schedule, now: datetime) -> Row:
    on_call, shifts = await asyncio.gather(
        caller.call(ON_CALL, pb.GetOnCallUsersRequest(schedule_id=schedule.id, at=_ts(now))),
        caller.call(SHIFTS, pb.ListShiftsRequest(schedule_id=schedule.id, start=_ts(now),
                                                 end=_ts(now + NEXT_HORIZON))))
    current = sorted({u.user_id for u in on_call.users})
    later = [s for s in shifts.shifts if (instant(s.start) or now) > now]
    next_at = min((instant(s.start) for s in later), default=None, key=lambda at: at or now)
    upcoming = sorted({s.user_id for s in later if instant(s.start) == next_at})
    return Row(schedule=schedule, now=current, next=upcoming, next_at=next_at)


async def list_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    answer = await caller.call(LIST, pb.ListSchedulesRequest())
    now = _now(request)
    rows = await asyncio.gather(*(_row(caller, s, now) for s in answer.schedules))
    return site.show(request, caller, "schedules.html", rows=list(rows))


# --------------------------------------------------------------------------- one schedule


@dataclass
class View:
    """The shown window: how many weeks, in which zone, from the start of today there."""

    weeks: int
    zone: ZoneInfo
    start: datetime
    end: datetime

    @classmethod
    def of(cls, weeks: int, zone: ZoneInfo, now: datetime) -> View:
        today = now.astimezone(zone).date()
        return cls(weeks=weeks, zone=zone, start=_midnight(today, zone),
                   end=_midnight(today + timedelta(days=7 * weeks), zone))

    def query(self, **more: str) -> str:
        return urlencode({"weeks": str(self.weeks), "tz": self.zone.key, **more})

    def local(self, at: datetime | None) -> str:
        return at.astimezone(self.zone).strftime("%a %Y-%m-%d %H:%M") if at is not None else ""


async def schedule_view(request: web.Request, caller: Caller, sid: str, *, status: int = 200, error: str = "",
                        form: dict[str, str] | None = None, params: Any = None) -> web.StreamResponse:
    schedule = (await caller.call(GET, pb.GetScheduleRequest(schedule_id=sid))).schedule
    query = params if params is not None else request.query
    now = _now(request)
    try:
        view = View.of(weeks_of(str(query.get("weeks", ""))), zone_of(str(query.get("tz", "")), schedule.time_zone),
                       now)
    except BadParameter as exc:
        return site.show(request, caller, "error.html", 400, title="That did not work", detail=str(exc),
                         back=f"/schedules/{sid}", back_label="Back to the schedule")
    shifts, overrides, on_call = await asyncio.gather(
        caller.call(SHIFTS, pb.ListShiftsRequest(schedule_id=sid, start=_ts(view.start), end=_ts(view.end))),
        caller.call(OVERRIDES, pb.ListOverridesRequest(schedule_id=sid, start=_ts(view.start), end=_ts(view.end))),
        caller.call(ON_CALL, pb.GetOnCallUsersRequest(schedule_id=sid, at=_ts(now))))
    me = caller.principal.user_id

    def bar(s: pb.Shift) -> Bar:
        start, end = instant(s.start) or view.start, instant(s.end) or view.end
        why = _reason(s, schedule)
        return Bar(start=start, end=end, label=s.user_id, colour=colour_of(s.user_id), mine=s.user_id == me,
                   title=f"{s.user_id}: {view.local(start)} – {view.local(end)} ({why})")

    layer_lanes = [
        (f"{i + 1}. {layer.name}", [bar(s) for s in shifts.shifts if s.reason.WhichOneof("reason") == "layer"
                                    and s.reason.layer.index == i], "does not decide in this window")
        for i, layer in enumerate(schedule.layers)
    ]
    temporary = [bar(s) for s in shifts.shifts if s.reason.WhichOneof("reason") == "temporary_schedule_id"]
    override_bars = []
    for o in overrides.overrides:
        start, end = instant(o.start) or view.start, instant(o.end) or view.end
        text = override_text(o)
        override_bars.append(Bar(start=start, end=end, label=text, kind="override",
                                 colour=colour_of(o.add_user_id or o.remove_user_id),
                                 mine=me in (o.add_user_id, o.remove_user_id),
                                 title=f"override {text}: {view.local(start)} – {view.local(end)}"))
    lanes = layer_lanes
    if temporary or schedule.temporary_schedules:
        lanes = [*lanes, ("Temporary", temporary, "none in this window")]
    lanes = [*lanes, ("Overrides", override_bars, "none in this window"),
             ("On call", [bar(s) for s in shifts.shifts], "nobody on call")]
    timeline = draw(lanes, view.start, view.end, view.zone, now)
    narrow = draw(lanes, view.start, view.end, view.zone, now, width=NARROW_WIDTH, label_w=NARROW_LABEL_W)
    rows = [(view.local(instant(s.start)), view.local(instant(s.end)), s.user_id, _reason(s, schedule),
             s.user_id == me) for s in shifts.shifts]
    can_add = caller.can(ADD_OVERRIDE, pb.AddOverrideRequest(schedule_id=sid))
    can_remove = caller.can(REMOVE_OVERRIDE, pb.RemoveOverrideRequest(schedule_id=sid))
    soon = (now.astimezone(view.zone) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    defaults = {"add_user_id": "", "remove_user_id": "", "start": f"{soon:%Y-%m-%dT%H:%M}",
                "end": f"{soon + timedelta(hours=8):%Y-%m-%dT%H:%M}"}
    return site.show(
        request, caller, "schedule.html", status, schedule=schedule, view=view, timeline=timeline, narrow=narrow,
        rows=rows,
        overrides=[(o, override_text(o), view.local(instant(o.start)), view.local(instant(o.end)))
                   for o in overrides.overrides],
        on_call=sorted({u.user_id for u in on_call.users}), can_add=can_add, can_remove=can_remove,
        form=form or defaults, error=error, done=DONE.get(request.query.get("done", ""), ""), weeks_choices=WEEKS,
        zone_name=view.zone.key, schedule_zone=schedule.time_zone,
    )


async def schedule_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    sid = _schedule_id(request)
    if sid is None:
        return site.show(request, caller, "error.html", 404, title="Not found",
                         detail="A schedule's address is /schedules/ and its id.", back="/schedules",
                         back_label="Back to the schedules")
    return await schedule_view(request, caller, sid)


def _local_instant(raw: str, zone: ZoneInfo, what: str) -> datetime:
    raw = raw.strip()
    try:
        parsed = datetime.fromisoformat(raw) if raw and len(raw) <= 32 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadParameter(f"The {what} must be a date and time, like 2026-12-24T18:00.")
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


async def add_override(request: web.Request, caller: Caller) -> web.StreamResponse:
    sid = _schedule_id(request)
    if sid is None:
        return site.show(request, caller, "error.html", 404, title="Not found", detail="There is no such schedule.")
    form = await request.post()
    fields = {k: _field(form, k).strip() for k in ("add_user_id", "remove_user_id", "start", "end", "weeks", "tz")}
    params = {"weeks": fields["weeks"], "tz": fields["tz"]}
    try:
        weeks = weeks_of(fields["weeks"])
        schedule = (await caller.call(GET, pb.GetScheduleRequest(schedule_id=sid))).schedule
        zone = zone_of(fields["tz"], schedule.time_zone)
        if not fields["add_user_id"] and not fields["remove_user_id"]:
            raise BadParameter("Name the person to put on call (or the one to take off).")
        if max(len(fields["add_user_id"]), len(fields["remove_user_id"])) > MAX_USER_ID:
            raise BadParameter(f"A user id is at most {MAX_USER_ID} characters.")
        start = _local_instant(fields["start"], zone, "start")
        end = _local_instant(fields["end"], zone, "end")
        if end <= start:
            raise BadParameter("The override must end after it starts.")
    except BadParameter as exc:
        # the page shown again with the sentence: in a window and zone that are valid
        try:
            weeks_of(params["weeks"])
        except BadParameter:
            params["weeks"] = ""
        try:
            zone_of(params["tz"], "UTC")
        except BadParameter:
            params["tz"] = ""
        return await schedule_view(request, caller, sid, status=400, error=str(exc), form=fields, params=params)
    req = pb.AddOverrideRequest(schedule_id=sid, start=_ts(start), end=_ts(end), add_user_id=fields["add_user_id"],
                                remove_user_id=fields["remove_user_id"])
    try:
        await caller.call(ADD_OVERRIDE, req)
    except RpcFailure as failure:
        if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                            grpc.StatusCode.NOT_FOUND):
            raise  # the 403 (or 404) page, or the login
        status, _ = http_status(failure.code)
        return await schedule_view(request, caller, sid, status=status, error=failure.details, form=fields,
                                   params=params)
    return site.redirect(f"/schedules/{sid}?{urlencode({'weeks': str(weeks), 'tz': zone.key, 'done': 'override-added'})}")


async def remove_override(request: web.Request, caller: Caller) -> web.StreamResponse:
    sid = _schedule_id(request)
    oid = request.match_info["oid"]
    if sid is None or not oid or len(oid) > 100 or not oid.isascii():
        return site.show(request, caller, "error.html", 404, title="Not found", detail="There is no such override.")
    form = await request.post()
    params = {"weeks": _field(form, "weeks"), "tz": _field(form, "tz")}
    try:
        weeks, tz = weeks_of(params["weeks"]), params["tz"] if params["tz"] else ""
        if tz:
            zone_of(tz, "UTC")
    except BadParameter:
        weeks, tz = 1, ""
    try:
        await caller.call(REMOVE_OVERRIDE, pb.RemoveOverrideRequest(schedule_id=sid, override_id=oid))
    except RpcFailure as failure:
        if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            raise
        status, _ = http_status(failure.code)
        return await schedule_view(request, caller, sid, status=status, error=failure.details,
                                   params={"weeks": str(weeks), "tz": tz})
    back = {"weeks": str(weeks), **({"tz": tz} if tz else {}), "done": "override-removed"}
    return site.redirect(f"/schedules/{sid}?{urlencode(back)}")
