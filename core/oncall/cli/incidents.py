"""``oncall incidents list|show|ack|resolve|escalate|note|merge|split``: incidents worked from a shell.

Every command is a call to IncidentService (``cli.api``): local on the server, remote with
``ONCALL_SERVER_URL``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..alerting.v1 import incidents_pb2 as pb
from ..config import Settings
from .alerts import status_word
from .api import Api, each, run_api
from .output import acting_user, add_json_flag, add_user_flag, enum_word, print_json, print_json_object, when
from .runner import key_values

_STATUSES = {"triggered": pb.INCIDENT_STATUS_TRIGGERED, "acknowledged": pb.INCIDENT_STATUS_ACKNOWLEDGED,
             "resolved": pb.INCIDENT_STATUS_RESOLVED}
_REFUSAL = "oncall incidents"
_SECONDS = "%Y-%m-%d %H:%M:%S"


def _status(inc: pb.Incident) -> str:
    return enum_word(pb.IncidentStatus.Name(inc.status), "INCIDENT_STATUS_")


def _line(inc: pb.Incident) -> str:
    return (f"{inc.id:>6}  {_status(inc):<12} {inc.severity:<8} {inc.alert_count:>5} "
            f"{inc.open_alerts:>4}  {when(inc.created_at):<16}  {inc.title}")


_HEADER = f"{'ID':>6}  {'STATUS':<12} {'SEVERITY':<8} {'ALERTS':>5} {'OPEN':>4}  {'CREATED':<16}  TITLE"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    request = pb.ListIncidentsRequest(statuses=[_STATUSES[s] for s in args.status or ()],
                                      labels=key_values(args.label), page_size=args.limit)
    if args.integration is not None:
        request.integration_id = args.integration

    async def go(api: Api) -> int:
        page = await api.call("IncidentService/ListIncidents", request)
        if args.json:
            return print_json(page)
        print(_HEADER)
        for inc in page.incidents:
            print(_line(inc))
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        inc = (await api.call("IncidentService/GetIncident", pb.GetIncidentRequest(incident_id=args.incident_id))
               ).incident
        alerts = await api.call("IncidentService/ListIncidentAlerts",
                                pb.ListIncidentAlertsRequest(incident_id=inc.id, page_size=50))
        timeline = await api.call("IncidentService/GetIncidentTimeline",
                                  pb.GetIncidentTimelineRequest(incident_id=inc.id))
        if args.json:
            return print_json_object({"incident": inc, "alerts": alerts, "timeline": timeline})
        print(f"incident {inc.id}: {inc.title}")
        print(f"  status {_status(inc)}, severity {inc.severity}, resolve_on {inc.resolve_on}")
        print(f"  alerts {inc.alert_count} ({inc.open_alerts} open, {inc.triggered_alerts} triggered)")
        if inc.group_key:
            print(f"  grouped by rule {inc.grouping_rule_id} on key {inc.group_key}")
        if inc.acknowledged_by:
            print(f"  acknowledged by {inc.acknowledged_by} at {when(inc.acknowledged_at, _SECONDS)}")
        if inc.resolved_by:
            print(f"  resolved by {inc.resolved_by} at {when(inc.resolved_at, _SECONDS)}")
        if inc.merged_into:
            print(f"  merged into incident {inc.merged_into}")
        print("alerts:")
        for a in alerts.alerts:
            print(f"  {a.id:>6}  {status_word(a):<12} {a.severity:<8} {a.summary}")
        if alerts.next_page_token:
            print("  …")
        print("timeline:")
        for e in timeline.entries:
            where = "incident" if e.incident_event else f"alert {e.alert_id}"
            print(f"  {when(e.at, _SECONDS)}  {where:<14} {e.kind:<16} {e.actor:<12} {e.note}")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def _cmd_change(method: str, request_type: Any, **extra: str) -> Any:
    """``incidents ack|resolve|escalate ID…``: one call per incident, credited to --user."""

    def cmd(args: argparse.Namespace, settings: Settings) -> int:
        user = acting_user(args)
        flags = {field: getattr(args, flag) for field, flag in extra.items()}

        async def go(api: Api) -> int:
            async def act(incident_id: int) -> str:
                reply = await api.call(method, request_type(incident_id=incident_id, user_id=user, note=args.note,
                                                            **flags))
                return f"incident {reply.incident.id} {_status(reply.incident)}"

            return await each("incident", args.incident_ids, act)

        return run_api(settings, go, refusal=_REFUSAL)

    return cmd


cmd_ack = _cmd_change("IncidentService/AcknowledgeIncident", pb.AcknowledgeIncidentRequest)
cmd_resolve = _cmd_change("IncidentService/ResolveIncident", pb.ResolveIncidentRequest)
cmd_escalate = _cmd_change("IncidentService/EscalateIncident", pb.EscalateIncidentRequest, restart="restart")


def cmd_note(args: argparse.Namespace, settings: Settings) -> int:
    user = acting_user(args)

    async def go(api: Api) -> int:
        reply = await api.call("IncidentService/AddIncidentNote", pb.AddIncidentNoteRequest(
            incident_id=args.incident_id, user_id=user, note=args.text))
        print(f"note added to incident {reply.entry.incident_id} by {reply.entry.actor}")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_merge(args: argparse.Namespace, settings: Settings) -> int:
    user = acting_user(args)

    async def go(api: Api) -> int:
        inc = (await api.call("IncidentService/MergeIncidents", pb.MergeIncidentsRequest(
            target_incident_id=args.target, source_incident_ids=args.sources, user_id=user, note=args.note))).incident
        print(f"merged {', '.join(map(str, args.sources))} into incident {inc.id} ({inc.alert_count} alerts)")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def cmd_split(args: argparse.Namespace, settings: Settings) -> int:
    user = acting_user(args)

    async def go(api: Api) -> int:
        inc = (await api.call("IncidentService/SplitAlert", pb.SplitAlertRequest(
            alert_id=args.alert_id, user_id=user, note=args.note))).incident
        print(f"alert {args.alert_id} is now incident {inc.id}")
        return 0

    return run_api(settings, go, refusal=_REFUSAL)


def register(sub: Any) -> None:
    """Add ``incidents`` and its subcommands."""
    p = sub.add_parser("incidents", help="work with incidents (grouped alerts)")
    isub = p.add_subparsers(dest="incidents_command", required=True)

    c = isub.add_parser("list", help="list incidents, newest first")
    c.add_argument("--status", action="append", choices=list(_STATUSES))
    c.add_argument("--label", action="append", metavar="KEY=VALUE", help="one of its alerts has this label")
    c.add_argument("--integration", type=int, help="only this integration's incidents")
    c.add_argument("--limit", type=int, default=50, help="at most this many (up to 1000)")
    add_json_flag(c)
    c.set_defaults(func=cmd_list)

    c = isub.add_parser("show", help="an incident, its alerts and its timeline")
    c.add_argument("incident_id", type=int)
    add_json_flag(c)
    c.set_defaults(func=cmd_show)

    for name, func, what in (("ack", cmd_ack, "acknowledge incidents and their triggered alerts"),
                             ("resolve", cmd_resolve, "resolve incidents and their open alerts"),
                             ("escalate", cmd_escalate, "fire incidents' next escalation step now")):
        c = isub.add_parser(name, help=what)
        c.add_argument("incident_ids", type=int, nargs="+", metavar="ID")
        add_user_flag(c)
        c.add_argument("--note", default="", help="added to each incident's timeline")
        if name == "escalate":
            c.add_argument("--restart", action="store_true", help="start the policy again from its first step")
        c.set_defaults(func=func)

    c = isub.add_parser("note", help="add a note to an incident's timeline")
    c.add_argument("incident_id", type=int)
    c.add_argument("--text", required=True)
    add_user_flag(c, "writing")
    c.set_defaults(func=cmd_note)

    c = isub.add_parser("merge", help="move the alerts of SOURCES into TARGET; the sources are resolved")
    c.add_argument("target", type=int)
    c.add_argument("sources", type=int, nargs="+")
    add_user_flag(c, "merging")
    c.add_argument("--note", default="")
    c.set_defaults(func=cmd_merge)

    c = isub.add_parser("split", help="take an alert out of its incident into a new incident of its own")
    c.add_argument("alert_id", type=int)
    add_user_flag(c, "splitting")
    c.add_argument("--note", default="")
    c.set_defaults(func=cmd_split)
