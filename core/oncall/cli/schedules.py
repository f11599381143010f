"""CLI for on-call schedules (``oncall schedule …``): rotations, overrides, who is on call, shifts, feeds.

Each command is a call to ScheduleService (``cli.api``): in this process on the database, or
on the server ``ONCALL_SERVER_URL`` names. A SCHEDULE argument is an id or a name. Times
given without an offset are read on the schedule's local clock (as people think of handoffs); ``now``,
``+2h`` and ``-1d`` are relative to now. Times are printed on the schedule's clock.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config import Settings
from .api import Api, run_api
from .output import add_json_flag, print_json

_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SHIFT = re.compile(r"^(\d+)\s*([hdw])$")
_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


# --------------------------------------------------------------------------- parsing


def parse_shift(text: str) -> Any:
    """``12h``, ``1d``, ``2w`` → a ShiftLength."""
    from ..schedules import ShiftLength

    m = _SHIFT.match(text.strip().lower())
    if not m:
        raise SystemExit(f"not a shift length: {text!r} (use e.g. 12h, 1d, 1w)")
    count, unit = int(m.group(1)), m.group(2)
    return {"h": ShiftLength.hours, "d": ShiftLength.days, "w": ShiftLength.weeks}[unit](count)


def parse_time_of_day(text: str, what: str) -> time:
    try:
        value = time.fromisoformat(text.strip())
    except ValueError:
        raise SystemExit(f"{what} must be a time of day like 09:00, got {text!r}") from None
    if value.tzinfo is not None:
        raise SystemExit(f"{what} is a local time on the schedule's clock; leave out the offset")
    return value


def parse_weekdays(text: str) -> list[int]:
    """``mon-fri``, ``sat,sun``, ``mon,wed-fri``, ``fri-mon`` (wrapping) → weekday numbers (Monday 0)."""
    days: list[int] = []
    for part in text.lower().split(","):
        first, sep, last = part.strip().partition("-")
        try:
            a = _WEEKDAY_NAMES.index(first[:3])
            b = _WEEKDAY_NAMES.index(last[:3]) if sep else a
        except ValueError:
            raise SystemExit(f"not a day or range of days: {part!r} (use e.g. mon-fri or sat,sun)") from None
        span = (b - a) % 7
        days.extend((a + i) % 7 for i in range(span + 1))
    return sorted(set(days))


def parse_between(text: str) -> tuple[time, time]:
    """``09:00-17:00`` → (09:00, 17:00); an end at or before the start runs past midnight."""
    start, sep, end = text.partition("-")
    if not sep:
        raise SystemExit(f"--between takes START-END, e.g. 09:00-17:00, got {text!r}")
    return parse_time_of_day(start, "--between start"), parse_time_of_day(end, "--between end")


def parse_instant(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """An instant: ``now``, ``+2h``/``-1d``, or ISO; without an offset, on the schedule's clock."""
    from ..schedules import instant_at

    text = text.strip()
    if text == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        seconds = float(m.group(2)) * _UNIT_SECONDS[m.group(3)]
        return now + timedelta(seconds=seconds if m.group(1) == "+" else -seconds)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"not a time: {text!r} (use e.g. 2026-03-29T09:00, 2026-03-29, now, +2h)") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    # the schedule's rule for local times that a DST change skips or repeats
    return instant_at(zone, value.date(), value.time())


def _local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _why(reason: Any) -> str:
    which = reason.WhichOneof("reason")
    if which == "layer":
        return f"layer {reason.layer.name!r} ({reason.layer.index})"
    if which == "override_id":
        return f"override {reason.override_id}"
    return f"temporary schedule {reason.temporary_schedule_id}"


def _at(ts: Any) -> datetime:
    when: datetime = ts.ToDatetime(tzinfo=UTC)
    return when


def _timestamp(value: datetime) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _print_schedule(s: Any) -> None:
    from ..rpc.convert import layer_from_proto

    zone = ZoneInfo(s.time_zone)
    print(f"{s.name}  [{s.id}]  {s.time_zone}, version {s.version}")
    if s.description:
        print(f"  {s.description}")
    if not s.layers:
        print("  no layers")
    for i, proto in enumerate(s.layers):
        layer = layer_from_proto(proto, f"layer {i}")
        unit = layer.shift_length.unit.value + ("s" if layer.shift_length.count != 1 else "")
        print(f"  layer {i}: {layer.name!r}  {', '.join(layer.participants)}  "
              f"every {layer.shift_length.count} {unit}, handoff {layer.handoff:%H:%M}, "
              f"from {_local(layer.start, zone)}")
        for w in layer.restrictions:
            print(f"    only {_WEEKDAY_NAMES[w.start_day]} {w.start_time:%H:%M} → "
                  f"{_WEEKDAY_NAMES[w.end_day]} {w.end_time:%H:%M}")
    for t in s.temporary_schedules:
        print(f"  temporary schedule [{t.id}] {_local(_at(t.start), zone)} → {_local(_at(t.end), zone)}: "
              f"{len(t.shifts)} shift(s)")


