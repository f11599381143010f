"""ScheduleService through a real gRPC channel, and schedule targets resolved by the real escalation engine.

Expected instants are worked out by hand (Europe/Berlin: CET +01:00 until 2026-03-29
02:00, when the clocks jump to 03:00 CEST +02:00).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from oncall.errors import InvalidArgument
from fixtures.alerts import trigger
from fixtures.rpc import failure_of, reflection_client
from google.protobuf import descriptor_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oncall.alerting import store as alerting_store
from oncall.alerting.v1 import escalation_pb2 as escalation_pb
from oncall.alerting.v1 import escalation_pb2_grpc, schedules_pb2_grpc
from oncall.alerting.v1 import schedules_pb2 as pb
from oncall.clock import Clock
from oncall.context import Context
from oncall.escalation.engine import Engine
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.escalation.state import list_requests
from oncall.routing import rules
from oncall.schedules import Layer, ShiftLength
from oncall.schedules import store as schedule_store
from oncall.store.listen import APPLICATION_NAME
from oncall_hookspecs import RuleActions

ROOT = Path(__file__).resolve().parent.parent
EVERY_DAY = range(pb.WEEKDAY_MONDAY, pb.WEEKDAY_SUNDAY + 1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


def at(t: Timestamp) -> datetime:
    return t.ToDatetime(tzinfo=UTC)


def layer(name: str, participants: list[str], count: int, unit: int, handoff: str, start: datetime,
          restrictions: list[pb.WeeklyWindow] | None = None) -> pb.Layer:
    return pb.Layer(name=name, participants=participants, shift_length=pb.ShiftLength(count=count, unit=unit),
                    handoff=handoff, start=ts(start), restrictions=restrictions or [])


def reason(r: pb.OnCallReason) -> tuple[Any, ...]:
    """A reason as a comparable tuple: ("layer", index, name), ("override", id), ("temporary", id)."""
    kind = r.WhichOneof("reason")
    if kind == "layer":
        return ("layer", r.layer.index, r.layer.name)
    if kind == "override_id":
        return ("override", r.override_id)
    return ("temporary", r.temporary_schedule_id)


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> schedules_pb2_grpc.ScheduleServiceStub:
    return schedules_pb2_grpc.ScheduleServiceStub(grpc_channel)


async def who(stub: schedules_pb2_grpc.ScheduleServiceStub, schedule_id: str, when: datetime) -> list[tuple[Any, ...]]:
    response = await stub.GetOnCallUsers(pb.GetOnCallUsersRequest(schedule_id=schedule_id, at=ts(when)))
    assert at(response.at) == when
    return [(u.user_id, *reason(u.reason)) for u in response.users]


async def shift_list(stub: schedules_pb2_grpc.ScheduleServiceStub, schedule_id: str, start: datetime,
                     end: datetime, user_id: str = "") -> list[tuple[Any, ...]]:
    response = await stub.ListShifts(
        pb.ListShiftsRequest(schedule_id=schedule_id, start=ts(start), end=ts(end), user_id=user_id)
    )
    return [(at(s.start), at(s.end), s.user_id, *reason(s.reason)) for s in response.shifts]


# --------------------------------------------------------------------------- known answers across DST


def berlin_request(name: str = "db") -> pb.CreateScheduleRequest:
    """A daily rotation handing off at 02:30 (a time 2026-03-29 skips) under a 09:00–17:00 layer."""
    return pb.CreateScheduleRequest(
        name=name,
        time_zone="Europe/Berlin",
        layers=[
            # 2026-03-27 02:30 CET: alice's first full day
            layer("daily", ["alice", "bob"], 1, pb.SHIFT_UNIT_DAY, "02:30", utc(2026, 3, 27, 1, 30)),
            # Monday 2026-03-23 09:00 CET; on call only 09:00-17:00 local, every day
            layer("office", ["carol"], 1, pb.SHIFT_UNIT_WEEK, "09:00", utc(2026, 3, 23, 8), [
                pb.WeeklyWindow(start_day=d, start_time="09:00", end_day=d, end_time="17:00") for d in EVERY_DAY
            ]),
        ],
    )


async def test_who_is_on_call_across_the_berlin_spring_forward_night(stub):
    schedule = (await stub.CreateSchedule(berlin_request())).schedule
    daily, office = ("layer", 0, "daily"), ("layer", 1, "office")
    # the 02:30 handoff of the 29th doesn't exist: bob hands over when the clocks jump, 03:00 CEST
    assert await who(stub, schedule.id, utc(2026, 3, 29, 0, 59, 59)) == [("bob", *daily)]
    assert await who(stub, schedule.id, utc(2026, 3, 29, 1)) == [("alice", *daily)]
    # 09:00 local is 08:00Z before the change and 07:00Z after it
    assert await who(stub, schedule.id, utc(2026, 3, 28, 7, 59, 59)) == [("bob", *daily)]
    assert await who(stub, schedule.id, utc(2026, 3, 28, 8)) == [("carol", *office)]
    assert await who(stub, schedule.id, utc(2026, 3, 29, 6, 59, 59)) == [("alice", *daily)]
    assert await who(stub, schedule.id, utc(2026, 3, 29, 7)) == [("carol", *office)]
    assert await who(stub, schedule.id, utc(2026, 3, 29, 15)) == [("alice", *daily)]
    # the next 02:30 exists again: CEST, 00:30Z
    assert await who(stub, schedule.id, utc(2026, 3, 30, 0, 30)) == [("bob", *daily)]


async def test_shifts_across_the_berlin_spring_forward_night(stub):
    schedule = (await stub.CreateSchedule(berlin_request())).schedule
    daily, office = ("layer", 0, "daily"), ("layer", 1, "office")
    assert await shift_list(stub, schedule.id, utc(2026, 3, 28), utc(2026, 3, 30)) == [
        (utc(2026, 3, 28, 0), utc(2026, 3, 28, 1, 30), "alice", *daily),
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 8), "bob", *daily),
        (utc(2026, 3, 28, 8), utc(2026, 3, 28, 16), "carol", *office),
        # 23.5 hours of bob's day are on the clock 02:30 CET → 03:00 CEST
        (utc(2026, 3, 28, 16), utc(2026, 3, 29, 1), "bob", *daily),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 7), "alice", *daily),
        (utc(2026, 3, 29, 7), utc(2026, 3, 29, 15), "carol", *office),
        (utc(2026, 3, 29, 15), utc(2026, 3, 30, 0), "alice", *daily),
    ]
    assert await shift_list(stub, schedule.id, utc(2026, 3, 28), utc(2026, 3, 30), user_id="carol") == [
        (utc(2026, 3, 28, 8), utc(2026, 3, 28, 16), "carol", *office),
        (utc(2026, 3, 29, 7), utc(2026, 3, 29, 15), "carol", *office),
    ]


# --------------------------------------------------------------------------- schedules


async def test_a_schedule_is_stored_read_listed_updated_and_deleted(stub):
    created = (await stub.CreateSchedule(berlin_request())).schedule
    assert (created.name, created.time_zone, created.version) == ("db", "Europe/Berlin", 1)
    assert [layer.name for layer in created.layers] == ["daily", "office"]
    office = created.layers[1]
    assert (office.handoff, office.shift_length.unit, len(office.restrictions)) == ("09:00", pb.SHIFT_UNIT_WEEK, 7)
    assert (office.restrictions[0].start_day, office.restrictions[0].start_time) == (pb.WEEKDAY_MONDAY, "09:00")
    assert at(office.start) == utc(2026, 3, 23, 8)

    fetched = (await stub.GetSchedule(pb.GetScheduleRequest(schedule_id=created.id))).schedule
    assert fetched == created
    await stub.CreateSchedule(pb.CreateScheduleRequest(name="app", time_zone="UTC"))
    listed = (await stub.ListSchedules(pb.ListSchedulesRequest())).schedules
    assert [s.name for s in listed] == ["app", "db"]

    request = berlin_request("db-primary")
    updated = (await stub.UpdateSchedule(pb.UpdateScheduleRequest(
        schedule_id=created.id, name=request.name, time_zone="America/New_York", description="primary db",
        layers=request.layers[:1], expected_version=1,
    ))).schedule
    assert (updated.name, updated.time_zone, updated.description, updated.version) == (
        "db-primary", "America/New_York", "primary db", 2)
    assert [layer.name for layer in updated.layers] == ["daily"]
    # the zone moved the handoffs to 02:30 EDT (06:30Z), and the start (01:30Z on the 27th) is
    # on the 26th in New York: alice's first turn began at 06:30Z on the 26th, so the 29th is bob's
    assert await who(stub, created.id, utc(2026, 3, 29, 6, 29)) == [("alice", "layer", 0, "daily")]
    assert await who(stub, created.id, utc(2026, 3, 29, 6, 30)) == [("bob", "layer", 0, "daily")]

    await stub.DeleteSchedule(pb.DeleteScheduleRequest(schedule_id=created.id))
    failure = await failure_of(stub.GetSchedule(pb.GetScheduleRequest(schedule_id=created.id)))
    assert failure.code() == grpc.StatusCode.NOT_FOUND
    assert [s.name for s in (await stub.ListSchedules(pb.ListSchedulesRequest())).schedules] == ["app"]


async def test_an_update_from_a_stale_version_changes_nothing(stub):
    created = (await stub.CreateSchedule(berlin_request())).schedule
    await stub.AddOverride(pb.AddOverrideRequest(
        schedule_id=created.id, start=ts(utc(2026, 3, 1)), end=ts(utc(2026, 3, 2)), add_user_id="dave"))
    failure = await failure_of(stub.UpdateSchedule(pb.UpdateScheduleRequest(
        schedule_id=created.id, name="db", time_zone="UTC", expected_version=1)))
    assert failure.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "version 2, not 1" in failure.details()
    fetched = (await stub.GetSchedule(pb.GetScheduleRequest(schedule_id=created.id))).schedule
    assert (fetched.time_zone, len(fetched.layers), fetched.version) == ("Europe/Berlin", 2, 2)


async def test_a_second_schedule_with_the_same_name_already_exists(stub):
    await stub.CreateSchedule(pb.CreateScheduleRequest(name="db", time_zone="UTC"))
    failure = await failure_of(stub.CreateSchedule(pb.CreateScheduleRequest(name="db", time_zone="UTC")))
    assert failure.code() == grpc.StatusCode.ALREADY_EXISTS


def _bad(schedule: dict[str, Any] | None = None, **layer_fields: Any) -> pb.CreateScheduleRequest:
    """A good request for a one-layer schedule, with some schedule or layer fields changed (None: unset)."""
    fields = {"name": "daily", "participants": ["alice"], "handoff": "09:00", "start": ts(utc(2026, 1, 5, 8)),
              "shift_length": pb.ShiftLength(count=1, unit=pb.SHIFT_UNIT_DAY), **layer_fields}
    good = {"name": "db", "time_zone": "Europe/Berlin", **(schedule or {})}
    return pb.CreateScheduleRequest(
        **good, layers=[pb.Layer(**{k: v for k, v in fields.items() if v is not None})]
    )


@pytest.mark.parametrize(("request_", "complaint"), [
    (_bad({"time_zone": "Mars/Olympus_Mons"}), "unknown time zone 'Mars/Olympus_Mons'"),
    (_bad({"time_zone": ""}), "time_zone is required"),
    (_bad({"name": "  "}), "a schedule needs a name"),
    (_bad(participants=[]), "layers[0]: layer 'daily' needs at least one participant"),
    (_bad(participants=["alice", ""]), "layers[0]: layer 'daily' participant must be a non-empty user id"),
    (_bad(name=""), "layers[0]: a layer needs a name"),
    (_bad(handoff="25:00"), "layers[0]: handoff must be a time of day"),
    (_bad(handoff=""), "layers[0]: handoff must be a time of day"),
    (_bad(start=None), "layers[0]: start is required"),
    (pb.CreateScheduleRequest(name="db", time_zone="UTC", layers=[
        pb.Layer(name="l", participants=["a"], shift_length=pb.ShiftLength(count=0, unit=pb.SHIFT_UNIT_DAY),
                 handoff="09:00", start=ts(utc(2026, 1, 1)))]), "layers[0]: shift length must be a whole number >= 1"),
    (pb.CreateScheduleRequest(name="db", time_zone="UTC", layers=[
        pb.Layer(name="l", participants=["a"], shift_length=pb.ShiftLength(count=1),
                 handoff="09:00", start=ts(utc(2026, 1, 1)))]), "layers[0]: shift_length.unit is required"),
    (pb.CreateScheduleRequest(name="db", time_zone="UTC", layers=[
        layer("l", ["a"], 1, pb.SHIFT_UNIT_DAY, "09:00", utc(2026, 1, 1), [
            pb.WeeklyWindow(start_day=pb.WEEKDAY_MONDAY, start_time="09:00", end_time="17:00")])]),
     "layers[0]: restrictions[0].end_day is required"),
    (pb.CreateScheduleRequest(name="db", time_zone="UTC", layers=[
        layer("l", ["a"], 1, pb.SHIFT_UNIT_DAY, "09:00", utc(2026, 1, 1), [
            pb.WeeklyWindow(start_day=pb.WEEKDAY_MONDAY, start_time="09:00",
                            end_day=pb.WEEKDAY_MONDAY, end_time="09:00")])]),
     "layers[0]: a restriction window must not open and close at the same moment"),
])
async def test_a_bad_zone_or_layer_is_invalid_argument_and_nothing_is_written(stub, request_, complaint):
    failure = await failure_of(stub.CreateSchedule(request_))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert complaint in failure.details()
    assert list((await stub.ListSchedules(pb.ListSchedulesRequest())).schedules) == []


async def test_an_unknown_schedule_is_not_found_everywhere(stub):
    missing = "0b0e6c4e-0000-4000-8000-000000000000"
    calls = [
        stub.GetSchedule(pb.GetScheduleRequest(schedule_id=missing)),
        stub.UpdateSchedule(pb.UpdateScheduleRequest(schedule_id=missing, name="x", time_zone="UTC")),
        stub.DeleteSchedule(pb.DeleteScheduleRequest(schedule_id=missing)),
        stub.GetOnCallUsers(pb.GetOnCallUsersRequest(schedule_id=missing)),
        stub.ListShifts(pb.ListShiftsRequest(schedule_id=missing, start=ts(utc(2026, 1, 1)), end=ts(utc(2026, 1, 2)))),
        stub.AddOverride(pb.AddOverrideRequest(schedule_id=missing, start=ts(utc(2026, 1, 1)),
                                               end=ts(utc(2026, 1, 2)), add_user_id="a")),
        stub.ListOverrides(pb.ListOverridesRequest(schedule_id=missing)),
        stub.SetTemporarySchedule(pb.SetTemporaryScheduleRequest(schedule_id=missing, start=ts(utc(2026, 1, 1)),
                                                                 end=ts(utc(2026, 1, 2)))),
        stub.CreateCalendarToken(pb.CreateCalendarTokenRequest(schedule_id=missing)),
    ]
    for call in calls:
        failure = await failure_of(call)
        assert failure.code() == grpc.StatusCode.NOT_FOUND, failure.details()
        assert missing in failure.details()


async def test_on_call_users_default_to_now(stub):
    start = datetime.now(UTC) - timedelta(days=1)
    created = (await stub.CreateSchedule(pb.CreateScheduleRequest(name="solo", time_zone="UTC", layers=[
        layer("only", ["alice"], 1, pb.SHIFT_UNIT_WEEK, "00:00", start)]))).schedule
    before = datetime.now(UTC)
    response = await stub.GetOnCallUsers(pb.GetOnCallUsersRequest(schedule_id=created.id))
    assert before <= at(response.at) <= datetime.now(UTC)
    assert [(u.user_id, *reason(u.reason)) for u in response.users] == [("alice", "layer", 0, "only")]


async def test_shifts_are_listed_over_at_most_93_days(stub):
    created = (await stub.CreateSchedule(berlin_request())).schedule
    start = utc(2026, 1, 1)
    assert await shift_list(stub, created.id, start, start + timedelta(days=93))
    failure = await failure_of(stub.ListShifts(pb.ListShiftsRequest(
        schedule_id=created.id, start=ts(start), end=ts(start + timedelta(days=93, seconds=1)))))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 93 days" in failure.details()
    failure = await failure_of(stub.ListShifts(pb.ListShiftsRequest(schedule_id=created.id, start=ts(start))))
    assert (failure.code(), failure.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "end is required")
    failure = await failure_of(stub.ListShifts(pb.ListShiftsRequest(
        schedule_id=created.id, start=ts(start), end=ts(start - timedelta(hours=1)))))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT


# --------------------------------------------------------------------------- overrides and temporary schedules


async def weekly_ops(stub: schedules_pb2_grpc.ScheduleServiceStub) -> pb.Schedule:
    """UTC; alice and bob take turns weekly from Monday 2026-01-05 09:00, so alice has 2026-02-02 → 02-09."""
    return (await stub.CreateSchedule(pb.CreateScheduleRequest(name="ops", time_zone="UTC", layers=[
        layer("primary", ["alice", "bob"], 1, pb.SHIFT_UNIT_WEEK, "09:00", utc(2026, 1, 5, 9))]))).schedule


async def override(stub: schedules_pb2_grpc.ScheduleServiceStub, schedule_id: str, start: datetime, end: datetime,
                   add: str = "", remove: str = "") -> pb.Override:
    return (await stub.AddOverride(pb.AddOverrideRequest(
        schedule_id=schedule_id, start=ts(start), end=ts(end), add_user_id=add, remove_user_id=remove))).override


async def version(stub, schedule_id: str) -> int:
    return (await stub.GetSchedule(pb.GetScheduleRequest(schedule_id=schedule_id))).schedule.version


async def test_overrides_add_replace_and_remove_users_in_the_order_they_were_added(stub):
    ops = await weekly_ops(stub)
    primary = ("layer", 0, "primary")
    swap = await override(stub, ops.id, utc(2026, 2, 2, 10), utc(2026, 2, 2, 14), add="dave", remove="alice")
    extra = await override(stub, ops.id, utc(2026, 2, 2, 11), utc(2026, 2, 2, 13), add="erin")
    off = await override(stub, ops.id, utc(2026, 2, 9, 9), utc(2026, 2, 9, 10), remove="bob")
    assert (swap.add_user_id, swap.remove_user_id, at(swap.start)) == ("dave", "alice", utc(2026, 2, 2, 10))
    assert await version(stub, ops.id) == 4

    assert await who(stub, ops.id, utc(2026, 2, 2, 9, 30)) == [("alice", *primary)]
    assert await who(stub, ops.id, utc(2026, 2, 2, 12)) == [
        ("dave", "override", swap.id), ("erin", "override", extra.id)]
    # a remove leaves nobody on call; it doesn't let anything show through
    assert await who(stub, ops.id, utc(2026, 2, 9, 9, 30)) == []
    assert await shift_list(stub, ops.id, utc(2026, 2, 2, 9), utc(2026, 2, 2, 15)) == [
        (utc(2026, 2, 2, 9), utc(2026, 2, 2, 10), "alice", *primary),
        (utc(2026, 2, 2, 10), utc(2026, 2, 2, 14), "dave", "override", swap.id),
        (utc(2026, 2, 2, 11), utc(2026, 2, 2, 13), "erin", "override", extra.id),
        (utc(2026, 2, 2, 14), utc(2026, 2, 2, 15), "alice", *primary),
    ]

    listed = (await stub.ListOverrides(pb.ListOverridesRequest(schedule_id=ops.id))).overrides
    assert [o.id for o in listed] == [swap.id, extra.id, off.id]
    later = (await stub.ListOverrides(pb.ListOverridesRequest(schedule_id=ops.id, start=ts(utc(2026, 2, 5))))).overrides
    assert [o.id for o in later] == [off.id]

    await stub.RemoveOverride(pb.RemoveOverrideRequest(schedule_id=ops.id, override_id=swap.id))
    assert await who(stub, ops.id, utc(2026, 2, 2, 12)) == [("alice", *primary), ("erin", "override", extra.id)]
    assert await version(stub, ops.id) == 5
    failure = await failure_of(stub.RemoveOverride(pb.RemoveOverrideRequest(schedule_id=ops.id, override_id=swap.id)))
    assert failure.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("add", "remove", "start", "end", "complaint"), [
    ("", "", utc(2026, 2, 2), utc(2026, 2, 3), "add_user_id, remove_user_id or both"),
    ("dave", "dave", utc(2026, 2, 2), utc(2026, 2, 3), "replaces dave with themselves"),
    ("dave", "", utc(2026, 2, 3), utc(2026, 2, 2), "must be before end"),
    ("dave", "", utc(2026, 2, 3), utc(2026, 2, 3), "must be before end"),
])
async def test_a_malformed_override_is_invalid_argument_and_nothing_changes(stub, add, remove, start, end, complaint):
    ops = await weekly_ops(stub)
    failure = await failure_of(stub.AddOverride(pb.AddOverrideRequest(
        schedule_id=ops.id, start=ts(start), end=ts(end), add_user_id=add, remove_user_id=remove)))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert complaint in failure.details()
    assert list((await stub.ListOverrides(pb.ListOverridesRequest(schedule_id=ops.id))).overrides) == []
    assert await version(stub, ops.id) == 1


async def test_a_temporary_schedule_replaces_everything_in_its_window_until_cleared(stub):
    ops = await weekly_ops(stub)
    extra = await override(stub, ops.id, utc(2026, 2, 3), utc(2026, 2, 4), add="erin")
    temporary = (await stub.SetTemporarySchedule(pb.SetTemporaryScheduleRequest(
        schedule_id=ops.id, start=ts(utc(2026, 2, 3)), end=ts(utc(2026, 2, 4)),
        shifts=[pb.TemporaryShift(start=ts(utc(2026, 2, 3)), end=ts(utc(2026, 2, 3, 12)), user_ids=["frank", "gina"])],
    ))).temporary_schedule
    why = ("temporary", temporary.id)
    assert await who(stub, ops.id, utc(2026, 2, 3, 6)) == [("frank", *why), ("gina", *why)]
    # inside the window, where no temporary shift runs, nobody is on call: not alice, not erin
    assert await who(stub, ops.id, utc(2026, 2, 3, 18)) == []
    assert await who(stub, ops.id, utc(2026, 2, 4)) == [("alice", "layer", 0, "primary")]
    stored = (await stub.GetSchedule(pb.GetScheduleRequest(schedule_id=ops.id))).schedule
    assert [t.id for t in stored.temporary_schedules] == [temporary.id]
    assert list(stored.temporary_schedules[0].shifts[0].user_ids) == ["frank", "gina"]

    failure = await failure_of(stub.SetTemporarySchedule(pb.SetTemporaryScheduleRequest(
        schedule_id=ops.id, start=ts(utc(2026, 2, 3, 12)), end=ts(utc(2026, 2, 5)))))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "overlap" in failure.details()
    failure = await failure_of(stub.SetTemporarySchedule(pb.SetTemporaryScheduleRequest(
        schedule_id=ops.id, start=ts(utc(2026, 2, 5)), end=ts(utc(2026, 2, 6)),
        shifts=[pb.TemporaryShift(start=ts(utc(2026, 2, 4)), end=ts(utc(2026, 2, 5, 12)), user_ids=["x"])])))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "lies outside the temporary schedule" in failure.details()

    replaced = (await stub.SetTemporarySchedule(pb.SetTemporaryScheduleRequest(
        schedule_id=ops.id, temporary_schedule_id=temporary.id, start=ts(utc(2026, 2, 3)), end=ts(utc(2026, 2, 4)),
        shifts=[pb.TemporaryShift(start=ts(utc(2026, 2, 3)), end=ts(utc(2026, 2, 4)), user_ids=["hana"])],
    ))).temporary_schedule
    assert replaced.id == temporary.id
    assert await who(stub, ops.id, utc(2026, 2, 3, 18)) == [("hana", *why)]

    await stub.ClearTemporarySchedule(pb.ClearTemporaryScheduleRequest(
        schedule_id=ops.id, temporary_schedule_id=temporary.id))
    assert await who(stub, ops.id, utc(2026, 2, 3, 6)) == [("alice", "layer", 0, "primary"),
                                                           ("erin", "override", extra.id)]
    # create, override, set, replace, clear; the refused requests changed nothing
    assert await version(stub, ops.id) == 5


async def test_a_schedule_an_escalation_policy_pages_cannot_be_deleted(stub, grpc_channel):
    ops = await weekly_ops(stub)
    policies = escalation_pb2_grpc.EscalationServiceStub(grpc_channel)
    policy = (await policies.CreatePolicy(escalation_pb.CreatePolicyRequest(name="db", steps=[
        escalation_pb.EscalationStep(targets=[
            escalation_pb.EscalationTarget(kind=escalation_pb.TARGET_KIND_SCHEDULE, id=ops.id)])]))).policy
    failure = await failure_of(stub.DeleteSchedule(pb.DeleteScheduleRequest(schedule_id=ops.id)))
    assert failure.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "paged by escalation policies: db" in failure.details()
    await policies.DeletePolicy(escalation_pb.DeletePolicyRequest(policy_id=policy.id))
    await stub.DeleteSchedule(pb.DeleteScheduleRequest(schedule_id=ops.id))


# --------------------------------------------------------------------------- the contract


def test_every_rpc_field_and_enum_value_of_the_schedule_service_is_documented(tmp_path):
    out = tmp_path / "schedules.pb"
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iproto", f"-I{_well_known()}", f"-I{_googleapis()}",
         "--include_source_info",
         f"--descriptor_set_out={out}", "oncall/alerting/v1/schedules.proto"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [file] = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    documented = {tuple(loc.path) for loc in file.source_code_info.location if loc.leading_comments.strip()}
    # descriptor paths: 4 message_type, 5 enum_type, 6 service; then 2 = field / value / method
    missing = [f"{m.name}.{f.name}" for mi, m in enumerate(file.message_type)
               for fi, f in enumerate(m.field) if (4, mi, 2, fi) not in documented]
    missing += [f"{e.name}.{v.name}" for ei, e in enumerate(file.enum_type)
                for vi, v in enumerate(e.value) if (5, ei, 2, vi) not in documented]
    missing += [f"{s.name}.{m.name}" for si, s in enumerate(file.service)
                for mi, m in enumerate(s.method) if (6, si, 2, mi) not in documented]
    assert missing == []


def _well_known() -> str:
    from importlib import resources

    return str(resources.files("grpc_tools") / "_proto")


def _googleapis() -> str:
    """Where google/api/annotations.proto is (googleapis-common-protos ships its .proto files)."""
    from pathlib import Path

    from google.api import annotations_pb2

    return str(Path(annotations_pb2.__file__).resolve().parent.parent.parent)


# --------------------------------------------------------------------------- the escalation engine


@pytest.fixture
def ctx(ctx: Context) -> Context:
    """conftest's Context, resolving schedule targets as server.py has the engine do."""
    ctx.schedule_resolver = schedule_store.resolver(ctx)
    return ctx


