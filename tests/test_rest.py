"""The REST/JSON API (oncall.rest) against a running server and real PostgreSQL: every RPC
has a route, REST and gRPC answer the same request alike, bad input is a 400 with nothing
written, the OpenAPI document validates as 3.1, and event streams are Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from fixtures.rpc import HANG_GUARD_S
from google.protobuf import json_format

from oncall.alerting.v1 import alerting_pb2 as pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.alerting.v1 import escalation_pb2 as esc_pb
from oncall.alerting.v1 import escalation_pb2_grpc
from oncall.rest.invoke import _Collector
from oncall.rest.jsonmap import metadata_of
from oncall.rest.routes import routes_of, unrouted
from oncall.rest.status import HTTP_STATUS
from oncall.rpc import server as rpc_server

#: Methods served over gRPC with no REST route, each with the reason. (A method added without
#: a google.api.http option fails test_every_rpc_has_a_route until it gets one, or an entry
#: here saying why REST must not offer it.)
EXEMPT: dict[str, str] = {
    # A browser's own sessions are served by http/sessions.py at the same paths
    # (GET /api/v1/sessions, DELETE /api/v1/sessions/{id}), with the session cookie and its
    # CSRF rules; a second route from the proto would shadow or be shadowed by them.
    "oncall.access.v1.SessionService/ListSessions": "served by http/sessions.py",
    "oncall.access.v1.SessionService/EndSession": "served by http/sessions.py",
}


def as_json(message: Any) -> dict[str, Any]:
    """A gRPC response as the REST API writes it."""
    out: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return out


def admin(server: Any) -> dict[str, str]:
    """The headers of a REST call with the server's admin API key."""
    return {"Authorization": f"Bearer {server.admin_key}"}


