"""CLI for grouping rules (``oncall grouping …``): list, create, update, delete, presets, test.

Each command is a call to GroupingService (``cli.api``): in this process on the database, or
on the server ``ONCALL_SERVER_URL`` names. A running server applies a change as soon as it
commits (it is notified).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .api import Api, run_api
from .escalation import parse_duration
from .output import add_json_flag, print_json

if TYPE_CHECKING:
    from ..grouping.store import RuleSpec


def _seconds(text: str | None) -> int | None:
    """A --window/--idle value in seconds; None when not given; 0 ("0", "none") means "no limit"."""
    if text is None:
        return None
    return 0 if text.strip().lower() in ("0", "none", "off") else parse_duration(text)


def _instant(text: str) -> datetime:
    """``2026-12-03T09:00:00Z`` (no offset: UTC), or a duration ago (``2h``, ``1d``)."""
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except SystemExit:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SystemExit(f"not a time: {text!r} (use e.g. 2026-12-03T09:00:00Z, or 2h for two hours ago)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _print_rule(r: Any) -> None:
    spec = r.spec
    limit = (f"window {timedelta(seconds=spec.window_seconds)}" if spec.window_seconds
             else f"idle {timedelta(seconds=spec.idle_seconds)}" if spec.idle_seconds else "until resolved")
    scope = f"integration {spec.integration_id}" if spec.HasField("integration_id") else "all integrations"
    print(f"{r.position + 1:>3}. {spec.name}  [{r.id}] v{r.version}")
    print(f"     when: {spec.condition}")
    print(f"     key:  {spec.key}")
    print(f"     {scope}, {limit}, resolve on {spec.resolve_on}" + (", re-pages on graver alerts"
                                                                 if spec.repage_on_new_alert else ""))
    if spec.title_template:
        print(f"     title: {spec.title_template}")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The rule fields given on the command line (None: not given)."""
    return {
        "name": args.name, "condition": args.when, "key": args.key, "integration_id": args.integration,
        "window_seconds": _seconds(args.window), "idle_seconds": _seconds(args.idle),
        "resolve_on": args.resolve_on, "title_template": args.title,
        "repage_on_new_alert": True if args.repage else (False if args.no_repage else None),
    }


def _apply(base: RuleSpec, fields: dict[str, Any]) -> RuleSpec:
    """``base`` with the fields given; a window or idle limit of 0 clears it, and setting one clears the other."""
    from dataclasses import replace

    spec = replace(base, **{k: v for k, v in fields.items() if v is not None})
    if fields["window_seconds"] is not None:
        spec = replace(spec, window_seconds=fields["window_seconds"] or None,
                       idle_seconds=None if fields["window_seconds"] else spec.idle_seconds)
    if fields["idle_seconds"] is not None:
        spec = replace(spec, idle_seconds=fields["idle_seconds"] or None,
                       window_seconds=None if fields["idle_seconds"] else spec.window_seconds)
    return spec


async def _base(api: Api, preset: str | None) -> RuleSpec:
    """The spec the field flags apply to: the server's preset ``preset``, else an empty one."""
    from ..alerting.v1 import grouping_pb2 as pb
    from ..errors import InvalidArgument
    from ..grouping.store import RuleSpec
    from ..rpc.grouping import spec_from_proto

    if not preset:
        return RuleSpec(name="", condition="", key="")
    listed = (await api.call("GroupingService/ListGroupingPresets", pb.ListGroupingPresetsRequest())).presets
    for p in listed:
        if p.name == preset:
            return spec_from_proto(p.spec)
    raise InvalidArgument(f"no grouping preset {preset!r} (presets: {', '.join(p.name for p in listed)})")


def _spec_proto(spec: RuleSpec) -> Any:
    from ..rpc.grouping import spec_to_proto

    return spec_to_proto(spec)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb

    async def go(api: Api) -> int:
        listed = await api.call("GroupingService/ListGroupingRules", pb.ListGroupingRulesRequest())
        if args.json:
            return print_json(listed)
        rules = listed.rules
        for r in rules:
            _print_rule(r)
        if not rules:
            print("no grouping rules: each alert is its own incident (see `oncall grouping presets`)")
        return 0

    return run_api(settings, go, refusal="error")


