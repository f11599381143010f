"""Ingest through the real HTTP server and the group-commit Ingestor, checked in the database.

Deduplication under concurrency, the order of events within one batch, what is stored
(raw payload, labels, annotations), and that a webhook's 2xx means its alert is committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import psycopg
import pytest
from conftest import run_server, server_settings
from oncall_hookspecs import Action, AlertEvent, IngestOutcome
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from oncall.alerting import store
from oncall.alerting.models import AlertFilter

WEBHOOK = "/api/v1/webhooks/generic"


async def post_generic(
    http: aiohttp.ClientSession, base_url: str, key: str, doc: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """One GoAlert-style generic webhook; returns (status, JSON body)."""
    async with http.post(
        base_url + WEBHOOK,
        json=doc,
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
    ) as r:
        return r.status, await r.json()


async def rows(pool: Any, query: str, *params: Any) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall()


# What ingest writes to the timeline; the engine adds its own kinds (routed …) as it works.
INGEST_KINDS = ["created", "duplicate", "acknowledged", "resolved"]


async def event_kinds(pool: Any, alert_id: int) -> list[str]:
    """The alert's timeline as ingest wrote it, oldest first."""
    found = await rows(
        pool,
        "SELECT kind FROM alerting.alert_events WHERE alert_id = %s AND kind = ANY(%s) ORDER BY id",
        alert_id,
        INGEST_KINDS,
    )
    return [r["kind"] for r in found]


def unlimited_session() -> aiohttp.ClientSession:
    # no client-side connection cap: every request is really in flight at once
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


# --------------------------------------------------------------------------- deduplication


async def test_fifty_identical_webhooks_at_once_make_one_alert_with_49_duplicates(server):
    _, key = await server.integration("generic")
    doc = {"summary": "Disk full on db-1", "details": "/var at 98%", "dedup": "db-1-disk"}
    async with unlimited_session() as http:
        answers = await asyncio.gather(*(post_generic(http, server.http_url, key, doc) for _ in range(50)))

    assert [status for status, _ in answers] == [200] * 50
    outcomes = sorted(body["outcome"] for _, body in answers)
    assert outcomes == ["created"] + ["duplicate"] * 49
    assert len({body["AlertID"] for _, body in answers}) == 1

    alerts = await rows(server.ctx.pool, "SELECT id, status, duplicate_count, summary FROM alerting.alerts")
    assert len(alerts) == 1
    [alert] = alerts
    assert (alert["status"], alert["duplicate_count"], alert["summary"]) == ("triggered", 49, "Disk full on db-1")
    kinds = await event_kinds(server.ctx.pool, alert["id"])
    assert kinds[0] == "created"
    assert sorted(kinds) == ["created"] + ["duplicate"] * 49


async def test_long_dedup_keys_that_share_their_first_512_characters_stay_two_alerts(server):
    """A key past the stored length keeps a readable start and the digest of all of it: two
    keys that differ only at the end are two alerts, and each resolves only itself."""
    _, key = await server.integration("generic")
    common = "k8s/" + "x" * 600
    async with unlimited_session() as http:
        for suffix in ("a", "b"):
            status, body = await post_generic(http, server.http_url, key, {"summary": suffix, "dedup": common + suffix})
            assert (status, body["outcome"]) == (200, "created")
        status, body = await post_generic(http, server.http_url, key, {"summary": "a", "dedup": common + "a"})
        assert body["outcome"] == "duplicate"
        status, body = await post_generic(http, server.http_url, key,
                                          {"summary": "a", "dedup": common + "a", "action": "close"})
        assert (status, body["outcome"]) == (200, "resolved")
    alerts = await rows(server.ctx.pool, "SELECT summary, status, dedup_key FROM alerting.alerts ORDER BY id")
    assert [(a["summary"], a["status"]) for a in alerts] == [("a", "resolved"), ("b", "triggered")]
    assert all(len(a["dedup_key"]) <= 512 and a["dedup_key"].startswith("k8s/xxx") for a in alerts)
    assert alerts[0]["dedup_key"] != alerts[1]["dedup_key"]


async def test_twenty_distinct_keys_at_once_make_twenty_alerts(server):
    _, key = await server.integration("generic")
    async with unlimited_session() as http:
        docs = [{"summary": f"host-{i} down", "dedup": f"host-{i}"} for i in range(20)]
        answers = await asyncio.gather(*(post_generic(http, server.http_url, key, doc) for doc in docs))
    assert all(status == 200 and body["outcome"] == "created" for status, body in answers)

    alerts = await rows(server.ctx.pool, "SELECT dedup_key, status, duplicate_count FROM alerting.alerts")
    assert sorted(a["dedup_key"] for a in alerts) == sorted(f"host-{i}" for i in range(20))
    assert {(a["status"], a["duplicate_count"]) for a in alerts} == {("triggered", 0)}
    events = await rows(
        server.ctx.pool,
        "SELECT kind, count(*) AS n FROM alerting.alert_events WHERE kind = ANY(%s) GROUP BY kind",
        INGEST_KINDS,
    )
    assert events == [{"kind": "created", "n": 20}]