@pytest.fixture
async def http(server: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """A session to ``server`` that sends its admin API key with every request."""
    async with aiohttp.ClientSession(base_url=server.http_url, headers=admin(server)) as session:
        yield session


@pytest.fixture
def alerts(grpc_channel: grpc.aio.Channel) -> alerting_pb2_grpc.AlertServiceStub:
    return alerting_pb2_grpc.AlertServiceStub(grpc_channel)


async def call(http: aiohttp.ClientSession, verb: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(verb, path, **kw) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None


async def routed(alerts: alerting_pb2_grpc.AlertServiceStub, *alert_ids: int) -> None:
    """Return once each alert has been routed (the engine's background change to it), so
    that two reads of it, one per door, see the same alert."""
    waiting = set(alert_ids)
    call = alerts.WatchAlerts(pb.WatchAlertsRequest(after_event_id=0))  # the whole timeline, then live
    try:
        while waiting:
            message = await asyncio.wait_for(call.read(), HANG_GUARD_S)
            assert message is not grpc.aio.EOF
            if message.event.kind == "routed":
                waiting.discard(message.alert.id)
    finally:
        call.cancel()


async def alert_rows(server: Any) -> int:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM alerting.alerts")
        row = await cur.fetchone()
        assert row is not None
        return int(row["count"])


async def test_every_rpc_has_a_route_or_a_commented_exemption(server: Any) -> None:
    collector = _Collector()
    services = rpc_server.add_servicers(collector, server.ctx)
    assert "oncall.alerting.v1.AlertService" in services and "oncall.notification.v1.NotificationService" in services
    missing = [m for m in unrouted(services) if m not in EXEMPT]
    assert missing == [], f"methods without a google.api.http route or an EXEMPT entry: {missing}"
    routes = routes_of(services)
    assert len(routes) + len(EXEMPT) == len(collector.handlers)
    assert set(EXEMPT) <= {name.strip("/") for name in collector.handlers}, "an exemption names no served method"
    keys = [(r.verb, r.path) for r in routes]
    assert len(keys) == len(set(keys)), "two methods share a verb and path"
    # every route is mounted: each answers something other than aiohttp's 404/405
    async with aiohttp.ClientSession(base_url=server.http_url, headers=admin(server)) as http:
        for route in routes:
            path = route.path
            for name in route.path_fields:
                path = path.replace("{" + name + "}", "1")
            headers = {"Accept": "text/event-stream"}
            async with http.request(route.verb, path, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as r:
                if route.streaming and r.status == 200:
                    continue  # a live stream: mounted
                body = await r.json()
                assert r.status != 405, route
                assert not (r.status == 404 and "Not Found" in str(body.get("detail"))), route


async def test_rest_and_grpc_give_the_same_alert(server: Any, http: aiohttp.ClientSession,
                                                 alerts: alerting_pb2_grpc.AlertServiceStub) -> None:
    status, created = await call(http, "POST", "/api/v1/alerts", json={
        "summary": "disk full", "severity": "critical", "labels": {"env": "prod"}, "dedup_key": "db-1",
    })
    assert status == 200, created
    assert created["created"] is True
    alert_id = created["alert"]["id"]
    assert isinstance(alert_id, str)  # int64 as a string, the proto3 JSON mapping
    await routed(alerts, int(alert_id))
    status, got = await call(http, "GET", f"/api/v1/alerts/{alert_id}")
    assert status == 200
    over_grpc = await alerts.GetAlert(pb.GetAlertRequest(alert_id=int(alert_id)))
    assert got == as_json(over_grpc)
    assert got["alert"]["status"] == "ALERT_STATUS_TRIGGERED"  # enums by name
    assert got["alert"]["labels"] == {"env": "prod"}


async def test_rest_and_grpc_list_alike_with_filters_and_pages(
    server: Any, http: aiohttp.ClientSession, alerts: alerting_pb2_grpc.AlertServiceStub,
) -> None:
    ids = [(await alerts.CreateAlert(pb.CreateAlertRequest(
        summary=f"a{i}", dedup_key=f"k{i}", labels={"env": "prod" if i % 2 == 0 else "dev"}))).alert.id
        for i in range(5)]
    await routed(alerts, *ids)
    params = [("statuses", "ALERT_STATUS_TRIGGERED"), ("statuses", "ALERT_STATUS_ACKNOWLEDGED"),
              ("labels[env]", "prod"), ("page_size", "2")]
    status, page1 = await call(http, "GET", "/api/v1/alerts", params=params)
    assert status == 200, page1
    request = pb.ListAlertsRequest(statuses=[pb.ALERT_STATUS_TRIGGERED, pb.ALERT_STATUS_ACKNOWLEDGED],
                                   labels={"env": "prod"}, page_size=2)
    grpc1 = await alerts.ListAlerts(request)
    assert page1 == as_json(grpc1)
    assert [a["summary"] for a in page1["alerts"]] == ["a4", "a2"]
    assert page1["next_page_token"]
    status, page2 = await call(http, "GET", "/api/v1/alerts",
                               params=[*params, ("page_token", page1["next_page_token"])])
    request.page_token = grpc1.next_page_token
    assert page2 == as_json(await alerts.ListAlerts(request))
    assert [a["summary"] for a in page2["alerts"]] == ["a0"]


async def test_an_action_and_its_refusal_read_alike(server: Any, http: aiohttp.ClientSession,
                                                    alerts: alerting_pb2_grpc.AlertServiceStub) -> None:
    alert = (await alerts.CreateAlert(pb.CreateAlertRequest(summary="cpu", dedup_key="cpu"))).alert
    await routed(alerts, alert.id)
    status, acked = await call(http, "POST", f"/api/v1/alerts/{alert.id}/acknowledge",
                               json={"user_id": "alice", "note": "looking"})
    assert status == 200, acked
    assert acked["alert"]["status"] == "ALERT_STATUS_ACKNOWLEDGED"
    assert acked["alert"] == as_json(await alerts.GetAlert(pb.GetAlertRequest(alert_id=alert.id)))["alert"]
    status, resolved = await call(http, "POST", f"/api/v1/alerts/{alert.id}/resolve", json={"user_id": "alice"})
    assert status == 200, resolved
    assert resolved["alert"]["status"] == "ALERT_STATUS_RESOLVED"

    # the same refusal, in each door's words: FAILED_PRECONDITION is 409
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await alerts.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert.id, user_id="bob"))
    status, body = await call(http, "POST", f"/api/v1/alerts/{alert.id}/acknowledge", json={"user_id": "bob"})
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (status, body) == (409, {"error": "failed_precondition", "detail": refused.value.details()})

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await alerts.GetAlert(pb.GetAlertRequest(alert_id=987654321))
    status, body = await call(http, "GET", "/api/v1/alerts/987654321")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert (status, body) == (404, {"error": "not_found", "detail": missing.value.details()})


async def test_a_policy_created_over_rest_is_the_one_grpc_reads(
    server: Any, http: aiohttp.ClientSession, grpc_channel: grpc.aio.Channel,
) -> None:
    body = {"name": "db", "steps": [{"delay": "0s", "targets": [{"kind": "TARGET_KIND_USER", "id": "alice"}]}], "repeat": 1}
    status, created = await call(http, "POST", "/api/v1/escalation-policies", json=body)
    if status != 200:
        pytest.fail(f"{status} {created}")
    policy_id = created["policy"]["id"]
    stub = escalation_pb2_grpc.EscalationServiceStub(grpc_channel)
    over_grpc = await stub.GetPolicy(esc_pb.GetPolicyRequest(policy_id=policy_id))
    status, got = await call(http, "GET", f"/api/v1/escalation-policies/{policy_id}")
    assert status == 200 and got == as_json(over_grpc)
    status, listed = await call(http, "GET", "/api/v1/escalation-policies")
    assert listed == as_json(await stub.ListPolicies(esc_pb.ListPoliciesRequest()))
    status, deleted = await call(http, "DELETE", f"/api/v1/escalation-policies/{policy_id}")
    assert status == 200, deleted
    status, gone = await call(http, "GET", f"/api/v1/escalation-policies/{policy_id}")
    assert status == 404 and gone["error"] == "not_found"


async def test_int64_is_read_from_a_string_or_a_number(server: Any, http: aiohttp.ClientSession) -> None:
    integration_id, _ = await server.integration("generic")
    for value in (integration_id, str(integration_id)):
        status, created = await call(http, "POST", "/api/v1/alerts",
                                     json={"summary": "x", "dedup_key": f"int64-{value!r}", "integration_id": value})
        assert status == 200, created
        assert created["alert"]["integration_id"] == str(integration_id)


@pytest.mark.parametrize(("verb", "path", "kw", "detail"), [
    ("POST", "/api/v1/alerts", {"json": {"summary": "x", "sumary": "typo", "labels": {}}},
     "unknown field in the body: sumary"),
    ("POST", "/api/v1/alerts", {"data": b'{"summary": "x",', "headers": {"Content-Type": "application/json"}},
     "the body is not valid JSON"),
    ("POST", "/api/v1/alerts", {"data": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
     "the body must be a JSON object"),
    ("POST", "/api/v1/alerts", {"json": {"summary": "x", "integration_id": "seven"}}, "integration_id"),
    ("POST", "/api/v1/alerts", {"json": {"summary": "nul \u0000 here"}}, "summary must not contain a NUL"),
    ("POST", "/api/v1/alerts", {"json": {"summary": "x"}, "params": {"summary": "y"}}, "not the query string"),
    ("GET", "/api/v1/alerts", {"params": {"statuses": "ALERT_STATUS_BOGUS"}}, "statuses"),
    ("GET", "/api/v1/alerts", {"params": {"page_sise": "2"}}, "unknown query parameter 'page_sise'"),
    ("GET", "/api/v1/alerts/abc", {}, "alert_id must be an integer"),
    ("GET", "/api/v1/alerts", {"params": {"created_after": "yesterday"}}, "created_after"),
    ("GET", "/api/v1/alerts", {"params": [("page_size", "1"), ("page_size", "2")]}, "takes one value"),
    ("GET", "/api/v1/alerts", {"params": {"labels": "env"}}, "labels[KEY]=VALUE"),
    ("POST", "/api/v1/escalation-policies",
     {"json": {"name": "p", "steps": [{"delay": "0s", "targets": [{"kind": "TARGET_KIND_USER", "id": "a", "who": 1}]}]}},
     "unknown field in the body: steps[0].targets[0].who"),
])
async def test_bad_input_is_a_400_naming_it_and_writes_nothing(
    server: Any, http: aiohttp.ClientSession, verb: str, path: str, kw: dict[str, Any], detail: str,
) -> None:
    before = await alert_rows(server)
    status, body = await call(http, verb, path, **kw)
    assert status == 400, body
    assert body["error"] == "invalid_argument"
    assert detail in body["detail"]
    assert await alert_rows(server) == before


def test_the_status_table_is_the_one_documented() -> None:
    want = {
        grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.UNAUTHENTICATED: 401,
        grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.ABORTED: 409,
        grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
        grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNKNOWN: 500,
    }
    assert {code: HTTP_STATUS[code][0] for code in want} == want
    assert set(HTTP_STATUS) == set(grpc.StatusCode)


def test_credentials_reach_the_call_as_metadata() -> None:
    headers = {"Authorization": "Bearer k1", "Cookie": "s=1", "X-CSRF-Token": "t", "Grpc-Metadata-Trace": "abc",
               "Grpc-Metadata-Grpc-Timeout": "1S", "Host": "x", "Content-Type": "application/json"}
    got = metadata_of(headers)
    assert got == [("authorization", "Bearer k1"), ("cookie", "s=1"), ("x-csrf-token", "t"), ("trace", "abc")]


async def test_the_openapi_document_validates_as_3_1_and_describes_every_route(
    server: Any, http: aiohttp.ClientSession,
) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    status, doc = await call(http, "GET", "/api/v1/openapi.json")
    assert status == 200
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["openapi"] == "3.1.0"
    collector = _Collector()
    routes = routes_of(rpc_server.add_servicers(collector, server.ctx))
    documented = {(verb.upper(), path) for path, ops in doc["paths"].items() for verb in ops}
    assert documented == {(r.verb, r.path) for r in routes}
    ack = doc["paths"]["/api/v1/alerts/{alert_id}/acknowledge"]["post"]
    assert "someone is on it" in ack["description"]  # the proto comment
    assert doc["components"]["schemas"]["oncall.alerting.v1.Alert"]["properties"]["id"]["type"] == ["string", "integer"]


async def test_the_reference_page_is_served_by_oncall_without_scripts(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/docs") as r:
        assert r.status == 200 and r.content_type == "text/html"
        page = await r.text()
    assert "POST</span> <code>/api/v1/alerts/{alert_id}/acknowledge</code>" in page
    assert "someone is on it" in page
    assert "<script" not in page and "src=" not in page and "https://" not in page


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, str]]:
    """The Server-Sent Events of a response, one dict (id, event, data) each; comments skipped."""
    event: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(response.content.readline(), HANG_GUARD_S)).decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = value


