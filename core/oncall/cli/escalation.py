"""CLI for routing rules and escalation policies (`oncall rules` …); silences and heartbeats are in silences.py.

Rules, the default route, ``route test``, policies and ``alert escalate`` are calls to
RoutingService and EscalationService (``cli.api``): in this process on the database, or on
the server ``ONCALL_SERVER_URL`` names, so an operator can set up a working escalation
without writing code, from the server or from a laptop.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from oncall_hookspecs import Router

from ..config import Settings
from .api import Api, run_api
from .output import acting_user, add_json_flag, add_user_flag, print_json, print_json_object
from .runner import key_values

if TYPE_CHECKING:
    from ..plugins import Registry

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``5m``, ``2h``, ``1d``, ``1w`` → seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise SystemExit(f"not a duration: {text!r} (use e.g. 30s, 5m, 2h, 1d)")
    return int(float(m.group(1)) * _UNIT[m.group(2)])


def _router(settings: Settings, plugins: Registry) -> Router | None:
    """The router the engine routes with (ONCALL_ROUTER, else the one installed)."""
    return plugins.routers.get(settings.router) or next(iter(plugins.routers.values()), None)


def _actions(args: argparse.Namespace) -> Any:
    from ..alerting.v1 import routing_pb2

    return routing_pb2.RuleActions(
        escalation_policy_id=args.policy or "",
        template_id=args.template or "",
        channel_destinations=list(args.channel or []),
        ticket_provider=args.ticket or "",
        set_severity=args.set_severity or "",
        set_labels=key_values(args.set_label, "--set-label"),
        suppress=args.suppress,
    )


def _actions_json(actions: Any) -> str:
    from ..routing.rules import actions_to_json
    from ..rpc.convert import actions_from_proto

    text: str = json.dumps(actions_to_json(actions_from_proto(actions)))
    return text


def _print_rule(r: Any) -> None:
    flag = " (continue)" if r.continue_matching else ""
    print(f"{r.position + 1:>3}. {r.name}{flag}  [{r.id}]")
    print(f"     when: {r.condition}")
    print(f"     then: {_actions_json(r.actions)}")


# --------------------------------------------------------------------------- rules


def cmd_rules_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import routing_pb2 as pb

    async def go(api: Api) -> int:
        listed = await api.call("RoutingService/ListRules", pb.ListRulesRequest())
        default = await api.call("RoutingService/GetDefaultRoute", pb.GetDefaultRouteRequest())
        if args.json:
            return print_json_object({"rules": listed, "default_route": default})
        for r in listed.rules:
            _print_rule(r)
        print(f"default: {_actions_json(default.actions)}")
        return 0

    return run_api(settings, go, refusal="error")


def cmd_rules_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import routing_pb2 as pb

    request = pb.CreateRuleRequest(name=args.name, condition=args.when, actions=_actions(args),
                                   continue_matching=args.continue_)
    if args.position:
        request.position = args.position - 1

    async def go(api: Api) -> int:
        _print_rule((await api.call("RoutingService/CreateRule", request)).rule)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_rules_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import routing_pb2 as pb

    actions = _actions(args)

    async def go(api: Api) -> int:
        old = (await api.call("RoutingService/GetRule", pb.GetRuleRequest(rule_id=args.id))).rule
        r = (await api.call("RoutingService/UpdateRule", pb.UpdateRuleRequest(
            rule_id=args.id, name=args.name or old.name, condition=args.when or old.condition, actions=actions,
            continue_matching=args.continue_, expected_version=old.version))).rule
        _print_rule(r)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_rules_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import routing_pb2 as pb

    async def go(api: Api) -> int:
        await api.call("RoutingService/DeleteRule", pb.DeleteRuleRequest(rule_id=args.id))
        print(f"deleted rule {args.id}")
        return 0

    return run_api(settings, go, refusal="error")


def cmd_rules_reorder(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import routing_pb2 as pb

    async def go(api: Api) -> int:
        for r in (await api.call("RoutingService/ReorderRules", pb.ReorderRulesRequest(rule_ids=args.ids))).rules:
            _print_rule(r)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_rules_default(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import routing_pb2 as pb

    actions = _actions(args)

    async def go(api: Api) -> int:
        stored = await api.call("RoutingService/SetDefaultRoute", pb.SetDefaultRouteRequest(actions=actions))
        print(f"default: {_actions_json(stored.actions)}")
        return 0

    return run_api(settings, go, refusal="error")


def cmd_route_test(args: argparse.Namespace, settings: Settings) -> int:
    from google.protobuf.struct_pb2 import Struct

    from ..alerting.v1 import routing_pb2 as pb

    annotations = Struct()
    annotations.update(key_values(args.annotation, "--annotation"))
    alert = pb.SampleAlert(
        summary=args.summary, details=args.details, severity=args.severity, labels=key_values(args.label),
        annotations=annotations, source=args.source, integration=args.integration,
    )

    async def go(api: Api) -> int:
        tested = await api.call("RoutingService/TestRoute", pb.TestRouteRequest(alert=alert))
        if args.json:
            return print_json(tested)
        decision = tested.decision
        for t in decision.trace:
            mark = "MATCH" if t.matched else ("ERROR" if t.error else "  -  ")
            print(f"  {mark}  {t.rule_name}" + (f"  ({t.error})" if t.error else ""))
        print("matched: " + (", ".join(decision.matched_rules) or "(none: default route)"))
        out = {k: v for k, v in {
            "escalation_policy_id": decision.escalation_policy_id, "template_id": decision.template_id,
            "channel_destinations": list(decision.channel_destinations), "ticket_provider": decision.ticket_provider,
            "severity": decision.severity, "labels": dict(decision.labels), "suppress": decision.suppress,
        }.items() if v}
        print("decision: " + json.dumps(out))
        for e in decision.errors:
            print(f"error: {e}")
        if tested.silenced_by:
            print(f"silenced by: {tested.silenced_by} (its escalation would be held)")
        return 0

    return run_api(settings, go, refusal="error")


# --------------------------------------------------------------------------- policies

_TARGET_KINDS = ("user", "schedule", "channel", "webhook")


def _parse_step(text: str) -> Any:
    """``DELAY:kind=id,kind=id`` e.g. ``0:user=alice,schedule=db`` or ``5m:channel=slack:#ops``."""
    from google.protobuf.duration_pb2 import Duration

    from ..alerting.v1 import escalation_pb2 as pb

    delay, sep, targets = text.partition(":")
    if not sep:
        raise SystemExit(f"a step looks like DELAY:kind=id[,kind=id…], got {text!r}")
    parsed = []
    for t in targets.split(","):
        kind, sep, ident = t.partition("=")
        if not sep:
            raise SystemExit(f"a target looks like kind=id, got {t!r}")
        kind = kind.strip()
        if kind not in _TARGET_KINDS:
            raise SystemExit(f"target kind {kind!r} is not one of {', '.join(_TARGET_KINDS)}")
        parsed.append(pb.EscalationTarget(kind=pb.TargetKind.Value(f"TARGET_KIND_{kind.upper()}"), id=ident.strip()))
    return pb.EscalationStep(delay=Duration(seconds=parse_duration(delay)), targets=parsed)