async def test_a_resolved_alert_is_not_reopened_the_same_key_starts_a_new_alert(server):
    integration_id, key = await server.integration("generic")
    async with aiohttp.ClientSession() as http:
        status, first = await post_generic(http, server.http_url, key, {"summary": "api 5xx", "dedup": "api-5xx"})
        assert (status, first["outcome"]) == (200, "created")
        status, closed = await post_generic(http, server.http_url, key, {"dedup": "api-5xx", "action": "close"})
        assert (status, closed["outcome"], closed["AlertID"]) == (200, "resolved", first["AlertID"])
        status, again = await post_generic(http, server.http_url, key, {"summary": "api 5xx again", "dedup": "api-5xx"})
        assert (status, again["outcome"]) == (200, "created")

    assert again["AlertID"] != first["AlertID"]
    alerts = await rows(
        server.ctx.pool,
        """SELECT id, status, summary, resolved_at IS NOT NULL AS has_resolved_at, resolved_by
           FROM alerting.alerts ORDER BY id""",
    )
    assert alerts == [
        {"id": first["AlertID"], "status": "resolved", "summary": "api 5xx", "has_resolved_at": True,
         "resolved_by": f"integration:{integration_id}"},
        {"id": again["AlertID"], "status": "triggered", "summary": "api 5xx again", "has_resolved_at": False,
         "resolved_by": None},
    ]  # fmt: skip
    assert await event_kinds(server.ctx.pool, first["AlertID"]) == ["created", "resolved"]
    assert await event_kinds(server.ctx.pool, again["AlertID"]) == ["created"]


async def test_the_same_dedup_key_on_two_integrations_makes_two_alerts(server):
    _, key_a = await server.integration("generic", "team-a")
    _, key_b = await server.integration("generic", "team-b")
    async with aiohttp.ClientSession() as http:
        _, a = await post_generic(http, server.http_url, key_a, {"summary": "cpu", "dedup": "cpu-high"})
        _, b = await post_generic(http, server.http_url, key_b, {"summary": "cpu", "dedup": "cpu-high"})
    assert (a["outcome"], b["outcome"]) == ("created", "created")
    assert a["AlertID"] != b["AlertID"]


async def test_a_close_for_a_key_with_no_open_alert_is_ignored_and_writes_nothing(server):
    _, key = await server.integration("generic")
    async with aiohttp.ClientSession() as http:
        status, body = await post_generic(http, server.http_url, key, {"dedup": "never-raised", "action": "close"})
    assert (status, body["outcome"], body["AlertID"]) == (200, "ignored", None)
    assert await rows(server.ctx.pool, "SELECT id FROM alerting.alerts") == []
    assert await rows(server.ctx.pool, "SELECT id FROM alerting.alert_events") == []


async def test_the_database_itself_refuses_a_second_open_alert_for_a_key(server):
    integration_id, _ = await server.integration("generic")
    # every alert belongs to an incident (checked at commit), so each row brings its own
    insert = """WITH a AS (INSERT INTO alerting.alerts (integration_id, dedup_key, status, summary)
                           VALUES (%s, 'k', %s, 'x') RETURNING id, incident_id, integration_id)
                INSERT INTO alerting.incidents (id, integration_id, first_alert_id)
                SELECT incident_id, integration_id, id FROM a"""
    async with server.ctx.pool.connection() as conn:
        await conn.execute(insert, (integration_id, "resolved"))
        await conn.execute(insert, (integration_id, "resolved"))  # closed alerts may repeat
        await conn.execute(insert, (integration_id, "triggered"))
        with pytest.raises(psycopg.errors.UniqueViolation, match="alerts_one_open_per_key"):
            await conn.execute(insert, (integration_id, "acknowledged"))


# --------------------------------------------------------------------------- order within a batch