async def _handing_over(ctx: Context, clock: Clock) -> tuple[str, datetime]:
    """A UTC schedule where alice hands over to bob three minutes from the engine's now."""
    handoff = (clock.now() + timedelta(minutes=3)).replace(microsecond=0)
    schedule = await schedule_store.create_schedule(ctx.pool, schedule_store.ScheduleInput(
        "db", "UTC", layers=(Layer("primary", ("alice", "bob"), ShiftLength.daily(), handoff.time(),
                                   handoff - timedelta(days=1)),)))
    return schedule.id, handoff


async def _escalate_through(ctx: Context, schedule_id: str) -> None:
    policy = await create_policy(ctx.pool, PolicyInput(name="db", steps=[
        Step(0, (Target("schedule", schedule_id),)),
        Step(300, (Target("schedule", schedule_id),)),
    ]))
    await rules.set_default(ctx.pool, RuleActions(escalation_policy_id=policy.id))


def _paged(requests: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.step, r.target_kind, r.user_id, r.via) for r in requests]


async def test_a_schedule_step_pages_whoever_is_on_call_when_it_fires_across_a_handoff(ctx, clock):
    engine = Engine(ctx, clock=clock)
    schedule_id, handoff = await _handing_over(ctx, clock)
    await _escalate_through(ctx, schedule_id)
    alert_id = await trigger(ctx)

    await engine.run_once()
    assert _paged(await list_requests(ctx.pool, alert_id)) == [(0, "schedule", "alice", f"schedule:{schedule_id}")]
    clock.advance(300)  # past the handoff: the second step fires on bob's watch
    assert clock.now() > handoff
    assert (await engine.run_once()).fired == 1
    assert _paged(await list_requests(ctx.pool, alert_id)) == [
        (0, "schedule", "alice", f"schedule:{schedule_id}"),
        (1, "schedule", "bob", f"schedule:{schedule_id}"),
    ]
    notes = [e.note for e in await alerting_store.timeline(ctx.pool, alert_id) if e.kind == "escalated"]
    assert notes == [f"step 1 of 2: paged schedule {schedule_id} → alice",
                     f"step 2 of 2: paged schedule {schedule_id} → bob"]