async def _next_created(events: AsyncIterator[dict[str, str]]) -> tuple[str, dict[str, Any]]:
    async for event in events:
        data = json.loads(event["data"])
        if data["event"]["kind"] == "created":
            return event["id"], data
    raise AssertionError("unreachable")


async def test_watch_alerts_is_an_event_stream_that_resumes_with_last_event_id(
    server: Any, http: aiohttp.ClientSession, alerts: alerting_pb2_grpc.AlertServiceStub,
) -> None:
    async with http.get("/api/v1/streams/alerts", params={"statuses": "ALERT_STATUS_TRIGGERED"}) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        await alerts.CreateAlert(pb.CreateAlertRequest(summary="first", dedup_key="sse-1"))
        first_id, first = await _next_created(_events(r))
    assert first["alert"]["summary"] == "first"
    assert first_id == first["event"]["id"]
    # while nobody watches, another alert opens; reconnecting after the first event gets it
    await alerts.CreateAlert(pb.CreateAlertRequest(summary="second", dedup_key="sse-2"))
    async with http.get("/api/v1/streams/alerts", headers={"Last-Event-ID": first_id}) as r:
        assert r.status == 200
        _, second = await _next_created(_events(r))
    assert second["alert"]["summary"] == "second"


async def test_a_stream_that_cannot_start_answers_a_json_error(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", "/api/v1/streams/alerts", params={"statuses": "NOPE"})
    assert status == 400 and body["error"] == "invalid_argument"
    status, body = await call(http, "GET", "/api/v1/streams/alerts", headers={"Last-Event-ID": "x"})
    assert status == 400 and "Last-Event-ID" in body["detail"]


async def test_watch_incidents_is_an_event_stream(http: aiohttp.ClientSession,
                                                  alerts: alerting_pb2_grpc.AlertServiceStub) -> None:
    async with http.get("/api/v1/streams/incidents") as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        created = (await alerts.CreateAlert(pb.CreateAlertRequest(summary="sse incident", dedup_key="sse-i"))).alert
        async for event in _events(r):
            data = json.loads(event["data"])
            if data["incident"]["id"] == str(created.incident_id):
                break
    assert data["snapshot"] is False


def test_an_internal_failure_is_a_500_that_shows_nothing_and_logs_the_route(caplog: pytest.LogCaptureFixture) -> None:
    from oncall.rest.invoke import RpcFailure
    from oncall.rest.transcoder import failure_response

    [route] = [r for r in routes_of(["oncall.alerting.v1.AlertService"]) if r.method.name == "GetAlert"]
    with caplog.at_level("ERROR", logger="oncall.rest.transcoder"):
        resp = failure_response(route, RpcFailure(grpc.StatusCode.INTERNAL, "psycopg: SELECT secret FROM x"))
    assert resp.status == 500
    assert resp.body is not None and json.loads(bytes(resp.body)) == {"error": "internal", "detail": "internal error"}
    [line] = [r.getMessage() for r in caplog.records]
    assert "GET /api/v1/alerts/{alert_id}" in line and "/oncall.alerting.v1.AlertService/GetAlert" in line
    assert "secret" not in line
    unavailable = failure_response(route, RpcFailure(grpc.StatusCode.UNAVAILABLE, "the database is unreachable"))
    assert (unavailable.status, unavailable.headers["Retry-After"]) == (503, "5")


async def test_an_idle_event_stream_gets_keepalive_comments(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import run_server, server_settings

    from oncall.rest import sse

    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.05)  # read when the app is built
    async with run_server(server_settings(db_url)) as server, aiohttp.ClientSession(headers=admin(server)) as http:
        async with http.get(server.http_url + "/api/v1/streams/incidents") as r:
            assert r.status == 200
            lines = []
            while b": keepalive\n" not in lines:
                lines.append(await asyncio.wait_for(r.content.readline(), HANG_GUARD_S))
    assert lines[0] == b"retry: 3000\n"


async def test_shutdown_ends_open_event_streams_cleanly(db_url: str) -> None:
    from conftest import run_server, server_settings

    async with aiohttp.ClientSession() as http:
        async with run_server(server_settings(db_url)) as server:
            incidents = await http.get(server.http_url + "/api/v1/streams/incidents", headers=admin(server))
            alerts = await http.get(server.http_url + "/api/v1/streams/alerts", headers=admin(server))
            assert (incidents.status, alerts.status) == (200, 200)
        # the server has stopped: each stream was ended (not cut), so it reads to its end
        for r in (incidents, alerts):
            assert await asyncio.wait_for(r.content.read(), HANG_GUARD_S) == b"retry: 3000\n\n"
            r.release()


async def test_a_routing_rule_and_the_grouping_presets_read_alike(
    http: aiohttp.ClientSession, grpc_channel: grpc.aio.Channel,
) -> None:
    from oncall.alerting.v1 import grouping_pb2, grouping_pb2_grpc, routing_pb2, routing_pb2_grpc

    status, created = await call(http, "POST", "/api/v1/routing-rules", json={
        "name": "prod db", "condition": 'labels.env == "prod"', "actions": {"set_severity": "critical"},
    })
    assert status == 200, created
    rule_id = created["rule"]["id"]
    routing = routing_pb2_grpc.RoutingServiceStub(grpc_channel)
    status, got = await call(http, "GET", f"/api/v1/routing-rules/{rule_id}")
    assert status == 200 and got == as_json(await routing.GetRule(routing_pb2.GetRuleRequest(rule_id=rule_id)))
    # a condition that doesn't compile: the router's refusal, word for word, as a 400
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await routing.CreateRule(routing_pb2.CreateRuleRequest(name="bad", condition="labels.env =="))
    status, body = await call(http, "POST", "/api/v1/routing-rules", json={"name": "bad", "condition": "labels.env =="})
    assert (status, body) == (400, {"error": "invalid_argument", "detail": refused.value.details()})
    status, rules = await call(http, "GET", "/api/v1/routing-rules")
    assert [r["id"] for r in rules["rules"]] == [rule_id]

    grouping = grouping_pb2_grpc.GroupingServiceStub(grpc_channel)
    status, presets = await call(http, "GET", "/api/v1/grouping-presets")
    assert status == 200 and presets == as_json(await grouping.ListGroupingPresets(grouping_pb2.ListGroupingPresetsRequest()))
    assert presets["presets"]


async def test_rest_calls_pass_the_same_lock_as_grpc(server: Any) -> None:
    from fixtures.auth import make_key

    _, viewer = await make_key(server.ctx.pool, "viewer", name="rest-viewer")
    before = await alert_rows(server)
    async with aiohttp.ClientSession(base_url=server.http_url) as http:
        status, body = await call(http, "GET", "/api/v1/alerts")
        assert (status, body["error"]) == (401, "unauthorized")
        status, body = await call(http, "GET", "/api/v1/alerts", headers={"Authorization": "Bearer oncall_nope_nope"})
        assert (status, body["error"]) == (401, "unauthorized")
        status, listed = await call(http, "GET", "/api/v1/alerts", headers={"Authorization": f"Bearer {viewer}"})
        assert status == 200 and listed["alerts"] == []
        status, body = await call(http, "POST", "/api/v1/alerts", json={"summary": "x"},
                                  headers={"Authorization": f"Bearer {viewer}"})
        assert (status, body["error"]) == (403, "forbidden")
        assert "viewer" in body["detail"]
        status, body = await call(http, "GET", "/api/v1/streams/alerts")
        assert (status, body["error"]) == (401, "unauthorized")
    assert await alert_rows(server) == before
    # the document and its page are open: they say what the API is, not what it holds
    async with aiohttp.ClientSession(base_url=server.http_url) as http:
        assert (await call(http, "GET", "/api/v1/openapi.json"))[0] == 200
