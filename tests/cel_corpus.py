"""The CEL routing corpus: conditions and sample alerts that both CEL engines must agree on.

Every condition compiles on both engines (cel-expr type-checks; these all pass; a few
would still be refused on save: ``summary.matches("[")`` for its pattern, and the
conversions of literals that always fail, such as ``duration("1d")``). Between
them they cover strings, regular expressions, lists, maps, ``in``, ``has``, optionals,
numbers (including mixed int/double), booleans, ternaries, missing keys, runtime errors,
the logical operators that absorb errors, and each place where cel-python once parted from
cel-expr (negative indexes, double map keys, numeric key lookups, the three-argument
``map``, the ``\\?`` and ``\\``` escapes, conversions from strings, ``string()``). The
alerts differ enough that most conditions match some, miss others and fail on a few.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from oncall_hookspecs import AlertView

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _alert(
    id: int,
    *,
    labels: dict[str, str],
    annotations: dict[str, Any],
    severity: str,
    summary: str,
    details: str = "",
    source: str = "generic",
    integration: str = "default",
    status: str = "triggered",
) -> AlertView:
    return AlertView(
        id=id,
        integration_id=1,
        integration_name=integration,
        source=source,
        dedup_key=f"k{id}",
        status=status,
        summary=summary,
        details=details,
        severity=severity,
        labels=labels,
        annotations=annotations,
        created_at=_T0,
        last_received_at=_T0,
    )


ALERTS: dict[str, AlertView] = {
    "db_critical": _alert(
        1,
        labels={
            "team": "db",
            "service": "postgres",
            "env": "prod",
            "instance": "db-1:9187",
            "region": "eu-west-1",
        },
        annotations={
            "runbook": "https://runbooks.example/db/disk",
            "priority": 1,
            "score": 0.75,
            "tags": ["disk", "db"],
            "owner": {"team": "dba", "oncall": True},
            "flag": True,
        },
        severity="critical",
        summary="Disk almost full on db-1",
        details="97% used on /var/lib/postgresql",
        source="alertmanager",
        integration="prod-alertmanager",
    ),
    "web_warning": _alert(
        2,
        labels={"team": "web", "service": "frontend", "env": "staging", "region": "us-east-1"},
        annotations={"priority": 3, "score": 0.2, "tags": [], "flag": False, "runbook": "wiki/web"},
        severity="warning",
        summary="High latency on checkout",
        details="p99 above 2s",
        source="grafana",
        integration="grafana-web",
    ),
    "bare": _alert(3, labels={}, annotations={}, severity="unknown", summary=""),
    "acknowledged_info": _alert(
        4,
        labels={"team": "DB", "env": "dev"},
        annotations={"priority": "1", "owner": {"team": "dba"}, "tags": ["db"]},
        severity="info",
        summary="Replica lag",
        status="acknowledged",
        source="pagerduty",
        integration="pd",
    ),
    "unicode": _alert(
        5,
        labels={"team": "ops", "app.kubernetes.io/name": "café", "env": ""},
        annotations={"count": 9007199254740993, "ratio": 1.0, "empty": None, "priority": 2},
        severity="error",
        summary="Überlast auf Knoten 😀",
        details="Zähler 100%",
        source="generic",
        integration="prod-generic",
    ),
}


CONDITIONS: list[str] = [
    # strings
    'labels.team == "db"',
    'labels.?team.orValue("") == "db"',
    'has(labels.team) && labels.team == "db"',
    'summary.contains("full")',
    'summary.startsWith("Disk")',
    'summary.endsWith("db-1")',
    "size(summary) > 10",
    "summary.size() == 0",
    'labels.?service.orValue("").startsWith("post")',
    'size("héllo") == 5',
    '"é" < "z"',
    'details.contains("%")',
    'summary.contains("😀") && size(summary) == 21',
    'labels.team + "-oncall" == "db-oncall"',
    'labels.team > "c"',
    'integration.startsWith("prod-")',
    'status == "triggered" && source == "alertmanager"',
    # in
    '"team" in labels',
    'labels.team in ["db", "web"]',
    'severity in ["critical", "error"]',
    '!(severity in ["info", "unknown"])',
    "annotations.priority in [1, 2]",
    "annotations.ratio in [1, 2]",
    '"team" in annotations.owner',
    '"disk" in annotations.tags',
    # regular expressions
    'summary.matches("(?i)disk .* full")',
    'labels.?instance.orValue("").matches("^db-[0-9]+:[0-9]+$")',
    'matches(labels.?region.orValue(""), "^eu-")',
    'labels.team.matches("^(db|web)$")',
    'summary.matches("Knoten")',
    'summary.matches("(?i)überlast")',
    'summary.matches("[")',
    'labels.exists(k, k.matches("^app\\\\."))',
    # maps and has
    "has(labels.env)",
    "!has(labels.team)",
    'has(annotations.runbook) && annotations.runbook.startsWith("https://")',
    "has(annotations.owner.team)",
    "annotations.owner.oncall == true",
    "size(labels) >= 3",
    'labels.exists(k, k.startsWith("app."))',
    'labels.all(k, labels[k] != "")',
    'labels.exists_one(k, labels[k] == "db")',
    'labels["app.kubernetes.io/name"] == "café"',
    'labels[?"app.kubernetes.io/name"].orValue("none") != "none"',
    '{"a": 1}.a == 1',
    'annotations.owner == {"team": "dba", "oncall": true}',
    # optionals
    "annotations.?missing.hasValue()",
    'annotations.?owner.?team.orValue("") == "dba"',
    "annotations.?flag.orValue(false)",
    'labels.?team.or(labels.?service).orValue("") == "db"',
    'optional.of(severity).value() == "critical"',
    'labels.?nope.value() == "x"',
    'annotations.?tags[?0].orValue("") == "disk"',
    'optional.ofNonZeroValue(labels.?env.orValue("")).hasValue()',
    # lists
    "size(annotations.tags) == 0",
    'annotations.tags.exists(t, t == "db")',
    "annotations.?tags.orValue([]).size() > 1",
    '[labels.?team.orValue(""), labels.?env.orValue("")].all(x, x != "")',
    'annotations.tags.filter(t, t.startsWith("d")).size() == 1',
    'annotations.tags.map(t, t + "!").exists(t, t == "db!")',
    'annotations.tags[0] == "disk"',
    "[1, 2, 3].exists(x, x > 2)",
    'annotations.tags == ["disk", "db"]',
    # numbers
    "annotations.priority <= 2",
    "annotations.priority == 1",
    "annotations.priority == 1.0",
    "annotations.score > 0.5",
    "annotations.priority + 1 == 2",
    'annotations.priority == "1"',
    "int(annotations.priority) == 1",
    'string(annotations.priority) == "1"',
    "annotations.count > 9007199254740992",
    "annotations.priority / 0 == 1",
    "annotations.ratio == 1",
    "annotations.priority == 1u",
    "annotations.priority > annotations.score",
    "annotations.priority > 1.5",
    "annotations.priority >= 1 && annotations.priority <= 3",
    "annotations.score + annotations.priority > 1.0",
    "annotations.priority / 0.0 > 1.0",
    "annotations.priority % 2 == 1",
    "annotations.score * 2.0 > 1.0",
    "-annotations.priority < 0",
    "int(annotations.score) == 0",
    # booleans and null
    "annotations.flag",
    'annotations.flag == true || severity == "critical"',
    "annotations.empty == null",
    "annotations.flag < true",
    # ternaries
    '(severity == "critical" ? 1 : 2) == 1',
    'has(labels.env) ? labels.env == "prod" : severity == "critical"',
    'labels.?env.orValue("none") == "prod" ? true : false',
    # missing keys, errors and the operators that absorb them
    'labels.missing == "x"',
    'labels.missing == "x" || true',
    'true || labels.missing == "x"',
    'labels.missing == "x" && false',
    'false && labels.missing == "x"',
    'labels.missing == "x" || severity == "critical"',
    'labels.missing == "x" && severity == "critical"',
    '!(labels.missing == "x")',
    'severity != "info" && !(labels.?env.orValue("") in ["dev", "test"])',
    # not a boolean: an error, never a match
    "annotations.priority",
    # types
    "type(annotations.priority) == int",
    "type(labels) == map",
    # time
    'timestamp("2024-01-01T00:00:00Z") < timestamp("2025-01-01T00:00:00Z")',
    'duration("1h") > duration("30m")',
    # where cel-python used to part from CEL (and cel-expr): indexes, map keys, the
    # three-argument map, escapes, conversions from strings
    'annotations.tags[-1] == "db"',
    "annotations.tags[1.0] == \"db\"",
    "annotations.score in {0.75: 1}",
    '{annotations.?score.orValue(0.5): 1}.size() == 1',
    'dyn({1: "a"})[1.0] == "a"',
    'dyn({1: "a"})[1u] == "a"',
    'dyn({1: "a"})[annotations.?priority.orValue(0)] == "a"',
    'annotations.tags.map(t, t != "disk", t + "!") == ["db!"]',
    "[1, 2, 3].map(x, x > annotations.?priority.orValue(9), x * 2) == [4, 6]",
    '"\\?" == "?"',
    '"\\`" + summary == "`Disk almost full on db-1"',
    'int("1_0") == 10',
    'double("1_0") == 10.0',
    'int("0x10") == 16',
    'int(" " + string(annotations.priority)) == 1',
    'duration("1d") > duration("1h")',
    'duration("1h30m") == duration("90m") && duration(".5s") == duration("500ms")',
    'timestamp("2024-01-01 00:00:00Z") > timestamp("2023-01-01T00:00:00Z")',
    'timestamp("2024-01-01t00:00:00z") == timestamp("2024-01-01T01:00:00+01:00")',
    'string(annotations.score * 4.0) == "3" && string(true) == "true"',
    'string(duration("1.5s")) == "1.500s"',
    'string(annotations.tags) != ""',
    "double(annotations.flag) == 1.0",
    "bool(annotations.priority)",
    'annotations.tags.filter(t, t).size() == size(annotations.tags)',
    "annotations.tags.exists_one(t, t) || true",
    "annotations.tags.map(t, t, t) == annotations.tags",
    "annotations.tags.map(t, 1 / (size(t) - 4)).size() == 2 || true",
    '[0, 1].filter(x, 1 / x == 1).size() == 1 || severity == "critical"',
]


#: expressions whose value (or error) both engines must agree on: conversions, string(),
#: indexing, map literals, macros and escapes, where a match or a miss could hide a difference
VALUES: list[str] = [
    'int("+1")', 'int(" 1")', 'int("0x10")', 'int("1e3")', 'int("١")', 'int("9223372036854775808")',
    'int("-9223372036854775808")', 'int("")', 'int("1_0")', 'uint("+1")', 'uint("-0")', 'uint("0x10")',
    'double("1e3")', 'double(" 1")', 'double("-Infinity")', 'double("0x1p3")', 'double("1_0")', 'double("")',
    'double("1.5f")', 'double(".5")', 'double(dyn(true))', 'bool("True")', 'bool("t")', 'bool("yes")', 'bool(dyn(1))',
    'duration("1d")', 'duration("0")', 'duration("")', 'duration("1")', 'duration("+1s")', 'duration("-1.5h")',
    'duration(".5s")', 'duration("1h30m")', 'duration("1µs")', 'duration("1us")', 'duration("1ms")',
    'duration("1S")', 'duration("315576000000s")', 'duration("315576000001s")', 'duration(" 1s")',
    'duration("1h 30m")', 'duration(dyn(1))',
    'timestamp("2024-01-01T00:00:00Z")', 'timestamp("2024-01-01t00:00:00z")', 'timestamp("2024-01-01 00:00:00Z")',
    'timestamp("2024-01-01T00:00:00+01:00")', 'timestamp("2024-01-01T00:00:00")', 'timestamp("2024-01-01")',
    'timestamp("2024-02-30T00:00:00Z")', 'timestamp("0001-01-01T00:00:00Z")', 'timestamp("9999-12-31T23:59:59-01:00")',
    'timestamp("2024-01-01T00:00:00+24:00")', 'timestamp(1700000000)', 'timestamp(dyn(253402300800))',
    'timestamp("2024-01-01T00:00:00+01:00").getHours()',
    'string(1.0)', 'string(-0.0)', 'string(100.0)', 'string(123456.0)', 'string(1234567.0)', 'string(1e15)',
    'string(1e-5)', 'string(0.0001)', 'string(1.0 / 3.0)', 'string(1e100)', 'string(double("nan"))',
    'string(true)', 'string(duration("1.5s"))', 'string(duration("-1ms"))',
    'string(timestamp("2024-01-01T00:00:00.5Z"))', 'string(timestamp("0001-01-01T00:00:00.000123Z"))',
    'string(dyn([1]))', 'string(dyn(null))',
    '[1, 2][-1]', '[1, 2][dyn(1.0)]', '[1, 2][dyn(1u)]', 'dyn([1, 2])[1.5]', 'dyn({1: "a"})[1.0]', 'dyn({1: "a"})[2]',
    '{0.75: 1}', '{null: 1}', '{"a": 1, "a": 2}', 'dyn("abc")[0]',
    '[1, 2, 3].map(x, x > 1, x * 2)', '{"a": 1, "b": 2}.map(k, k == "b", k + "!")', '[1, 2].map(x, dyn(x), x)',
    '[1, 2].filter(x, dyn(x))', '[1, 2].exists_one(x, dyn(x))', '[0, 1].map(x, 1 / x).size() == 2 || true',
    '"\\?\\`\\\\?"', 'b"\\?"', 'r"\\?"',
]
