"""The grafana source: unified alerting (per-alert fingerprints) and legacy alerting (per rule)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fixtures import webhooks
from fixtures.webhooks import outcomes, post_json, stored_alerts

PATHS = ["/api/v1/webhooks/grafana", "/api/v2/grafana/incoming"]
MEMORY, CPU = "c6eadffa33fcdf37", "bc97ff14869b13e3"


def payload(name: str) -> dict[str, Any]:
    return webhooks.payload("grafana", name)


async def alerts(server) -> list[dict[str, Any]]:
    return await stored_alerts(server, "started_at", order_by="dedup_key, id")


@pytest.mark.parametrize("path", PATHS)
async def test_unified_alerts_are_stored_per_fingerprint_with_grafana_links_and_values(server, path):
    _, key = await server.integration("grafana")

    status, body = await post_json(server, path, payload("unified_firing"), key=key)

    assert status == 200
    assert outcomes(body) == [(MEMORY, "created"), (CPU, "created")]
    cpu, memory = await alerts(server)  # by dedup key
    assert memory["status"] == "triggered"
    assert memory["summary"] == "High memory usage in zone us-1"
    assert memory["details"] == "The system has high memory usage"
    assert memory["severity"] == "warning"
    assert memory["labels"] == {
        "alertname": "High memory usage",
        "grafana_folder": "Infrastructure",
        "team": "blue",
        "zone": "us-1",
        "severity": "warning",
    }
    assert memory["annotations"] == {
        "description": "The system has high memory usage",
        "runbook_url": "https://runbooks.example.org/memory",
        "summary": "High memory usage in zone us-1",
        "generatorURL": "https://grafana.example.org/alerting/grafana/1afz29v7z/view?orgId=1",
        "silenceURL": "https://grafana.example.org/alerting/silence/new?alertmanager=grafana"
        "&matcher=alertname%3DHigh+memory+usage&matcher=team%3Dblue&matcher=zone%3Dus-1",
        "dashboardURL": "https://grafana.example.org/d/a1b2c3d4?orgId=1",
        "panelURL": "https://grafana.example.org/d/a1b2c3d4?orgId=1&viewPanel=2",
        "values": {"B": 44.23943737541908, "C": 1},
        "valueString": "[ var='B' labels={zone=us-1} value=44.23943737541908 ], "
        "[ var='C' labels={zone=us-1} value=1 ]",
        "externalURL": "https://grafana.example.org/",
        "receiver": "oncall",
        "groupKey": "{}:{}",
        "orgId": 1,
    }
    assert memory["duplicate_count"] == 0
    assert memory["started_at"] == datetime(
        2024, 10, 12, 9, 51, 3, 157076, tzinfo=timezone(timedelta(hours=2))
    )
    assert cpu["summary"] == "High CPU usage in zone eu-1"
    assert cpu["severity"] == "unknown"  # no severity label
    # empty links are left out rather than stored as ""
    assert "dashboardURL" not in cpu["annotations"] and "panelURL" not in cpu["annotations"]
    assert cpu["annotations"]["values"] == {"B": 88.5, "C": 1}


@pytest.mark.parametrize("path", PATHS)
async def test_unified_repeats_deduplicate_resolved_resolves_and_refiring_opens_a_new_alert(server, path):
    _, key = await server.integration("grafana")

    await post_json(server, path, payload("unified_firing"), key=key)
    _, body = await post_json(server, path, payload("unified_firing"), key=key)
    assert outcomes(body) == [(MEMORY, "duplicate"), (CPU, "duplicate")]

    status, body = await post_json(server, path, payload("unified_resolved"), key=key)
    assert status == 200
    assert outcomes(body) == [(MEMORY, "resolved")]

    _, body = await post_json(server, path, payload("unified_firing"), key=key)
    assert outcomes(body) == [(MEMORY, "created"), (CPU, "duplicate")]
    assert [(a["dedup_key"], a["status"], a["duplicate_count"]) for a in await alerts(server)] == [
        (CPU, "triggered", 2),
        (MEMORY, "resolved", 1),
        (MEMORY, "triggered", 0),
    ]


async def test_a_unified_group_of_one_alert_without_description_takes_the_message_as_details(server):
    _, key = await server.integration("grafana")
    group = payload("unified_firing")
    group["alerts"] = group["alerts"][1:]
    group["alerts"][0]["annotations"] = {}

    await post_json(server, PATHS[0], group, key=key)

    (row,) = await alerts(server)
    assert row["summary"] == "High CPU usage"  # labels.alertname
    assert row["details"] == group["message"].strip()


@pytest.mark.parametrize("path", PATHS)
async def test_legacy_alerts_are_one_per_rule_and_ok_resolves_the_rule(server, path):
    _, key = await server.integration("grafana")

    status, body = await post_json(server, path, payload("legacy_alerting"), key=key)
    assert status == 200
    assert outcomes(body) == [("rule:42", "created")]
    (row,) = await alerts(server)
    assert row["status"] == "triggered"
    assert row["summary"] == "Panel Title alert"
    assert row["details"] == "Request rate above 150 req/s on web-01."
    assert row["severity"] == "critical"
    assert row["labels"] == {"service": "web", "severity": "critical"}
    assert row["annotations"] == {
        "state": "alerting",
        "ruleUrl": "https://grafana.example.org/d/hZ7BuVbWz/test-dashboard?tab=alert&viewPanel=2&orgId=1",
        "imageUrl": "https://grafana.example.org/public/img/attachments/a1b2c3.png",
        "evalMatches": [
            {"value": 100, "metric": "High value", "tags": None},
            {"value": 200, "metric": "Higher Value", "tags": {"host": "web-01"}},
        ],
        "orgId": 1,
        "dashboardId": 1,
        "panelId": 2,
    }

    _, body = await post_json(server, path, payload("legacy_alerting"), key=key)
    assert outcomes(body) == [("rule:42", "duplicate")]
    _, body = await post_json(server, path, payload("legacy_ok"), key=key)
    assert outcomes(body) == [("rule:42", "resolved")]
    _, body = await post_json(server, path, payload("legacy_alerting"), key=key)
    assert outcomes(body) == [("rule:42", "created")]
    assert [(a["status"], a["duplicate_count"]) for a in await alerts(server)] == [
        ("resolved", 1),
        ("triggered", 0),
    ]


async def test_legacy_no_data_pages_on_the_rule_while_pending_and_paused_change_nothing(server):
    _, key = await server.integration("grafana")
    legacy = payload("legacy_alerting")

    for state in ("pending", "paused"):
        status, body = await post_json(server, PATHS[0], {**legacy, "state": state}, key=key)
        assert (status, body["alerts"]) == (200, [])
    assert await alerts(server) == []

    _, body = await post_json(server, PATHS[0], {**legacy, "state": "no_data", "evalMatches": []}, key=key)
    assert outcomes(body) == [("rule:42", "created")]
    _, body = await post_json(server, PATHS[0], legacy, key=key)
    assert outcomes(body) == [("rule:42", "duplicate")]
    await post_json(server, PATHS[0], {**payload("legacy_ok"), "state": "paused"}, key=key)

    (row,) = await alerts(server)
    assert row["status"] == "triggered"  # pausing the rule did not close it
    assert row["annotations"]["state"] == "alerting"  # the latest state is kept


def _changed(name: str, change) -> bytes:
    doc = payload(name)
    change(doc)
    return json.dumps(doc).encode()


BAD_INPUT = [
    pytest.param(b'{"alerts": [}', "application/json", 400, "invalid_json", "JSON", id="malformed-json"),
    pytest.param(
        b"receiver=oncall",
        "application/x-www-form-urlencoded",
        415,
        "unsupported_media_type",
        "application/x-www-form-urlencoded",
        id="wrong-content-type",
    ),
    pytest.param(
        b'{"receiver": "oncall"}', "application/json", 400, "missing_field", "'alerts'", id="neither-format"
    ),
    pytest.param(
        _changed("unified_firing", lambda d: d.pop("alerts")),
        "application/json",
        400,
        "missing_field",
        "'alerts'",
        id="unified-without-alerts",
    ),
    pytest.param(
        _changed("unified_firing", lambda d: d["alerts"][0].update(labels=["team", "blue"])),
        "application/json",
        400,
        "invalid_type",
        "'alerts[0].labels'",
        id="labels-not-object",
    ),
    pytest.param(
        _changed("unified_firing", lambda d: d["alerts"][1].update(values=[1, 2])),
        "application/json",
        400,
        "invalid_type",
        "'alerts[1].values'",
        id="values-not-object",
    ),
    pytest.param(
        _changed("unified_firing", lambda d: d.update(orgId="1")),
        "application/json",
        400,
        "invalid_type",
        "'orgId'",
        id="org-not-integer",
    ),
    pytest.param(
        _changed("legacy_alerting", lambda d: d.update(state="firing")),
        "application/json",
        400,
        "invalid_value",
        "'state'",
        id="legacy-unknown-state",
    ),
    pytest.param(
        _changed("legacy_alerting", lambda d: d.pop("state")),
        "application/json",
        400,
        "missing_field",
        "'state'",
        id="legacy-without-state",
    ),
    pytest.param(
        _changed("legacy_alerting", lambda d: d.update(ruleId="42")),
        "application/json",
        400,
        "invalid_type",
        "'ruleId'",
        id="legacy-rule-id-not-integer",
    ),
    pytest.param(
        _changed("legacy_alerting", lambda d: (d.pop("ruleId"), d.pop("ruleName"))),
        "application/json",
        400,
        "missing_field",
        "'ruleId'",
        id="legacy-without-rule",
    ),
    pytest.param(
        _changed("legacy_alerting", lambda d: d.update(evalMatches={"value": 1})),
        "application/json",
        400,
        "invalid_type",
        "'evalMatches'",
        id="legacy-matches-not-array",
    ),
    pytest.param(
        _changed("unified_firing", lambda d: d.update(truncatedAlerts=-3)),
        "application/json",
        400,
        "invalid_value",
        "'truncatedAlerts'",
        id="unified-truncated-negative",
    ),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "error", "mentions"), BAD_INPUT)
async def test_bad_input_is_refused_with_a_json_error_and_nothing_stored(
    server, raw, content_type, status, error, mentions
):
    _, key = await server.integration("grafana")

    got_status, got = await post_json(server, PATHS[0], raw=raw, key=key, content_type=content_type)

    assert got_status == status
    assert got["error"] == error
    assert mentions in got["detail"]
    assert await alerts(server) == []


async def test_the_key_may_come_as_bearer_or_token_and_must_belong_to_a_grafana_integration(server):
    _, key = await server.integration("grafana")
    _, alertmanager_key = await server.integration("alertmanager")

    assert (await post_json(server, PATHS[1], payload("legacy_alerting"), params={"token": key}))[0] == 200
    assert (await post_json(server, PATHS[0], payload("legacy_alerting"), key=key))[0] == 200
    for attempt, expected in (
        ({"key": alertmanager_key}, 403),
        ({"params": {"token": alertmanager_key}}, 403),
        ({"key": "not-a-key"}, 401),
        ({}, 401),
    ):
        got_status, got = await post_json(server, PATHS[0], payload("legacy_ok"), **attempt)
        assert (got_status, sorted(got)) == (expected, ["detail", "error"]), attempt
    assert [(a["status"], a["duplicate_count"]) for a in await alerts(server)] == [("triggered", 1)]
