"""The generic source: GoAlert's generic API, so GoAlert senders work unchanged."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest
from fixtures import webhooks
from fixtures.webhooks import post, stored_alerts

PATHS = ["/api/v1/webhooks/generic", "/api/v2/generic/incoming"]
JSON_ACCEPT = {"Accept": "application/json"}


def payload(name: str) -> dict[str, Any]:
    return webhooks.payload("generic", name)


async def alerts(server) -> list[dict[str, Any]]:
    return await stored_alerts(server)


@pytest.mark.parametrize("path", PATHS)
async def test_a_json_call_is_answered_204_and_stores_the_alert(server, path):
    _, key = await server.integration("generic")

    status, body = await post(server, path, json=payload("alert"), headers={"Authorization": f"Bearer {key}"})

    assert (status, body) == (204, None)
    (row,) = await alerts(server)
    assert row == {
        "dedup_key": "db-1-disk",
        "status": "triggered",
        "summary": "Disk full on db-1",
        "details": "/var is 98% used.\n\nSee https://runbooks.example.org/disk-full",
        "severity": "critical",  # GoAlert pages for every generic alert
        "labels": {"host": "db-1", "team": "storage"},
        "annotations": {},
        "duplicate_count": 0,
    }


@pytest.mark.parametrize("path", PATHS)
async def test_with_accept_json_the_answer_says_whether_the_alert_is_new_through_close_and_reopen(
    server, path
):
    _, key = await server.integration("generic")
    auth = {"Authorization": f"Bearer {key}", **JSON_ACCEPT}

    status, first = await post(server, path, json=payload("alert"), headers=auth)
    assert status == 200
    assert first["IsNew"] is True
    assert isinstance(first["AlertID"], int)

    _, repeat = await post(server, path, json=payload("alert"), headers=auth)
    assert (repeat["AlertID"], repeat["IsNew"], repeat["outcome"]) == (first["AlertID"], False, "duplicate")

    _, closed = await post(server, path, json={"dedup": "db-1-disk", "action": "close"}, headers=auth)
    assert (closed["AlertID"], closed["IsNew"], closed["outcome"]) == (first["AlertID"], False, "resolved")

    _, reopened = await post(server, path, json=payload("alert"), headers=auth)
    assert reopened["IsNew"] is True
    assert reopened["AlertID"] != first["AlertID"]
    assert [(a["status"], a["duplicate_count"]) for a in await alerts(server)] == [
        ("resolved", 1),
        ("triggered", 0),
    ]


async def test_goalerts_documented_curl_calls_work_and_the_key_defaults_to_a_hash_of_summary_and_details(
    server,
):
    _, key = await server.integration("generic")
    path = PATHS[1]

    # curl -XPOST https://…/api/v2/generic/incoming?token=key-here&summary=test&details=test
    query = {"token": key, "summary": "test", "details": "test"}
    assert (await post(server, path, params=query))[0] == 204
    assert (await post(server, path, params=query))[0] == 204
    (row,) = await alerts(server)
    assert row["dedup_key"] == "auto:1:" + hashlib.sha512(b"test\ntest").hexdigest()
    assert row["duplicate_count"] == 1

    # closing without dedup closes the alert with the same summary and details
    assert (await post(server, path, params={**query, "action": "close"}))[0] == 204
    assert [a["status"] for a in await alerts(server)] == ["resolved"]

    # curl -XPOST …?token=key-here&summary=test&dedup=disk-check
    await post(server, path, params={"token": key, "summary": "test", "dedup": "disk-check"})
    assert [(a["dedup_key"], a["status"]) for a in await alerts(server)][-1] == ("disk-check", "triggered")


async def test_a_form_body_wins_over_the_query_and_may_repeat_meta(server):
    _, key = await server.integration("generic")
    form = [("summary", "from the form"), ("meta", "host=db-1"), ("meta", "team=storage"), ("dedup", "f1")]

    status, _ = await post(server, PATHS[0], params={"token": key, "summary": "from the query"}, data=form)

    assert status == 204
    (row,) = await alerts(server)
    assert (row["summary"], row["dedup_key"]) == ("from the form", "f1")
    assert row["labels"] == {"host": "db-1", "team": "storage"}


async def test_meta_may_repeat_in_the_query_string_too(server):
    _, key = await server.integration("generic")
    params = [("token", key), ("summary", "disk"), ("meta", "host=db-1"), ("meta", "team=storage")]

    status, _ = await post(server, PATHS[0], params=params)

    assert status == 204
    (row,) = await alerts(server)
    assert row["labels"] == {"host": "db-1", "team": "storage"}


async def test_multipart_forms_and_json_field_names_in_any_case_are_read_as_goalert_reads_them(server):
    _, key = await server.integration("generic")
    fields = (("token", key), ("summary", "Backup failed"), ("details", "exit 3"), ("dedup", "m1"))
    multipart = aiohttp.FormData(fields, default_to_multipart=True)  # as curl -F sends it

    assert (await post(server, PATHS[1], data=multipart))[0] == 204
    json_body = {"Summary": "Queue stuck\non  worker-3", "Dedup": "j1", "Meta": {"queue": "emails"}}
    assert (await post(server, PATHS[1], params={"token": key}, json=json_body))[0] == 204

    assert [(a["summary"], a["details"], a["dedup_key"], a["labels"]) for a in await alerts(server)] == [
        ("Backup failed", "exit 3", "m1", {}),
        ("Queue stuck on worker-3", "", "j1", {"queue": "emails"}),  # the summary is one line
    ]


@pytest.mark.parametrize(
    ("how", "call"),
    [
        ("bearer", lambda key: {"headers": {"Authorization": f"Bearer {key}"}, "json": {"summary": "s"}}),
        ("query token", lambda key: {"params": {"token": key}, "json": {"summary": "s"}}),
        ("query integrationKey", lambda key: {"params": {"integrationKey": key, "summary": "s"}}),
        ("json token", lambda key: {"json": {"summary": "s", "token": key}}),
        ("json integrationKey", lambda key: {"json": {"summary": "s", "integrationKey": key}}),
        ("form token", lambda key: {"data": {"summary": "s", "token": key}}),
    ],
)
async def test_the_key_is_accepted_wherever_goalert_senders_put_it_and_never_stored(server, how, call):
    _, key = await server.integration("generic")

    status, _ = await post(server, PATHS[1], **call(key))

    assert status == 204, how
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT raw::text AS raw FROM alerting.alerts")
        (row,) = await cur.fetchall()
    assert key not in row["raw"]


async def test_a_key_of_another_source_is_forbidden_and_a_missing_or_unknown_key_unauthorized(server):
    _, alertmanager_key = await server.integration("alertmanager")

    for call, expected in (
        ({"params": {"token": alertmanager_key}}, 403),
        ({"json": {"summary": "s", "token": alertmanager_key}}, 403),
        ({"params": {"integrationKey": "not-a-key"}}, 401),
        ({}, 401),
    ):
        status, body = await post(server, PATHS[1], **{"json": {"summary": "s"}, **call})
        assert (status, sorted(body)) == (expected, ["detail", "error"]), call
    assert await alerts(server) == []


BAD_INPUT = [
    pytest.param(
        {"data": b'{"summary": "x"', "headers": {"Content-Type": "application/json"}},
        400,
        "invalid_json",
        "JSON",
        id="malformed-json",
    ),
    pytest.param(
        {"data": b"<alert><summary>x</summary></alert>", "headers": {"Content-Type": "application/xml"}},
        415,
        "unsupported_media_type",
        "application/xml",
        id="wrong-content-type",
    ),
    pytest.param(
        {"json": {"details": "no summary"}}, 400, "missing_field", "'summary'", id="missing-summary"
    ),
    pytest.param(
        {"json": {"action": "close"}}, 400, "missing_field", "'summary'", id="close-without-anything"
    ),
    pytest.param({"json": {"summary": 42}}, 400, "invalid_type", "'summary'", id="summary-not-string"),
    pytest.param(
        {"json": {"summary": "s", "dedup": ["a"]}}, 400, "invalid_type", "'dedup'", id="dedup-not-string"
    ),
    pytest.param(
        {"json": {"summary": "s", "meta": {"host": 1}}},
        400,
        "invalid_type",
        "'meta.host'",
        id="meta-value-not-string",
    ),
    pytest.param(
        {"json": {"summary": "s", "meta": "host"}}, 400, "invalid_type", "'meta'", id="meta-not-object"
    ),
    pytest.param(
        {"data": {"summary": "s", "meta": "no-equals-sign"}},
        400,
        "invalid_value",
        "'meta'",
        id="form-meta-without-value",
    ),
    pytest.param(
        {"json": {"summary": "s", "action": "resolve"}}, 400, "invalid_value", "'action'", id="unknown-action"
    ),
]


@pytest.mark.parametrize(("call", "status", "error", "mentions"), BAD_INPUT)
async def test_bad_input_is_refused_with_a_json_error_and_nothing_stored(
    server, call, status, error, mentions
):
    _, key = await server.integration("generic")

    got_status, got = await post(server, PATHS[0], params={"token": key}, **call)

    assert got_status == status
    assert got["error"] == error
    assert mentions in got["detail"]
    assert await alerts(server) == []
