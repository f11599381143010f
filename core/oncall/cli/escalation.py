"""CLI for routing rules and escalation policies (`oncall rules` …); silences and heartbeats are in silences.py.

Everything here works on the database directly, with the same domain functions the gRPC
services use, so an operator can set up a working escalation without writing code.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from oncall_hookspecs import AlertView, Router, RuleActions

from ..config import Settings
from .runner import key_values, run

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


def _actions(args: argparse.Namespace) -> RuleActions:
    return RuleActions(
        escalation_policy_id=args.policy,
        template_id=args.template,
        channel_destinations=list(args.channel or []),
        ticket_provider=args.ticket,
        set_severity=args.set_severity,
        set_labels=key_values(args.set_label, "--set-label"),
        suppress=args.suppress,
    )


def _print_rule(r: Any) -> None:
    from ..routing.rules import actions_to_json

    flag = " (continue)" if r.continue_ else ""
    print(f"{r.position + 1:>3}. {r.name}{flag}  [{r.id}]")
    print(f"     when: {r.condition}")
    print(f"     then: {json.dumps(actions_to_json(r.actions))}")


# --------------------------------------------------------------------------- rules


def cmd_rules_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        for r in await rules.list_rules(pool):
            _print_rule(r)
        print(f"default: {json.dumps(rules.actions_to_json(await rules.get_default(pool)))}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_rules_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        r = await rules.create_rule(
            pool, _router(settings, plugins), rules.RuleInput(args.name, args.when, _actions(args), args.continue_),
            position=args.position - 1 if args.position else None, ticket_providers=plugins.ticket_providers,
        )
        _print_rule(r)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_rules_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        old = await rules.get_rule(pool, args.id)
        r = await rules.update_rule(pool, _router(settings, plugins), args.id, rules.RuleInput(
            args.name or old.name, args.when or old.condition, _actions(args), args.continue_),
            ticket_providers=plugins.ticket_providers)
        _print_rule(r)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_rules_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        await rules.delete_rule(pool, args.id)
        print(f"deleted rule {args.id}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_rules_reorder(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        for r in await rules.reorder_rules(pool, args.ids):
            _print_rule(r)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_rules_default(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        actions = await rules.set_default(pool, _actions(args), ticket_providers=plugins.ticket_providers)
        print(f"default: {json.dumps(rules.actions_to_json(actions))}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_route_test(args: argparse.Namespace, settings: Settings) -> int:
    from ..routing import rules

    async def go(pool: Any, plugins: Registry) -> int:
        router = _router(settings, plugins)
        if router is None:
            print("no router plugin is installed", file=sys.stderr)
            return 1
        now = datetime.now(UTC)
        alert = AlertView(
            id=0, integration_id=0, integration_name=args.integration, source=args.source,
            dedup_key="test", status="triggered", summary=args.summary, details=args.details,
            severity=args.severity, labels=key_values(args.label), annotations=key_values(args.annotation, "--annotation"),
            created_at=now, last_received_at=now,
        )
        decision = await router.route(alert, await rules.list_rules(pool), await rules.get_default(pool))
        for t in decision.trace:
            mark = "MATCH" if t.matched else ("ERROR" if t.error else "  -  ")
            print(f"  {mark}  {t.rule_name}" + (f"  ({t.error})" if t.error else ""))
        print("matched: " + (", ".join(decision.matched_rules) or "(none: default route)"))
        out = {k: v for k, v in {
            "escalation_policy_id": decision.escalation_policy_id, "template_id": decision.template_id,
            "channel_destinations": decision.channel_destinations, "ticket_provider": decision.ticket_provider,
            "severity": decision.severity, "labels": decision.labels, "suppress": decision.suppress,
        }.items() if v}
        print("decision: " + json.dumps(out))
        return 0

    return run(settings, go, plugins=True, refusal="error")


# --------------------------------------------------------------------------- policies


def _parse_step(text: str) -> Any:
    """``DELAY:kind=id,kind=id`` e.g. ``0:user=alice,schedule=db`` or ``5m:channel=slack:#ops``."""
    from ..escalation.policies import Step, Target

    delay, sep, targets = text.partition(":")
    if not sep:
        raise SystemExit(f"a step looks like DELAY:kind=id[,kind=id…], got {text!r}")
    parsed = []
    for t in targets.split(","):
        kind, sep, ident = t.partition("=")
        if not sep:
            raise SystemExit(f"a target looks like kind=id, got {t!r}")
        parsed.append(Target(kind.strip(), ident.strip()))
    return Step(parse_duration(delay), tuple(parsed))


def _print_policy(p: Any) -> None:
    print(f"{p.name}  [{p.id}]  repeat {p.repeat} (after {p.repeat_delay_seconds}s), version {p.version}")
    for i, s in enumerate(p.steps, 1):
        targets = ", ".join(f"{t.kind}={t.id}" for t in s.targets)
        print(f"  {i}. after {timedelta(seconds=s.delay_seconds)}: {targets}")


def cmd_policies_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import policies

    async def go(pool: Any, plugins: Registry) -> int:
        p = await policies.create_policy(pool, policies.PolicyInput(
            name=args.name, steps=[_parse_step(s) for s in args.step], repeat=args.repeat,
            repeat_delay_seconds=parse_duration(args.repeat_delay), description=args.description))
        _print_policy(p)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_policies_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import policies

    async def go(pool: Any, plugins: Registry) -> int:
        old = await policies.get_policy(pool, args.id)
        p = await policies.update_policy(pool, args.id, policies.PolicyInput(
            name=args.name or old.name,
            steps=[_parse_step(s) for s in args.step] if args.step else list(old.steps),
            repeat=old.repeat if args.repeat is None else args.repeat,
            repeat_delay_seconds=old.repeat_delay_seconds if args.repeat_delay is None else parse_duration(args.repeat_delay),
            description=old.description if args.description is None else args.description))
        _print_policy(p)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_policies_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import policies

    async def go(pool: Any, plugins: Registry) -> int:
        for p in await policies.list_policies(pool):
            _print_policy(p)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_policies_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..escalation import policies

    async def go(pool: Any, plugins: Registry) -> int:
        await policies.delete_policy(pool, args.id)
        print(f"deleted policy {args.id}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


# --------------------------------------------------------------------------- escalating by hand


def cmd_alert_escalate(args: argparse.Namespace, settings: Settings) -> int:
    from ..clock import SYSTEM_CLOCK
    from ..escalation import state

    async def go(pool: Any, plugins: Registry) -> int:
        await state.escalate_now(pool, args.alert_id, args.user, SYSTEM_CLOCK.now(), args.note or "",
                                 restart=args.restart)
        esc = await state.escalation_state(pool, args.alert_id)
        what = "its policy starts again from step 1" if args.restart else f"step {(esc.next_step or 0) + 1} fires now"
        print(f"escalated alert {args.alert_id}: {what} (policy {esc.policy_id}, pass {esc.repeat + 1})")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def register_alert_commands(alert_sub: Any) -> None:
    """``oncall alert escalate``: beside ``alert trigger``, which cli.py registers."""
    p = alert_sub.add_parser("escalate", help="fire an alert's next escalation step now")
    p.add_argument("alert_id", type=int)
    p.add_argument("--user", required=True, help="who is escalating (a user id)")
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
    p.set_defaults(func=cmd_policies_list)
    p = ps.add_parser("delete", help="delete a policy no rule uses")
    p.add_argument("id")
    p.set_defaults(func=cmd_policies_delete)