async def test_events_for_one_key_in_one_batch_apply_in_arrival_order(server):
    integration_id, _ = await server.integration("generic")
    ingestor = server.ctx.ingestor
    events = [
        AlertEvent(Action.TRIGGER, "db", summary="db down"),
        AlertEvent(Action.TRIGGER, "web", summary="web slow"),
        AlertEvent(Action.RESOLVE, "db"),
        AlertEvent(Action.ACKNOWLEDGE, "web"),
        AlertEvent(Action.TRIGGER, "db", summary="db down again"),
        AlertEvent(Action.TRIGGER, "web", summary="web still slow"),
        AlertEvent(Action.RESOLVE, "web"),
        AlertEvent(Action.RESOLVE, "web"),
    ]
    results = await ingestor.submit(integration_id, ingestor.prepare(events))

    assert [(r.dedup_key, r.outcome) for r in results] == [
        ("db", IngestOutcome.CREATED),
        ("web", IngestOutcome.CREATED),
        ("db", IngestOutcome.RESOLVED),
        ("web", IngestOutcome.ACKNOWLEDGED),
        ("db", IngestOutcome.CREATED),
        ("web", IngestOutcome.DUPLICATE),
        ("web", IngestOutcome.RESOLVED),
        ("web", IngestOutcome.IGNORED),
    ]
    db_first, web, _, _, db_second = (r.alert_id for r in results[:5])
    assert results[2].alert_id == db_first and db_second != db_first

    alerts = await rows(
        server.ctx.pool,
        """SELECT id, dedup_key, status, summary, duplicate_count AS dups, acknowledged_at IS NOT NULL AS acked
           FROM alerting.alerts ORDER BY id""",
    )
    assert alerts == [
        {"id": db_first, "dedup_key": "db", "status": "resolved", "summary": "db down", "dups": 0, "acked": False},
        {"id": web, "dedup_key": "web", "status": "resolved", "summary": "web slow", "dups": 1, "acked": True},
        {"id": db_second, "dedup_key": "db", "status": "triggered", "summary": "db down again", "dups": 0, "acked": False},
    ]  # fmt: skip
    assert await event_kinds(server.ctx.pool, web) == ["created", "acknowledged", "duplicate", "resolved"]


async def test_two_webhooks_committed_in_one_batch_apply_in_submission_order(server):
    integration_id, _ = await server.integration("generic")
    ingestor = server.ctx.ingestor
    # both are queued before the writer runs, so they share a transaction
    opened, closed = await asyncio.gather(
        ingestor.submit(integration_id, ingestor.prepare([AlertEvent(Action.TRIGGER, "k", summary="s")])),
        ingestor.submit(integration_id, ingestor.prepare([AlertEvent(Action.RESOLVE, "k")])),
    )
    assert opened[0].outcome == IngestOutcome.CREATED
    assert (closed[0].outcome, closed[0].alert_id) == (IngestOutcome.RESOLVED, opened[0].alert_id)
    assert await rows(server.ctx.pool, "SELECT status FROM alerting.alerts") == [{"status": "resolved"}]


async def test_an_acknowledge_event_acknowledges_and_a_repeat_trigger_keeps_it_acknowledged(server):
    integration_id, _ = await server.integration("generic")
    ingestor = server.ctx.ingestor
    [created] = await ingestor.submit(integration_id, ingestor.prepare([AlertEvent(Action.TRIGGER, "k", summary="s")]))
    [acked] = await ingestor.submit(integration_id, ingestor.prepare([AlertEvent(Action.ACKNOWLEDGE, "k")]))
    [again] = await ingestor.submit(integration_id, ingestor.prepare([AlertEvent(Action.TRIGGER, "k", summary="s")]))
    [ack_unknown] = await ingestor.submit(integration_id, ingestor.prepare([AlertEvent(Action.ACKNOWLEDGE, "nope")]))

    assert (acked.outcome, acked.alert_id) == (IngestOutcome.ACKNOWLEDGED, created.alert_id)
    assert (again.outcome, again.alert_id) == (IngestOutcome.DUPLICATE, created.alert_id)
    assert (ack_unknown.outcome, ack_unknown.alert_id) == (IngestOutcome.IGNORED, None)
    alert = await store.get_alert(server.ctx.pool, created.alert_id)
    assert (alert.status, alert.acknowledged_by, alert.duplicate_count) == (
        "acknowledged", f"integration:{integration_id}", 1
    )
    assert alert.acknowledged_at is not None
    assert await event_kinds(server.ctx.pool, created.alert_id) == ["created", "acknowledged", "duplicate"]


# --------------------------------------------------------------------------- what is stored


