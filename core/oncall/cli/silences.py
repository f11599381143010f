"""``oncall silences|maintenance|heartbeats``: hold escalation for a while, and watch that jobs keep beating.

Every command is a call to SilenceService or HeartbeatService (``cli.api``): local on the
server, remote with ``ONCALL_SERVER_URL``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration

from ..alerting.v1 import heartbeats_pb2 as hpb
from ..alerting.v1 import silences_pb2 as pb
from ..config import Settings
from .api import Api, run_api
from .escalation import parse_duration
from .output import acting_user, add_json_flag, as_datetime, enum_word, print_json, when

_REFUSAL = "error"
_OPS = {"=": pb.MATCH_OPERATOR_EQUAL, "!=": pb.MATCH_OPERATOR_NOT_EQUAL, "=~": pb.MATCH_OPERATOR_REGEX,
        "!~": pb.MATCH_OPERATOR_NOT_REGEX}
_OP_TEXT = {v: k for k, v in _OPS.items()}


# --------------------------------------------------------------------------- silences


def _print_silence(s: pb.Silence) -> None:
    scope = []
    if s.HasField("integration_id"):
        scope.append(f"integration {s.integration_id}")
    if s.policy_id:
        scope.append(f"policy {s.policy_id}")
    what = " ".join(f"{m.name}{_OP_TEXT.get(m.op, '?')}{m.value!r}" for m in s.matchers)
    if s.condition:
        what += f" when {s.condition}"
    state = enum_word(pb.SilenceState.Name(s.state), "SILENCE_STATE_")
    print(f"{s.id}  {state:<7} {when(s.starts_at)} → {when(s.ends_at)}  "
          f"{what or ''} {' '.join(scope)}  by {s.created_by}: {s.comment}")


def _when(text: str, now: datetime) -> datetime:
    """A time given as ``+DURATION`` from ``now`` or as an ISO 8601 instant (UTC when naive)."""
    if text.startswith("+"):
        return now + timedelta(seconds=parse_duration(text[1:]))
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"not a time: {text!r} (use +DURATION or an ISO 8601 time)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _matcher(text: str) -> pb.Matcher:
    from ..errors import InvalidArgument
    from ..escalation.silences import parse_matcher

    try:
        m = parse_matcher(text)
    except InvalidArgument as exc:
        raise SystemExit(f"error: {exc.detail}") from None
    return pb.Matcher(name=m.name, op=_OPS[m.op], value=m.value)


def cmd_silences_create(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    request = pb.CreateSilenceRequest(
        matchers=[_matcher(m) for m in args.matcher or []], condition=args.when or "", policy_id=args.policy or "",
        created_by=acting_user(args, attr="created_by"), comment=args.comment,
    )
    if args.integration is not None:
        request.integration_id = args.integration
    if args.start:
        request.starts_at.CopyFrom(as_datetime(_when(args.start, now)))
    if args.end:
        request.ends_at.CopyFrom(as_datetime(_when(args.end, now)))
    else:
        request.duration.CopyFrom(Duration(seconds=parse_duration(args.duration)))

    async def go(api: Api) -> int:
        made = await api.call("SilenceService/CreateSilence", request)
        if args.json:
            return print_json(made)
        _print_silence(made.silence)
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_silences_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        listed = await api.call("SilenceService/ListSilences", pb.ListSilencesRequest(include_expired=args.all))
        if args.json:
            return print_json(listed)
        for s in listed.silences:
            _print_silence(s)
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_silences_expire(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        _print_silence((await api.call("SilenceService/ExpireSilence",
                                       pb.ExpireSilenceRequest(silence_id=args.id))).silence)
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_maintenance(args: argparse.Namespace, settings: Settings) -> int:
    request = pb.SetMaintenanceRequest(duration=Duration(seconds=parse_duration(args.duration)),
                                       created_by=acting_user(args, attr="created_by"), comment=args.comment)
    if args.integration is not None:
        request.integration_id = args.integration
    elif args.policy:
        request.policy_id = args.policy

    async def go(api: Api) -> int:
        _print_silence((await api.call("SilenceService/SetMaintenance", request)).silence)
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


# --------------------------------------------------------------------------- heartbeats


def cmd_heartbeats_create(args: argparse.Namespace, settings: Settings) -> int:
    request = hpb.CreateHeartbeatRequest(name=args.name, timeout=Duration(seconds=parse_duration(args.timeout)))

    async def go(api: Api) -> int:
        made = await api.call("HeartbeatService/CreateHeartbeat", request)
        hb = made.heartbeat
        print(f"created heartbeat {hb.name!r} [{hb.id}], timeout {timedelta(seconds=hb.timeout.seconds)}")
        print(f"key: {made.key}   (shown only now)")
        print(f"beat: curl -X POST '{made.beat_url}?token={made.key}'")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_heartbeats_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        listed = await api.call("HeartbeatService/ListHeartbeats", hpb.ListHeartbeatsRequest())
        if args.json:
            return print_json(listed)
        for hb in listed.heartbeats:
            last = when(hb.last_beat_at, "%Y-%m-%d %H:%M:%S") if hb.HasField("last_beat_at") else "never"
            state = enum_word(hpb.HeartbeatState.Name(hb.state), "HEARTBEAT_STATE_")
            print(f"{hb.id}  {hb.name:<24} {state:<8} timeout {timedelta(seconds=hb.timeout.seconds)}  "
                  f"last beat {last}")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_heartbeats_delete(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        await api.call("HeartbeatService/DeleteHeartbeat", hpb.DeleteHeartbeatRequest(heartbeat_id=args.id))
        print(f"deleted heartbeat {args.id}")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add ``silences``, ``maintenance`` and ``heartbeats``."""
    sil = sub.add_parser("silences", help="silences and scheduled maintenance windows")
    ss = sil.add_subparsers(dest="silences_command", required=True)
    p = ss.add_parser("create", help="silence matching alerts")
    p.add_argument("--matcher", action="append", metavar="NAME(=|!=|=~|!~)VALUE")
    p.add_argument("--when", help="CEL condition instead of (or with) matchers")
    p.add_argument("--integration", type=int)
    p.add_argument("--policy")
    p.add_argument("--start", help="ISO time or +DURATION (default: now)")
    p.add_argument("--end", help="ISO time or +DURATION")
    p.add_argument("--duration", default="1h", help="used when --end is absent")
    p.add_argument("--created-by", help="who is silencing (a user id); default: ONCALL_USER")
    p.add_argument("--comment", default="")
    add_json_flag(p)
    p.set_defaults(func=cmd_silences_create)
    p = ss.add_parser("list", help="silences in force or scheduled")
    p.add_argument("--all", action="store_true", help="include expired ones")
    add_json_flag(p)
    p.set_defaults(func=cmd_silences_list)
    p = ss.add_parser("expire", help="end a silence now")
    p.add_argument("id")
    p.set_defaults(func=cmd_silences_expire)

    p = sub.add_parser("maintenance", help="put an integration or a policy in maintenance for a while")
    p.add_argument("--integration", type=int)
    p.add_argument("--policy")
    p.add_argument("--duration", required=True, help="e.g. 30m, 2h")
    p.add_argument("--created-by", help="who is doing it (a user id); default: ONCALL_USER")
    p.add_argument("--comment", default="maintenance")
    p.set_defaults(func=cmd_maintenance)

    hb = sub.add_parser("heartbeats", help="heartbeat monitors")
    hs = hb.add_subparsers(dest="heartbeats_command", required=True)
    p = hs.add_parser("create", help="create a monitor; prints its key and beat URL")
    p.add_argument("--name", required=True)
    p.add_argument("--timeout", required=True, help="e.g. 5m, 25h")
    p.set_defaults(func=cmd_heartbeats_create)
    p = hs.add_parser("list", help="list monitors")
    add_json_flag(p)
    p.set_defaults(func=cmd_heartbeats_list)
    p = hs.add_parser("delete", help="delete a monitor")
    p.add_argument("id")
    p.set_defaults(func=cmd_heartbeats_delete)