def _print_override(o: Any, zone: ZoneInfo) -> None:
    if o.add_user_id and o.remove_user_id:
        what = f"{o.add_user_id} replaces {o.remove_user_id}"
    elif o.add_user_id:
        what = f"add {o.add_user_id}"
    else:
        what = f"remove {o.remove_user_id}"
    print(f"{o.id}  {_local(_at(o.start), zone)} → {_local(_at(o.end), zone)}  {what}")


async def _lookup(api: Api, id_or_name: str) -> Any:
    """A schedule by id or, failing that, by name (for people typing commands)."""
    from ..alerting.v1 import schedules_pb2 as pb
    from ..errors import NotFound

    listed = (await api.call("ScheduleService/ListSchedules", pb.ListSchedulesRequest())).schedules
    for s in listed:
        if s.id == id_or_name:
            return s
    for s in listed:
        if s.name == id_or_name:
            return s
    raise NotFound(f"no schedule has the id or name {id_or_name!r}")


# --------------------------------------------------------------------------- commands


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        made = await api.call("ScheduleService/CreateSchedule", pb.CreateScheduleRequest(
            name=args.name, time_zone=args.tz, description=args.description))
        _print_schedule(made.schedule)
        return 0

    return run_api(settings, go)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        reply = await api.call("ScheduleService/ListSchedules", pb.ListSchedulesRequest())
        if args.json:
            return print_json(reply)
        listed = reply.schedules
        if not listed:
            print("no schedules")
        for s in listed:
            print(f"{s.id}  {s.name:<24} {s.time_zone:<20} {len(s.layers)} layer(s)  version {s.version}")
        return 0

    return run_api(settings, go)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        if args.json:
            return print_json(s)
        _print_schedule(s)
        return 0

    return run_api(settings, go)


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        await api.call("ScheduleService/DeleteSchedule", pb.DeleteScheduleRequest(schedule_id=s.id))
        print(f"deleted schedule {s.name!r} [{s.id}]")
        return 0

    return run_api(settings, go)


async def _replace_layers(api: Api, s: Any, layers: list[Any]) -> Any:
    from ..alerting.v1 import schedules_pb2 as pb

    return (await api.call("ScheduleService/UpdateSchedule", pb.UpdateScheduleRequest(
        schedule_id=s.id, name=s.name, time_zone=s.time_zone, description=s.description, layers=layers,
        expected_version=s.version))).schedule


def cmd_add_rotation(args: argparse.Namespace, settings: Settings) -> int:
    from ..rpc.convert import layer_to_proto
    from ..schedules import EVERY_DAY, Layer, WeeklyWindow, instant_at

    users = [u.strip() for u in args.users.split(",") if u.strip()]
    if not users:
        raise SystemExit("--users takes user ids separated by commas, e.g. alice,bob")
    shift_length = parse_shift(args.shift)
    handoff = parse_time_of_day(args.handoff, "--handoff")
    restrictions: tuple[Any, ...] = ()
    if args.weekdays or args.between:
        days = parse_weekdays(args.weekdays) if args.weekdays else list(EVERY_DAY)
        opens, closes = parse_between(args.between) if args.between else (time(0), time(0))
        restrictions = WeeklyWindow.daily(opens, closes, days)

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        zone = ZoneInfo(s.time_zone)
        try:
            # a date means the first handoff that day: the first user gets a whole first shift
            start = instant_at(zone, date.fromisoformat(args.start), handoff)
        except ValueError:
            start = parse_instant(args.start, zone, datetime.now(UTC))
        layer = Layer(args.name, tuple(users), shift_length, handoff, start, restrictions)
        _print_schedule(await _replace_layers(api, s, [*s.layers, layer_to_proto(layer)]))
        return 0

    return run_api(settings, go)


def cmd_remove_rotation(args: argparse.Namespace, settings: Settings) -> int:
    from ..errors import NotFound

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        kept = [layer for layer in s.layers if layer.name != args.name]
        if len(kept) == len(s.layers):
            raise NotFound(f"schedule {s.name!r} has no layer named {args.name!r}")
        _print_schedule(await _replace_layers(api, s, kept))
        return 0

    return run_api(settings, go)


