"""The web UI's pages over real HTTP against real PostgreSQL, without a browser: the whole server in
process, sessions made as a login makes them, alerts posted to a real webhook.

Proves: a page without a session goes to /login with ``next``; the list shows counts, filters
(status, integration, label chips, text, "mine") from the URL, and pages by page tokens; a
hostile alert summary is escaped everywhere; a viewer gets no action controls and a forged
viewer POST is a 403 that changes nothing; a POST without the session's CSRF token is refused;
a responder acknowledges, resolves, escalates and notes from the pages (303 back with a
message, audited as the person); a refused change is shown as a sentence; every form control
has a label and the layout a skip link; a page while the database is down is a 503 page, fast;
the static files are served, small, and the pages carry
a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import html
import time
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from fixtures.tcpproxy import tcp_proxy
from fixtures.ui import cookie_header, csrf_of, post_alert, session_cookie

from google.protobuf.duration_pb2 import Duration

from oncall.alerting.v1 import escalation_pb2, escalation_pb2_grpc, routing_pb2, routing_pb2_grpc
from oncall.ui import render

from conftest import RunningServer, run_server, server_settings

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def _get(server: RunningServer, path: str, cookie: str | None = None) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as client, client.get(
        server.http_url + path, headers=cookie_header(cookie) if cookie else {}, allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text(), resp.headers


async def _post(server: RunningServer, path: str, cookie: str | None, data: Any) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as client, client.post(
        server.http_url + path, headers=cookie_header(cookie) if cookie else {}, data=data, allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text(), resp.headers


async def _incident(server: RunningServer, incident_id: int) -> dict[str, Any]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT status, acknowledged_by, resolved_by FROM alerting.incidents WHERE id = %s",
                                 (incident_id,))
        row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def _incident_of(server: RunningServer, alert_id: int) -> int:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
    assert row is not None
    return int(row["incident_id"])


async def _audit(server: RunningServer) -> list[dict[str, Any]]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT principal, method, outcome FROM access.audit_events ORDER BY id")
        return [dict(r) for r in await cur.fetchall()]


@pytest.fixture
async def key(server: RunningServer) -> str:
    _, integration_key = await server.integration("generic", "web")
    return integration_key


async def test_a_page_without_a_session_goes_to_the_login_with_the_page_as_next(
    server: RunningServer, key: str,
) -> None:
    status, _, headers = await _get(server, "/incidents?status=all&q=disk")
    assert status == 303
    location = urlsplit(headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/incidents?status=all&q=disk"]
    status, _, headers = await _get(server, "/incidents/7")
    assert status == 303 and headers["Location"] == "/login?next=%2Fincidents%2F7"
    status, _, headers = await _get(server, "/")
    assert status == 303 and headers["Location"] == "/incidents"
    # a form posted without a session changes nothing and comes back to its page after the login
    iid = await _incident_of(server, await post_alert(server.http_url, key, "CPU high", "c1"))
    status, _, headers = await _post(server, f"/incidents/{iid}/acknowledge", None, {})
    assert status == 303 and headers["Location"] == f"/login?next=%2Fincidents%2F{iid}"
    assert (await _incident(server, iid))["status"] == "triggered"
    # a forged cookie is no session
    status, _, headers = await _get(server, "/incidents", cookie="1.forged")
    assert status == 303 and headers["Location"].startswith("/login")


async def test_the_list_escapes_a_hostile_summary_and_shows_counts_by_status(server: RunningServer, key: str) -> None:
    hostile = await post_alert(server.http_url, key, HOSTILE, "x1", meta={"service": "<b>db</b>"})
    await post_alert(server.http_url, key, "Disk full on db-1", "d1")
    cookie = await session_cookie(server, "ann", "responder")
    status, page, headers = await _get(server, "/incidents", cookie)
    assert status == 200
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape(HOSTILE, quote=False) in page or "&lt;script&gt;" in page
    assert "Disk full on db-1" in page
    assert 'data-count="triggered">2<' in page and 'data-count="resolved">0<' in page
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp

    iid = await _incident_of(server, hostile)
    status, page, _ = await _get(server, f"/incidents/{iid}", cookie)
    assert status == 200
    assert "<script>alert" not in page and "<b>db</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;db&lt;/b&gt;" in page


async def test_a_viewer_sees_no_action_controls_and_a_responder_does(server: RunningServer, key: str) -> None:
    iid = await _incident_of(server, await post_alert(server.http_url, key, "CPU high", "c1"))
    viewer = await session_cookie(server, "vic", "viewer")
    responder = await session_cookie(server, "ann", "responder")

    _, page, _ = await _get(server, "/incidents", viewer)
    assert "CPU high" in page
    assert 'name="action"' not in page and 'class="pick"' not in page
    _, page, _ = await _get(server, f"/incidents/{iid}", viewer)
    assert "CPU high" in page
    for action in ("acknowledge", "resolve", "escalate", "note"):
        assert f'action="/incidents/{iid}/{action}"' not in page
    assert "shown to responders" in page  # deliveries need contacts:read

    _, page, _ = await _get(server, "/incidents", responder)
    assert 'value="acknowledge"' in page and 'value="resolve"' in page and 'class="pick"' in page
    _, page, _ = await _get(server, f"/incidents/{iid}", responder)
    for action in ("acknowledge", "resolve", "escalate", "note"):
        assert f'action="/incidents/{iid}/{action}"' in page


async def test_a_forged_viewer_post_is_refused_and_changes_nothing(server: RunningServer, key: str) -> None:
    iid = await _incident_of(server, await post_alert(server.http_url, key, "CPU high", "c1"))
    viewer = await session_cookie(server, "vic", "viewer")
    _, page, _ = await _get(server, "/incidents", viewer)
    token = csrf_of(page)  # the viewer's own, valid token: the role is what refuses

    for path, data in [(f"/incidents/{iid}/acknowledge", {"csrf_token": token}),
                       (f"/incidents/{iid}/resolve", {"csrf_token": token}),
                       (f"/incidents/{iid}/note", {"csrf_token": token, "note": "forged"}),
                       (f"/incidents/{iid}/escalate", {"csrf_token": token}),
                       ("/incidents/bulk", {"csrf_token": token, "action": "resolve", "id": str(iid)})]:
        status, page, _ = await _post(server, path, viewer, data)
        assert status == 403, (path, page)
        assert "Not allowed" in page and "may not" in page
    assert await _incident(server, iid) == {"status": "triggered", "acknowledged_by": None, "resolved_by": None}
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM alerting.incident_events WHERE kind = 'note'")
        assert (await cur.fetchone())["n"] == 0


async def test_a_post_without_the_sessions_csrf_token_is_refused(server: RunningServer, key: str) -> None:
    iid = await _incident_of(server, await post_alert(server.http_url, key, "CPU high", "c1"))
    responder = await session_cookie(server, "ann", "responder")
    other = await session_cookie(server, "bob", "responder")
    _, page, _ = await _get(server, "/incidents", other)
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": csrf_of(page)}):  # none, forged, another session's
        status, body, headers = await _post(server, f"/incidents/{iid}/acknowledge", responder, data)
        assert status == 403 and "CSRF" in body and "Reload the page and try again." in body
        assert headers["Content-Type"].startswith("text/html")
    # a cross-site form is refused before its token is even looked at
    async with aiohttp.ClientSession() as client, client.post(
        f"{server.http_url}/incidents/{iid}/acknowledge", data={"csrf_token": "x"},
        headers={**cookie_header(responder), "Origin": "https://evil.example"}, allow_redirects=False,
    ) as resp:
        assert resp.status == 403
    assert (await _incident(server, iid))["status"] == "triggered"


async def test_a_responder_acts_from_the_incident_page_and_is_audited(server: RunningServer, key: str) -> None:
    iid = await _incident_of(server, await post_alert(server.http_url, key, "CPU high", "c1"))
    cookie = await session_cookie(server, "ann", "responder")
    _, page, _ = await _get(server, f"/incidents/{iid}", cookie)
    token = csrf_of(page)

    status, _, headers = await _post(server, f"/incidents/{iid}/note", cookie,
                                     {"csrf_token": token, "note": "looking <now>"})
    assert status == 303 and headers["Location"] == f"/incidents/{iid}?done=noted&id={iid}"
    status, _, headers = await _post(server, f"/incidents/{iid}/acknowledge", cookie, {"csrf_token": token})
    assert status == 303
    status, page, _ = await _get(server, headers["Location"], cookie)
    assert f"Incident {iid} acknowledged." in page
    assert "looking &lt;now&gt;" in page and "by ann" in page
    assert f'action="/incidents/{iid}/acknowledge"' not in page  # acknowledged: nothing to acknowledge
    assert await _incident(server, iid) == {"status": "acknowledged", "acknowledged_by": "ann", "resolved_by": None}

    status, _, _ = await _post(server, f"/incidents/{iid}/resolve", cookie, {"csrf_token": token})
    assert status == 303
    assert (await _incident(server, iid))["resolved_by"] == "ann"
    audited = [(e["principal"], e["method"].rpartition("/")[2], e["outcome"]) for e in await _audit(server)]
    assert audited == [("session:ann", "AddIncidentNote", "OK"), ("session:ann", "AcknowledgeIncident", "OK"),
                       ("session:ann", "ResolveIncident", "OK")]

    # a change the incident's state refuses is a sentence on the page, with the domain's status
    status, page, _ = await _post(server, f"/incidents/{iid}/acknowledge", cookie, {"csrf_token": token})
    assert status == 409 and "is resolved; it cannot be acknowledged" in page and 'role="alert"' in page
    status, page, _ = await _post(server, f"/incidents/{iid}/note", cookie, {"csrf_token": token, "note": "  "})
    assert status == 400 and "Write the note first" in page
    status, page, _ = await _get(server, "/incidents/999999", cookie)
    assert status == 404 and "Not found" in page
    status, page, _ = await _get(server, "/incidents/abc", cookie)
    assert status == 404


async def _policy_ann_then_bob(server: RunningServer) -> str:
    """An escalation policy (ann at once, bob 5 minutes later), made the default route; its id."""
    user = escalation_pb2.TARGET_KIND_USER
    async with server.channel() as channel:
        created = await escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
            escalation_pb2.CreatePolicyRequest(name="db-oncall", steps=[
                escalation_pb2.EscalationStep(targets=[escalation_pb2.EscalationTarget(kind=user, id="ann")]),
                escalation_pb2.EscalationStep(delay=Duration(seconds=300),
                                              targets=[escalation_pb2.EscalationTarget(kind=user, id="bob")]),
            ]))
        await routing_pb2_grpc.RoutingServiceStub(channel).SetDefaultRoute(routing_pb2.SetDefaultRouteRequest(
            actions=routing_pb2.RuleActions(escalation_policy_id=created.policy.id)))
    return str(created.policy.id)


async def _paged(server: RunningServer, incident_id: int, count: int) -> list[str]:
    """The users paged for ``incident_id``, once there are ``count`` (the server's engine runs the steps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        async with server.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT r.target_id FROM alerting.notification_requests r JOIN alerting.alerts a ON a.id = r.alert_id
                   WHERE a.incident_id = %s ORDER BY r.id""", (incident_id,))
            targets = [r["target_id"] for r in await cur.fetchall()]
        if len(targets) >= count:
            return targets
        assert loop.time() < deadline, f"paged only {targets}"
        await asyncio.sleep(0.05)


async def test_the_incident_page_shows_its_escalation_and_pages_and_escalates_now(
    server: RunningServer, key: str,
) -> None:
    await _policy_ann_then_bob(server)
    iid = await _incident_of(server, await post_alert(server.http_url, key, "Replication lag 40 s", "r1"))
    assert await _paged(server, iid, 1) == ["ann"]
    responder = await session_cookie(server, "ann", "responder")
    _, page, _ = await _get(server, f"/incidents/{iid}", responder)
    assert "db-oncall" in page and "esc-active" in page
    assert "step 1 of 2" in page and "step 2 of 2" in page
    assert "step 1 →" in page and "<strong>ann</strong>" in page  # whom step 1 paged
    assert "no contact methods" in page  # the delivery that could not go out, and why
    viewer = await session_cookie(server, "vic", "viewer")
    _, page, _ = await _get(server, f"/incidents/{iid}", viewer)
    assert "db-oncall" in page and "no contact methods known for ann" in page  # the timeline says it
    assert "<strong>ann</strong>" not in page and "shown to responders" in page  # not whom, nor where

    _, page, _ = await _get(server, f"/incidents/{iid}", responder)
    status, _, headers = await _post(server, f"/incidents/{iid}/escalate", responder, {"csrf_token": csrf_of(page)})
    assert status == 303 and "done=escalated" in headers["Location"]
    assert await _paged(server, iid, 2) == ["ann", "bob"]
    _, page, _ = await _get(server, headers["Location"], responder)
    assert f"Incident {iid} escalated" in page


async def test_bulk_acknowledge_and_resolve_go_back_to_the_same_filters(server: RunningServer, key: str) -> None:
    ids = [await _incident_of(server, await post_alert(server.http_url, key, f"disk {n}", f"d{n}")) for n in range(3)]
    cookie = await session_cookie(server, "ann", "responder")
    _, page, _ = await _get(server, "/incidents?q=disk", cookie)
    token = csrf_of(page)
    back = "/incidents?q=disk"
    status, _, headers = await _post(server, "/incidents/bulk", cookie, [
        ("csrf_token", token), ("action", "acknowledge"), ("back", back), ("id", str(ids[0])), ("id", str(ids[1]))])
    assert status == 303 and headers["Location"] == "/incidents?q=disk&done=bulk-acknowledged&n=2"
    _, page, _ = await _get(server, headers["Location"], cookie)
    assert "2 incident(s) acknowledged." in page
    assert [(await _incident(server, i))["status"] for i in ids] == ["acknowledged", "acknowledged", "triggered"]

    # a return address elsewhere is not followed
    status, _, headers = await _post(server, "/incidents/bulk", cookie, [
        ("csrf_token", token), ("action", "resolve"), ("back", "https://evil.example/x"), ("id", str(ids[2]))])
    assert status == 303 and headers["Location"].startswith("/incidents?done=bulk-resolved")
    status, page, _ = await _post(server, "/incidents/bulk", cookie, [("csrf_token", token), ("action", "resolve")])
    assert status == 400 and "Select at least one incident" in page


async def test_filters_held_in_the_url_and_pages_by_token(server: RunningServer, key: str) -> None:
    _, other_key = await server.integration("generic", "other")
    other = await _incident_of(server, await post_alert(server.http_url, other_key, "elsewhere", "e1"))
    ids = [await _incident_of(server, await post_alert(server.http_url, key, f"disk {n}", f"d{n}",
                                                       meta={"service": "db" if n % 2 else "web"}))
           for n in range(5)]
    cookie = await session_cookie(server, "ann", "responder")

    def shown(page: str) -> list[int]:
        listed = page.split('<template id="incident-row">')[0]  # the live script's empty row is none
        return [int(p.split('"')[0]) for p in listed.split('class="incident" data-id="')[1:]]

    # pages of two, newest first, each page's token leading to the next
    seen: list[int] = []
    path = "/incidents?size=2"
    while True:
        status, page, _ = await _get(server, path, cookie)
        assert status == 200
        seen += shown(page)
        if 'rel="next"' not in page:
            break
        path = html.unescape(page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
        assert "page=" in path and "size=2" in path
    assert seen == sorted([*ids, other], reverse=True)

    _, page, _ = await _get(server, "/incidents?label=service%3Ddb", cookie)
    assert shown(page) == [ids[3], ids[1]]
    assert 'class="chip"' in page and "service=db" in page
    _, page, _ = await _get(server, "/incidents?q=elsewhere", cookie)
    assert shown(page) == [other]
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT integration_id FROM alerting.incidents WHERE id = %s", (other,))
        other_integration = (await cur.fetchone())["integration_id"]
    _, page, _ = await _get(server, f"/incidents?integration={other_integration}", cookie)
    assert shown(page) == [other]

    _, page, _ = await _get(server, "/incidents", cookie)
    token = csrf_of(page)
    await _post(server, f"/incidents/{ids[0]}/acknowledge", cookie, {"csrf_token": token})
    _, page, _ = await _get(server, "/incidents?mine=1", cookie)
    assert shown(page) == [ids[0]]
    _, page, _ = await _get(server, "/incidents?status=acknowledged", cookie)
    assert shown(page) == [ids[0]] and 'data-count="acknowledged">1<' in page
    _, page, _ = await _get(server, "/incidents?status=resolved", cookie)
    assert shown(page) == [] and "No incidents match" in page

    status, page, _ = await _get(server, "/incidents?label=nonsense", cookie)
    assert status == 400 and "A label filter is key=value" in page
    status, page, _ = await _get(server, "/incidents?page=forged", cookie)
    assert status == 400 and 'role="alert"' in page
    status, page, _ = await _get(server, "/incidents?size=1000", cookie)
    assert status == 400 and "Size must be a number from 1 to 200" in page
    status, page, _ = await _get(server, "/incidents?status=sleeping", cookie)
    assert status == 400 and "Status must be one of" in page


class _Controls(HTMLParser):
    """The form controls of a page and the ids its labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.buttons: list[str] = []
        self._button: list[str] | None = None
        self.main = False
        self.skip = False
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        if tag in ("input", "textarea", "select") and a.get("type") != "hidden":
            self.controls.append(a)
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"] or "")
        if tag == "button":
            self._button = []
        if tag == "main" and a.get("id") == "main":
            self.main = True
        if tag == "a" and a.get("href") == "#main":
            self.skip = True

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None


async def test_every_control_has_a_label_and_the_layout_a_skip_link(server: RunningServer, key: str) -> None:
    iid = await _incident_of(server, await post_alert(server.http_url, key, "CPU high", "c1"))
    cookie = await session_cookie(server, "ann", "responder")
    for path in ("/incidents", f"/incidents/{iid}", "/incidents?label=bad"):
        _, page, _ = await _get(server, path, cookie)
        found = _Controls()
        found.feed(page.split('<template id="incident-row">')[0])
        assert found.lang == "en" and found.main and found.skip, path
        unlabelled = [c for c in found.controls if not c.get("aria-label") and c.get("id") not in found.labelled]
        assert unlabelled == [], path
        assert found.controls and all(found.buttons), path


async def test_the_static_files_are_served_and_small(server: RunningServer) -> None:
    total = 0
    for path in sorted(render.STATIC_DIR.iterdir()):
        status, body, headers = await _get(server, f"{render.STATIC_PATH}/{path.name}")
        assert status == 200, path.name
        total += len(body.encode())
    assert 0 < total < 100_000
    assert {p.suffix for p in render.STATIC_DIR.iterdir()} == {".css", ".js"}


async def test_a_page_while_the_database_is_down_is_a_503_page_answered_fast(db_url: str) -> None:
    async with tcp_proxy(db_url) as proxy, run_server(server_settings(proxy.url, db_acquire_timeout_s=1.0)) as server:
        cookie = await session_cookie(server, "ann", "responder")
        await proxy.stop()
        for path in ("/incidents", "/incidents/1"):
            started = time.monotonic()
            status, page, headers = await _get(server, path, cookie)
            assert time.monotonic() - started < 4.0
            assert status == 503 and headers["Retry-After"] and headers["Content-Type"].startswith("text/html")
            assert "Unavailable" in page and "The database is unreachable; retry later." in page
            assert "psycopg" not in page and "127.0.0.1" not in page
        await proxy.start()
        status, _, _ = await _get(server, "/incidents", cookie)
        assert status == 200
