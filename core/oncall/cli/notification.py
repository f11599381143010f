"""CLI for templates, notifications and channels (``oncall templates …``, ``oncall notify …``, ``oncall channels test``).

Works on the database directly, through the same functions NotificationService uses:
templates are validated with the installed renderer plugins, previews render through the
send path, and ``notify send`` queues deliveries for the delivery worker of a running server.
A template's channels come from a JSON file (``{"email": {"subject": "…"}, …}``) and/or
``--part channel.part=TEXT`` flags (``=@path`` reads a file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ..config import Settings
from .runner import run, run_loop


# --------------------------------------------------------------------------- input


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise SystemExit(f"cannot read {what} {path!r}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{what} {path!r} is not valid JSON: {exc}") from None


def _json_object(path: str | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    value = _read_json(path, what)
    if not isinstance(value, dict):
        raise SystemExit(f"{what} {path!r} must hold a JSON object")
    return value


def _channels(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The channels of ``--file`` (else ``base``), with each ``--part`` applied on top."""
    channels: dict[str, Any] = _json_object(args.file, "template file") or dict(base or {})
    channels = {k: dict(v) if isinstance(v, dict) else v for k, v in channels.items()}
    for item in args.part or []:
        target, sep, value = item.partition("=")
        channel, dot, part = target.partition(".")
        if not sep or not dot or not channel or not part:
            raise SystemExit(f"--part takes channel.part=TEXT or channel.part=@FILE, got {item!r}")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text()
            except OSError as exc:
                raise SystemExit(f"cannot read {value[1:]!r}: {exc.strerror}") from None
        existing = channels.get(channel)
        channels[channel] = {**(existing if isinstance(existing, dict) else {}), part: value}
    return channels


def _warn(problems: Any) -> None:
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)


def _print_template(t: Any, *, sources: bool = True) -> None:
    deleted = f"  DELETED {t.deleted_at:%Y-%m-%d %H:%M}" if t.deleted_at else ""
    print(f"{t.id}  {t.name!r}  version {t.version} of {t.current_version}{deleted}")
    if t.description:
        print(f"  {t.description}")
    print(f"  saved {t.version_created_at:%Y-%m-%d %H:%M:%S}" + (f" by {t.created_by}" if t.created_by else ""))
    if not sources:
        return
    if not t.channels:
        print("  (every channel uses the built-in default)")
    for channel, parts in sorted(t.channels.items()):
        for part, source in parts.items():
            print(f"--- {channel}.{part}")
            print(source.rstrip("\n"))


# --------------------------------------------------------------------------- templates


def cmd_templates_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import store

    channels = _channels(args)
    sample = _json_object(args.sample, "sample context")

    async def go(pool: Any, registry: Any) -> int:
        saved = await store.create_template(
            pool, renderers=registry.renderers, id=args.id, name=args.name or "", description=args.description,
            channels=channels, sample=sample, created_by=args.by,
        )
        _warn(saved.warnings)
        _print_template(saved.template, sources=False)
        return 0

    return run(settings, go, plugins=True)


def cmd_templates_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import store

    sample = _json_object(args.sample, "sample context")

    async def go(pool: Any, registry: Any) -> int:
        base = None if args.file else (await store.get_template(pool, args.id)).channels
        saved = await store.update_template(
            pool, args.id, renderers=registry.renderers, channels=_channels(args, base), name=args.name,
            description=args.description, sample=sample, created_by=args.by, expected_version=args.expect_version,
        )
        _warn(saved.warnings)
        _print_template(saved.template, sources=False)
        return 0

    return run(settings, go, plugins=True)


def cmd_templates_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import store

    async def go(pool: Any, registry: Any) -> int:
        t = await store.get_template(pool, args.id, args.version)
        if args.json:
            print(json.dumps(t.channels, indent=2, ensure_ascii=False))
        else:
            _print_template(t)
        return 0

    return run(settings, go, plugins=True)


def cmd_templates_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import store

    async def go(pool: Any, registry: Any) -> int:
        listed = await store.list_templates(pool, include_deleted=args.all)
        if not listed:
            print("no templates (every notification uses the built-in defaults)")
            return 0
        print(f"{'ID':<24} {'VERSION':>7}  {'CHANNELS':<28} NAME")
        for t in listed:
            channels = ",".join(sorted(t.channels)) or "(defaults)"
            deleted = "  (deleted)" if t.deleted_at else ""
            print(f"{t.id:<24} {t.current_version:>7}  {channels:<28} {t.name}{deleted}")
        return 0

    return run(settings, go, plugins=True)


