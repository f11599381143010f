"""``oncall integrations …`` and ``oncall alert trigger``: webhook keys, and an alert raised by hand."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from ..config import Settings
from .runner import key_values, run


def cmd_integrations_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import store
    from ..plugins import load_plugins

    _, registry = load_plugins(settings.disabled_plugins)
    if args.source not in registry.sources:
        known = ", ".join(sorted(registry.sources)) or "none"
        print(f"unknown source {args.source!r}; installed sources: {known}", file=sys.stderr)
        return 2
    source = registry.sources[args.source]

    async def go(pool: Any) -> int:
        integ, key = await store.create_integration(pool, args.source, args.name)
        url = f"{settings.base_url}/api/v1/webhooks/{args.source}"
        print(f"created integration {integ.id} {integ.name!r} (source {integ.source})")
        print(f"key:         {key}")
        print(f"webhook URL: {url}?token={key}")
        for path in getattr(source, "paths", ()):
            print(f"also at:     {settings.base_url}{path}?token={key}")
        print("The key is shown only now; it is stored hashed.")
        return 0

    return run(settings, go)


def cmd_integrations_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting import store

    async def go(pool: Any) -> int:
        integs = await store.list_integrations(pool)
        print(f"{'ID':>4}  {'SOURCE':<14} {'NAME':<24} {'KEY':<10} CREATED")
        for i in integs:
            key = f"{i.key_prefix}…" if i.key_prefix else "-"
            print(f"{i.id:>4}  {i.source:<14} {i.name:<24} {key:<10} {i.created_at:%Y-%m-%d %H:%M}")
        return 0

    return run(settings, go)


def cmd_alert_trigger(args: argparse.Namespace, settings: Settings) -> int:
    from oncall_hookspecs import Action, AlertEvent

    from ..alerting import store
    from ..alerting.ingest import Ingestor

    labels = key_values(args.label)

    async def go(pool: Any) -> int:
        integ = await store.manual_integration(pool)
        ingestor = Ingestor(pool)
        ingestor.start()
        try:
            event = AlertEvent(
                action=Action.TRIGGER,
                dedup_key=args.dedup or f"manual-{uuid.uuid4()}",
                summary=args.summary,
                details=args.details or "",
                severity=args.severity,
                labels=labels,
            )
            [result] = await ingestor.submit(integ.id, ingestor.prepare([event], integ))
        finally:
            await ingestor.stop()
        print(f"alert {result.alert_id} {result.outcome.value} (dedup key {result.dedup_key})")
        return 0

    return run(settings, go)


def register(sub: Any) -> Any:
    """Add ``integrations`` and ``alert trigger``; return the ``alert`` subcommands for others to extend."""
    integ = sub.add_parser("integrations", help="manage integrations (webhook keys)")
    isub = integ.add_subparsers(dest="integrations_command", required=True)
    p = isub.add_parser("create", help="create an integration and print its key and URL")
    p.add_argument("--source", required=True, help="source plugin name, e.g. alertmanager")
    p.add_argument("--name", required=True, help="a label for the integration")
    p.set_defaults(func=cmd_integrations_create)
    p = isub.add_parser("list", help="list integrations")
    p.set_defaults(func=cmd_integrations_list)

    alert = sub.add_parser("alert", help="work with alerts")
    asub = alert.add_subparsers(dest="alert_command", required=True)
    p = asub.add_parser("trigger", help="raise an alert by hand")
    p.add_argument("--summary", required=True)
    p.add_argument("--details", default="")
    p.add_argument("--severity", default="critical")
    p.add_argument("--label", action="append", metavar="KEY=VALUE")
    p.add_argument("--dedup", help="dedup key (default: a new one, so a new alert)")
    p.set_defaults(func=cmd_alert_trigger)
    return asub
