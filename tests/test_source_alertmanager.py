"""The alertmanager source: Alertmanager's webhook (v4) in, one deduplicated alert per entry."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fixtures import webhooks
from fixtures.webhooks import outcomes, post_json, stored_alerts

PATHS = ["/api/v1/webhooks/alertmanager", "/api/v2/prometheusalertmanager/incoming"]
SHOP, API = "1a30ba71cca2921f", "7c3e2f1d9a0b4e55"


def payload(name: str) -> dict[str, Any]:
    return webhooks.payload("alertmanager", name)


async def alerts(server) -> list[dict[str, Any]]:
    return await stored_alerts(server, "started_at", order_by="dedup_key, id")


@pytest.mark.parametrize("path", PATHS)
async def test_a_firing_group_stores_one_alert_per_entry(server, path):
    _, key = await server.integration("alertmanager")

    status, body = await post_json(server, path, payload("firing"), key=key)

    assert status == 200
    assert body["status"] == "ok"
    assert outcomes(body) == [(SHOP, "created"), (API, "created")]
    shop, api = await alerts(server)  # by dedup key
    assert shop["dedup_key"] == SHOP
    assert shop["status"] == "triggered"
    assert shop["summary"] == "Blackbox probe failing: https://shop.example.org"
    assert shop["details"] == "https://shop.example.org has failed its HTTP probe for over 5 minutes."
    assert shop["severity"] == "critical"
    assert shop["labels"] == {
        "alertname": "ProbeFailure",
        "instance": "https://shop.example.org",
        "job": "blackbox_http",
        "monitor": "master",
        "severity": "critical",
    }
    assert shop["annotations"] == {
        "summary": "Blackbox probe failing: https://shop.example.org",
        "description": "https://shop.example.org has failed its HTTP probe for over 5 minutes.",
        "runbook_url": "https://runbooks.example.org/probe-failure",
        "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1",
        "externalURL": "http://alertmanager.example.org:9093",
        "receiver": "oncall",
        "groupKey": '{}/{severity=~"critical|warning"}:{alertname="ProbeFailure"}',
    }
    assert shop["duplicate_count"] == 0
    assert shop["started_at"] == datetime(2024, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    # without annotations.summary the description is the summary, and not repeated as details
    assert api["dedup_key"] == API
    assert api["summary"] == "https://api.example.org has failed its HTTP probe for over 5 minutes."
    assert api["details"] == ""
    assert api["severity"] == "warning"
    assert api["started_at"] == datetime(2024, 2, 6, 13, 9, 15, 102938, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize("path", PATHS)
async def test_repeats_deduplicate_resolved_entries_resolve_and_refiring_opens_a_new_alert(server, path):
    _, key = await server.integration("alertmanager")

    await post_json(server, path, payload("firing"), key=key)
    status, body = await post_json(server, path, payload("firing"), key=key)
    assert status == 200
    assert outcomes(body) == [(SHOP, "duplicate"), (API, "duplicate")]
    assert [(a["dedup_key"], a["duplicate_count"]) for a in await alerts(server)] == [(SHOP, 1), (API, 1)]

    status, body = await post_json(server, path, payload("resolved"), key=key)
    assert status == 200
    assert outcomes(body) == [(SHOP, "resolved")]
    assert [(a["dedup_key"], a["status"]) for a in await alerts(server)] == [
        (SHOP, "resolved"),
        (API, "triggered"),
    ]

    status, body = await post_json(server, path, payload("firing"), key=key)
    assert outcomes(body) == [(SHOP, "created"), (API, "duplicate")]
    assert [(a["dedup_key"], a["status"], a["duplicate_count"]) for a in await alerts(server)] == [
        (SHOP, "resolved", 1),
        (SHOP, "triggered", 0),
        (API, "triggered", 2),
    ]


async def test_an_entry_without_fingerprint_is_keyed_by_its_labels_in_any_order(server):
    _, key = await server.integration("alertmanager")
    group = payload("firing")
    entry = group["alerts"][0]
    del entry["fingerprint"], entry["annotations"]
    group["alerts"] = [entry]
    reordered = copy.deepcopy(group)
    reordered["alerts"][0]["labels"] = dict(reversed(list(entry["labels"].items())))

    _, first = await post_json(server, PATHS[0], group, key=key)
    _, second = await post_json(server, PATHS[0], reordered, key=key)

    assert first["alerts"][0]["outcome"] == "created"
    assert second["alerts"][0]["outcome"] == "duplicate"
    (row,) = await alerts(server)
    assert row["dedup_key"].startswith("labels:")
    assert row["dedup_key"] == first["alerts"][0]["dedup_key"]
    assert row["summary"] == "ProbeFailure"  # labels.alertname, the last resort
    assert row["duplicate_count"] == 1


def _broken(change) -> dict[str, Any]:
    doc = payload("firing")
    change(doc)
    return doc


BAD_INPUT = [
    pytest.param(b'{"alerts": [', "application/json", 400, "invalid_json", "JSON", id="malformed-json"),
    pytest.param(
        json.dumps(payload("firing")).encode(),
        "text/plain",
        415,
        "unsupported_media_type",
        "text/plain",
        id="wrong-content-type",
    ),
    pytest.param(b"", "application/json", 400, "empty_body", "empty", id="empty-body"),
    pytest.param(b"[]", "application/json", 400, "invalid_type", "object", id="not-an-object"),
    pytest.param(_broken(lambda d: d.pop("alerts")), None, 400, "missing_field", "'alerts'", id="no-alerts"),
    pytest.param(
        _broken(lambda d: d.update(alerts={"a": 1})),
        None,
        400,
        "invalid_type",
        "'alerts'",
        id="alerts-not-array",
    ),
    pytest.param(
        _broken(lambda d: d["alerts"].__setitem__(1, "firing")),
        None,
        400,
        "invalid_type",
        "'alerts[1]'",
        id="entry-not-object",
    ),
    pytest.param(
        _broken(lambda d: d["alerts"][1]["labels"].update(severity=2)),
        None,
        400,
        "invalid_type",
        "'alerts[1].labels.severity'",
        id="label-not-string",
    ),
    pytest.param(
        _broken(lambda d: d["alerts"][0].update(status="pending")),
        None,
        400,
        "invalid_value",
        "'alerts[0].status'",
        id="unknown-status",
    ),
    pytest.param(
        _broken(lambda d: d["alerts"][0].update(startsAt="yesterday")),
        None,
        400,
        "invalid_value",
        "'alerts[0].startsAt'",
        id="bad-timestamp",
    ),
    pytest.param(
        _broken(lambda d: d.update(truncatedAlerts="0")),
        None,
        400,
        "invalid_type",
        "'truncatedAlerts'",
        id="truncated-not-integer",
    ),
    pytest.param(
        _broken(lambda d: d.update(truncatedAlerts=-3)),
        None,
        400,
        "invalid_value",
        "'truncatedAlerts'",
        id="truncated-negative",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "status", "error", "mentions"), BAD_INPUT)
async def test_bad_input_is_refused_with_a_json_error_and_nothing_stored(
    server, body, content_type, status, error, mentions
):
    _, key = await server.integration("alertmanager")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    got_status, got = await post_json(
        server, PATHS[0], raw=raw, key=key, content_type=content_type or "application/json"
    )

    assert got_status == status
    assert got["error"] == error
    assert mentions in got["detail"]
    assert await alerts(server) == []


async def test_the_key_may_come_as_bearer_or_token_and_must_belong_to_an_alertmanager_integration(server):
    _, key = await server.integration("alertmanager")
    _, generic_key = await server.integration("generic")
    firing = payload("firing")

    assert (await post_json(server, PATHS[1], firing, params={"token": key}))[0] == 200
    assert (await post_json(server, PATHS[0], firing, key=key))[0] == 200

    for attempt, expected in (
        ({"key": generic_key}, 403),
        ({"params": {"token": generic_key}}, 403),
        ({"key": "not-a-key"}, 401),
        ({}, 401),
    ):
        got_status, got = await post_json(server, PATHS[0], payload("resolved"), **attempt)
        assert (got_status, sorted(got)) == (expected, ["detail", "error"]), attempt
    # only the two accepted posts left a trace: one alert per entry, each repeated once
    assert [(a["status"], a["duplicate_count"]) for a in await alerts(server)] == [("triggered", 1)] * 2
