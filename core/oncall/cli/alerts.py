"""``oncall integrations …`` and ``oncall alerts …``: webhook keys, and alerts raised, read and worked by hand.

Every command here is a call to IntegrationService or AlertService (``cli.api``), so it runs
the same on the server (local) and on a laptop (``ONCALL_SERVER_URL``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..alerting.v1 import alerting_pb2 as apb
from ..alerting.v1 import integrations_pb2 as ipb
from ..config import Settings
from .api import Api, each, run_api
from .output import acting_user, add_json_flag, add_user_flag, enum_word, print_json, print_json_object, when
from .runner import key_values

_STATUSES = {"triggered": apb.ALERT_STATUS_TRIGGERED, "acknowledged": apb.ALERT_STATUS_ACKNOWLEDGED,
             "resolved": apb.ALERT_STATUS_RESOLVED}


def status_word(alert: apb.Alert) -> str:
    return enum_word(apb.AlertStatus.Name(alert.status), "ALERT_STATUS_")


# --------------------------------------------------------------------------- integrations


def cmd_integrations_create(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        made = await api.call("IntegrationService/CreateIntegration",
                              ipb.CreateIntegrationRequest(source=args.source, name=args.name,
                                                           team_id=args.team or ""))
        if args.json:
            return print_json(made)
        integ, key = made.integration, made.key
        print(f"created integration {integ.id} {integ.name!r} (source {integ.source})")
        print(f"key:         {key}")
        urls = list(made.webhook_urls)
        if urls:
            print(f"webhook URL: {urls[0]}?token={key}")
        for url in urls[1:]:
            print(f"also at:     {url}?token={key}")
        print("The key is shown only now; it is stored hashed.")
        return 0

    return run_api(settings, go)


def cmd_integrations_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        found: list[ipb.Integration] = []
        token = ""
        while True:
            page = await api.call("IntegrationService/ListIntegrations",
                                  ipb.ListIntegrationsRequest(page_size=1000, page_token=token))
            found += page.integrations
            token = page.next_page_token
            if not token:
                break
        if args.json:
            return print_json(ipb.ListIntegrationsResponse(integrations=found))
        print(f"{'ID':>4}  {'SOURCE':<14} {'NAME':<24} {'KEY':<10} CREATED")
        for i in found:
            key = f"{i.key_prefix}…" if i.key_prefix else "-"
            print(f"{i.id:>4}  {i.source:<14} {i.name:<24} {key:<10} {when(i.created_at)}")
        return 0

    return run_api(settings, go)


def cmd_integrations_rotate(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        done = await api.call("IntegrationService/RotateIntegrationKey",
                              ipb.RotateIntegrationKeyRequest(integration_id=args.id))
        print(f"integration {done.integration.id} {done.integration.name!r} has a new key; the old one no longer works")
        print(f"key:         {done.key}")
        print("The key is shown only now; it is stored hashed.")
        return 0

    return run_api(settings, go)


def cmd_integrations_delete(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        await api.call("IntegrationService/DeleteIntegration", ipb.DeleteIntegrationRequest(integration_id=args.id))
        print(f"deleted integration {args.id}")
        return 0

    return run_api(settings, go)


# --------------------------------------------------------------------------- alerts


def cmd_alert_trigger(args: argparse.Namespace, settings: Settings) -> int:
    request = apb.CreateAlertRequest(summary=args.summary, details=args.details or "", severity=args.severity,
                                     labels=key_values(args.label), dedup_key=args.dedup or "")
    if args.integration is not None:
        request.integration_id = args.integration

    async def go(api: Api) -> int:
        made = await api.call("AlertService/CreateAlert", request)
        if args.json:
            return print_json(made)
        outcome = "created" if made.created else "duplicate"
        print(f"alert {made.alert.id} {outcome} (dedup key {made.alert.dedup_key})")
        return 0

    return run_api(settings, go)


_LIST_HEADER = f"{'ID':>6}  {'STATUS':<12} {'SEVERITY':<8} {'INTEGRATION':<16} {'CREATED':<16}  SUMMARY"


def cmd_alerts_list(args: argparse.Namespace, settings: Settings) -> int:
    request = apb.ListAlertsRequest(statuses=[_STATUSES[s] for s in args.status or ()],
                                    labels=key_values(args.label), page_size=args.limit)
    if args.integration is not None:
        request.integration_id = args.integration

    async def go(api: Api) -> int:
        page = await api.call("AlertService/ListAlerts", request)
        if args.json:
            return print_json(page)
        print(_LIST_HEADER)
        for a in page.alerts:
            print(f"{a.id:>6}  {status_word(a):<12} {a.severity:<8} {a.integration_name[:16]:<16} "
                  f"{when(a.created_at):<16}  {a.summary}")
        if page.next_page_token:
            print("… more: raise --limit (at most 1000), or narrow with --status/--label")
        return 0

    return run_api(settings, go)


def _print_timeline(events: Any) -> None:
    print("timeline:")
    for e in events:
        print(f"  {when(e.at, '%Y-%m-%d %H:%M:%S')}  {e.kind:<16} {e.actor:<16} {e.note}")


def cmd_alerts_show(args: argparse.Namespace, settings: Settings) -> int:
    async def go(api: Api) -> int:
        got = await api.call("AlertService/GetAlert", apb.GetAlertRequest(alert_id=args.alert_id))
        timeline = await api.call("AlertService/GetAlertTimeline", apb.GetAlertTimelineRequest(alert_id=args.alert_id))
        if args.json:
            return print_json_object({"alert": got.alert, "timeline": timeline})
        a = got.alert
        print(f"alert {a.id}: {a.summary}")
        print(f"  status {status_word(a)}, severity {a.severity}, incident {a.incident_id}")
        print(f"  integration {a.integration_id} {a.integration_name!r} (source {a.source}), dedup key {a.dedup_key}")
        print(f"  created {when(a.created_at, '%Y-%m-%d %H:%M:%S')}, last received "
              f"{when(a.last_received_at, '%Y-%m-%d %H:%M:%S')}, {a.duplicate_count} duplicates")
        if a.acknowledged_by:
            print(f"  acknowledged by {a.acknowledged_by} at {when(a.acknowledged_at, '%Y-%m-%d %H:%M:%S')}")
        if a.resolved_by:
            print(f"  resolved by {a.resolved_by} at {when(a.resolved_at, '%Y-%m-%d %H:%M:%S')}")
        if a.labels:
            print("  labels " + " ".join(f"{k}={v}" for k, v in sorted(a.labels.items())))
        if a.details:
            print(f"  details {a.details}")
        _print_timeline(timeline.events)
        return 0

    return run_api(settings, go)


def _cmd_alerts_change(method: str, request_type: Any) -> Any:
    """``alerts ack|resolve ID…``: one call per alert, credited to --user; every alert is tried."""

    def cmd(args: argparse.Namespace, settings: Settings) -> int:
        user = acting_user(args)

        async def go(api: Api) -> int:
            async def act(alert_id: int) -> str:
                reply = await api.call(method, request_type(alert_id=alert_id, user_id=user, note=args.note))
                return f"alert {reply.alert.id} {status_word(reply.alert)}"

            return await each("alert", args.alert_ids, act)

        return run_api(settings, go)

    return cmd


cmd_alerts_ack = _cmd_alerts_change("AlertService/AcknowledgeAlert", apb.AcknowledgeAlertRequest)
cmd_alerts_resolve = _cmd_alerts_change("AlertService/ResolveAlert", apb.ResolveAlertRequest)


def cmd_alerts_note(args: argparse.Namespace, settings: Settings) -> int:
    user = acting_user(args)

    async def go(api: Api) -> int:
        reply = await api.call("AlertService/AddNote", apb.AddNoteRequest(alert_id=args.alert_id, user_id=user,
                                                                          note=args.text))
        print(f"note added to alert {reply.event.alert_id} by {reply.event.actor}")
        return 0

    return run_api(settings, go)


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> Any:
    """Add ``integrations`` and ``alerts`` (also spelt ``alert``); return the ``alerts`` subcommands for others to extend."""
    integ = sub.add_parser("integrations", help="manage integrations (webhook keys)")
    isub = integ.add_subparsers(dest="integrations_command", required=True)
    p = isub.add_parser("create", help="create an integration and print its key and URL")
    p.add_argument("--source", required=True, help="source plugin name, e.g. alertmanager")
    p.add_argument("--team", help="the team it belongs to (its alerts and incidents with it); default: no team")
    p.add_argument("--name", required=True, help="a label for the integration")
    add_json_flag(p)
    p.set_defaults(func=cmd_integrations_create)
    p = isub.add_parser("list", help="list integrations")
    add_json_flag(p)
    p.set_defaults(func=cmd_integrations_list)
    p = isub.add_parser("rotate-key", help="give an integration a new key (printed once); the old one stops working")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_integrations_rotate)
    p = isub.add_parser("delete", help="delete an integration no alert came through")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_integrations_delete)

    alert = sub.add_parser("alerts", aliases=["alert"], help="raise, read and work alerts")
    asub = alert.add_subparsers(dest="alert_command", required=True)
    p = asub.add_parser("trigger", help="raise an alert by hand")
    p.add_argument("--summary", required=True)
    p.add_argument("--details", default="")
    p.add_argument("--severity", default="critical")
    p.add_argument("--label", action="append", metavar="KEY=VALUE")
    p.add_argument("--dedup", help="dedup key (default: a new one, so a new alert)")
    p.add_argument("--integration", type=int, help="raise it on this integration (default: the manual one)")
    add_json_flag(p)
    p.set_defaults(func=cmd_alert_trigger)

    p = asub.add_parser("list", help="alerts, newest first")
    p.add_argument("--status", action="append", choices=list(_STATUSES))
    p.add_argument("--label", action="append", metavar="KEY=VALUE", help="only alerts with this label")
    p.add_argument("--integration", type=int, help="only this integration's alerts")
    p.add_argument("--limit", type=int, default=50, help="at most this many (up to 1000)")
    add_json_flag(p)
    p.set_defaults(func=cmd_alerts_list)

    p = asub.add_parser("show", help="an alert and its timeline")
    p.add_argument("alert_id", type=int)
    add_json_flag(p)
    p.set_defaults(func=cmd_alerts_show)

    for name, func, what in (("ack", cmd_alerts_ack, "acknowledge alerts: someone is on them"),
                             ("resolve", cmd_alerts_resolve, "resolve alerts")):
        p = asub.add_parser(name, help=what)
        p.add_argument("alert_ids", type=int, nargs="+", metavar="ID")
        add_user_flag(p)
        p.add_argument("--note", default="", help="added to each alert's timeline")
        p.set_defaults(func=func)

    p = asub.add_parser("note", help="add a note to an alert's timeline")
    p.add_argument("alert_id", type=int)
    p.add_argument("--text", required=True)
    add_user_flag(p, "writing")
    p.set_defaults(func=cmd_alerts_note)
    return asub