async def test_an_override_added_while_an_alert_escalates_is_paged_by_the_next_step(ctx, clock):
    engine = Engine(ctx, clock=clock)
    schedule_id, handoff = await _handing_over(ctx, clock)
    await _escalate_through(ctx, schedule_id)
    alert_id = await trigger(ctx)
    await engine.run_once()  # alice, and the built schedule is now cached

    await schedule_store.add_override(ctx.pool, schedule_id, handoff, handoff + timedelta(hours=1),
                                      add_user="dave", remove_user="bob")
    clock.advance(300)
    await engine.run_once()
    assert [r.user_id for r in await list_requests(ctx.pool, alert_id)] == ["alice", "dave"]


async def test_a_policy_cannot_target_a_schedule_that_does_not_exist(ctx, clock):
    with pytest.raises(InvalidArgument, match="no-such-schedule"):
        await _escalate_through(ctx, "no-such-schedule")


async def test_a_schedule_with_nobody_on_call_at_the_step_pages_no_one(ctx, clock):
    engine = Engine(ctx, clock=clock)
    schedule_id, _ = await _handing_over(ctx, clock)
    now = clock.now()
    await schedule_store.add_override(ctx.pool, schedule_id, now - timedelta(hours=1), now + timedelta(hours=1),
                                      remove_user="alice")
    await _escalate_through(ctx, schedule_id)
    alert_id = await trigger(ctx)
    await engine.run_once()
    assert await list_requests(ctx.pool, alert_id) == []
    errors = [e.note for e in await alerting_store.timeline(ctx.pool, alert_id) if e.kind == "escalation_error"]
    assert errors == [f"no one is on call for schedule {schedule_id}"]



