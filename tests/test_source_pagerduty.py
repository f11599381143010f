"""The pagerduty source: PagerDuty Events API v2 alert events, keyed by routing_key, answered 202."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures import webhooks
from fixtures.webhooks import post_json, stored_alerts

PATHS = ["/api/v1/webhooks/pagerduty", "/v2/enqueue"]
DEDUP = "prod-datapipe03/disk"


def event(name: str, routing_key: str | None = None) -> dict[str, Any]:
    doc = webhooks.payload("pagerduty", name)
    if routing_key is None:
        del doc["routing_key"]
    else:
        doc["routing_key"] = routing_key
    return doc


async def alerts(server) -> list[dict[str, Any]]:
    return await stored_alerts(server, "started_at", "raw::text AS raw")


def accepted(dedup_key: str) -> dict[str, str]:
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


@pytest.mark.parametrize("path", PATHS)
async def test_a_trigger_is_answered_202_like_pagerduty_and_stores_the_alert(server, path):
    _, key = await server.integration("pagerduty")

    status, body = await post_json(server, path, event("trigger", key))

    assert (status, body) == (202, accepted(DEDUP))
    (row,) = await alerts(server)
    assert row["dedup_key"] == DEDUP
    assert row["status"] == "triggered"
    assert row["summary"] == "DISK at 99% on machine prod-datapipe03.example.com"
    assert row["details"] == "free space: 1%\nping time: 1500ms\nload avg: 0.75"
    assert row["severity"] == "critical"
    assert row["labels"] == {
        "source": "prod-datapipe03.example.com",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
    }
    assert row["annotations"] == {
        "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
        "links": [{"href": "https://runbooks.example.com/disk-full", "text": "Runbook: disk full"}],
        "images": [
            {
                "src": "https://monitoring.example.com/graphs/disk-prod-datapipe03.png",
                "href": "https://monitoring.example.com/hosts/prod-datapipe03",
                "alt": "Disk usage on prod-datapipe03",
            }
        ],
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }
    assert row["duplicate_count"] == 0
    assert row["started_at"] == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert key not in row["raw"]  # the routing key is a credential


@pytest.mark.parametrize("path", PATHS)
async def test_repeat_acknowledge_resolve_and_a_trigger_after_resolve_follow_pagerduty(server, path):
    _, key = await server.integration("pagerduty")

    await post_json(server, path, event("trigger", key))
    assert await post_json(server, path, event("trigger", key)) == (202, accepted(DEDUP))
    assert [(a["status"], a["duplicate_count"]) for a in await alerts(server)] == [("triggered", 1)]

    assert await post_json(server, path, event("acknowledge", key)) == (202, accepted(DEDUP))
    assert [a["status"] for a in await alerts(server)] == ["acknowledged"]

    assert await post_json(server, path, event("resolve", key)) == (202, accepted(DEDUP))
    assert [a["status"] for a in await alerts(server)] == ["resolved"]

    # PagerDuty: once resolved, a trigger with the same dedup_key opens a new alert
    assert await post_json(server, path, event("trigger", key)) == (202, accepted(DEDUP))
    assert [(a["dedup_key"], a["status"]) for a in await alerts(server)] == [
        (DEDUP, "resolved"),
        (DEDUP, "triggered"),
    ]


async def test_a_trigger_without_dedup_key_gets_a_new_key_each_time_which_resolves_it(server):
    _, key = await server.integration("pagerduty")
    trigger = event("trigger", key)
    del trigger["dedup_key"]

    _, first = await post_json(server, PATHS[1], trigger)
    _, second = await post_json(server, PATHS[1], trigger)

    assert first["dedup_key"] and second["dedup_key"] and first["dedup_key"] != second["dedup_key"]
    resolve = {**event("resolve", key), "dedup_key": first["dedup_key"]}
    assert await post_json(server, PATHS[1], resolve) == (202, accepted(first["dedup_key"]))
    assert [(a["dedup_key"], a["status"]) for a in await alerts(server)] == [
        (first["dedup_key"], "resolved"),
        (second["dedup_key"], "triggered"),
    ]


async def test_acknowledge_or_resolve_of_an_unknown_key_is_accepted_and_changes_nothing(server):
    _, key = await server.integration("pagerduty")

    for name in ("acknowledge", "resolve"):
        assert await post_json(server, PATHS[1], event(name, key)) == (202, accepted(DEDUP))
    assert await alerts(server) == []


def _changed(change) -> dict[str, Any]:
    doc = event("trigger", None)
    change(doc)
    return doc


BAD_EVENTS = [
    pytest.param(
        _changed(lambda d: d.pop("event_action")), "missing_field", "'event_action'", id="no-action"
    ),
    pytest.param(
        _changed(lambda d: d.update(event_action="escalate")),
        "invalid_value",
        "'event_action'",
        id="unknown-action",
    ),
    pytest.param(
        _changed(lambda d: d.pop("payload")), "missing_field", "'payload'", id="trigger-without-payload"
    ),
    pytest.param(
        _changed(lambda d: d["payload"].pop("source")),
        "missing_field",
        "'payload.source'",
        id="trigger-without-source",
    ),
    pytest.param(
        _changed(lambda d: d["payload"].update(summary="   ")),
        "missing_field",
        "'payload.summary'",
        id="blank-summary",
    ),
    pytest.param(
        _changed(lambda d: d["payload"].update(summary="x" * 1025)),
        "invalid_value",
        "1024",
        id="summary-over-1024",
    ),
    pytest.param(
        _changed(lambda d: d["payload"].update(severity="fatal")),
        "invalid_value",
        "'payload.severity'",
        id="unknown-severity",
    ),
    pytest.param(
        _changed(lambda d: d["payload"].update(summary=["disk"])),
        "invalid_type",
        "'payload.summary'",
        id="summary-not-string",
    ),
    pytest.param(
        _changed(lambda d: d["payload"].update(timestamp="last tuesday")),
        "invalid_value",
        "'payload.timestamp'",
        id="bad-timestamp",
    ),
    pytest.param(
        _changed(lambda d: d.update(dedup_key="k" * 256)), "invalid_value", "255", id="dedup-key-over-255"
    ),
    pytest.param(
        _changed(lambda d: d.update(dedup_key=7)), "invalid_type", "'dedup_key'", id="dedup-key-not-string"
    ),
    pytest.param(
        _changed(lambda d: d["links"][0].pop("href")),
        "missing_field",
        "'links[0].href'",
        id="link-without-href",
    ),
    pytest.param(
        _changed(lambda d: d.update(images={"src": "x"})), "invalid_type", "'images'", id="images-not-array"
    ),
    pytest.param({"event_action": "resolve"}, "missing_field", "'dedup_key'", id="resolve-without-dedup-key"),
    pytest.param(
        {"event_action": "acknowledge", "dedup_key": ""},
        "missing_field",
        "'dedup_key'",
        id="acknowledge-with-blank-dedup-key",
    ),
]


@pytest.mark.parametrize(("body", "error", "mentions"), BAD_EVENTS)
async def test_an_invalid_event_is_refused_400_naming_the_field_and_nothing_stored(
    server, body, error, mentions
):
    _, key = await server.integration("pagerduty")

    status, got = await post_json(server, PATHS[1], {**body, "routing_key": key})

    assert status == 400
    assert got["error"] == error
    assert mentions in got["detail"]
    assert await alerts(server) == []


async def test_every_problem_of_an_event_is_reported_at_once(server):
    _, key = await server.integration("pagerduty")
    trigger = event("trigger", key)
    trigger["payload"].update(severity="sev1", summary="y" * 2000)
    del trigger["payload"]["source"]

    status, got = await post_json(server, PATHS[1], trigger)

    assert status == 400
    for field in ("'payload.summary'", "'payload.source'", "'payload.severity'"):
        assert field in got["detail"]


async def test_a_body_that_is_not_a_json_event_is_refused_and_nothing_stored(server):
    _, key = await server.integration("pagerduty")
    bearer = {"Authorization": f"Bearer {key}"}

    cases = [
        (b'{"routing_key": "', "application/json", {}, 400, "invalid_json"),
        (b'{"routing_key": "', "application/json", bearer, 400, "invalid_json"),
        (json.dumps(event("trigger", key)).encode(), "text/plain", {}, 415, "unsupported_media_type"),
        (b'["trigger"]', "application/json", bearer, 400, "invalid_type"),
    ]
    for raw, content_type, headers, status, error in cases:
        got_status, got = await post_json(server, PATHS[1], raw=raw, content_type=content_type, headers=headers)
        assert (got_status, got["error"]) == (status, error), raw
    assert await alerts(server) == []


async def test_the_key_travels_as_routing_key_bearer_or_token_and_must_be_a_pagerduty_integrations(server):
    _, key = await server.integration("pagerduty")
    _, generic_key = await server.integration("generic")
    no_key = event("trigger", None)

    assert (await post_json(server, PATHS[0], no_key, headers={"Authorization": f"Bearer {key}"}))[0] == 202
    assert (await post_json(server, PATHS[1], no_key, params={"token": key}))[0] == 202
    for body, expected in (
        (event("resolve", generic_key), 403),
        (event("resolve", "R0UT1NGKEY"), 401),
        (event("resolve", None), 401),
    ):
        status, got = await post_json(server, PATHS[1], body)
        assert (status, sorted(got)) == (expected, ["detail", "error"]), body.get("routing_key")
    assert [(a["status"], a["duplicate_count"]) for a in await alerts(server)] == [("triggered", 1)]
