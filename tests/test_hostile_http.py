"""A hostile corpus against every HTTP route that takes input: webhooks (each source, at each of
its paths), heartbeats, the calendar feed, channel callbacks and one-click links.

Each request is sent as raw bytes (so that the request line and headers can carry what no
client library would send) with a valid key where the route takes one, so the bad part is
what the route meets. Every answer must be a 4xx with the usual ``{"error", "detail"}`` body
(an HTML page for one-click links, which people open in a browser), and nothing may be
written. A few cases are data that can be stored once sanitised (NUL characters, which
PostgreSQL refuses, become U+FFFD as in every other string); those may be accepted, and then
what is stored holds no NUL.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from conftest import RunningServer, run_server, server_settings
from fixtures.rawhttp import RawResponse, request_bytes, send
from oncall.escalation import heartbeats
from oncall.schedules import store as schedule_store
from oncall.schedules.store import ScheduleInput

# --------------------------------------------------------------------------- the server


@dataclass
class Target:
    """What the corpus needs to address every route with valid credentials."""

    server: RunningServer
    keys: dict[str, str] = field(default_factory=dict)  # source → a valid key
    heartbeat_id: str = ""
    heartbeat_key: str = ""
    schedule_id: str = ""
    calendar_token: str = ""
    callbacks: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of channel routes

    @property
    def port(self) -> int:
        return int(self.server.http_url.rsplit(":", 1)[1])


@pytest.fixture
async def target(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Target]:
    # the channels with inbound routes, configured against an address nothing listens on
    for name, value in {
        "ONCALL_SLACK_BOT_TOKEN": "xoxb-corpus", "ONCALL_SLACK_SIGNING_SECRET": "corpus-secret",
        "ONCALL_SLACK_API_URL": "http://127.0.0.1:9/api/",
        "ONCALL_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "ONCALL_TWILIO_AUTH_TOKEN": "corpus-token",
        "ONCALL_TWILIO_FROM_NUMBER": "+15550000000", "ONCALL_TWILIO_API_URL": "http://127.0.0.1:9",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    async with run_server(server_settings(db_url)) as server:
        t = Target(server)
        for source in sorted(server.ctx.registry.sources):
            _, t.keys[source] = await server.integration(source, f"corpus-{source}")
        hb, t.heartbeat_key = await heartbeats.create_heartbeat(server.ctx.pool, "corpus-job", 3600)
        t.heartbeat_id = hb.id
        schedule = await schedule_store.create_schedule(server.ctx.pool, ScheduleInput("corpus", "UTC"))
        t.schedule_id = schedule.id
        _, t.calendar_token = await schedule_store.create_calendar_token(server.ctx.pool, schedule.id)
        for name, channel in sorted(server.ctx.registry.channels.items()):
            for route in getattr(channel, "routes", ()) or ():
                t.callbacks.append((route.method.upper(), f"/api/v1/channels/{name}{route.path}"))
        yield t


async def snapshot(t: Target) -> dict[str, Any]:
    """What a hostile request must not change."""
    async with t.server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT (SELECT count(*) FROM alerting.alerts) AS alerts,
                      (SELECT count(*) FROM alerting.alert_events
                       WHERE kind IN ('created', 'duplicate', 'acknowledged', 'resolved')) AS alert_events,
                      (SELECT last_beat_at FROM alerting.heartbeats WHERE id = %s) AS beat,
                      (SELECT count(*) FROM notification.action_tokens WHERE used_at IS NOT NULL) AS links_used""",
            (t.heartbeat_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        return dict(row)


async def stored_strings(t: Target) -> str:
    async with t.server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT coalesce(string_agg(concat_ws(' ', dedup_key, summary, details, labels::text,
                                                    annotations::text, raw::text), ' '), '') AS text
               FROM alerting.alerts"""
        )
        row = await cur.fetchone()
        assert row is not None
        return str(row["text"])


# --------------------------------------------------------------------------- the corpus


def deep(n: int, end: bytes) -> bytes:
    return b"[" * n + end + b"]" * n


def deep_objects(n: int, end: bytes) -> bytes:
    return b'{"a":' * n + end + b"}" * n


@dataclass(frozen=True)
class Case:
    """One hostile request. ``refuse``: it must be a 4xx; otherwise it may also be accepted, sanitised."""

    name: str
    body: bytes | None = None  # in the route's valid document, at `where`; None: the route's own body
    raw_body: bytes | None = None  # the whole body instead
    content_type: bytes | None = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    auth: bytes | None = None  # replaces the Authorization header (b"" drops it)
    query: bytes | None = None  # replaces the credential in the query string, raw
    path_id: bytes | None = None  # replaces the id in the path, raw
    refuse: bool = True


# Values placed in a field of an otherwise valid document (where the route reads one).
VALUES = {
    "deep-400-nan": deep(400, b"NaN"),
    "deep-400-infinity": deep(400, b"Infinity"),
    "deep-400-minus-infinity": deep(400, b"-Infinity"),
    "deep-400-1e999": deep(400, b"1e999"),
    "deep-400-lone-surrogate": deep(400, b'"\\ud800"'),
    "deep-400-objects-nan": deep_objects(400, b"NaN"),
    "deep-999": deep(999, b"1"),
    "deep-1100": deep(1100, b"1"),
    "deep-100000": deep(100_000, b"1"),
    "nan": b"NaN",
    "infinity": b"Infinity",
    "1e999": b"1e999",
    "minus-1e999": b"-1e999",
    "integer-of-400-digits": b"1" + b"0" * 400,
    "integer-of-5000-digits": b"9" * 5000,
    "lone-high-surrogate": b'"disk \\ud800 full"',
    "lone-low-surrogate": b'"\\udc00"',
    "reversed-surrogate-pair": b'"\\udc00\\ud800"',
    "lone-surrogate-key": b'{"\\ud800": "x"}',
    "raw-nul-byte-in-string": b'"a\x00b"',
    "invalid-utf8-in-string": b'"disk \xff\xfe full"',
    "overlong-utf8": b'"\xc0\xaf"',
    "utf8-encoded-surrogate": b'"\xed\xa0\x80"',
}

# Sanitised rather than refused: a NUL is text PostgreSQL can't hold, not a malformed document.
SANITISED = {
    "nul-escape-in-string": b'"disk\\u0000full"',
    "nul-escape-in-key": b'{"k\\u0000": "v\\u0000"}',
    "deep-50-nul": deep(50, b'"\\u0000"'),
}

WHOLE_BODIES = {
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "null": b"null",
    "array": b"[]",
    "number": b"0",
    "string": b'"alert"',
    "truncated": b'{"summary": "x"',
    "trailing-garbage": b'{"summary": "x"} {}',
    "bom": b"\xef\xbb\xbf{}",
    "utf16": '{"summary": "x"}'.encode("utf-16"),
    "nan-document": b"NaN",
    "deep-100000-document": deep(100_000, b""),
    "keys-100000": b"{" + b",".join(b'"k%d":0' % i for i in range(100_000)) + b"}",
}


def _cases() -> list[Case]:
    cases = [Case(f"value:{name}", body=value) for name, value in VALUES.items()]
    cases += [Case(f"value:{name}", body=value, refuse=False) for name, value in SANITISED.items()]
    cases += [Case(f"body:{name}", raw_body=value) for name, value in WHOLE_BODIES.items()]
    cases += [
        Case("body:nan-no-key", body=deep(400, b"NaN"), auth=b""),
        Case("body:surrogate-no-key", body=deep(400, b'"\\ud800"'), auth=b""),
        Case("body:1e999-no-key", body=deep(400, b"1e999"), auth=b""),
        Case("content-type:text-plain", content_type=b"text/plain"),
        Case("content-type:xml", content_type=b"application/xml"),
        Case("content-type:multipart-without-boundary", content_type=b"multipart/form-data"),
        Case("content-type:non-utf8", content_type=b"application/json\xff"),
        Case("content-type:utf16-charset", content_type=b"application/json; charset=utf-16",
             raw_body='{"a": 1}'.encode("utf-16")),
        Case("encoding:gzip-garbage", headers=((b"Content-Encoding", b"gzip"),), raw_body=b"not gzip at all"),
        Case("encoding:deflate-garbage", headers=((b"Content-Encoding", b"deflate"),), raw_body=b"\x00\x01\x02"),
        Case("encoding:gzip-bomb", headers=((b"Content-Encoding", b"gzip"),),
             raw_body=gzip.compress(b"[" * 40_000_000, 9)),
        Case("encoding:deflate-of-nan", headers=((b"Content-Encoding", b"deflate"),),
             raw_body=zlib.compress(b'{"summary": NaN}')),
    ]  # fmt: skip
    # credentials
    cases += [
        Case("auth:non-utf8", auth=b"Bearer \xff\xfe\xfd"),
        Case("auth:latin1", auth=b"Bearer caf\xe9"),
        Case("auth:invalid-utf8-sequence", auth=b"Bearer \xc3\x28"),
        Case("auth:only-bytes", auth=b"\xff"),
        Case("auth:nul", auth=b"Bearer a\x00b"),
        Case("auth:control-characters", auth=b"Bearer a\x01\x7fb"),
        Case("auth:8000-characters", auth=b"Bearer " + b"k" * 8000),
        Case("auth:scheme-only", auth=b"Bearer"),
        Case("auth:basic-non-utf8", auth=b"Basic \xff\xff"),
        Case("query:token-non-utf8", auth=b"", query=b"token=%ff%fe"),
        Case("query:token-nul", auth=b"", query=b"token=a%00b"),
        Case("query:token-utf8-surrogate", auth=b"", query=b"token=%ed%a0%80"),
        Case("query:token-raw-bytes", auth=b"", query=b"token=\xff"),
        Case("query:token-10000", auth=b"", query=b"token=" + b"k" * 10_000),
        Case("query:nul-elsewhere", query=b"x=%00&summary=%00%ff", refuse=False),
        Case("query:raw-nul", query=b"x=\x00"),
        Case("header:nul-in-other-header", headers=((b"X-Note", b"a\x00b"),)),
        Case("header:non-utf8-in-other-header", headers=((b"X-Note", b"\xff\xfe"),), refuse=False),
        Case("header:content-length-negative", headers=((b"Content-Length", b"-1"),)),
        Case("header:content-length-huge", headers=((b"Content-Length", b"99999999999999999999999"),)),
        Case("header:10000-headers", headers=tuple((b"X-H%d" % i, b"v") for i in range(10_000))),
        Case("header:huge-value", headers=((b"X-Big", b"v" * 100_000),)),
    ]  # fmt: skip
    # the path
    cases += [
        Case("path:nul", path_id=b"a%00b"),
        Case("path:percent-ff", path_id=b"%ff%fe"),
        Case("path:utf8-encoded-surrogate", path_id=b"%ed%a0%80"),
        Case("path:raw-bytes", path_id=b"\xff\xfe"),
        Case("path:raw-nul", path_id=b"a\x00b"),
        Case("path:10000-characters", path_id=b"a" * 10_000),
        Case("path:dot-segments", path_id=b"..%2f..%2fetc%2fpasswd"),
    ]
    return cases


CASES = _cases()


# --------------------------------------------------------------------------- the routes


def webhook_body(source: str, value: bytes) -> bytes:
    """A valid document of ``source`` with ``value`` in a field the source reads as free-form data."""
    if source == "alertmanager":
        return (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "fingerprint": "f1",'
                b' "labels": {"alertname": "Disk"}, "annotations": {"summary": "disk"}, "extra": ' + value + b"}]}")
    if source == "grafana":
        return (b'{"version": "1", "status": "firing", "alerts": [{"status": "firing", "fingerprint": "f1",'
                b' "labels": {"alertname": "Disk"}, "values": ' + value + b"}]}")
    if source == "pagerduty":
        return (b'{"event_action": "trigger", "dedup_key": "k1", "payload": {"summary": "disk", "source": "db-1",'
                b' "severity": "critical", "custom_details": ' + value + b"}}")
    return b'{"summary": "disk full", "dedup": "k1", "other": ' + value + b"}"  # generic


def webhook_summary_body(source: str, value: bytes) -> bytes:
    """The same, with ``value`` where a string is required (the summary)."""
    if source == "alertmanager":
        return (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "fingerprint": "f1",'
                b' "labels": {"alertname": "Disk"}, "annotations": {"summary": ' + value + b"}}]}")
    if source == "grafana":
        return (b'{"version": "1", "status": "firing", "title": ' + value + b', "alerts": [{"status": "firing",'
                b' "fingerprint": "f1", "labels": {"alertname": "Disk"}}]}')
    if source == "pagerduty":
        return (b'{"event_action": "trigger", "dedup_key": "k1", "payload": {"summary": ' + value + b','
                b' "source": "db-1", "severity": "critical"}}')
    return b'{"summary": ' + value + b', "dedup": "k1"}'


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: Callable[[Target, bytes | None], bytes]
    auth: Callable[[Target], bytes | None]  # the valid Authorization value, None where the route takes none
    query: Callable[[Target], bytes] = lambda t: b""  # the valid query string (credentials)
    body: Callable[[Target, bytes], bytes] | None = None  # the valid document with a value in it
    summary_body: Callable[[Target, bytes], bytes] | None = None
    html: bool = False  # answers people, in a browser


def _webhook(source: str, path: str) -> Route:
    return Route(
        name=f"webhook:{source}:{path}",
        method="POST",
        path=lambda t, pid: path.encode() if pid is None else b"/api/v1/webhooks/" + pid,
        auth=lambda t: b"Bearer " + t.keys[source].encode(),
        body=lambda t, v: webhook_body(source, v),
        summary_body=lambda t, v: webhook_summary_body(source, v),
    )


WEBHOOK_PATHS = {
    "alertmanager": ["/api/v1/webhooks/alertmanager", "/api/v2/prometheusalertmanager/incoming"],
    "grafana": ["/api/v1/webhooks/grafana", "/api/v2/grafana/incoming"],
    "generic": ["/api/v1/webhooks/generic", "/api/v2/generic/incoming"],
    "pagerduty": ["/api/v1/webhooks/pagerduty", "/v2/enqueue"],
}

ROUTES = [_webhook(source, path) for source, paths in WEBHOOK_PATHS.items() for path in paths]
ROUTES += [
    Route(
        name=f"heartbeat:{method}",
        method=method,
        path=lambda t, pid: b"/api/v1/heartbeat/" + (t.heartbeat_id.encode() if pid is None else pid),
        auth=lambda t: b"Bearer " + t.heartbeat_key.encode(),
    )
    for method in ("POST", "GET")
]
ROUTES += [
    Route(
        name="calendar",
        method="GET",
        path=lambda t, pid: b"/api/v1/schedules/%s/calendar.ics" % (t.schedule_id.encode() if pid is None else pid),
        auth=lambda t: None,
        query=lambda t: b"token=" + t.calendar_token.encode(),
    ),
    Route(
        name="one-click:GET",
        method="GET",
        path=lambda t, pid: b"/a/" + (b"x" * 43 if pid is None else pid),
        auth=lambda t: None,
        html=True,
    ),
    Route(
        name="one-click:POST",
        method="POST",
        path=lambda t, pid: b"/a/" + (b"x" * 43 if pid is None else pid),
        auth=lambda t: None,
        html=True,
    ),
]
CALLBACK_CHANNELS = ["slack", "sms", "voice"]


def _build(route: Route, t: Target, case: Case, path: bytes) -> bytes:
    headers: list[tuple[bytes, bytes]] = []
    if case.content_type is not None:
        headers.append((b"Content-Type", case.content_type))
    auth = route.auth(t) if case.auth is None else case.auth
    if auth:
        headers.append((b"Authorization", auth))
    headers += case.headers
    query = route.query(t)
    if case.query is not None:
        # a hostile credential replaces the valid one; anything else goes beside it
        query = case.query if case.auth == b"" or not query else query + b"&" + case.query
    if route.body is not None and case.body is not None:
        body = route.body(t, case.body)
    elif case.raw_body is not None:
        body = case.raw_body
    elif route.body is not None:
        body = route.body(t, b'"ok"')
    else:
        body = b""
    target = path + (b"?" + query if query else b"")
    sets_length = any(k.lower() == b"content-length" for k, _ in case.headers)
    return request_bytes(route.method, target, headers, body, content_length=not sets_length)


def _applies(route: Route, t: Target, case: Case) -> bool:
    if route.body is None and (case.body is not None or case.raw_body is not None or case.name.startswith(
            ("content-type:", "encoding:"))):
        return False  # a route that reads no body can't meet a hostile one
    if case.path_id is not None and not (route.name.startswith(("heartbeat", "calendar", "one-click"))
                                         or route.name.endswith("/api/v1/webhooks/generic")):
        return False
    # a hostile Authorization header means nothing to a route that reads none
    return not (case.auth and route.auth(t) is None)


async def _check(t: Target, route: Route, case: Case, answer: RawResponse, before: dict[str, Any]) -> str | None:
    """The problem with ``answer``, or None."""
    if answer.status >= 500:
        return f"{answer.status}: {answer.body[:300]!r}"
    if answer.status < 400:
        if case.refuse:
            return f"accepted ({answer.status}) what must be refused: {answer.body[:200]!r}"
        if "\x00" in await stored_strings(t):
            return "a NUL character was stored"
        return None
    if route.html and "text/html" in answer.headers.get("content-type", ""):
        pass
    else:
        try:
            body = answer.json()
        except orjson.JSONDecodeError:
            return f"{answer.status} without a JSON error body: {answer.headers.get('content-type')} {answer.body[:200]!r}"
        if not (isinstance(body, dict) and set(body) == {"error", "detail"}
                and isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]):
            return f"{answer.status} with a body not of the error shape: {answer.body[:200]!r}"
    if await snapshot(t) != before:
        return f"{answer.status} but something was written"
    return None


async def run_corpus(t: Target, route: Route, cases: list[Case]) -> list[str]:
    problems = []
    for case in cases:
        if not _applies(route, t, case):
            continue
        path = route.path(t, case.path_id)
        before = await snapshot(t)
        try:
            answer = await send(t.port, _build(route, t, case, path))
        except (ConnectionError, TimeoutError) as exc:
            problems.append(f"{case.name}: no answer ({exc!r})")
            continue
        if problem := await _check(t, route, case, answer, before):
            problems.append(f"{case.name}: {problem}")
        if route.summary_body is not None and case.body is not None:
            before = await snapshot(t)
            headers = [(b"Content-Type", b"application/json"), (b"Authorization", route.auth(t) or b"")]
            answer = await send(t.port, request_bytes(route.method, path, headers, route.summary_body(t, case.body)))
            if problem := await _check(t, route, case, answer, before):
                problems.append(f"{case.name} (as the summary): {problem}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
async def test_hostile_requests_get_a_4xx_error_body_and_write_nothing(target, route):
    problems = await run_corpus(target, route, CASES)
    assert not problems, "\n".join(problems)
    # and the route still works
    ok = await send(target.port, _build(route, target, Case("valid", body=b'"ok"'), route.path(target, None)))
    assert ok.status < 500


@pytest.mark.slow
@pytest.mark.parametrize("channel", CALLBACK_CHANNELS)
async def test_hostile_requests_to_channel_callbacks_get_a_4xx_and_write_nothing(target, channel):
    paths = [(m, p) for m, p in target.callbacks if p.startswith(f"/api/v1/channels/{channel}/")]
    assert paths, f"the {channel} channel registered no callback route"
    problems = []
    for method, path in paths:
        route = Route(name=path, method=method, path=lambda t, pid, p=path: p.encode(), auth=lambda t: None,
                      body=lambda t, v: b'{"payload": ' + v + b"}")
        problems += [f"{path}: {p}" for p in await run_corpus(target, route, CASES)]
    assert not problems, "\n".join(problems)


def test_the_corpus_names_are_unique():
    assert len({c.name for c in CASES}) == len(CASES)
