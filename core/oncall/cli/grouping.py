"""CLI for grouping rules (``oncall grouping …``): list, create, update, delete, presets, test.

Works on the database directly, with the same domain functions GroupingService uses; a
running server applies a change as soon as it commits (it is notified).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from oncall_hookspecs import Router

from ..config import Settings
from .escalation import parse_duration
from .runner import run

if TYPE_CHECKING:
    from ..grouping.assign import StoredRule
    from ..grouping.replay import Replay
    from ..grouping.store import RuleSpec
    from ..plugins import Registry


def _router(settings: Settings, plugins: Registry) -> Router | None:
    """The router the engine routes with (ONCALL_ROUTER, else the one installed)."""
    return plugins.routers.get(settings.router) or next(iter(plugins.routers.values()), None)


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


def _print_rule(r: StoredRule) -> None:
    limit = (f"window {timedelta(seconds=r.window_seconds)}" if r.window_seconds
             else f"idle {timedelta(seconds=r.idle_seconds)}" if r.idle_seconds else "until resolved")
    scope = f"integration {r.integration_id}" if r.integration_id is not None else "all integrations"
    print(f"{r.position + 1:>3}. {r.name}  [{r.id}] v{r.version}")
    print(f"     when: {r.condition}")
    print(f"     key:  {r.key}")
    print(f"     {scope}, {limit}, resolve on {r.resolve_on}" + (", re-pages on graver alerts"
                                                              if r.repage_on_new_alert else ""))
    if r.title_template:
        print(f"     title: {r.title_template}")


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


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..grouping import store

    async def go(pool: Any, plugins: Registry) -> int:
        rules = await store.list_rules(pool)
        for r in rules:
            _print_rule(r)
        if not rules:
            print("no grouping rules: each alert is its own incident (see `oncall grouping presets`)")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_presets(args: argparse.Namespace, settings: Settings) -> int:
    from ..grouping.presets import PRESETS

    for p in PRESETS:
        limit = (f", window {timedelta(seconds=p.spec.window_seconds)}" if p.spec.window_seconds else "")
        print(f"{p.name:<24} {p.description}")
        print(f"{'':<24} when {p.spec.condition}; key {p.spec.key}{limit}; resolve on {p.spec.resolve_on}")
    return 0


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from ..grouping import presets, store

    async def go(pool: Any, plugins: Registry) -> int:
        base = presets.preset(args.preset).spec if args.preset else store.RuleSpec(name="", condition="", key="")
        spec = _apply(base, _fields(args))
        r = await store.create_rule(pool, _router(settings, plugins), spec,
                                    position=args.position - 1 if args.position else None)
        _print_rule(r)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_update(args: argparse.Namespace, settings: Settings) -> int:
    from ..grouping import store

    async def go(pool: Any, plugins: Registry) -> int:
        old = await store.get_rule(pool, args.id)
        spec = _apply(store.spec_of(old), _fields(args))
        r = await store.update_rule(pool, _router(settings, plugins), args.id, spec,
                                    args.version if args.version is not None else old.version,
                                    position=args.position - 1 if args.position else None)
        _print_rule(r)
        return 0

    return run(settings, go, plugins=True, refusal="error")


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from ..grouping import store

    async def go(pool: Any, plugins: Registry) -> int:
        await store.delete_rule(pool, args.id)
        print(f"deleted grouping rule {args.id}")
        return 0

    return run(settings, go, plugins=True, refusal="error")


def _print_replay(result: Replay, as_json: bool) -> None:
    if as_json:
        print(json.dumps({
            "alerts_replayed": result.alerts_replayed, "truncated": result.truncated,
            "incidents": [
                {"key": i.key, "alert_ids": i.alert_ids, "alert_count": len(i.alert_ids),
                 "first_alert_at": i.first_alert_at.isoformat(), "last_alert_at": i.last_alert_at.isoformat(),
                 "title": i.title, "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
                 "joinable_until": i.joinable_until.isoformat() if i.joinable_until else None}
                for i in result.incidents
            ],
            "not_taken_alert_ids": result.not_taken, "errors": result.errors,
        }, ensure_ascii=False, indent=2))
        return
    grouped = sum(len(i.alert_ids) for i in result.incidents)
    print(f"{result.alerts_replayed} alerts replayed{' (more in the range: cut at the limit)' if result.truncated else ''}:"
          f" {grouped} in {len(result.incidents)} incidents, {len(result.not_taken)} not taken")
    for i in result.incidents:
        ids = ", ".join(f"#{a}" for a in i.alert_ids[:10]) + (" …" if len(i.alert_ids) > 10 else "")
        print(f"  {len(i.alert_ids):>5} alerts  {i.first_alert_at:%Y-%m-%d %H:%M:%S} → {i.last_alert_at:%H:%M:%S}"
              f"  key {i.key}")
        print(f"         {i.title}  ({ids})")
    for e in result.errors:
        print(f"  error: {e}")


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from ..grouping import presets, replay, store

    async def go(pool: Any, plugins: Registry) -> int:
        router = _router(settings, plugins)
        if args.rule:
            stored = await store.get_rule(pool, args.rule)
            spec, rule = store.spec_of(stored), stored.contract()
        else:
            base = presets.preset(args.preset).spec if args.preset else store.RuleSpec(name="", condition="", key="")
            spec = _apply(base, _fields(args))
            async with pool.connection() as conn:
                await store.check_spec(conn, router, spec, draft=True)
            rule = replay.draft_rule(spec)
        result = await replay.dry_run(
            pool, router, rule, spec, since=_instant(args.since) if args.since else None,
            until=_instant(args.until) if args.until else None,
            last=args.last if args.last is not None or args.since else 1000,
        )
        _print_replay(result, args.json)
        return 0

    return run(settings, go, plugins=True, refusal="error")


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
    p.set_defaults(func=cmd_list)
    p = gs.add_parser("presets", help="the shipped presets (use with create --preset)")
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