def cmd_override(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    if args.add:
        add_user, remove_user = args.user, ""
    elif args.remove:
        add_user, remove_user = "", args.user
    else:
        add_user, remove_user = args.replace_with, args.user

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        zone, now = ZoneInfo(s.time_zone), datetime.now(UTC)
        o = (await api.call("ScheduleService/AddOverride", pb.AddOverrideRequest(
            schedule_id=s.id, start=_timestamp(parse_instant(args.from_, zone, now)),
            end=_timestamp(parse_instant(args.to, zone, now)), add_user_id=add_user,
            remove_user_id=remove_user))).override
        _print_override(o, zone)
        return 0

    return run_api(settings, go)


def cmd_overrides(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        zone = ZoneInfo(s.time_zone)
        request = pb.ListOverridesRequest(schedule_id=s.id)
        if not args.all:
            request.start.CopyFrom(_timestamp(datetime.now(UTC)))
        reply = await api.call("ScheduleService/ListOverrides", request)
        if args.json:
            return print_json(reply)
        listed = reply.overrides
        if not listed:
            print("no overrides" if args.all else "no current or upcoming overrides")
        for o in listed:
            _print_override(o, zone)
        return 0

    return run_api(settings, go)


def cmd_remove_override(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        await api.call("ScheduleService/RemoveOverride",
                       pb.RemoveOverrideRequest(schedule_id=s.id, override_id=args.override))
        print(f"removed override {args.override} from {s.name!r}")
        return 0

    return run_api(settings, go)


def cmd_who(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        zone = ZoneInfo(s.time_zone)
        at = parse_instant(args.at, zone, datetime.now(UTC))
        reply = await api.call("ScheduleService/GetOnCallUsers", pb.GetOnCallUsersRequest(schedule_id=s.id,
                                                                                          at=_timestamp(at)))
        if args.json:
            return print_json(reply)
        entries = reply.users
        when = f"{_local(at, zone)} ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        if not entries:
            print(f"nobody is on call on {s.name!r} at {when}")
            return 0
        print(f"on call on {s.name!r} at {when}:")
        for e in entries:
            print(f"  {e.user_id}  {_why(e.reason)}")
        return 0

    return run_api(settings, go)


def cmd_shifts(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        zone, now = ZoneInfo(s.time_zone), datetime.now(UTC)
        reply = await api.call("ScheduleService/ListShifts", pb.ListShiftsRequest(
            schedule_id=s.id, start=_timestamp(parse_instant(args.from_, zone, now)),
            end=_timestamp(parse_instant(args.to, zone, now)), user_id=args.user or ""))
        if args.json:
            return print_json(reply)
        found = reply.shifts
        if not found:
            print("nobody is on call in that range")
        for shift in found:
            print(f"{_local(_at(shift.start), zone)} → {_local(_at(shift.end), zone)}  {shift.user_id}  "
                  f"{_why(shift.reason)}")
        return 0

    return run_api(settings, go)


def cmd_calendar_token(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        made = await api.call("ScheduleService/CreateCalendarToken",
                              pb.CreateCalendarTokenRequest(schedule_id=s.id, user_id=args.user or ""))
        whose = f"{args.user}'s shifts" if args.user else "every shift"
        print(f"created calendar token {made.token.id} for {s.name!r} ({whose})")
        print(f"token: {made.secret}   (shown only now; it is stored hashed)")
        print(f"feed:  {made.calendar_url}")
        return 0

    return run_api(settings, go)


def cmd_calendar_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        reply = await api.call("ScheduleService/ListCalendarTokens", pb.ListCalendarTokensRequest(schedule_id=s.id))
        if args.json:
            return print_json(reply)
        if not reply.tokens:
            print(f"no calendar tokens for {s.name!r}")
        for t in reply.tokens:
            whose = f"{t.user_id}'s shifts" if t.user_id else "every shift"
            print(f"{t.id}  {t.prefix}…  {whose}  created {_local(_at(t.created_at), ZoneInfo(s.time_zone))}")
        return 0

    return run_api(settings, go)


def cmd_revoke_calendar_token(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import schedules_pb2 as pb

    async def go(api: Api) -> int:
        s = await _lookup(api, args.schedule)
        await api.call("ScheduleService/RevokeCalendarToken",
                       pb.RevokeCalendarTokenRequest(schedule_id=s.id, token_id=args.token))
        print(f"revoked calendar token {args.token} of {s.name!r}: its feed URL no longer works")
        return 0

    return run_api(settings, go)


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    sched = sub.add_parser(
        "schedule", aliases=["schedules"], help="on-call schedules: rotations, overrides, who is on call"
    )
    ss = sched.add_subparsers(dest="schedule_command", required=True)

    p = ss.add_parser("create", help="create a schedule")
    p.add_argument("--name", required=True)
    p.add_argument("--tz", required=True, help="IANA time zone, e.g. Europe/Berlin")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_create)

    p = ss.add_parser("list", help="list schedules")
    add_json_flag(p)
    p.set_defaults(func=cmd_list)

    p = ss.add_parser("show", help="a schedule's layers and temporary schedules")
    p.add_argument("schedule", help="id or name")
    add_json_flag(p)
    p.set_defaults(func=cmd_show)

    p = ss.add_parser("delete", help="delete a schedule no escalation policy pages")
    p.add_argument("schedule", help="id or name")
    p.set_defaults(func=cmd_delete)

    p = ss.add_parser("add-rotation", help="add a layer on top of the schedule's layers")
    p.add_argument("schedule", help="id or name")
    p.add_argument("--name", required=True, help="the layer's name")
    p.add_argument("--users", required=True, help="user ids in rotation order, e.g. alice,bob,cho")
    p.add_argument("--shift", required=True, help="shift length: 12h, 1d, 1w …")
    p.add_argument("--handoff", required=True, help="local handoff time, e.g. 09:00")
    p.add_argument("--start", required=True,
                   help="a date (the first user takes over at the handoff that day) or a time")
    p.add_argument("--weekdays", help="only on these days, e.g. mon-fri or sat,sun")
    p.add_argument("--between", help="only between these local times, e.g. 09:00-17:00 (or 22:00-06:00)")
    p.set_defaults(func=cmd_add_rotation)

    p = ss.add_parser("remove-rotation", help="remove a layer by name")
    p.add_argument("schedule", help="id or name")
    p.add_argument("--name", required=True, help="the layer's name")
    p.set_defaults(func=cmd_remove_rotation)

    p = ss.add_parser("override", help="add, remove or replace a user for a while")
    p.add_argument("schedule", help="id or name")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--add", action="store_true", help="put --user on call too")
    kind.add_argument("--remove", action="store_true", help="take --user off call")
    kind.add_argument("--replace-with", metavar="USER", help="USER takes --user's place while --user is on call")
    p.add_argument("--user", required=True)
    p.add_argument("--from", dest="from_", required=True,
                   help="start: ISO time (local unless it has an offset), now, +2h")
    p.add_argument("--to", required=True, help="end (exclusive)")
    p.set_defaults(func=cmd_override)

    p = ss.add_parser("overrides", help="list current and upcoming overrides")
    p.add_argument("schedule", help="id or name")
    p.add_argument("--all", action="store_true", help="include those that have ended")
    add_json_flag(p)
    p.set_defaults(func=cmd_overrides)

    p = ss.add_parser("remove-override", help="remove an override")
    p.add_argument("schedule", help="id or name")
    p.add_argument("override", help="the override's id")
    p.set_defaults(func=cmd_remove_override)

    p = ss.add_parser("who", help="who is on call, and why")
    p.add_argument("schedule", help="id or name")
    p.add_argument("--at", default="now", help="ISO time (local unless it has an offset), now, +2h …")
    add_json_flag(p)
    p.set_defaults(func=cmd_who)

    p = ss.add_parser("shifts", help="the final on-call shifts over a range (at most 93 days)")
    p.add_argument("schedule", help="id or name")
    p.add_argument("--from", dest="from_", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--user", help="only this user's shifts")
    add_json_flag(p)
    p.set_defaults(func=cmd_shifts)

    p = ss.add_parser("calendar-token", help="create a secret iCal feed URL (shown once)")
    p.add_argument("schedule", help="id or name")
    p.add_argument("--user", help="a feed of only this user's shifts")
    p.set_defaults(func=cmd_calendar_token)

    p = ss.add_parser("calendar-tokens", help="a schedule's calendar tokens (their prefixes, never the secrets)")
    p.add_argument("schedule", help="id or name")
    add_json_flag(p)
    p.set_defaults(func=cmd_calendar_tokens)

    p = ss.add_parser("revoke-calendar-token", help="revoke a calendar token: its feed URL stops working")
    p.add_argument("schedule", help="id or name")
    p.add_argument("token", help="the token's id (see calendar-tokens)")
    p.set_defaults(func=cmd_revoke_calendar_token)