def cmd_presets(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb

    async def go(api: Api) -> int:
        listed = await api.call("GroupingService/ListGroupingPresets", pb.ListGroupingPresetsRequest())
        if args.json:
            return print_json(listed)
        for p in listed.presets:
            limit = (f", window {timedelta(seconds=p.spec.window_seconds)}" if p.spec.window_seconds else "")
            print(f"{p.name:<24} {p.description}")
            print(f"{'':<24} when {p.spec.condition}; key {p.spec.key}{limit}; resolve on {p.spec.resolve_on}")
        return 0

    return run_api(settings, go, refusal="error")


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb

    fields = _fields(args)

    async def go(api: Api) -> int:
        request = pb.CreateGroupingRuleRequest(spec=_spec_proto(_apply(await _base(api, args.preset), fields)))
        if args.position:
            request.position = args.position - 1
        _print_rule((await api.call("GroupingService/CreateGroupingRule", request)).rule)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb
    from ..rpc.grouping import spec_from_proto

    fields = _fields(args)

    async def go(api: Api) -> int:
        old = (await api.call("GroupingService/GetGroupingRule", pb.GetGroupingRuleRequest(rule_id=args.id))).rule
        request = pb.UpdateGroupingRuleRequest(
            rule_id=args.id, spec=_spec_proto(_apply(spec_from_proto(old.spec), fields)),
            expected_version=args.version if args.version is not None else old.version,
        )
        if args.position:
            request.position = args.position - 1
        _print_rule((await api.call("GroupingService/UpdateGroupingRule", request)).rule)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb

    async def go(api: Api) -> int:
        await api.call("GroupingService/DeleteGroupingRule", pb.DeleteGroupingRuleRequest(rule_id=args.id))
        print(f"deleted grouping rule {args.id}")
        return 0

    return run_api(settings, go, refusal="error")


def cmd_reorder(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb

    async def go(api: Api) -> int:
        reply = await api.call("GroupingService/ReorderGroupingRules", pb.ReorderGroupingRulesRequest(rule_ids=args.ids))
        for r in reply.rules:
            _print_rule(r)
        return 0

    return run_api(settings, go, refusal="error")


def _at(ts: Any) -> datetime:
    when: datetime = ts.ToDatetime(tzinfo=UTC)
    return when


def _print_replay(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({
            "alerts_replayed": result.alerts_replayed, "truncated": result.truncated,
            "incidents": [
                {"key": i.key, "alert_ids": list(i.alert_ids), "alert_count": len(i.alert_ids),
                 "first_alert_at": _at(i.first_alert_at).isoformat(), "last_alert_at": _at(i.last_alert_at).isoformat(),
                 "title": i.title, "resolved_at": _at(i.resolved_at).isoformat() if i.HasField("resolved_at") else None,
                 "joinable_until": _at(i.joinable_until).isoformat() if i.HasField("joinable_until") else None}
                for i in result.incidents
            ],
            "not_taken_alert_ids": list(result.not_taken_alert_ids), "errors": list(result.errors),
        }, ensure_ascii=False, indent=2))
        return
    grouped = sum(len(i.alert_ids) for i in result.incidents)
    print(f"{result.alerts_replayed} alerts replayed{' (more in the range: cut at the limit)' if result.truncated else ''}:"
          f" {grouped} in {len(result.incidents)} incidents, {len(result.not_taken_alert_ids)} not taken")
    for i in result.incidents:
        ids = ", ".join(f"#{a}" for a in i.alert_ids[:10]) + (" …" if len(i.alert_ids) > 10 else "")
        print(f"  {len(i.alert_ids):>5} alerts  {_at(i.first_alert_at):%Y-%m-%d %H:%M:%S} → "
              f"{_at(i.last_alert_at):%H:%M:%S}  key {i.key}")
        print(f"         {i.title}  ({ids})")
    for e in result.errors:
        print(f"  error: {e}")


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import grouping_pb2 as pb

    fields = _fields(args)
    since = _instant(args.since) if args.since else None
    until = _instant(args.until) if args.until else None

    async def go(api: Api) -> int:
        request = pb.TestGroupingRequest(last=args.last if args.last is not None else (0 if args.since else 1000))
        if args.rule:
            request.rule_id = args.rule
        else:
            request.draft.CopyFrom(_spec_proto(_apply(await _base(api, args.preset), fields)))
        if since is not None:
            request.since.FromDatetime(since)
        if until is not None:
            request.until.FromDatetime(until)
        _print_replay(await api.call("GroupingService/TestGrouping", request), args.json)
        return 0

    return run_api(settings, go, refusal="error")


# --------------------------------------------------------------------------- parser


def _rule_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name")
    p.add_argument("--when", help="CEL condition: which alerts the rule takes, e.g. 'has(labels.cluster)'")
    p.add_argument("--key", help="CEL key: a string or list, e.g. '[labels.alertname, labels.cluster]'")
    p.add_argument("--integration", type=int, help="only this integration's alerts (its id)")
    p.add_argument("--window", metavar="DURATION", help="join within this long of the first alert (15m; 0: none)")
    p.add_argument("--idle", metavar="DURATION", help="join within this long of the last alert (5m; 0: none)")
    p.add_argument("--resolve-on", choices=["all", "first", "manual"])
    p.add_argument("--title", metavar="TEMPLATE", help="incident title template, e.g. '{{ alert.labels.cluster }} down'")
    p.add_argument("--repage", action="store_true", help="page again when a graver alert joins an acknowledged incident")
    p.add_argument("--no-repage", action="store_true", help=argparse.SUPPRESS)


def register(sub: Any) -> None:
    grouping_p = sub.add_parser("grouping", help="grouping rules: which alerts share an incident")
    gs = grouping_p.add_subparsers(dest="grouping_command", required=True)
    p = gs.add_parser("list", help="grouping rules in order")
    add_json_flag(p)
    p.set_defaults(func=cmd_list)
    p = gs.add_parser("presets", help="the shipped presets (use with create --preset)")
    add_json_flag(p)
    p.set_defaults(func=cmd_presets)
    p = gs.add_parser("create", help="add a grouping rule (from its fields, or a preset)")
    p.add_argument("--preset", help="start from a preset (see `oncall grouping presets`); flags replace its fields")
    p.add_argument("--position", type=int, help="1-based position (default: last)")
    _rule_flags(p)
    p.set_defaults(func=cmd_create)
    p = gs.add_parser("update", help="change a grouping rule (fields not given stay)")
    p.add_argument("id")
    p.add_argument("--version", type=int, help="refuse unless the rule is still at this version")
    p.add_argument("--position", type=int, help="move it to this 1-based position")
    _rule_flags(p)
    p.set_defaults(func=cmd_update)
    p = gs.add_parser("reorder", help="set the order: every grouping rule's id, first to last")
    p.add_argument("ids", nargs="+")
    p.set_defaults(func=cmd_reorder)
    p = gs.add_parser("delete", help="remove a grouping rule")
    p.add_argument("id")
    p.set_defaults(func=cmd_delete)
    p = gs.add_parser("test", help="replay stored alerts through a rule and show the incidents it would make")
    p.add_argument("--rule", help="a stored rule's id (else a draft from --preset and the field flags)")
    p.add_argument("--preset")
    p.add_argument("--last", type=int, help="the last N alerts (default 1000; at most 10000)")
    p.add_argument("--since", help="alerts created since (ISO time, or a duration ago: 2h)")
    p.add_argument("--until", help="… and before (default: now)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _rule_flags(p)
    p.set_defaults(func=cmd_test)
