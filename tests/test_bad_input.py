"""Bad and hostile webhooks: a 4xx with a JSON error naming the problem, nothing written, and
the server still serving. A client's mistake is never a 5xx.

Covers the generic source (GoAlert's generic API) fully, the core's authentication of
integration keys, the body limit, and input that PostgreSQL itself cannot store (NUL
characters, lone surrogates, numbers beyond 64 bits, deep nesting).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from conftest import run_server, server_settings
from oncall_hookspecs import Action, AlertEvent, IngestOutcome

from oncall.alerting import store
from oncall.alerting.ingest import Ingestor

WEBHOOK = "/api/v1/webhooks/generic"
VALID = {"summary": "Disk full on db-1", "dedup": "db-1-disk"}


@dataclass(frozen=True)
class Keys:
    generic: str
    generic_id: int
    alertmanager: str
    disabled: str


@pytest.fixture
async def keys(server) -> Keys:
    generic_id, generic = await server.integration("generic", "generic-ok")
    # the integration table doesn't need the plugin: a key of another source is enough
    _, alertmanager = await store.create_integration(server.ctx.pool, "alertmanager", "am")
    disabled_id, disabled = await server.integration("generic", "generic-off")
    async with server.ctx.pool.connection() as conn:
        await conn.execute("UPDATE alerting.integrations SET enabled = false WHERE id = %s", (disabled_id,))
    return Keys(generic, generic_id, alertmanager, disabled)


async def written(pool: Any) -> dict[str, int]:
    """Alerts, and the timeline events ingest writes (the engine adds others, such as 'routed')."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT (SELECT count(*) FROM alerting.alerts) AS alerts,
                      (SELECT count(*) FROM alerting.alert_events
                       WHERE kind IN ('created', 'duplicate', 'acknowledged', 'resolved')) AS events"""
        )
        return dict(await cur.fetchone())


async def nothing_written(pool: Any) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT NOT EXISTS (SELECT FROM alerting.alerts)
                  AND NOT EXISTS (SELECT FROM alerting.alert_events) AS empty"""
        )
        return (await cur.fetchone())["empty"]


