"""Grouping speed: microseconds per ``CelRouter.group()`` call, for the usual rules, 1 rule and 20 rules, per engine.

    .venv/bin/python bench/grouping_eval.py [--calls 20000] [--repeats 5] [--engine cel-expr]

The usual rules are plain lookups, read in Python (``oncall_cel_routing.direct``): condition
``true`` with key ``[labels.alertname, labels.cluster]``, and the ``alertmanager-group``
preset (``has(annotations.groupKey)``, key ``annotations.groupKey``); each is also timed
through the engine alone (``engine only``), as before that reading. The 1- and 20-rule
lists go through the engine: with 20 rules the first 19 conditions miss (a guarded label
equality each) and the last takes the alert, so every condition is evaluated once and one
key is: the worst walk a realistic rule list has. Their key is
``[labels.alertname, labels.cluster]``. Rules are
compiled before timing, as in the server (compiled rules are cached); each call builds
and binds the alert's variables, as ``group`` does on the ingest path. The figure is the
best of ``--repeats`` runs of ``--calls`` calls (the least disturbed by other load), with
the median run beside it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from datetime import UTC, datetime

from oncall_hookspecs import AlertView, GroupingRule

from oncall_cel_routing.engine import ENGINE_NAMES, select_engine
from oncall_cel_routing.router import CelRouter

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "[labels.alertname, labels.cluster]"


def make_rules(count: int) -> list[GroupingRule]:
    """``count`` rules of which only the last takes the sample alert."""
    rules = [
        GroupingRule(id=f"g{i}", name=f"team {i}", condition=f'labels.?team.orValue("") == "team-{i}"',
                     key=KEY, position=i)
        for i in range(count - 1)
    ]
    rules.append(GroupingRule(id="last", name="storage", condition='labels.?team.orValue("") == "storage"',
                              key=KEY, position=count))
    return rules


ALERT = AlertView(
    id=1, integration_id=1, integration_name="prod-alertmanager", source="alertmanager", dedup_key="fp-1",
    status="triggered", summary="Disk almost full on db-1", details="", severity="critical",
    labels={"alertname": "DiskFull", "cluster": "eu-1", "team": "storage", "instance": "db-1:9100",
            "severity": "critical", "env": "prod"},
    annotations={"runbook": "https://runbooks.example/disk", "priority": 2,
                 "groupKey": '{}/{severity="critical"}:{alertname="DiskFull"}'},
    created_at=_T0, last_received_at=_T0,
)


#: (label, condition, key, the key it gives ALERT): rules read in Python
USUAL = [
    ("true, [alertname, cluster]", "true", KEY, '["DiskFull","eu-1"]'),
    ("alertmanager-group", "has(annotations.groupKey)", "annotations.groupKey",
     '{}/{severity="critical"}:{alertname="DiskFull"}'),
]


def measure(router: CelRouter, rules: list[GroupingRule], calls: int, repeats: int,
            expect: str = '["DiskFull","eu-1"]') -> tuple[float, float]:
    """(best, median) µs per call."""
    match = router.group(ALERT, rules)  # compiles
    assert match.rule_id == rules[-1].id and match.key == expect, match
    runs = []
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                router.group(ALERT, rules)
            runs.append((time.perf_counter() - start) / calls * 1e6)
    finally:
        gc.enable()
    return min(runs), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engine", choices=ENGINE_NAMES, action="append")
    args = parser.parse_args()
    print(f"{'engine':<11} {'rules':<42} {'µs/call (best)':>15} {'(median)':>9}")
    for name in args.engine or ENGINE_NAMES:
        try:
            engine = select_engine(name)
        except ImportError as exc:
            print(f"{name:<11} not installed ({exc})")
            continue
        router = CelRouter(engine)
        # cel-python is ~100x slower: fewer calls keep the run short
        calls = args.calls if name == "cel-expr" else max(args.calls // 50, 100)
        for label, condition, key, expect in USUAL:
            rules = [GroupingRule(id="usual", name=label, condition=condition, key=key)]
            for direct in (True, False):
                router._grouping.direct = direct
                best, median = measure(router, rules, calls if direct else calls // (1 if name == "cel-expr" else 5),
                                       args.repeats, expect)
                shown = label + ("" if direct else " (engine only)")
                print(f"{name:<11} {shown:<42} {best:>15.1f} {median:>9.1f}")
            router._grouping.direct = True
        for count in (1, 20):
            best, median = measure(router, make_rules(count), calls, args.repeats)
            print(f"{name:<11} {f'{count} (engine)':<42} {best:>15.1f} {median:>9.1f}")


if __name__ == "__main__":
    main()