def cmd_templates_versions(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import store

    async def go(pool: Any, registry: Any) -> int:
        for v in await store.list_versions(pool, args.id):
            channels = ",".join(sorted(v.channels)) or "(defaults)"
            by = f" by {v.created_by}" if v.created_by else ""
            print(f"{v.version:>4}  {v.created_at:%Y-%m-%d %H:%M:%S}{by}  {channels}")
        return 0

    return run(settings, go, plugins=True)


def cmd_templates_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import store

    async def go(pool: Any, registry: Any) -> int:
        await store.delete_template(pool, args.id)
        print(f"deleted template {args.id} (its versions stay readable for the notifications that used them)")
        return 0

    return run(settings, go, plugins=True)


def cmd_templates_preview(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import channels as catalog
    from ..notification import outbox, pipeline
    from ..notification.templates import BUNDLE_SAMPLE_CONTEXT, INCIDENT_SAMPLE_CONTEXT, SAMPLE_CONTEXT, Template
    from ..rpc.notification import inline_template

    if args.id and (args.file or args.part):
        raise SystemExit("preview a stored template (ID) or an unsaved one (--file/--part), not both")
    if args.context and args.sample:
        raise SystemExit("preview with a context file (--context) or a built-in sample (--sample), not both")
    samples = {"alert": SAMPLE_CONTEXT, "bundle": BUNDLE_SAMPLE_CONTEXT, "incident": INCIDENT_SAMPLE_CONTEXT}
    context = _json_object(args.context, "context file") or samples[args.sample or "alert"]
    channels = args.channel or list(catalog.current())

    async def go(pool: Any, registry: Any) -> int:
        shape_errors: dict[str, str] = {}
        if args.id:
            async with pool.connection() as conn:
                version = args.version or await outbox.current_version(conn, args.id)
                template = await pipeline.load_template(conn, args.id, version)
            print(f"# template {args.id} version {version}")
        elif args.file or args.part:
            template, shape_errors = inline_template(_channels(args))
        else:
            template = Template()
        previews = await asyncio.to_thread(pipeline.preview, template, channels, context, registry.renderers,
                                           shape_errors)
        failed = False
        for p in previews:
            print(f"=== {p.channel}")
            for w in p.warnings:
                print(f"warning: {w}")
            for e in p.errors:
                print(f"error: {e}")
            if p.payload is not None:
                print(json.dumps(json.loads(p.payload), indent=2, ensure_ascii=False) if args.pretty
                      else p.payload.decode())
            failed = failed or bool(p.errors)
        return 1 if failed else 0

    return run(settings, go, plugins=True)


# --------------------------------------------------------------------------- notifications


def _print_notification(n: Any) -> None:
    template = f"template {n.template_id} v{n.template_version}" if n.template_id else "default templates"
    alert = f"  alert {n.alert_id}" if n.alert_id else ""
    print(f"notification {n.id}  {template}{alert}  created {n.created_at:%Y-%m-%d %H:%M:%S}")
    for d in n.deliveries:
        who = f" (user {d.user_id})" if d.user_id else ""
        extra = f"  provider id {d.provider_id}" if d.provider_id else ""
        if d.bundled_into:
            extra += f"  bundled into delivery {d.bundled_into}"
        print(f"  [{d.status}] {d.channel} {d.destination}{who}  attempts {d.attempts}{extra}")
        if d.last_error:
            print(f"      last error: {d.last_error}")
        for a in d.timeline:
            wait = f" (retry after {a.retry_after:g}s)" if a.retry_after else ""
            print(f"      {a.attempt}. {a.finished_at:%Y-%m-%d %H:%M:%S} {a.outcome}: {a.response}{wait}")
    print("  done: every delivery is final" if n.done else "  in progress")


def cmd_notify_send(args: argparse.Namespace, settings: Settings) -> int:
    from ..directory.client import open_directory
    from ..errors import InvalidArgument
    from ..notification import outbox

    context = _json_object(args.context_file, "context file") or {}
    try:
        destinations = [outbox.Destination.parse(t) for t in args.to]
    except InvalidArgument as exc:
        raise SystemExit(f"--to: {exc.detail}") from None

    async def go(pool: Any, registry: Any) -> int:
        directory = open_directory(registry.directories)
        try:
            nid = await outbox.create_notification(
                pool, template_id=args.template, context=context, destinations=destinations, directory=directory,
                idempotency_key=args.key, alert_id=args.alert,
            )
        finally:
            if directory is not None:
                await directory.aclose()
        _print_notification(await outbox.get_notification(pool, nid))
        return 0

    return run(settings, go, plugins=True)


def cmd_notify_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification import outbox

    async def go(pool: Any, registry: Any) -> int:
        _print_notification(await outbox.get_notification(pool, args.id))
        return 0

    return run(settings, go, plugins=True)


# --------------------------------------------------------------------------- channels


def cmd_channels_test(args: argparse.Namespace, settings: Settings) -> int:
    from oncall_hookspecs import ClosableChannel, TestableChannel

    from ..plugins import load_plugins

    _, registry = load_plugins(settings.disabled_plugins)
    channel = registry.channels.get(args.channel)
    if channel is None:
        print(f"channel {args.channel} is not installed or not configured; see `oncall plugins`", file=sys.stderr)
        return 1
    if not isinstance(channel, TestableChannel):
        print(f"channel {args.channel} offers no test message", file=sys.stderr)
        return 1

    async def go() -> int:
        try:
            result = await channel.test_send(args.to)
        finally:
            if isinstance(channel, ClosableChannel):
                await channel.aclose()
        state = "ok" if result.ok else ("failed (permanent)" if result.permanent else "failed (retryable)")
        print(f"{args.channel} → {args.to}: {state}")
        if result.provider_id:
            print(f"provider id: {result.provider_id}")
        if result.delivered:
            print("delivered: yes")
        if result.retry_after:
            print(f"retry after: {result.retry_after:g}s")
        if result.response:
            print(f"response: {result.response}")
        return 0 if result.ok else 1

    return run_loop(go())


# --------------------------------------------------------------------------- parser


def _template_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", help="JSON file of channels: {\"email\": {\"subject\": \"…\", \"html\": \"…\"}, …} (- for stdin)")
    p.add_argument("--part", action="append", metavar="CHANNEL.PART=TEXT",
                   help="set one part (repeatable); =@FILE reads the source from a file")


def register(sub: Any) -> None:
    templates = sub.add_parser("templates", help="notification templates (versioned, validated on save)")
    ts = templates.add_subparsers(dest="templates_command", required=True)
    p = ts.add_parser("create", help="save a new template (version 1)")
    p.add_argument("--id", help="a slug; default: made from the name")
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--sample", help="JSON file: the sample context to validate with (default: a sample alert)")
    p.add_argument("--by", default="", help="who is saving (recorded with the version)")
    _template_flags(p)
    p.set_defaults(func=cmd_templates_create)
    p = ts.add_parser("update", help="save the next version (--file replaces every channel; --part changes one)")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--sample", help="JSON file: the sample context (default: the previous version's)")
    p.add_argument("--by", default="")
    p.add_argument("--expect-version", type=int, help="fail unless this is still the current version")
    _template_flags(p)
    p.set_defaults(func=cmd_templates_update)
    p = ts.add_parser("show", help="a template's sources at its current version (or --version)")
    p.add_argument("id")
    p.add_argument("--version", type=int)
    p.add_argument("--json", action="store_true", help="print the channels as JSON (usable as --file)")
    p.set_defaults(func=cmd_templates_show)
    p = ts.add_parser("list", help="templates at their current versions")
    p.add_argument("--all", action="store_true", help="include deleted templates")
    p.set_defaults(func=cmd_templates_list)
    p = ts.add_parser("versions", help="every version of a template")
    p.add_argument("id")
    p.set_defaults(func=cmd_templates_versions)
    p = ts.add_parser("delete", help="delete a template (its versions stay readable)")
    p.add_argument("id")
    p.set_defaults(func=cmd_templates_delete)
    p = ts.add_parser("preview", help="render a template (stored, unsaved, or the defaults) as a send would")
    p.add_argument("id", nargs="?", help="a stored template; omit with --file/--part, or for the defaults")
    p.add_argument("--version", type=int, help="a stored version (default: the current one)")
    p.add_argument("--context", help="JSON file: the context to render (default: a sample alert)")
    p.add_argument("--sample", choices=["alert", "bundle", "incident"],
                   help="a built-in sample instead: one alert (the default), a bundle of three, "
                        "or a grouped incident of 37 alerts")
    p.add_argument("--channel", action="append", help="a channel to render (repeatable; default: all)")
    p.add_argument("--pretty", action="store_true", help="indent the payloads")
    _template_flags(p)
    p.set_defaults(func=cmd_templates_preview)

    notify = sub.add_parser("notify", help="send notifications and follow their deliveries")
    ns = notify.add_subparsers(dest="notify_command", required=True)
    p = ns.add_parser("send", help="queue a notification (a running server delivers it)")
    p.add_argument("--template", help="template id (default: the built-in defaults)")
    p.add_argument("--to", action="append", required=True, metavar="DEST",
                   help="user:<id> (every contact method) or <channel>:<address>, e.g. slack:#ops (repeatable)")
    p.add_argument("--context-file", help="JSON file: the render context ({\"alert\": {…}})")
    p.add_argument("--key", help="idempotency key: sending again with it sends nothing twice")
    p.add_argument("--alert", type=int, help="the alert this is about")
    p.set_defaults(func=cmd_notify_send)
    p = ns.add_parser("show", help="a notification and each delivery's status and attempts")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_notify_show)

    channels = sub.add_parser("channels", help="delivery channels")
    cs = channels.add_subparsers(dest="channels_command", required=True)
    p = cs.add_parser("test", help="send a clearly-labelled test message through a channel")
    p.add_argument("channel", help="an installed channel's name (see `oncall plugins`)")
    p.add_argument("--to", required=True, help="the destination, as the channel addresses it")
    p.set_defaults(func=cmd_channels_test)
