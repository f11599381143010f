"""``oncall incidents list|show|ack|resolve|merge|split``: incidents worked from a shell."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import Settings
from .runner import key_values, run


def _line(inc: Any) -> str:
    return (f"{inc.id:>6}  {inc.status:<12} {inc.severity:<8} {inc.alert_count:>5} "
            f"{inc.open_alerts:>4}  {inc.created_at:%Y-%m-%d %H:%M}  {inc.title}")


_HEADER = f"{'ID':>6}  {'STATUS':<12} {'SEVERITY':<8} {'ALERTS':>5} {'OPEN':>4}  {'CREATED':<16}  TITLE"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import incidents

    flt = incidents.IncidentFilter(
        statuses=tuple(args.status or ()), labels=key_values(args.label), integration_id=args.integration,
    )

    async def go(pool: Any) -> int:
        found, _ = await incidents.list_incidents(pool, flt, page_size=args.limit)
        print(_HEADER)
        for inc in found:
            print(_line(inc))
        return 0

    return run(settings, go, refusal="oncall incidents")


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import incidents

    async def go(pool: Any) -> int:
        inc = await incidents.get_incident(pool, args.incident_id)
        print(f"incident {inc.id}: {inc.title}")
        print(f"  status {inc.status}, severity {inc.severity}, resolve_on {inc.resolve_on}")
        print(f"  alerts {inc.alert_count} ({inc.open_alerts} open, {inc.triggered_alerts} triggered)")
        if inc.group_key:
            print(f"  grouped by rule {inc.rule_id} on key {inc.group_key}")
        if inc.acknowledged_by:
            print(f"  acknowledged by {inc.acknowledged_by} at {inc.acknowledged_at:%Y-%m-%d %H:%M:%S}")
        if inc.resolved_by:
            print(f"  resolved by {inc.resolved_by} at {inc.resolved_at:%Y-%m-%d %H:%M:%S}")
        if inc.merged_into:
            print(f"  merged into incident {inc.merged_into}")
        alerts, more = await incidents.list_incident_alerts(pool, inc.id, page_size=50)
        print("alerts:")
        for a in alerts:
            print(f"  {a.id:>6}  {a.status:<12} {a.severity:<8} {a.summary}")
        if more:
            print("  …")
        print("timeline:")
        for e in await incidents.incident_timeline(pool, inc.id):
            where = "incident" if e.source == "incident" else f"alert {e.alert_id}"
            print(f"  {e.at:%Y-%m-%d %H:%M:%S}  {where:<14} {e.kind:<16} {e.actor or '':<12} {e.note or ''}")
        return 0

    return run(settings, go, refusal="oncall incidents")


def cmd_ack(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import incidents

    async def go(pool: Any) -> int:
        inc = await incidents.acknowledge_incident(pool, args.incident_id, args.user, args.note)
        print(f"incident {inc.id} {inc.status}")
        return 0

    return run(settings, go, refusal="oncall incidents")


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import incidents

    async def go(pool: Any) -> int:
        inc = await incidents.resolve_incident(pool, args.incident_id, args.user, args.note)
        print(f"incident {inc.id} {inc.status}")
        return 0

    return run(settings, go, refusal="oncall incidents")


def cmd_merge(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import incidents

    async def go(pool: Any) -> int:
        inc = await incidents.merge_incidents(pool, args.target, args.sources, args.user, args.note)
        print(f"merged {', '.join(map(str, args.sources))} into incident {inc.id} ({inc.alert_count} alerts)")
        return 0

    return run(settings, go, refusal="oncall incidents")


def cmd_split(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import incidents

    async def go(pool: Any) -> int:
        inc = await incidents.split_alert(pool, args.alert_id, args.user, args.note)
        print(f"alert {args.alert_id} is now incident {inc.id}")
        return 0

    return run(settings, go, refusal="oncall incidents")


def register(sub: Any) -> None:
    """Add ``incidents`` and its subcommands."""
    p = sub.add_parser("incidents", help="work with incidents (grouped alerts)")
    isub = p.add_subparsers(dest="incidents_command", required=True)

    c = isub.add_parser("list", help="list incidents, newest first")
    c.add_argument("--status", action="append", choices=["triggered", "acknowledged", "resolved"])
    c.add_argument("--label", action="append", metavar="KEY=VALUE", help="one of its alerts has this label")
    c.add_argument("--integration", type=int, help="only this integration's incidents")
    c.add_argument("--limit", type=int, default=50)
    c.set_defaults(func=cmd_list)

    c = isub.add_parser("show", help="an incident, its alerts and its timeline")
    c.add_argument("incident_id", type=int)
    c.set_defaults(func=cmd_show)

    for name, func, what in (("ack", cmd_ack, "acknowledge an incident and its triggered alerts"),
                             ("resolve", cmd_resolve, "resolve an incident and its open alerts")):
        c = isub.add_parser(name, help=what)
        c.add_argument("incident_id", type=int)
        c.add_argument("--user", required=True, help="who is acting (a user id)")
        c.add_argument("--note", default="")
        c.set_defaults(func=func)

    c = isub.add_parser("merge", help="move the alerts of SOURCES into TARGET; the sources are resolved")
    c.add_argument("target", type=int)
    c.add_argument("sources", type=int, nargs="+")
    c.add_argument("--user", required=True)
    c.add_argument("--note", default="")
    c.set_defaults(func=cmd_merge)

    c = isub.add_parser("split", help="take an alert out of its incident into a new incident of its own")
    c.add_argument("alert_id", type=int)
    c.add_argument("--user", required=True)
    c.add_argument("--note", default="")
    c.set_defaults(func=cmd_split)
