"""Routing speed: decisions per second and latency for 1,000 CEL rules, on both engines.

    .venv/bin/python bench/routing.py [--rules 1000] [--seconds 5] [--engine cel-expr]

The rules are what a large organisation writes: label equality (mostly guarded with
``has()`` or ``.?``), regular expressions, ``in`` lists, ``has()`` checks and a few
conditions on the integration and severity. Alerts cycle through ones that match early,
in the middle, late, and not at all (the worst case: every rule is evaluated). Compiling
happens once, before timing, as it does in the server (compiled rules are cached).

Latency is reported twice: wall-clock, and the CPU time of the routing thread. On a busy
machine the wall-clock tail is mostly time spent waiting for a core; the CPU time is the
work a decision takes.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from datetime import UTC, datetime

from oncall_hookspecs import AlertView, RoutingRule, RuleActions

from oncall_cel_routing.engine import ENGINE_NAMES, select_engine
from oncall_cel_routing.router import CelRouter


def make_rules(count: int) -> list[RoutingRule]:
    """``count`` realistic rules; rule ``i`` is written to match alerts of team/service ``i``."""
    rules = []
    for i in range(count):
        kind = i % 20
        if kind < 4:
            condition = f'labels.?team.orValue("") == "team-{i}"'
        elif kind < 7:
            condition = f'has(labels.service) && labels.service == "svc-{i}"'
        elif kind < 8:
            condition = f'labels.?team.orValue("") == "team-{i}" && labels.?env.orValue("") == "prod"'
        elif kind < 10:
            condition = f'labels.?service.orValue("").matches("^svc-{i}-(api|worker)$")'
        elif kind < 11:
            condition = f'labels.?instance.orValue("").matches("^db-{i}:[0-9]+$")'
        elif kind < 12:
            condition = (
                f'has(labels.team) && labels.team == "team-{i}" && summary.matches("(?i)disk|memory")'
            )
        elif kind < 14:
            condition = (
                f'labels.?env.orValue("") in ["prod-{i}", "staging-{i}"] && severity in ["critical", "error"]'
            )
        elif kind < 16:
            condition = f'labels.?region.orValue("") in ["r{i}-a", "r{i}-b", "r{i}-c"]'
        elif kind < 18:
            condition = f'has(labels.cluster_{i}) || (has(annotations.runbook_{i}) && severity == "critical")'
        else:
            condition = f'integration == "grafana-{i}" && labels.?team.orValue("") != ""'
        rules.append(
            RoutingRule(
                id=f"rule-{i}",
                name=f"rule {i}",
                condition=condition,
                actions=RuleActions(escalation_policy_id=f"policy-{i}"),
                position=i,
            )
        )
    return rules


def make_alerts(count: int) -> list[AlertView]:
    """Alerts matching the rule at 10%, 50% and 90% of the list, and one matching nothing."""
    now = datetime.now(UTC)

    def alert(n: int, labels: dict[str, str], summary: str) -> AlertView:
        return AlertView(
            id=n, integration_id=1, integration_name="prod-alertmanager", source="alertmanager",
            dedup_key=f"bench-{n}", status="triggered", summary=summary, details="",
            severity="critical", labels=labels, annotations={"runbook": "https://runbooks.example"},
            created_at=now, last_received_at=now,
        )

    base = {"alertname": "HighLatency", "env": "prod", "region": "eu-west-1", "instance": "api-7:9100"}
    def team_of(position: int) -> str:
        return f"team-{position - position % 20}"  # rules 20k+0..3 test the team label

    return [
        alert(1, {**base, "team": team_of(count // 10)}, "latency above 2s"),
        alert(2, {**base, "team": team_of(count // 2)}, "latency above 2s"),
        alert(3, {**base, "team": team_of(count * 9 // 10)}, "disk almost full"),
        alert(4, {**base, "team": "nobody"}, "disk almost full"),  # no rule matches
    ]


def run(engine_name: str, rule_count: int, seconds: float) -> None:
    router = CelRouter(select_engine(engine_name))
    rules = make_rules(rule_count)
    alerts = make_alerts(rule_count)
    default = RuleActions(escalation_policy_id="default")

    started = time.perf_counter()
    for alert in alerts:  # compiles every rule (and segment) once, as the first alerts would
        router.route_now(alert, rules, default)
    warmup = time.perf_counter() - started
    # as the engine does once new rules are compiled: long-lived objects leave the GC's view
    gc.collect()
    gc.freeze()

    wall: dict[int, list[float]] = {a.id: [] for a in alerts}
    cpu: dict[int, list[float]] = {a.id: [] for a in alerts}
    deadline = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < deadline or total < 4 * len(alerts):
        for alert in alerts:
            t0, c0 = time.perf_counter(), time.thread_time()
            decision = router.route_now(alert, rules, default)
            c1, t1 = time.thread_time(), time.perf_counter()
            wall[alert.id].append(t1 - t0)
            cpu[alert.id].append(c1 - c0)
            total += 1
        assert decision.default_route  # the last alert matches nothing

    def ms(x: float) -> str:
        return f"{x * 1000:8.2f} ms"

    def p(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    def line(label: str, samples: dict[int, list[float]]) -> None:
        every = sorted(x for xs in samples.values() for x in xs)
        worst = sorted(samples[alerts[-1].id])
        print(
            f"  {label:<5} {total / sum(every):8.0f} decisions/s   all alerts: p50 {ms(statistics.median(every))}"
            f"  p99 {ms(p(every, 0.99))}   no match (all {rule_count} rules): p50 {ms(statistics.median(worst))}"
            f"  p99 {ms(p(worst, 0.99))}"
        )

    print(f"{router.engine.name}: {rule_count} rules, {total} decisions; first routing (compiling) took {warmup:.2f} s")
    line("wall", wall)
    line("cpu", cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per engine")
    parser.add_argument("--engine", choices=ENGINE_NAMES, action="append", help="default: both")
    args = parser.parse_args(argv)
    for name in args.engine or ENGINE_NAMES:
        try:
            run(name, args.rules, args.seconds)
        except ImportError as exc:
            print(f"{name:>10}: not installed ({exc})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