# --------------------------------------------------------------------------- the cache, listening for changes

# Another replica changing the schedule: the real store function, in a process of its own.
CHANGE_ELSEWHERE = """
import asyncio, sys
from datetime import datetime
from oncall.schedules import store
from oncall.store.database import open_pool

async def main(url, schedule_id, start, end):
    pool = await open_pool(url, 1, 1)
    try:
        await store.add_override(pool, schedule_id, datetime.fromisoformat(start), datetime.fromisoformat(end),
                                 add_user="dave", remove_user="alice")
    finally:
        await pool.close()

asyncio.run(main(*sys.argv[1:]))
"""
HANG_GUARD_S = 30


async def _until(check: Any) -> None:
    """Wait until ``check()`` holds; fails only if it never does (a hung listener)."""
    async with asyncio.timeout(HANG_GUARD_S):
        while not await check():
            await asyncio.sleep(0.01)


@pytest.fixture
async def listening(ctx, db_url) -> AsyncIterator[schedule_store.ScheduleCache]:
    cache = schedule_store.cache_for(ctx)
    await cache.start(ctx.listener)

    async def up() -> bool:
        return cache.listening

    await _until(up)
    yield cache
    await cache.stop()


async def _alice_until_tomorrow(ctx: Context) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    schedule = await schedule_store.create_schedule(ctx.pool, schedule_store.ScheduleInput(
        "db", "UTC",
        layers=(Layer("primary", ("alice",), ShiftLength.weekly(), now.time(), now - timedelta(hours=1)),)))
    return schedule.id, now