async def test_labels_and_annotations_are_stored_as_jsonb_and_found_with_containment(server):
    integration_id, key = await server.integration("generic")
    async with aiohttp.ClientSession() as http:
        for host, env in (("db-1", "prod"), ("db-2", "staging")):
            status, _ = await post_generic(
                http, server.http_url, key,
                {"summary": f"{host} down", "dedup": host, "meta": {"env": env, "host": host, "team": "storage"}},
            )  # fmt: skip
            assert status == 200
    ingestor = server.ctx.ingestor
    await ingestor.submit(
        integration_id,
        ingestor.prepare([
            AlertEvent(
                Action.TRIGGER, "api", summary="api slow",
                labels={"env": "prod", "port": 8443},  # type: ignore[dict-item]  # a plugin's sloppy label value
                annotations={"runbook": "https://runbooks/api", "dashboards": [{"uid": "abc", "panel": 3}]},
            )
        ]),
    )  # fmt: skip

    found = await rows(
        server.ctx.pool,
        "SELECT dedup_key FROM alerting.alerts WHERE labels @> %s ORDER BY dedup_key",
        Jsonb({"env": "prod"}),
    )
    assert [r["dedup_key"] for r in found] == ["api", "db-1"]
    found = await rows(
        server.ctx.pool, "SELECT dedup_key FROM alerting.alerts WHERE annotations @> %s",
        Jsonb({"dashboards": [{"uid": "abc"}]}),
    )  # fmt: skip
    assert [r["dedup_key"] for r in found] == ["api"]
    types = await rows(
        server.ctx.pool,
        "SELECT DISTINCT jsonb_typeof(labels) AS l, jsonb_typeof(annotations) AS a FROM alerting.alerts",
    )
    assert types == [{"l": "object", "a": "object"}]
    [api] = await rows(server.ctx.pool, "SELECT labels FROM alerting.alerts WHERE dedup_key = 'api'")
    assert api["labels"] == {"env": "prod", "port": "8443"}  # label values are always strings

    page, _ = await store.list_alerts(server.ctx.pool, AlertFilter(labels={"team": "storage", "env": "staging"}))
    assert [a.dedup_key for a in page] == ["db-2"]


async def test_the_raw_payload_is_stored_without_the_integration_key(server):
    _, key = await server.integration("generic")
    doc = {"summary": "queue backlog", "details": "12000 mails waiting", "dedup": "q", "token": key}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.http_url + WEBHOOK, json=doc) as r:  # key in the body, GoAlert style
            assert r.status == 204
    [alert] = await rows(server.ctx.pool, "SELECT raw, raw::text AS text FROM alerting.alerts")
    assert alert["raw"] == {"summary": "queue backlog", "details": "12000 mails waiting", "dedup": "q"}
    assert key not in alert["text"]


@pytest.mark.parametrize(
    "filler",
    [
        pytest.param("x", id="ascii"),
        pytest.param('"\\', id="characters-json-escapes"),
        pytest.param("é☃", id="multibyte-utf8"),
    ],
)
async def test_a_large_raw_payload_is_stored_truncated_within_the_configured_cap(db_url, filler):
    cap = 2000
    async with run_server(server_settings(db_url, raw_payload_max_bytes=cap)) as server:
        _, key = await server.integration("generic")
        doc = {"summary": "big", "dedup": "big", "details": filler * 20_000}
        async with aiohttp.ClientSession() as http:
            status, _ = await post_generic(http, server.http_url, key, doc)
        assert status == 200
        [alert] = await rows(
            server.ctx.pool, "SELECT raw, octet_length(raw::text) AS stored_bytes, summary FROM alerting.alerts"
        )
    assert alert["summary"] == "big"  # the alert itself is whole; only the reference copy is cut
    assert alert["raw"]["truncated"] is True
    assert alert["raw"]["bytes"] >= len(doc["details"])
    assert '"summary":"big"' in alert["raw"]["head"]
    # the cap bounds what is stored; a little room for the {"truncated", "bytes", "head"} wrapper
    assert alert["stored_bytes"] <= cap + 100


# --------------------------------------------------------------------------- 2xx means committed


async def test_every_2xx_answer_is_already_committed_when_it_arrives(server, db_url):
    _, key = await server.integration("generic")

    async def post_then_look(http: aiohttp.ClientSession, i: int) -> tuple[int, list[dict[str, Any]]]:
        status, _ = await post_generic(http, server.http_url, key, {"summary": f"s{i}", "dedup": f"k{i}"})
        # a connection of our own, not the server's pool: it sees only committed data
        async with await psycopg.AsyncConnection.connect(db_url, row_factory=dict_row) as conn:
            cur = await conn.execute(
                """SELECT a.summary, e.kind FROM alerting.alerts a
                   JOIN alerting.alert_events e ON e.alert_id = a.id
                   WHERE a.dedup_key = %s AND e.kind = 'created'""",
                (f"k{i}",),
            )
            return status, await cur.fetchall()

    async with unlimited_session() as http:
        seen = await asyncio.gather(*(post_then_look(http, i) for i in range(20)))
    for i, (status, found) in enumerate(seen):
        assert status == 200
        assert found == [{"summary": f"s{i}", "kind": "created"}]
