"""Hostile input over gRPC, for every method of every service the server serves.

Each method is sent, in each field its request can hold them: NUL characters, text that is
not UTF-8, NaN and Infinity inside Structs, Structs nested past the parser's depth,
Timestamps outside years 1–9999 and Durations past protobuf's ±10,000 years, and forged page
tokens. Each is INVALID_ARGUMENT with a detail naming the field, and nothing is written.
Then each is sent the extremes that are valid on the wire (year 1 and 9999, the longest
Duration, the largest integers, unknown enum values): any answer but UNKNOWN or INTERNAL.

Methods and fields come from the descriptors, so a new method or field is covered without
touching this file. Requests are built on a valid request of the method where there is one
(``BASELINES``), so a refusal is the hostile field's, not a missing one's.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import math
import pkgutil
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import oncall.access.v1
import oncall.alerting.v1
import oncall.notification.v1
import psycopg
import pytest
import pytest_asyncio
from conftest import RunningServer, _truncate_all, run_server, server_settings
from fixtures.rpc import HANG_GUARD_S
from google.protobuf import json_format
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from oncall.store.paging import encode_page_token
from psycopg import sql

pytestmark = pytest.mark.asyncio(loop_scope="module")

F = FieldDescriptor
# A server stream that is valid and live answers nothing until something happens; this long
# without an answer means it was accepted.
LIVE_STREAM_S = 0.5


# --------------------------------------------------------------------------- the methods


def _services() -> list[ServiceDescriptor]:
    modules = [health_pb2, reflection_pb2]
    for package in (oncall.access.v1, oncall.alerting.v1, oncall.notification.v1):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.endswith("_pb2"):
                modules.append(importlib.import_module(f"{package.__name__}.{info.name}"))
    found = {s.full_name: s for m in modules for s in m.DESCRIPTOR.services_by_name.values()}
    return [found[name] for name in sorted(found)]


SERVICES = _services()
METHODS: list[MethodDescriptor] = [m for s in SERVICES for m in s.methods]


def _method_id(m: MethodDescriptor) -> str:
    return f"{m.containing_service.name}.{m.name}"


# --------------------------------------------------------------------------- where hostile values go


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


_LEAF_TYPES = {
    "google.protobuf.Timestamp": "timestamp",
    "google.protobuf.Duration": "duration",
    "google.protobuf.Struct": "struct",
}
_INTS = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1), F.TYPE_SINT32: (-(2**31), 2**31 - 1), F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1), F.TYPE_SINT64: (-(2**63), 2**63 - 1), F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
    F.TYPE_ENUM: (-1, 2**31 - 1),  # proto3 enums are open: a number no value names
}


@dataclass(frozen=True)
class Slot:
    """A place in a request: the fields to it (``chain``), and what it is there."""

    chain: tuple[FieldDescriptor, ...]
    role: str  # "value", "key" (of a map), or "map value"
    kind: str  # "string", "timestamp", "duration", "struct", "int"

    @property
    def field(self) -> FieldDescriptor:
        return self.chain[-1]

    @property
    def names(self) -> list[str]:
        return [fd.name for fd in self.chain]


def slots(descriptor: Descriptor, chain: tuple[FieldDescriptor, ...] = ()) -> Iterator[Slot]:
    for fd in descriptor.fields:
        here = (*chain, fd)
        if _is_map(fd):
            key, value = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            if key.type == F.TYPE_STRING:
                yield Slot(here, "key", "string")
            if value.type == F.TYPE_STRING:
                yield Slot(here, "map value", "string")
            elif value.message_type is not None:
                yield from slots(value.message_type, here)
        elif fd.message_type is not None:
            kind = _LEAF_TYPES.get(fd.message_type.full_name)
            if kind:
                yield Slot(here, "value", kind)
            elif len(chain) < 8:
                yield from slots(fd.message_type, here)
        elif fd.type == F.TYPE_STRING:
            yield Slot(here, "value", "string")
        elif fd.type in _INTS:
            yield Slot(here, "value", "int")


def _holder(request: Message, slot: Slot) -> Message:
    """The message ``slot``'s last field belongs to, made present (reusing the baseline's own)."""
    message = request
    for fd in slot.chain[:-1]:
        if _is_map(fd):
            entries = getattr(message, fd.name)
            message = entries[next(iter(entries), "k")]
        elif fd.is_repeated:
            items = getattr(message, fd.name)
            message = items[0] if len(items) else items.add()
        else:
            message = getattr(message, fd.name)
    return message


def _put(request: Message, slot: Slot, value: Any) -> None:
    """Set ``value`` at ``slot``: appended to the text already there, or in place of what is."""
    message, fd = _holder(request, slot), slot.field
    if slot.role == "key":
        entries = getattr(message, fd.name)
        if fd.message_type.fields_by_name["value"].message_type is not None:
            entries[value].SetInParent()
        else:
            entries[value] = type(fd.message_type.fields_by_name["value"].default_value)()
    elif slot.role == "map value":
        entries = getattr(message, fd.name)
        key = next(iter(entries), "k")
        entries[key] = entries.get(key, "") + value
    elif fd.is_repeated:
        items = getattr(message, fd.name)
        if fd.message_type is not None:
            (items[0] if len(items) else items.add()).CopyFrom(value)
        elif len(items) and slot.kind == "string":
            items[0] += value
        elif len(items):
            items[0] = value
        else:
            items.append(value)
    elif fd.message_type is not None:
        getattr(message, fd.name).CopyFrom(value)
    elif slot.kind == "string":
        setattr(message, fd.name, getattr(message, fd.name) + value)
    else:
        setattr(message, fd.name, value)


# --------------------------------------------------------------------------- hostile values

NOT_UTF8_MARK = "~~nonutf8~~"  # replaced, in the serialised request, by as many bytes no UTF-8 has


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def _struct(value: dict[str, Any]) -> Message:
    from google.protobuf.struct_pb2 import Struct

    s = Struct()
    s.update(value)
    return s


def _timestamp(seconds: int, nanos: int = 0) -> Message:
    from google.protobuf.timestamp_pb2 import Timestamp

    return Timestamp(seconds=seconds, nanos=nanos)


def _duration(seconds: int, nanos: int = 0) -> Message:
    from google.protobuf.duration_pb2 import Duration

    return Duration(seconds=seconds, nanos=nanos)


YEAR_1 = -62_135_596_800
YEAR_9999_END = 253_402_300_799
MAX_DURATION = 315_576_000_000

BAD: dict[str, list[tuple[str, Any]]] = {
    "string": [("NUL", "a\x00b"), ("not UTF-8", NOT_UTF8_MARK)],
    "struct": [
        ("NaN", _struct({"n": math.nan})),
        ("Infinity", _struct({"n": math.inf})),
        ("-Infinity", _struct({"n": {"deeper": [1, -math.inf]}})),
        ("NUL in a key", _struct({"a\x00b": 1})),
        ("NUL in a string", _struct({"s": ["a\x00b"]})),
        ("past the parser's depth", _struct(_nested(40))),
        ("far past the parser's depth", _struct(_nested(400))),
    ],
    "timestamp": [
        ("before year 1", _timestamp(YEAR_1 - 1)),
        ("after year 9999", _timestamp(YEAR_9999_END + 1)),
        ("2**62 s", _timestamp(2**62)),
        ("-2**62 s", _timestamp(-(2**62))),
        ("negative nanos", _timestamp(0, -1)),
        ("a second of nanos", _timestamp(0, 1_000_000_000)),
    ],
    "duration": [
        ("10**12 s", _duration(10**12)),
        ("-10**12 s", _duration(-(10**12))),
        ("past 10,000 years", _duration(MAX_DURATION + 1)),
        ("signs disagree", _duration(1, -1)),
        ("a second of nanos", _duration(0, 1_000_000_000)),
    ],
}
EXTREME: dict[str, list[tuple[str, Any]]] = {
    "timestamp": [
        ("year 1", _timestamp(YEAR_1)),
        ("the last instant of 9999", _timestamp(YEAR_9999_END, 999_999_999)),
        ("1970", _timestamp(0)),
    ],
    "duration": [
        ("10,000 years", _duration(MAX_DURATION)),
        ("-10,000 years", _duration(-MAX_DURATION)),
        ("10**11 s", _duration(10**11)),
    ],
    "struct": [("nested 30 deep", _struct(_nested(30)))],
}


def _forged_tokens() -> list[tuple[str, str]]:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return [
        ('{"before": true}', b64(b'{"before": true}')),
        ('{"before":true}', b64(b'{"before":true}')),
        ('{"before":"7"}', b64(b'{"before":"7"}')),
        ('{"before":1.5}', b64(b'{"before":1.5}')),
        ('{"before":-1}', b64(b'{"before":-1}')),
        ('{"before":0}', encode_page_token(0)),
        ("past bigint", b64(b'{"before":18446744073709551615}')),
        ("a list", b64(b"[1]")),
        ("extra keys", b64(b'{"before":1,"after":2}')),
        ("not JSON", b64(b"\xff\xfe")),
        ("not base64", "garbage!!"),
        ("padded differently", encode_page_token(7) + "=="),
    ]


# --------------------------------------------------------------------------- valid requests to build on

# Filled in by ``world``: ids of things that exist. A baseline is JSON for json_format.ParseDict.
Ids = dict[str, Any]
LAYER = {
    "name": "primary", "participants": ["ada", "grace"], "shift_length": {"count": 1, "unit": "SHIFT_UNIT_WEEK"},
    "handoff": "09:00", "start": "2026-01-05T08:00:00Z",
    "restrictions": [{"start_day": "WEEKDAY_MONDAY", "start_time": "09:00",
                      "end_day": "WEEKDAY_FRIDAY", "end_time": "17:00"}],
}
STEPS = [{"delay": "60s", "targets": [{"kind": "TARGET_KIND_USER", "id": "ada"}]}]
ACTIONS = {"set_severity": "warning", "set_labels": {"team": "db"}, "channel_destinations": ["slack:#ops"]}
SAMPLE = {"summary": "Disk full", "severity": "critical", "labels": {"env": "prod"}, "annotations": {"runbook": "x"}}
BASELINES: dict[str, Callable[[Ids], dict[str, Any]]] = {
    "AlertService.CreateAlert": lambda ids: {**SAMPLE, "details": "d", "dedup_key": "k"},
    "AlertService.GetAlert": lambda ids: {"alert_id": ids["alert"]},
    "AlertService.ListAlerts": lambda ids: {
        "labels": {"env": "prod"}, "created_after": "2020-01-01T00:00:00Z", "created_before": "2100-01-01T00:00:00Z",
    },
    "AlertService.AcknowledgeAlert": lambda ids: {"alert_id": ids["alert"], "user_id": "ada", "note": "on it"},
    "AlertService.ResolveAlert": lambda ids: {"alert_id": ids["alert"], "user_id": "ada", "note": "fixed"},
    "AlertService.AddNote": lambda ids: {"alert_id": ids["alert"], "user_id": "ada", "note": "looking"},
    "AlertService.GetAlertTimeline": lambda ids: {"alert_id": ids["alert"]},
    "EscalationService.CreatePolicy": lambda ids: {
        "name": "new", "description": "d", "steps": STEPS, "repeat": 1, "repeat_delay": "300s",
    },
    "EscalationService.UpdatePolicy": lambda ids: {
        "policy_id": ids["policy"], "name": "base", "description": "d", "steps": STEPS, "repeat_delay": "300s",
    },
    "EscalationService.EscalateAlert": lambda ids: {"alert_id": ids["alert"], "user_id": "ada", "note": "now"},
    "EscalationService.ListNotificationRequests": lambda ids: {"alert_id": ids["alert"], "status": "queued"},
    "HeartbeatService.CreateHeartbeat": lambda ids: {"name": "nightly", "timeout": "3600s"},
    "RoutingService.CreateRule": lambda ids: {
        "name": "new", "condition": 'labels.env == "prod"', "actions": ACTIONS,
    },
    "RoutingService.UpdateRule": lambda ids: {
        "rule_id": ids["rule"], "name": "base", "condition": 'labels.env == "prod"', "actions": ACTIONS,
    },
    "RoutingService.ReorderRules": lambda ids: {"rule_ids": [ids["rule"]]},
    "RoutingService.SetDefaultRoute": lambda ids: {"actions": ACTIONS},
    "RoutingService.TestRoute": lambda ids: {"alert": {**SAMPLE, "source": "generic", "integration": "x"}},
    "ScheduleService.CreateSchedule": lambda ids: {
        "name": "new", "time_zone": "Europe/Berlin", "description": "d", "layers": [LAYER],
    },
    "ScheduleService.UpdateSchedule": lambda ids: {
        "schedule_id": ids["schedule"], "name": "base", "time_zone": "Europe/Berlin", "layers": [LAYER],
    },
    "ScheduleService.AddOverride": lambda ids: {
        "schedule_id": ids["schedule"], "start": "2026-02-01T00:00:00Z", "end": "2026-02-02T00:00:00Z",
        "add_user_id": "grace", "remove_user_id": "ada",
    },
    "ScheduleService.ListOverrides": lambda ids: {
        "schedule_id": ids["schedule"], "start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z",
    },
    "ScheduleService.SetTemporarySchedule": lambda ids: {
        "schedule_id": ids["schedule"], "start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z",
        "shifts": [{"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z", "user_ids": ["grace"]}],
    },
    "ScheduleService.GetOnCallUsers": lambda ids: {"schedule_id": ids["schedule"], "at": "2026-01-06T10:00:00Z"},
    "ScheduleService.ListShifts": lambda ids: {
        "schedule_id": ids["schedule"], "start": "2026-01-05T00:00:00Z", "end": "2026-01-19T00:00:00Z",
        "user_id": "ada",
    },
    "ScheduleService.CreateCalendarToken": lambda ids: {"schedule_id": ids["schedule"], "user_id": "ada"},
    "SilenceService.CreateSilence": lambda ids: {
        "matchers": [{"name": "env", "op": "MATCH_OPERATOR_EQUAL", "value": "prod"}],
        "starts_at": "2026-01-01T00:00:00Z", "duration": "3600s", "created_by": "ada", "comment": "deploy",
    },
    "SilenceService.SetMaintenance": lambda ids: {
        "policy_id": ids["policy"], "duration": "3600s", "created_by": "ada", "comment": "upgrade",
    },
    "NotificationService.CreateTemplate": lambda ids: {
        "id": "new", "name": "New", "description": "d", "created_by": "ada",
        "channels": {"sms": {"parts": {"text": "{{ alert.summary }}"}}}, "sample": {"alert": {"summary": "x"}},
    },
    "NotificationService.UpdateTemplate": lambda ids: {
        "id": ids["template"], "name": "Base", "description": "d", "created_by": "ada",
        "channels": {"sms": {"parts": {"text": "{{ alert.summary }}!"}}}, "sample": {"alert": {"summary": "x"}},
    },
    "NotificationService.RenderPreview": lambda ids: {
        "template": {"channels": {"sms": {"parts": {"text": "{{ alert.summary }}"}}}},
        "sample_context": {"alert": {"summary": "x"}}, "channels": ["sms"],
    },
    "NotificationService.SendNotification": lambda ids: {
        "template_id": ids["template"], "render_context": {"alert": {"summary": "x"}},
        "destinations": [{"channel": {"channel": "sms", "address": "+15555550100"}}], "idempotency_key": "k",
    },
}


def baseline(method: MethodDescriptor, ids: Ids) -> Message:
    request = GetMessageClass(method.input_type)()
    build = BASELINES.get(_method_id(method))
    if build is not None:
        json_format.ParseDict(build(ids), request)
    return request


@dataclass(frozen=True)
class Case:
    what: str
    slot: Slot | None
    request: Message

    def wire(self) -> bytes:
        data = self.request.SerializeToString()
        return data.replace(NOT_UTF8_MARK.encode(), b"\xc0" * len(NOT_UTF8_MARK))


def bad_cases(method: MethodDescriptor, ids: Ids) -> Iterator[Case]:
    for slot in slots(method.input_type):
        values = BAD.get(slot.kind, [])
        if slot.kind == "string" and slot.field.name == "page_token" and slot.role == "value":
            values = [*values, *((f"forged page token {what}", token) for what, token in _forged_tokens())]
        for what, value in values:
            request = baseline(method, ids)
            _put(request, slot, value)
            yield Case(f"{'.'.join(slot.names)} ({slot.role}): {what}", slot, request)


def extreme_cases(method: MethodDescriptor, ids: Ids) -> Iterator[Case]:
    yield Case("the baseline", None, baseline(method, ids))
    for slot in slots(method.input_type):
        values = EXTREME.get(slot.kind, [])
        if slot.kind == "int":
            values = [(str(v), v) for v in _INTS[slot.field.type]]
        for what, value in values:
            request = baseline(method, ids)
            _put(request, slot, value)
            yield Case(f"{'.'.join(slot.names)} ({slot.role}): {what}", slot, request)


# --------------------------------------------------------------------------- calling


def _identity(b: bytes) -> bytes:
    return b


async def answer(
    channel: grpc.aio.Channel, method: MethodDescriptor, data: bytes, timeout: float, open_is_ok: bool = False
) -> tuple[Any, str]:
    """(status code, details) of one call of ``method`` with the serialised request ``data``.

    A stream that sends a message accepted the request: OK. So did one still open at
    ``timeout``, if ``open_is_ok``.
    """
    path = f"/{method.containing_service.full_name}/{method.name}"
    codec: dict[str, Any] = {"request_serializer": _identity, "response_deserializer": _identity}
    streaming_out = method.server_streaming
    try:
        if method.client_streaming and streaming_out:
            call = channel.stream_stream(path, **codec)(iter([data]), timeout=timeout)
        elif method.client_streaming:
            await channel.stream_unary(path, **codec)(iter([data]), timeout=timeout)
            return grpc.StatusCode.OK, ""
        elif streaming_out:
            call = channel.unary_stream(path, **codec)(data, timeout=timeout)
        else:
            await channel.unary_unary(path, **codec)(data, timeout=timeout)
            return grpc.StatusCode.OK, ""
        async for _ in call:
            call.cancel()
            break
        return grpc.StatusCode.OK, ""
    except grpc.aio.AioRpcError as failure:
        if open_is_ok and streaming_out and failure.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return grpc.StatusCode.OK, "(open)"
        return failure.code(), failure.details() or ""


async def fingerprint(conn: psycopg.AsyncConnection) -> dict[str, tuple[int, int]]:
    """Per table: (rows, the newest row version's transaction id). Any insert, update or delete changes it.

    The API keys are left out: the key the tests call with has its last use written once a
    minute, whatever the call (and the key is not something a request can change)."""
    cur = await conn.execute(
        """SELECT schemaname, tablename FROM pg_tables
           WHERE schemaname NOT IN ('public', 'pg_catalog', 'information_schema')
             AND (schemaname, tablename) <> ('access', 'api_keys') ORDER BY 1, 2"""
    )
    tables = [sql.Identifier(s, t) for s, t in await cur.fetchall()]
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name}, count(*), coalesce(max(xmin::text::bigint), 0) FROM {t}").format(
            name=sql.Literal(t.as_string(conn)), t=t
        )
        for t in tables
    )
    cur = await conn.execute(query)
    return {name: (rows, newest) for name, rows, newest in await cur.fetchall()}


# --------------------------------------------------------------------------- the server and what exists in it


@dataclass
class World:
    server: RunningServer
    channel: grpc.aio.Channel
    conn: psycopg.AsyncConnection
    ids: Ids


async def _call(channel: grpc.aio.Channel, service: str, name: str, body: dict[str, Any]) -> Message:
    method = next(s for s in SERVICES if s.name == service).methods_by_name[name]
    request = GetMessageClass(method.input_type)()
    json_format.ParseDict(body, request)
    call = channel.unary_unary(
        f"/{method.containing_service.full_name}/{name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=GetMessageClass(method.output_type).FromString,
    )
    return await call(request, timeout=HANG_GUARD_S)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(migrated_url: str) -> AsyncIterator[World]:
    """One server for the corpus, with one of each thing a request can name."""
    _truncate_all(migrated_url)
    async with run_server(server_settings(migrated_url)) as server, \
            server.channel() as channel:
        ids: Ids = {}
        ids["policy"] = (await _call(channel, "EscalationService", "CreatePolicy", {"name": "base", "steps": STEPS})).policy.id
        ids["schedule"] = (await _call(channel, "ScheduleService", "CreateSchedule", {
            "name": "base", "time_zone": "Europe/Berlin", "layers": [LAYER]})).schedule.id
        ids["rule"] = (await _call(channel, "RoutingService", "CreateRule", {
            "name": "base", "condition": 'labels.env == "staging"', "actions": ACTIONS})).rule.id
        ids["template"] = (await _call(channel, "NotificationService", "CreateTemplate", {
            "id": "base", "name": "Base", "channels": {"sms": {"parts": {"text": "{{ alert.summary }}"}}}})).template.id
        alert = (await _call(channel, "AlertService", "CreateAlert", {"summary": "base", "labels": {"env": "dev"}})).alert
        ids["alert"] = alert.id
        async with await psycopg.AsyncConnection.connect(migrated_url, autocommit=True) as conn:
            # the engine routes a new alert in the background; wait for it, so later writes are the corpus's
            deadline = asyncio.get_running_loop().time() + HANG_GUARD_S
            while not (await _call(channel, "AlertService", "GetAlert", {"alert_id": alert.id})).alert.routed_at.seconds:
                assert asyncio.get_running_loop().time() < deadline, "the engine never routed the alert"
                await asyncio.sleep(0.05)
            yield World(server, channel, conn, ids)


# --------------------------------------------------------------------------- the tests


async def test_the_corpus_covers_every_service_the_server_serves(world: World) -> None:
    stub = world.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    call = stub(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=HANG_GUARD_S)
    served = {s.name async for response in call for s in response.list_services_response.service}
    assert served == {s.full_name for s in SERVICES}


@pytest.mark.parametrize("method", METHODS, ids=_method_id)
async def test_hostile_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    world: World, method: MethodDescriptor
) -> None:
    before = await fingerprint(world.conn)
    wrong: list[str] = []
    for case in bad_cases(method, world.ids):
        code, details = await answer(world.channel, method, case.wire(), HANG_GUARD_S)
        assert case.slot is not None
        named = re.search(".*".join(re.escape(n) for n in case.slot.names), details)
        if code != grpc.StatusCode.INVALID_ARGUMENT or not named:
            wrong.append(f"{case.what}: {code.name} {details[:200]!r}")
    after = await fingerprint(world.conn)
    written = [f"wrote to {t}: (rows, newest xmin) {before.get(t)} -> {after[t]}" for t in after if before.get(t) != after[t]]
    assert not wrong + written, "\n".join(wrong + written)


@pytest.mark.parametrize("method", METHODS, ids=_method_id)
async def test_extreme_but_well_formed_input_never_fails_unexpectedly(world: World, method: MethodDescriptor) -> None:
    wrong: list[str] = []
    for case in extreme_cases(method, world.ids):
        timeout = LIVE_STREAM_S if method.server_streaming else HANG_GUARD_S
        code, details = await answer(world.channel, method, case.wire(), timeout, open_is_ok=True)
        if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED):
            wrong.append(f"{case.what}: {code.name} {details[:200]!r}")
    assert not wrong, "\n".join(wrong)
