"""The ``oncall`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .config import Settings
from .logs import configure as configure_logging


def _run(coro: Awaitable[int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_pool(settings: Settings, fn: Callable[[Any], Awaitable[int]]) -> int:
    from .store.database import open_pool, resolve_database_url
    from .store.migrate import apply_migrations

    url = await asyncio.to_thread(resolve_database_url, settings)
    await apply_migrations(url)
    pool = await open_pool(url, 1, 2)
    try:
        return await fn(pool)
    finally:
        await pool.close()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import CannotListen, serve

    if args.role not in ("all", "alerting"):
        print(f"role {args.role!r} is not available yet; use --role all", file=sys.stderr)
        return 2
    try:
        return _run(serve(settings, demo=args.demo))
    except CannotListen as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 1


def cmd_engine(args: argparse.Namespace, settings: Settings) -> int:
    from .server import run_engine

    return _run(run_engine(settings))


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from .store.database import resolve_database_url
    from .store.migrate import apply_migrations

    async def go() -> int:
        url = await asyncio.to_thread(resolve_database_url, settings)
        applied = await apply_migrations(url)
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "the database is up to date")
        return 0

    return _run(go())


def cmd_plugins(args: argparse.Namespace, settings: Settings) -> int:
    from .plugins import load_plugins

    _, registry = load_plugins(settings.disabled_plugins)
    if not registry.plugins:
        print("no plugins installed (entry-point group 'oncall')")
        return 0
    rows = [("NAME", "VERSION", "STATUS", "HOOKS / PROBLEM")]
    for p in registry.plugins:
        detail = ", ".join(p.hooks) if p.status == "ok" else p.error
        if p.status == "ok" and p.hooks and not p.provides:
            detail += " (registered nothing: see its README for the settings it needs)"
        rows.append((p.name, p.version, p.status, detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    return 1 if args.strict and any(p.status == "failed" for p in registry.plugins) else 0


def cmd_integrations_create(args: argparse.Namespace, settings: Settings) -> int:
    from .alerting import store
    from .plugins import load_plugins

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

    return _run(_with_pool(settings, go))


def cmd_integrations_list(args: argparse.Namespace, settings: Settings) -> int:
    from .alerting import store

    async def go(pool: Any) -> int:
        integs = await store.list_integrations(pool)
        print(f"{'ID':>4}  {'SOURCE':<14} {'NAME':<24} {'KEY':<10} CREATED")
        for i in integs:
            key = f"{i.key_prefix}…" if i.key_prefix else "-"
            print(f"{i.id:>4}  {i.source:<14} {i.name:<24} {key:<10} {i.created_at:%Y-%m-%d %H:%M}")
        return 0

    return _run(_with_pool(settings, go))


def key_values(pairs: Sequence[str] | None, flag: str = "--label") -> dict[str, str]:
    """``["k=v", …]`` from repeated CLI flags (--label, --annotation …) as a mapping."""
    out = {}
    for pair in pairs or []:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise SystemExit(f"{flag} takes key=value, got {pair!r}")
        out[k] = v
    return out


def cmd_alert_trigger(args: argparse.Namespace, settings: Settings) -> int:
    from oncall_hookspecs import Action, AlertEvent

    from .alerting import store
    from .alerting.ingest import Ingestor

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
            [result] = await ingestor.submit(integ.id, ingestor.prepare([event]))
        finally:
            await ingestor.stop()
        print(f"alert {result.alert_id} {result.outcome.value} (dedup key {result.dedup_key})")
        return 0

    return _run(_with_pool(settings, go))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncall", description="Self-hosted alerting and on-call.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server (HTTP, gRPC, engine)")
    p.add_argument("--demo", action="store_true", help="create a demo integration and print a curl command")
    p.add_argument("--role", default="all", help="which services to run (default: all)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("engine", help="run only the escalation engine (beside servers run with ONCALL_ENGINE=off)")
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("plugins", help="list discovered plugins, their versions and hooks")
    p.add_argument("--strict", action="store_true", help="exit 1 when a plugin failed to load")
    p.set_defaults(func=cmd_plugins)

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
    from .cli_escalation import register as register_escalation
    from .cli_escalation import register_alert_commands

    register_alert_commands(asub)
    register_escalation(sub)
    from .cli_schedules import register as register_schedules

    register_schedules(sub)
    from .cli_notification import register as register_notification

    register_notification(sub)
    from .cli_plugin import register as register_plugin

    register_plugin(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import psycopg

    from .errors import OnCallError

    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except OnCallError as exc:
        # a refusal the user can act on ("already exists", "not found"): a sentence, not a traceback
        print(f"oncall: {exc.detail}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"oncall: cannot reach the database: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