async def assert_still_serving(http: aiohttp.ClientSession, base_url: str, key: str) -> None:
    """A valid webhook right after the bad one is accepted and stored."""
    async with http.post(base_url + WEBHOOK, json=VALID, headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 204, await r.text()


async def read_error(r: aiohttp.ClientResponse) -> dict[str, Any]:
    assert r.content_type == "application/json", await r.text()
    body = await r.json()
    assert set(body) == {"error", "detail"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Bad:
    """One bad request and the answer it must get."""

    body: bytes
    status: int
    error: str
    mentions: str  # the detail names the problem: a field, a value, a type
    content_type: str | None = "application/json"
    auth: str = "generic"  # which key: generic | none | unknown | alertmanager | disabled
    path: str = WEBHOOK
    method: str = "POST"


def js(doc: Any) -> bytes:
    return json.dumps(doc).encode()


BAD = {
    # the body
    "malformed-json": Bad(b'{"summary": "disk full"', 400, "invalid_json", "JSON"),
    "json-array": Bad(js([VALID]), 400, "invalid_type", "object"),
    "json-string": Bad(js("disk full"), 400, "invalid_type", "object"),
    "invalid-utf8-json": Bad(b'{"summary": "disk \xff\xfe full"}', 400, "invalid_json", "utf-8"),
    "invalid-utf8-form": Bad(
        b"summary=disk+\xff+full", 400, "invalid_encoding", "UTF-8", content_type="application/x-www-form-urlencoded"
    ),
    "integer-of-5000-digits": Bad(b'{"summary": "x", "n": ' + b"9" * 5000 + b"}", 400, "invalid_json", "too large"),
    "xml-content-type": Bad(b"<alert><summary>x</summary></alert>", 415, "unsupported_media_type", "application/xml",
                            content_type="application/xml"),
    # required fields and their types
    "missing-summary": Bad(js({"details": "no summary", "dedup": "k"}), 400, "missing_field", "summary"),
    "blank-summary": Bad(js({"summary": "  \n ", "dedup": "k"}), 400, "missing_field", "summary"),
    "empty-json-body": Bad(b"", 400, "missing_field", "summary"),
    "close-without-dedup": Bad(js({"action": "close"}), 400, "missing_field", "dedup"),
    "summary-number": Bad(js({"summary": 42}), 400, "invalid_type", "summary"),
    "summary-list": Bad(js({"summary": ["disk", "full"]}), 400, "invalid_type", "summary"),
    "summary-object": Bad(js({"summary": {"text": "disk full"}}), 400, "invalid_type", "summary"),
    "details-object": Bad(js({"summary": "x", "details": {"a": 1}}), 400, "invalid_type", "details"),
    "dedup-number": Bad(js({"summary": "x", "dedup": 7}), 400, "invalid_type", "dedup"),
    "action-boolean": Bad(js({"summary": "x", "action": True}), 400, "invalid_type", "action"),
    "action-unknown": Bad(js({"summary": "x", "action": "resolve"}), 400, "invalid_value", "action"),
    "meta-list": Bad(js({"summary": "x", "meta": ["env=prod"]}), 400, "invalid_type", "meta"),
    "meta-value-number": Bad(js({"summary": "x", "meta": {"port": 8443}}), 400, "invalid_type", "meta.port"),
    # who is asking
    "unknown-source": Bad(js(VALID), 404, "not_found", "nosuchsource", path="/api/v1/webhooks/nosuchsource"),
    "missing-key": Bad(js(VALID), 401, "unauthorized", "key", auth="none"),
    "unknown-key": Bad(js(VALID), 401, "unauthorized", "key", auth="unknown"),
    "key-of-another-source": Bad(js(VALID), 403, "forbidden", "alertmanager", auth="alertmanager"),
    "disabled-integration": Bad(js(VALID), 403, "forbidden", "disabled", auth="disabled"),
    "get-instead-of-post": Bad(b"", 405, "method_not_allowed", "method not allowed", method="GET"),
}  # fmt: skip


def _headers(case: Bad, keys: Keys) -> dict[str, str]:
    headers = {} if case.content_type is None else {"Content-Type": case.content_type}
    key = {
        "generic": keys.generic,
        "none": None,
        "unknown": "not-a-key-anyone-was-given",
        "alertmanager": keys.alertmanager,
        "disabled": keys.disabled,
    }[case.auth]
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return headers


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
async def test_a_bad_webhook_gets_a_json_4xx_naming_the_problem_and_writes_nothing(server, keys, case):
    async with aiohttp.ClientSession() as http:
        async with http.request(
            case.method, server.http_url + case.path, data=case.body, headers=_headers(case, keys)
        ) as r:
            assert r.status == case.status, await r.text()
            body = await read_error(r)
        assert body["error"] == case.error
        assert case.mentions.lower() in body["detail"].lower()
        assert await nothing_written(server.ctx.pool)
        await assert_still_serving(http, server.http_url, keys.generic)
    assert await written(server.ctx.pool) == {"alerts": 1, "events": 1}


async def test_an_unknown_key_in_the_query_string_is_refused_like_one_in_the_header(server, keys):
    async with aiohttp.ClientSession() as http:
        async with http.post(server.http_url + "/api/v2/generic/incoming?token=nope&summary=x") as r:
            assert r.status == 401
            assert (await read_error(r))["error"] == "unauthorized"
    assert await nothing_written(server.ctx.pool)


# --------------------------------------------------------------------------- the body limit


@pytest.fixture
async def small_server(db_url: str) -> AsyncIterator[Any]:
    async with run_server(server_settings(db_url, max_body_bytes=1024)) as running:
        yield running


def padded(size: int) -> bytes:
    """A valid generic webhook of exactly ``size`` bytes."""
    body = js({**VALID, "details": ""})
    return js({**VALID, "details": "x" * (size - len(body))})


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 256):
        yield data[i : i + 256]


@pytest.mark.parametrize(
    "framing",
    [
        "content-length",
        "chunked",
    ],
)
async def test_a_body_over_the_limit_is_413_and_writes_nothing(small_server, framing):
    _, key = await small_server.integration("generic")
    body = padded(1025)
    data: Any = body if framing == "content-length" else _chunks(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(small_server.http_url + WEBHOOK, data=data, headers=headers) as r:
            assert r.status == 413
            error = await read_error(r)
        assert error["error"] == "payload_too_large"
        assert "1024" in error["detail"]
        assert await nothing_written(small_server.ctx.pool)
        await assert_still_serving(http, small_server.http_url, key)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_of_exactly_the_limit_is_accepted(small_server, framing):
    _, key = await small_server.integration("generic")
    body = padded(1024)
    assert len(body) == 1024
    data: Any = body if framing == "content-length" else _chunks(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(small_server.http_url + WEBHOOK, data=data, headers=headers) as r:
            assert r.status == 204, await r.text()
    assert await written(small_server.ctx.pool) == {"alerts": 1, "events": 1}


# --------------------------------------------------------------------------- hostile input


HOSTILE = [
    pytest.param(b'{"summary": "x", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json",
                 id="nested-100000-deep"),
    pytest.param(b'{"summary": "x", "n": ' + b"[" * 300 + b"]" * 300 + b"}", "application/json", id="nested-300-deep"),
    pytest.param(b'{"summary": "x", "n": 123456789012345678901234567890}', "application/json",
                 id="integer-over-64-bits"),
    pytest.param(b'{"summary": "x", "n": 1e999, "m": -1e999}', "application/json", id="float-overflow"),
    pytest.param(b'{"summary": "x", "n": NaN, "m": Infinity}', "application/json", id="nan-and-infinity"),
    pytest.param(b'{"summary": "disk \\ud800 full"}', "application/json", id="lone-surrogate-in-summary"),
    pytest.param(b'{"summary": "x", "n": "\\udc00"}', "application/json", id="lone-surrogate-elsewhere"),
    pytest.param(js({"summary": "disk\x00full"}), "application/json", id="nul-in-summary"),
    pytest.param(js({"summary": "x", "details": "a\x00b"}), "application/json", id="nul-in-details"),
    pytest.param(js({"summary": "x", "dedup": "k\x00"}), "application/json", id="nul-in-dedup"),
    pytest.param(js({"summary": "x", "meta": {"env\x00": "prod\x00"}}), "application/json", id="nul-in-meta"),
    pytest.param(b"summary=disk%00full", "application/x-www-form-urlencoded", id="nul-in-form"),
    pytest.param(js({"summary": "x", "n\x00": "\x00"}), "application/json", id="nul-in-an-ignored-field"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "content_type"), HOSTILE)
async def test_hostile_input_is_refused_or_stored_sanitised_never_a_5xx(server, keys, body, content_type):
    headers = {"Authorization": f"Bearer {keys.generic}", "Content-Type": content_type}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.http_url + WEBHOOK, data=body, headers=headers) as r:
            status, text = r.status, await r.text()
            assert status < 500, text
            if status >= 400:
                await read_error(r)
        if status >= 400:
            assert await nothing_written(server.ctx.pool)
        else:
            assert await written(server.ctx.pool) == {"alerts": 1, "events": 1}
            async with server.ctx.pool.connection() as conn:
                cur = await conn.execute("SELECT summary FROM alerting.alerts")
                [row] = await cur.fetchall()
            assert row["summary"].strip()
        await assert_still_serving(http, server.http_url, keys.generic)


@pytest.fixture
async def ingestor(pool: Any) -> AsyncIterator[Ingestor]:
    """The group-commit writer on its own (no HTTP): what every source's events go through."""
    writer = Ingestor(pool)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


# Other sources (Alertmanager, Grafana, PagerDuty) hand the core whatever the sender put in
# labels, annotations and the raw payload. The core must store what PostgreSQL can't hold
# as is (sanitised) rather than fail the webhook: a 5xx makes senders retry forever.


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", raw={"n": 2**70}), id="raw-integer-over-64-bits"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", annotations={"n": -(2**70)}),
                     id="annotation-integer-over-64-bits"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", raw={"n": json.loads("[" * 300 + "]" * 300)}),
                     id="raw-nested-300-deep"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", raw={"text": "a\x00b"}), id="raw-nul"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", annotations={"a\x00": "b\x00"}),
                     id="annotation-nul"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", labels={"env": "prod\x00"}), id="label-nul"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s", raw={"text": "\udc00"}), id="raw-lone-surrogate"),
        pytest.param(AlertEvent(Action.TRIGGER, "k", summary="s\udc00"), id="summary-lone-surrogate"),
    ],
)  # fmt: skip
async def test_a_source_event_with_values_postgresql_cannot_hold_is_stored_sanitised(pool, ingestor, event):
    integration, _ = await store.create_integration(pool, "generic", "g")
    [result] = await ingestor.submit(integration.id, ingestor.prepare([event]))
    assert result.outcome == IngestOutcome.CREATED
    assert await written(pool) == {"alerts": 1, "events": 1}


async def test_one_unstorable_webhook_does_not_fail_the_others_committed_with_it(pool, ingestor):
    integration, _ = await store.create_integration(pool, "generic", "g")
    good = ingestor.prepare([AlertEvent(Action.TRIGGER, "good", summary="a real page")])
    bad = ingestor.prepare([AlertEvent(Action.TRIGGER, "bad", summary="nul\x00here")])
    # queued together, so the group-commit writer puts them in one transaction
    results = await asyncio.gather(
        ingestor.submit(integration.id, good), ingestor.submit(integration.id, bad), return_exceptions=True
    )
    assert not isinstance(results[0], BaseException), results[0]
    assert results[0][0].outcome == IngestOutcome.CREATED
    alert = await store.get_alert(pool, results[0][0].alert_id)
    assert alert.summary == "a real page"
