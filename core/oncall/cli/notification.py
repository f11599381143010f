"""CLI for templates, notifications and channels (``oncall templates …``, ``oncall notify …``, ``oncall channels test``).

Templates and notifications are calls to NotificationService (``cli.api``): in this process
on the database, or on the server ``ONCALL_SERVER_URL`` names. Templates are validated with
the renderer plugins where the call runs, previews render through the send path, and
``notify send`` queues deliveries for the delivery worker of a running server.
``channels test`` uses this machine's channel plugins, so it runs on the server only.
A template's channels come from a JSON file (``{"email": {"subject": "…"}, …}``) and/or
``--part channel.part=TEXT`` flags (``=@path`` reads a file).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from ..config import Settings
from .api import Api, run_api
from .output import add_json_flag, print_json
from .server import refused_remotely
from .runner import run_loop


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


def _problem(p: Any, *, in_channel: bool = False) -> str:
    """A Problem as people read it: ``email.html line 3: …`` (in a channel's preview: ``html line 3: …``)."""
    where = p.part if in_channel else (f"{p.channel}.{p.part}" if p.part else p.channel)
    if not where:
        return str(p.message)
    return where + (f" line {p.line}" if p.line else "") + f": {p.message}"


def _warn(problems: Any) -> None:
    for p in problems:
        print(f"warning: {_problem(p)}", file=sys.stderr)


def _at(ts: Any) -> datetime:
    when: datetime = ts.ToDatetime(tzinfo=UTC)
    return when


def _channels_of(channels: Any) -> dict[str, dict[str, str]]:
    return {name: dict(c.parts) for name, c in channels.items()}


def _channels_proto(channels: dict[str, Any]) -> dict[str, Any]:
    from ..notification.v1 import notification_pb2 as pb

    out = {}
    for name, parts in channels.items():
        if not isinstance(parts, dict) or not all(isinstance(v, str) for v in parts.values()):
            raise SystemExit(f"channel {name!r} must map part names to template sources (strings)")
        out[name] = pb.ChannelTemplate(parts=parts)
    return out


def _struct(value: Mapping[str, Any] | None) -> Any:
    from google.protobuf.struct_pb2 import Struct

    if value is None:
        return None
    out = Struct()
    out.update(value)
    return out


def _print_template(t: Any, *, sources: bool = True) -> None:
    deleted = f"  DELETED {_at(t.deleted_at):%Y-%m-%d %H:%M}" if t.HasField("deleted_at") else ""
    print(f"{t.id}  {t.name!r}  version {t.version} of {t.current_version}{deleted}")
    if t.description:
        print(f"  {t.description}")
    print(f"  saved {_at(t.version_created_at):%Y-%m-%d %H:%M:%S}" + (f" by {t.created_by}" if t.created_by else ""))
    if not sources:
        return
    if not t.channels:
        print("  (every channel uses the built-in default)")
    for channel, parts in sorted(_channels_of(t.channels).items()):
        for part, source in parts.items():
            print(f"--- {channel}.{part}")
            print(source.rstrip("\n"))


# --------------------------------------------------------------------------- templates


def cmd_templates_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    request = pb.CreateTemplateRequest(
        id=args.id or "", name=args.name or "", description=args.description, channels=_channels_proto(_channels(args)),
        sample=_struct(_json_object(args.sample, "sample context")), created_by=args.by,
    )

    async def go(api: Api) -> int:
        saved = await api.call("NotificationService/CreateTemplate", request)
        _warn(saved.warnings)
        _print_template(saved.template, sources=False)
        return 0

    return run_api(settings, go)


def cmd_templates_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    sample = _struct(_json_object(args.sample, "sample context"))

    async def go(api: Api) -> int:
        base = None
        if not args.file:
            current = await api.call("NotificationService/GetTemplate", pb.GetTemplateRequest(id=args.id))
            base = _channels_of(current.template.channels)
        request = pb.UpdateTemplateRequest(
            id=args.id, channels=_channels_proto(_channels(args, base)), name=args.name, description=args.description,
            sample=sample, created_by=args.by, expected_version=args.expect_version or 0,
        )
        saved = await api.call("NotificationService/UpdateTemplate", request)
        _warn(saved.warnings)
        _print_template(saved.template, sources=False)
        return 0

    return run_api(settings, go)


def cmd_templates_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    async def go(api: Api) -> int:
        t = (await api.call("NotificationService/GetTemplate",
                            pb.GetTemplateRequest(id=args.id, version=args.version or 0))).template
        if args.json:
            print(json.dumps(_channels_of(t.channels), indent=2, ensure_ascii=False))
        else:
            _print_template(t)
        return 0

    return run_api(settings, go)


def cmd_templates_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    async def go(api: Api) -> int:
        reply = await api.call("NotificationService/ListTemplates", pb.ListTemplatesRequest(include_deleted=args.all))
        if args.json:
            return print_json(reply)
        listed = reply.templates
        if not listed:
            print("no templates (every notification uses the built-in defaults)")
            return 0
        print(f"{'ID':<24} {'VERSION':>7}  {'CHANNELS':<28} NAME")
        for t in listed:
            channels = ",".join(sorted(t.channels)) or "(defaults)"
            deleted = "  (deleted)" if t.HasField("deleted_at") else ""
            print(f"{t.id:<24} {t.current_version:>7}  {channels:<28} {t.name}{deleted}")
        return 0

    return run_api(settings, go)


def cmd_templates_versions(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    async def go(api: Api) -> int:
        listed = await api.call("NotificationService/ListTemplateVersions", pb.ListTemplateVersionsRequest(id=args.id))
        if args.json:
            return print_json(listed)
        for v in listed.versions:
            channels = ",".join(sorted(v.channels)) or "(defaults)"
            by = f" by {v.created_by}" if v.created_by else ""
            print(f"{v.version:>4}  {_at(v.created_at):%Y-%m-%d %H:%M:%S}{by}  {channels}")
        return 0

    return run_api(settings, go)


def cmd_templates_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    async def go(api: Api) -> int:
        await api.call("NotificationService/DeleteTemplate", pb.DeleteTemplateRequest(id=args.id))
        print(f"deleted template {args.id} (its versions stay readable for the notifications that used them)")
        return 0

    return run_api(settings, go)


def cmd_templates_preview(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.templates import BUNDLE_SAMPLE_CONTEXT, INCIDENT_SAMPLE_CONTEXT, SAMPLE_CONTEXT
    from ..notification.v1 import notification_pb2 as pb

    if args.id and (args.file or args.part):
        raise SystemExit("preview a stored template (ID) or an unsaved one (--file/--part), not both")
    if args.context and args.sample:
        raise SystemExit("preview with a context file (--context) or a built-in sample (--sample), not both")
    samples = {"alert": SAMPLE_CONTEXT, "bundle": BUNDLE_SAMPLE_CONTEXT, "incident": INCIDENT_SAMPLE_CONTEXT}
    context = _json_object(args.context, "context file") or samples[args.sample or "alert"]
    request = pb.RenderPreviewRequest(sample_context=_struct(context), channels=args.channel or [])
    if args.id:
        request.ref.CopyFrom(pb.TemplateRef(id=args.id, version=args.version or 0))
    elif args.file or args.part:
        request.template.CopyFrom(pb.TemplateBody(channels=_channels_proto(_channels(args))))

    async def go(api: Api) -> int:
        rendered = await api.call("NotificationService/RenderPreview", request)
        if args.id:
            print(f"# template {rendered.template_id} version {rendered.template_version}")
        failed = False
        for p in rendered.previews:
            print(f"=== {p.channel}")
            for w in p.warnings:
                print(f"warning: {_problem(w, in_channel=True)}")
            for e in p.errors:
                print(f"error: {_problem(e, in_channel=True)}")
            if p.payload_json:
                print(json.dumps(json.loads(p.payload_json), indent=2, ensure_ascii=False) if args.pretty
                      else p.payload_json)
            failed = failed or bool(p.errors)
        return 1 if failed else 0

    return run_api(settings, go)


# --------------------------------------------------------------------------- notifications


def _status(value: int) -> str:
    from ..notification.v1 import notification_pb2 as pb

    name: str = pb.DeliveryStatus.Name(value)
    return name.removeprefix("DELIVERY_STATUS_").lower()


def _print_notification(n: Any) -> None:
    template = f"template {n.template_id} v{n.template_version}" if n.template_id else "default templates"
    alert = f"  alert {n.alert_id}" if n.alert_id else ""
    print(f"notification {n.id}  {template}{alert}  created {_at(n.created_at):%Y-%m-%d %H:%M:%S}")
    for d in n.deliveries:
        who = f" (user {d.user_id})" if d.user_id else ""
        extra = f"  provider id {d.provider_id}" if d.provider_id else ""
        if d.bundled_into:
            extra += f"  bundled into delivery {d.bundled_into}"
        print(f"  [{_status(d.status)}] {d.channel} {d.destination}{who}  attempts {d.attempts}{extra}")
        if d.last_error:
            print(f"      last error: {d.last_error}")
        for a in d.timeline:
            wait = f" (retry after {a.retry_after_seconds:g}s)" if a.retry_after_seconds else ""
            ended = a.finished_at if a.HasField("finished_at") else a.started_at
            print(f"      {a.attempt}. {_at(ended):%Y-%m-%d %H:%M:%S} {a.outcome}: {a.response}{wait}")
    print("  done: every delivery is final" if n.done else "  in progress")


def cmd_notify_send(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    context = _json_object(args.context_file, "context file") or {}
    destinations = []
    for text in args.to:
        # the server checks the channel: it may have channels this machine does not
        kind, sep, rest = text.partition(":")
        if not sep or not kind or not rest:
            raise SystemExit(f"--to: destination {text!r}: expected 'user:<id>' or '<channel>:<address>'")
        destinations.append(pb.Destination(user_id=rest) if kind == "user" else
                            pb.Destination(channel=pb.ChannelDestination(channel=kind, address=rest)))
    request = pb.SendNotificationRequest(
        template_id=args.template or "", render_context=_struct(context), destinations=destinations,
        idempotency_key=args.key or "", alert_id=args.alert or 0,
    )

    async def go(api: Api) -> int:
        sent = await api.call("NotificationService/SendNotification", request)
        got = await api.call("NotificationService/GetNotification", pb.GetNotificationRequest(id=sent.notification_id))
        _print_notification(got.notification)
        return 0

    return run_api(settings, go)


def cmd_notify_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..notification.v1 import notification_pb2 as pb

    async def go(api: Api) -> int:
        got = await api.call("NotificationService/GetNotification", pb.GetNotificationRequest(id=args.id))
        if args.json:
            return print_json(got)
        _print_notification(got.notification)
        return 0

    return run_api(settings, go)


# --------------------------------------------------------------------------- channels


def cmd_channels_test(args: argparse.Namespace, settings: Settings) -> int:
    from oncall_hookspecs import ClosableChannel, TestableChannel

    from ..plugins import load_plugins

    if refused_remotely("channels test", "it sends through the channel plugins and settings installed there"):
        return 2
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
    add_json_flag(p)
    p.set_defaults(func=cmd_templates_list)
    p = ts.add_parser("versions", help="every version of a template")
    p.add_argument("id")
    add_json_flag(p)
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
    add_json_flag(p)
    p.set_defaults(func=cmd_notify_show)

    channels = sub.add_parser("channels", help="delivery channels")
    cs = channels.add_subparsers(dest="channels_command", required=True)
    p = cs.add_parser("test", help="send a clearly-labelled test message through a channel")
    p.add_argument("channel", help="an installed channel's name (see `oncall plugins`)")
    p.add_argument("--to", required=True, help="the destination, as the channel addresses it")
    p.set_defaults(func=cmd_channels_test)