def _kind(value: int) -> str:
    from ..alerting.v1 import escalation_pb2 as pb

    name: str = pb.TargetKind.Name(value)
    return name.removeprefix("TARGET_KIND_").lower()


def _print_policy(p: Any) -> None:
    print(f"{p.name}  [{p.id}]  repeat {p.repeat} (after {p.repeat_delay.seconds}s), version {p.version}")
    for i, s in enumerate(p.steps, 1):
        targets = ", ".join(f"{_kind(t.kind)}={t.id}" for t in s.targets)
        print(f"  {i}. after {timedelta(seconds=s.delay.seconds)}: {targets}")


def cmd_policies_create(args: argparse.Namespace, settings: Settings) -> int:
    from google.protobuf.duration_pb2 import Duration

    from ..alerting.v1 import escalation_pb2 as pb

    request = pb.CreatePolicyRequest(
        name=args.name, steps=[_parse_step(s) for s in args.step], repeat=args.repeat,
        repeat_delay=Duration(seconds=parse_duration(args.repeat_delay)), description=args.description)

    async def go(api: Api) -> int:
        _print_policy((await api.call("EscalationService/CreatePolicy", request)).policy)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_policies_update(args: argparse.Namespace, settings: Settings) -> int:
    from google.protobuf.duration_pb2 import Duration

    from ..alerting.v1 import escalation_pb2 as pb

    steps = [_parse_step(s) for s in args.step] if args.step else None
    repeat_delay = None if args.repeat_delay is None else Duration(seconds=parse_duration(args.repeat_delay))

    async def go(api: Api) -> int:
        old = (await api.call("EscalationService/GetPolicy", pb.GetPolicyRequest(policy_id=args.id))).policy
        p = (await api.call("EscalationService/UpdatePolicy", pb.UpdatePolicyRequest(
            policy_id=args.id, name=args.name or old.name, steps=old.steps if steps is None else steps,
            repeat=old.repeat if args.repeat is None else args.repeat,
            repeat_delay=old.repeat_delay if repeat_delay is None else repeat_delay,
            description=old.description if args.description is None else args.description,
            expected_version=old.version))).policy
        _print_policy(p)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_policies_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import escalation_pb2 as pb

    async def go(api: Api) -> int:
        listed = await api.call("EscalationService/ListPolicies", pb.ListPoliciesRequest())
        if args.json:
            return print_json(listed)
        for p in listed.policies:
            _print_policy(p)
        return 0

    return run_api(settings, go, refusal="error")


def cmd_policies_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import escalation_pb2 as pb

    async def go(api: Api) -> int:
        await api.call("EscalationService/DeletePolicy", pb.DeletePolicyRequest(policy_id=args.id))
        print(f"deleted policy {args.id}")
        return 0

    return run_api(settings, go, refusal="error")


# --------------------------------------------------------------------------- escalating by hand


