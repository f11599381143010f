"""``oncall silences|maintenance|heartbeats``: hold escalation for a while, and watch that jobs keep beating."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .escalation import _router, parse_duration
from .runner import run

if TYPE_CHECKING:
    from ..plugins import Registry


# --------------------------------------------------------------------------- silences


def _print_silence(s: Any, now: datetime) -> None:
    scope = []
    if s.integration_id:
        scope.append(f"integration {s.integration_id}")
    if s.policy_id:
        scope.append(f"policy {s.policy_id}")
    what = " ".join(f"{m.name}{m.op}{m.value!r}" for m in s.matchers)
    if s.condition:
        what += f" when {s.condition}"
    print(f"{s.id}  {s.state(now):<7} {s.starts_at:%Y-%m-%d %H:%M} → {s.ends_at:%Y-%m-%d %H:%M}  "
          f"{what or ''} {' '.join(scope)}  by {s.created_by}: {s.comment}")


def _when(text: str, now: datetime) -> datetime:
    """A time given as ``+DURATION`` from ``now`` or as an ISO 8601 instant (UTC when naive)."""
    if text.startswith("+"):
        return now + timedelta(seconds=parse_duration(text[1:]))
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def cmd_silences_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import silences

    async def go(pool: Any, plugins: Registry) -> int:
        now = datetime.now(UTC)
        starts = _when(args.start, now) if args.start else now
        ends = _when(args.end, now) if args.end else starts + timedelta(seconds=parse_duration(args.duration))
        s = await silences.create_silence(pool, _router(settings, plugins), silences.SilenceInput(
            created_by=args.created_by, starts_at=starts, ends_at=ends,
            matchers=[silences.parse_matcher(m) for m in args.matcher or []],
            condition=args.when, integration_id=args.integration, policy_id=args.policy, comment=args.comment,
        ), now)
        _print_silence(s, now)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_silences_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import silences

    async def go(pool: Any, plugins: Registry) -> int:
        now = datetime.now(UTC)
        for s in await silences.list_silences(pool, now, include_expired=args.all):
            _print_silence(s, now)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_silences_expire(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import silences

    async def go(pool: Any, plugins: Registry) -> int:
        now = datetime.now(UTC)
        _print_silence(await silences.expire_silence(pool, args.id, now), now)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_maintenance(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import silences

    async def go(pool: Any, plugins: Registry) -> int:
        now = datetime.now(UTC)
        s = await silences.create_silence(pool, _router(settings, plugins), silences.maintenance_input(
            args.created_by, parse_duration(args.duration) / 60, now,
            integration_id=args.integration, policy_id=args.policy, comment=args.comment), now)
        _print_silence(s, now)
        return 0

    return run(settings, go, plugins=True, refusal="error")



# --------------------------------------------------------------------------- heartbeats


def cmd_heartbeats_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import heartbeats

    async def go(pool: Any, plugins: Registry) -> int:
        hb, key = await heartbeats.create_heartbeat(pool, args.name, parse_duration(args.timeout))
        print(f"created heartbeat {hb.name!r} [{hb.id}], timeout {timedelta(seconds=hb.timeout_seconds)}")
        print(f"key: {key}   (shown only now)")
        print(f"beat: curl -X POST '{settings.base_url}/api/v1/heartbeat/{hb.id}?token={key}'")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_heartbeats_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import heartbeats

    async def go(pool: Any, plugins: Registry) -> int:
        for hb in await heartbeats.list_heartbeats(pool):
            last = f"{hb.last_beat_at:%Y-%m-%d %H:%M:%S}" if hb.last_beat_at else "never"
            print(f"{hb.id}  {hb.name:<24} {hb.state:<8} timeout {timedelta(seconds=hb.timeout_seconds)}  last beat {last}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_heartbeats_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import heartbeats

    async def go(pool: Any, plugins: Registry) -> int:
        await heartbeats.delete_heartbeat(pool, args.id)
        print(f"deleted heartbeat {args.id}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


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
    p.add_argument("--created-by", required=True)
    p.add_argument("--comment", default="")
    p.set_defaults(func=cmd_silences_create)
    p = ss.add_parser("list", help="silences in force or scheduled")
    p.add_argument("--all", action="store_true", help="include expired ones")
    p.set_defaults(func=cmd_silences_list)
    p = ss.add_parser("expire", help="end a silence now")
    p.add_argument("id")
    p.set_defaults(func=cmd_silences_expire)

    p = sub.add_parser("maintenance", help="put an integration or a policy in maintenance for a while")
    p.add_argument("--integration", type=int)
    p.add_argument("--policy")
    p.add_argument("--duration", required=True, help="e.g. 30m, 2h")
    p.add_argument("--created-by", required=True)
    p.add_argument("--comment", default="maintenance")
    p.set_defaults(func=cmd_maintenance)

    hb = sub.add_parser("heartbeats", help="heartbeat monitors")
    hs = hb.add_subparsers(dest="heartbeats_command", required=True)
    p = hs.add_parser("create", help="create a monitor; prints its key and beat URL")
    p.add_argument("--name", required=True)
    p.add_argument("--timeout", required=True, help="e.g. 5m, 25h")
    p.set_defaults(func=cmd_heartbeats_create)
    p = hs.add_parser("list", help="list monitors")
    p.set_defaults(func=cmd_heartbeats_list)
    p = hs.add_parser("delete", help="delete a monitor")
    p.add_argument("id")
    p.set_defaults(func=cmd_heartbeats_delete)
