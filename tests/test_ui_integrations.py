"""The web UI's integration pages over real HTTP against real PostgreSQL, without a browser.

Proves: the list shows each integration (name escaped, source, team, key prefix) and the
incident pages show integration names; an admin creates one from the form and its key is
shown once (in the body of a ``no-store`` answer, never a URL) and works on the webhook, and
is in no later page and not in the audit log; rotating (once confirmed) answers a new key once,
the old one is 401 at once; an unknown source is a 400 naming the installed ones with nothing written; the
setup snippets carry the server's webhook URL and a placeholder, never the key; rename and
maintenance are forms that redirect back with a message; a heartbeat monitor's integration
shows the monitor, its state and where to beat; a viewer sees no form, may not open
the new-integration page, and a forged POST is a 403 that changes no row.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from markupsafe import escape
from fixtures.ui import cookie_header, csrf_of, post_alert, session_cookie

from google.protobuf.duration_pb2 import Duration

from oncall.alerting.v1 import heartbeats_pb2, heartbeats_pb2_grpc
from oncall.ui.integrations import KEY_PLACEHOLDER

from conftest import RunningServer
from test_ui import _Controls

HOSTILE = '<script>alert("x")</script>'


async def _get(server: RunningServer, path: str, cookie: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as client, client.get(
        server.http_url + path, headers=cookie_header(cookie), allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text(), resp.headers


async def _post(server: RunningServer, path: str, cookie: str, data: Any) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as client, client.post(
        server.http_url + path, headers=cookie_header(cookie), data=data, allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text(), resp.headers


async def _webhook_status(server: RunningServer, key: str) -> int:
    async with aiohttp.ClientSession() as client, client.post(
        f"{server.http_url}/api/v1/webhooks/generic", headers={"Authorization": f"Bearer {key}"},
        json={"summary": "probe", "dedup": "probe"},
    ) as resp:
        return 200 if resp.status in (200, 204) else resp.status  # 204: taken, nothing to answer


async def _rows(server: RunningServer) -> list[dict[str, Any]]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT id, source, name, key_hash, key_prefix, version FROM alerting.integrations ORDER BY id")
        return [dict(r) for r in await cur.fetchall()]


async def _silences(server: RunningServer) -> list[dict[str, Any]]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT integration_id, created_by, comment FROM alerting.silences ORDER BY id")
        return [dict(r) for r in await cur.fetchall()]


async def _audit_text(server: RunningServer) -> str:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT a::text AS row FROM access.audit_events a ORDER BY id")
        return "\n".join(r["row"] for r in await cur.fetchall())


async def _create(server: RunningServer, cookie: str, **fields: str) -> tuple[int, str, Any]:
    _, form, _ = await _get(server, "/integrations/new", cookie)
    return await _post(server, "/integrations/new", cookie, {"csrf_token": csrf_of(form), **fields})


async def test_the_list_shows_each_integration_escaped_and_the_incidents_show_its_name(
    server: RunningServer,
) -> None:
    iid, key = await server.integration("generic", HOSTILE)
    await server.integration("alertmanager", "prod Prometheus")
    alert_id = await post_alert(server.http_url, key, "Disk full on db-1", "d1")
    cookie = await session_cookie(server, "vera", "viewer")
    status, page, _ = await _get(server, "/integrations", cookie)
    assert status == 200
    assert "<script>alert" not in page and escape(HOSTILE) in page
    assert "prod Prometheus" in page and "alertmanager" in page and f'href="/integrations/{iid}"' in page
    assert key not in page and f"<code>{(await _rows(server))[0]['key_prefix']}…</code>" in page
    assert 'aria-current="page">Integrations' in page
    assert "/integrations/new" not in page  # a viewer is offered no creation

    status, page, _ = await _get(server, "/incidents", cookie)
    assert status == 200
    assert f'data-field="integration">{escape(HOSTILE)}<' in page and "<script>alert" not in page
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
    assert row is not None
    status, page, _ = await _get(server, f"/incidents/{row['incident_id']}", cookie)
    assert status == 200
    assert f'<a href="/integrations/{iid}">{escape(HOSTILE)}</a>' in page and "<script>alert" not in page


async def test_an_admin_creates_one_and_its_key_is_shown_once_and_works(server: RunningServer) -> None:
    cookie = await session_cookie(server, "ada", "admin")
    status, page, _ = await _get(server, "/integrations", cookie)
    assert status == 200 and 'href="/integrations/new"' in page
    status, form, _ = await _get(server, "/integrations/new", cookie)
    assert status == 200
    for source in server.ctx.registry.sources:
        assert f'<option value="{source}"' in form

    status, page, headers = await _create(server, cookie, source="generic", name="web shop")
    assert status == 201, page
    assert "no-store" in headers["Cache-Control"] and "Location" not in headers
    [row] = await _rows(server)
    assert row["name"] == "web shop" and row["source"] == "generic"
    key = page.split('id="integration-key" tabindex="0">')[1].split("<")[0]
    assert len(key) > 20
    assert f"{server.ctx.settings.base_url}/api/v1/webhooks/generic" in page
    assert f"Bearer {key}" in page  # its snippet, filled in once
    assert 'data-copy="integration-key"' in page

    assert await _webhook_status(server, key) == 200
    # never again: not in the list, the integration's page, the incidents, nor the audit log
    for path in ("/integrations", f"/integrations/{row['id']}", "/incidents?status=all"):
        status, later, _ = await _get(server, path, cookie)
        assert status == 200 and key not in later, path
    status, later, _ = await _get(server, f"/integrations/{row['id']}", cookie)
    assert KEY_PLACEHOLDER in later and "probe" in later  # its recent alert
    audit = await _audit_text(server)
    assert "CreateIntegration" in audit and key not in audit


async def test_an_unknown_source_is_refused_naming_the_installed_ones_and_nothing_is_written(
    server: RunningServer,
) -> None:
    cookie = await session_cookie(server, "ada", "admin")
    status, page, _ = await _create(server, cookie, source="nagios", name="old")
    assert status == 400
    assert "installed sources" in page and "generic" in page
    assert 'value="old"' in page  # the form comes back filled in
    assert await _rows(server) == []


async def test_the_setup_snippets_carry_the_webhook_url_and_a_placeholder(server: RunningServer) -> None:
    cookie = await session_cookie(server, "ada", "admin")
    base = server.ctx.settings.base_url
    wanted = {"alertmanager": ("webhook_configs", "max_alerts", "credentials: &#34;" + KEY_PLACEHOLDER),
              "grafana": ("type: webhook", "authorization_credentials", "maxAlerts"),
              "generic": ("curl -X POST", f"Bearer {KEY_PLACEHOLDER}", "dedup"),
              "pagerduty": ("routing_key", "event_action", "/v2/enqueue")}
    for source, needles in wanted.items():
        if source not in server.ctx.registry.sources:
            continue
        iid, key = await server.integration(source, f"{source} one")
        status, page, _ = await _get(server, f"/integrations/{iid}", cookie)
        assert status == 200
        assert f"{base}/api/v1/webhooks/{source}" in page
        for needle in needles:
            assert needle in page, (source, needle)
        assert key not in page


async def test_rotating_shows_the_new_key_once_and_the_old_one_stops_working(server: RunningServer) -> None:
    iid, old = await server.integration("generic", "web")
    cookie = await session_cookie(server, "ada", "admin")
    status, page, _ = await _get(server, f"/integrations/{iid}", cookie)
    assert status == 200 and f'action="/integrations/{iid}/rotate"' in page
    # unconfirmed: a sentence, and the old key still works
    status, answer, _ = await _post(server, f"/integrations/{iid}/rotate", cookie, {"csrf_token": csrf_of(page)})
    assert status == 400 and "Tick the box to confirm" in answer
    assert await _webhook_status(server, old) == 200
    status, answer, headers = await _post(server, f"/integrations/{iid}/rotate", cookie,
                                          {"csrf_token": csrf_of(page), "sure": "1"})
    assert status == 200 and "no-store" in headers["Cache-Control"]
    new = answer.split('id="integration-key" tabindex="0">')[1].split("<")[0]
    assert new and new != old and "old key no longer works" in answer
    assert await _webhook_status(server, old) == 401
    assert await _webhook_status(server, new) == 200
    _, later, _ = await _get(server, f"/integrations/{iid}", cookie)
    assert new not in later
    assert new not in await _audit_text(server)


async def test_rename_and_maintenance_redirect_back_with_a_message(server: RunningServer) -> None:
    iid, _ = await server.integration("generic", "web")
    cookie = await session_cookie(server, "ada", "admin")
    _, page, _ = await _get(server, f"/integrations/{iid}", cookie)
    token = csrf_of(page)
    status, _, headers = await _post(server, f"/integrations/{iid}/rename", cookie,
                                     {"csrf_token": token, "name": "web shop", "version": "1"})
    assert status == 303 and headers["Location"] == f"/integrations/{iid}?done=renamed"
    assert (await _rows(server))[0]["name"] == "web shop"
    _, page, _ = await _get(server, headers["Location"], cookie)
    assert "Integration renamed." in page and "<h1>web shop</h1>" in page
    # a stale version is a sentence, not a change
    status, page, _ = await _post(server, f"/integrations/{iid}/rename", cookie,
                                  {"csrf_token": token, "name": "other", "version": "1"})
    assert status == 409 and (await _rows(server))[0]["name"] == "web shop"

    status, _, headers = await _post(server, f"/integrations/{iid}/maintenance", cookie,
                                     {"csrf_token": token, "minutes": "60", "comment": "db upgrade"})
    assert status == 303 and headers["Location"] == f"/integrations/{iid}?done=maintenance"
    assert await _silences(server) == [{"integration_id": iid, "created_by": "ada", "comment": "db upgrade"}]
    status, _, _ = await _post(server, f"/integrations/{iid}/maintenance", cookie,
                               {"csrf_token": token, "minutes": "7"})
    assert status == 400 and len(await _silences(server)) == 1


async def test_a_viewer_sees_no_forms_and_a_forged_post_is_refused_with_rows_unchanged(
    server: RunningServer,
) -> None:
    iid, key = await server.integration("generic", "web")
    cookie = await session_cookie(server, "vera", "viewer")
    status, page, _ = await _get(server, f"/integrations/{iid}", cookie)
    assert status == 200
    assert '<form method="post" action="/integrations' not in page and key not in page
    status, _, _ = await _get(server, "/integrations/new", cookie)
    assert status == 403
    before = await _rows(server)
    token = csrf_of(page)  # the sign-out form's: a real session's token, so only the role refuses
    for path, data in ((f"/integrations/{iid}/rotate", {"sure": "1"}),
                       (f"/integrations/{iid}/rename", {"name": "mine now"}),
                       (f"/integrations/{iid}/maintenance", {"minutes": "60"}),
                       ("/integrations/new", {"source": "generic", "name": "sneaky"})):
        status, answer, _ = await _post(server, path, cookie, {"csrf_token": token, **data})
        assert status == 403, path
        assert "Not allowed" in answer
    assert await _rows(server) == before
    assert await _silences(server) == []
    assert await _webhook_status(server, key) == 200


async def test_every_control_of_the_integration_pages_has_a_label(server: RunningServer) -> None:
    iid, _ = await server.integration("generic", "web")
    cookie = await session_cookie(server, "ada", "admin")
    for path in ("/integrations", "/integrations/new", f"/integrations/{iid}"):
        status, page, _ = await _get(server, path, cookie)
        assert status == 200, path
        found = _Controls()
        found.feed(page)
        assert found.lang == "en" and found.main and found.skip, path
        unlabelled = [c for c in found.controls if not c.get("aria-label") and c.get("id") not in found.labelled]
        assert unlabelled == [], path
        assert all(found.buttons), path


async def test_a_heartbeat_monitors_integration_shows_the_monitor_and_where_to_beat(server: RunningServer) -> None:
    async with server.channel() as channel:
        created = await heartbeats_pb2_grpc.HeartbeatServiceStub(channel).CreateHeartbeat(
            heartbeats_pb2.CreateHeartbeatRequest(name="nightly-backup", timeout=Duration(seconds=3600)))
    hb = created.heartbeat
    cookie = await session_cookie(server, "vera", "viewer")
    status, page, _ = await _get(server, f"/integrations/{hb.integration_id}", cookie)
    assert status == 200
    assert "Heartbeat monitors" in page and "<strong>nightly-backup</strong>" in page and ">pending<" in page
    assert f"{server.ctx.settings.base_url}{hb.beat_path}" in page and "is not installed" not in page
    assert created.key not in page