def cmd_alert_escalate(args: argparse.Namespace, settings: Settings) -> int:
    from ..alerting.v1 import escalation_pb2 as pb

    request = pb.EscalateAlertRequest(alert_id=args.alert_id, user_id=acting_user(args), note=args.note or "",
                                      restart=args.restart)

    async def go(api: Api) -> int:
        esc = (await api.call("EscalationService/EscalateAlert", request)).escalation
        next_step = esc.next_step if esc.HasField("next_step") else 0
        what = "its policy starts again from step 1" if args.restart else f"step {next_step + 1} fires now"
        print(f"escalated alert {args.alert_id}: {what} (policy {esc.policy_id}, pass {esc.repeat + 1})")
        return 0

    return run_api(settings, go, refusal="error")


def register_alert_commands(alert_sub: Any) -> None:
    """``oncall alert escalate``: beside ``alert trigger``, which cli.py registers."""
    p = alert_sub.add_parser("escalate", help="fire an alert's next escalation step now")
    p.add_argument("alert_id", type=int)
    add_user_flag(p, "escalating")
    p.add_argument("--note", help="why; added to the timeline")
    p.add_argument("--restart", action="store_true",
                   help="start the policy again from its first step (the way to escalate a finished policy)")
    p.set_defaults(func=cmd_alert_escalate)


# --------------------------------------------------------------------------- parser


def _action_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", help="escalation policy id")
    p.add_argument("--template", help="notification template id")
    p.add_argument("--channel", action="append", metavar="DEST", help="extra channel destination, e.g. slack:#ops")
    p.add_argument("--ticket", help="ticket provider to open a ticket with")
    p.add_argument("--set-severity", choices=["critical", "error", "warning", "info"])
    p.add_argument("--set-label", action="append", metavar="KEY=VALUE")
    p.add_argument("--suppress", action="store_true", help="keep the alert, page no one")


def register(sub: Any) -> None:
    rules_p = sub.add_parser("rules", help="routing rules (CEL conditions and actions)")
    rs = rules_p.add_subparsers(dest="rules_command", required=True)
    p = rs.add_parser("list", help="rules in order, and the default route")
    add_json_flag(p)
    p.set_defaults(func=cmd_rules_list)
    p = rs.add_parser("create", help="add a rule")
    p.add_argument("--name", required=True)
    p.add_argument("--when", required=True, help="CEL condition, e.g. 'labels.team == \"db\"'")
    p.add_argument("--continue", dest="continue_", action="store_true", help="keep evaluating after a match")
    p.add_argument("--position", type=int, help="1-based position (default: last)")
    _action_flags(p)
    p.set_defaults(func=cmd_rules_create)
    p = rs.add_parser("update", help="replace a rule's condition and actions")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--when")
    p.add_argument("--continue", dest="continue_", action="store_true")
    _action_flags(p)
    p.set_defaults(func=cmd_rules_update)
    p = rs.add_parser("delete", help="delete a rule")
    p.add_argument("id")
    p.set_defaults(func=cmd_rules_delete)
    p = rs.add_parser("reorder", help="set the order: every rule id, first to last")
    p.add_argument("ids", nargs="+")
    p.set_defaults(func=cmd_rules_reorder)
    p = rs.add_parser("default", help="set the default route (applies when no rule matches)")
    _action_flags(p)
    p.set_defaults(func=cmd_rules_default)

    route = sub.add_parser("route", help="try the routing rules")
    rt = route.add_subparsers(dest="route_command", required=True)
    p = rt.add_parser("test", help="which rules match a sample alert, without side effects")
    p.add_argument("--label", action="append", metavar="KEY=VALUE")
    p.add_argument("--annotation", action="append", metavar="KEY=VALUE")
    p.add_argument("--summary", default="test alert")
    p.add_argument("--details", default="")
    p.add_argument("--severity", default="critical")
    p.add_argument("--source", default="manual")
    p.add_argument("--integration", default="manual")
    add_json_flag(p)
    p.set_defaults(func=cmd_route_test)

    pol = sub.add_parser("policies", help="escalation policies")
    ps = pol.add_subparsers(dest="policies_command", required=True)
    p = ps.add_parser("create", help="create a policy")
    p.add_argument("--name", required=True)
    p.add_argument("--step", action="append", required=True, metavar="DELAY:KIND=ID[,KIND=ID]",
                   help="e.g. 0:user=alice  or  5m:schedule=db,channel=slack:#db")
    p.add_argument("--repeat", type=int, default=0)
    p.add_argument("--repeat-delay", default="5m")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_policies_create)
    p = ps.add_parser("update", help="replace a policy's steps (alerts in flight use them from their next step)")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--step", action="append", metavar="DELAY:KIND=ID[,KIND=ID]")
    p.add_argument("--repeat", type=int)
    p.add_argument("--repeat-delay")
    p.add_argument("--description")
    p.set_defaults(func=cmd_policies_update)
    p = ps.add_parser("list", help="list policies")
    add_json_flag(p)
    p.set_defaults(func=cmd_policies_list)
    p = ps.add_parser("delete", help="delete a policy no rule uses")
    p.add_argument("id")
    p.set_defaults(func=cmd_policies_delete)