async def test_a_listening_cache_sees_a_change_made_in_this_process_at_once(ctx, listening):
    resolve = ctx.schedule_resolver
    schedule_id, now = await _alice_until_tomorrow(ctx)
    assert await resolve(schedule_id, now) == ["alice"]
    await schedule_store.add_override(ctx.pool, schedule_id, now, now + timedelta(hours=1), add_user="erin")
    assert await resolve(schedule_id, now) == ["alice", "erin"]
    await schedule_store.delete_schedule(ctx.pool, schedule_id)
    assert await resolve(schedule_id, now) == []


async def test_a_listening_cache_hears_of_a_change_another_process_made(ctx, listening, db_url):
    resolve = ctx.schedule_resolver
    schedule_id, now = await _alice_until_tomorrow(ctx)
    assert await resolve(schedule_id, now) == ["alice"]
    assert listening.listening  # so the held schedule is answered without reading its version

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHANGE_ELSEWHERE, db_url, schedule_id,
        (now - timedelta(minutes=1)).isoformat(), (now + timedelta(hours=1)).isoformat())
    assert await asyncio.wait_for(proc.wait(), HANG_GUARD_S) == 0

    async def replaced() -> bool:
        return await resolve(schedule_id, now) == ["dave"]

    await _until(replaced)


async def _listener_pids(ctx: Context) -> set[int]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        )
        return {r["pid"] for r in await cur.fetchall()}


async def test_a_listener_that_loses_its_connection_drops_what_it_held_when_it_reconnects(ctx, listening):
    resolve = ctx.schedule_resolver
    schedule_id, now = await _alice_until_tomorrow(ctx)
    assert await resolve(schedule_id, now) == ["alice"]
    # a change whose notification never arrives (the SQL a writer runs, minus its NOTIFY) …
    async with ctx.pool.connection() as conn:
        await conn.execute(
            """INSERT INTO alerting.schedule_overrides (schedule_id, starts_at, ends_at, add_user)
               VALUES (%s, %s, %s, 'erin')""", (schedule_id, now - timedelta(minutes=1), now + timedelta(hours=1)))
        await conn.execute("UPDATE alerting.schedules SET version = version + 1 WHERE id = %s", (schedule_id,))
    assert await resolve(schedule_id, now) == ["alice"]  # trusted, as it should be while listening
    # … then the listener's connection dies: notifications may have been missed meanwhile
    [old] = await _listener_pids(ctx)
    async with ctx.pool.connection() as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (old,))

    async def reconnected() -> bool:
        pids = await _listener_pids(ctx)
        return bool(pids) and old not in pids and listening.listening

    await _until(reconnected)
    assert await resolve(schedule_id, now) == ["alice", "erin"]


async def test_the_schedule_service_is_served_healthy_and_discoverable_by_reflection(server, grpc_channel):
    health = health_pb2_grpc.HealthStub(grpc_channel)
    checked = await health.Check(health_pb2.HealthCheckRequest(service="oncall.alerting.v1.ScheduleService"))
    assert checked.status == health_pb2.HealthCheckResponse.SERVING

    def services() -> list[str]:
        with reflection_client(server.grpc_target, server.admin_key) as client:
            return client.services

    assert "oncall.alerting.v1.ScheduleService" in await asyncio.to_thread(services)
