"""Browser sessions and login over real HTTP: OIDC against the test kit's fake provider, local passwords from
the local directory, a real aiohttp client with a cookie jar, real PostgreSQL, and the server's own clock
frozen and moved by the tests.

Proves: a login's cookie is a session principal at ``/api/v1/whoami`` (and over gRPC); a group change
counts at the next login and ends the old session; a new session id at every login (no fixation);
idle and absolute expiry; logout and a person's own listing and ending of sessions; CSRF (token and
origin) on state-changing requests; the password login's throttle; no open redirect; no cookie in the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import grpc
import pytest
import pytest_asyncio
from fixtures.auth import make_team
from oncall_local_directory import users_file
from oncall_local_directory.passwords import hash_password
from fixtures.rpc import failure_of
from oncall_testkit.oidc_provider import FakeOidcProvider, consent, running_oidc_provider

from oncall.access.v1 import access_pb2, access_pb2_grpc
from oncall.alerting.v1 import alerting_pb2, alerting_pb2_grpc, schedules_pb2, schedules_pb2_grpc
from oncall.auth.group_roles import GroupGrant, GroupMapping, Role
from oncall.auth.oidc import LoginStart
from oncall.auth.oidc_settings import OidcSettings
from oncall.auth.pending_logins import PgPendingLogins
from oncall.auth.retention import AccessPruner
from oncall.auth.sessions import COOKIE
from oncall.clock import Clock
from oncall.http.login import safe_next
from oncall.server import login_banner

from conftest import RunningServer, run_server, server_settings

PASSWORD = "correct horse battery staple"
USERS_YAML = """\
users:
  - id: alice
    name: Alice Example
    email: alice@example.com
    role: editor
  - id: bob
    name: Bob
    email: bob@example.com
    role: viewer
"""
MAPPING = GroupMapping(grants=(GroupGrant("sre", Role.RESPONDER), GroupGrant("oncall-admins", Role.ADMIN)))


@pytest.fixture
def users_path(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    loaded = users_file.parse(USERS_YAML)
    loaded.users["alice"].password_hash = hash_password(PASSWORD)
    users_file.write(path, list(loaded.users.values()))
    return path


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[FakeOidcProvider]:
    async with running_oidc_provider() as p:
        p.user.groups = ["sre"]
        yield p


@dataclasses.dataclass
class Site:
    server: RunningServer
    provider: FakeOidcProvider
    clock: Clock

    @property
    def url(self) -> str:
        return self.server.http_url

    def browser(self) -> aiohttp.ClientSession:
        """A browser: a client with its own cookie jar (unsafe=True: the site is an IP address)."""
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _site(db_url: str, provider: FakeOidcProvider, users_path: Path, monkeypatch: pytest.MonkeyPatch,
                mapping: GroupMapping = MAPPING, **settings: Any) -> AsyncIterator[Site]:
    monkeypatch.setenv("ONCALL_LOCAL_DIRECTORY_FILE", str(users_path))
    monkeypatch.setenv("ONCALL_DIRECTORY_CACHE_TTL_S", "0.001")
    oidc = OidcSettings(issuer=provider.url, client_id=provider.client_id, client_secret=provider.client_secret,
                        mapping=mapping)
    async with run_server(server_settings(db_url, oidc=oidc, **settings)) as server:
        assert server.ctx.access is not None
        clock = server.ctx.access.clock
        clock.freeze()
        provider.now = lambda: clock.now().timestamp()
        yield Site(server, provider, clock)


@pytest_asyncio.fixture
async def site(db_url: str, provider: FakeOidcProvider, users_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Site]:
    async for s in _site(db_url, provider, users_path, monkeypatch):
        yield s


async def oidc_login(site: Site, browser: aiohttp.ClientSession, next_path: str = "/") -> aiohttp.ClientResponse:
    """Sign in with the provider as a browser does; the callback's answer (a redirect that sets the cookie)."""
    async with browser.get(f"{site.url}/auth/oidc/start", params={"next": next_path},
                           allow_redirects=False) as start:
        assert start.status == 302, await start.text()
        authorize = start.headers["Location"]
    callback = await consent(site.provider, authorize)
    async with browser.get(f"{site.url}/auth/oidc/callback", params=callback, allow_redirects=False) as answer:
        await answer.read()
        return answer


def session_cookie(browser: aiohttp.ClientSession) -> str | None:
    for cookie in browser.cookie_jar:
        if cookie.key == COOKIE:
            return cookie.value
    return None


async def whoami(site: Site, browser: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
    async with browser.get(f"{site.url}/api/v1/whoami") as r:
        return r.status, await r.json()


async def csrf_token(site: Site, browser: aiohttp.ClientSession) -> str:
    status, body = await whoami(site, browser)
    assert status == 200, body
    return str(body["csrf_token"])


async def session_rows(site: Site) -> list[dict[str, Any]]:
    async with site.server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT id, id_hash, user_id, role, method FROM access.sessions ORDER BY id")
        return list(await cur.fetchall())


# --------------------------------------------------------------------------- OIDC login


async def test_an_oidc_login_sets_a_session_cookie_that_whoami_and_grpc_accept(site: Site) -> None:
    async with site.browser() as browser:
        answer = await oidc_login(site, browser, next_path="/incidents?open=1")
        assert answer.status == 303
        assert answer.headers["Location"] == "/incidents?open=1"
        set_cookie = next(v for v in answer.headers.getall("Set-Cookie") if v.startswith(f"{COOKIE}="))
        attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
        assert {"httponly", "path", "samesite"} <= attributes and "samesite=lax" in set_cookie.lower()
        assert "secure" not in attributes  # plain http, no https public URL

        status, me = await whoami(site, browser)
        assert status == 200
        assert (me["kind"], me["user_id"], me["role"], me["via"]) == ("session", "u-1001", "responder", "session")

        # the table keeps only the hash of the session id; the cookie is id.signature
        cookie = session_cookie(browser)
        assert cookie is not None
        session_id = cookie.partition(".")[0]
        rows = await session_rows(site)
        assert [(r["user_id"], r["role"], r["method"]) for r in rows] == [("u-1001", "responder", "oidc")]
        assert bytes(rows[0]["id_hash"]) == hashlib.sha256(session_id.encode()).digest()
        assert session_id.encode() not in bytes(rows[0]["id_hash"])

        # the same chain answers gRPC: a responder may list alerts, and may not change routing
        async with grpc.aio.insecure_channel(site.server.grpc_target) as channel:
            stub = alerting_pb2_grpc.AlertServiceStub(channel)
            await stub.ListAlerts(alerting_pb2.ListAlertsRequest(), metadata=(("cookie", f"{COOKIE}={cookie}"),))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ListAlerts(alerting_pb2.ListAlertsRequest(),
                                      metadata=(("cookie", f"{COOKIE}={session_id}.forged"),))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_session_acknowledges_as_the_person_signed_in_and_may_not_name_another(site: Site) -> None:
    async with site.browser() as browser:
        await oidc_login(site, browser)
        cookie = (("cookie", f"{COOKIE}={session_cookie(browser)}"),)
        async with grpc.aio.insecure_channel(site.server.grpc_target) as channel:
            stub = alerting_pb2_grpc.AlertServiceStub(channel)
            made = await stub.CreateAlert(alerting_pb2.CreateAlertRequest(summary="disk full", dedup_key="d1"),
                                          metadata=(("authorization", f"Bearer {site.server.admin_key}"),))
            with pytest.raises(grpc.aio.AioRpcError) as other:
                await stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id=made.alert.id,
                                                                                 user_id="bob"), metadata=cookie)
            assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
            acked = await stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id=made.alert.id),
                                                metadata=cookie)
        assert acked.alert.acknowledged_by == "u-1001"
        async with site.server.ctx.pool.connection() as conn:
            cur = await conn.execute("SELECT principal, principal_kind, role FROM access.audit_events "
                                     "WHERE method LIKE '%AcknowledgeAlert' AND outcome = 'OK'")
            assert [tuple(r.values()) for r in await cur.fetchall()] == [("session:u-1001", "session", "responder")]


async def test_a_group_change_counts_at_the_next_login_and_ends_the_old_session(site: Site) -> None:
    async with site.browser() as laptop, site.browser() as phone:
        await oidc_login(site, laptop)
        assert (await whoami(site, laptop))[1]["role"] == "responder"

        site.provider.user.groups = ["sre", "oncall-admins"]
        assert (await whoami(site, laptop))[1]["role"] == "responder"  # nothing changes before a login
        await oidc_login(site, phone)
        assert (await whoami(site, phone))[1]["role"] == "admin"
        status, _ = await whoami(site, laptop)
        assert status == 401
        assert [(r["user_id"], r["role"]) for r in await session_rows(site)] == [("u-1001", "admin")]


async def test_a_login_outside_the_allowed_groups_or_granted_no_role_starts_no_session(
    db_url: str, provider: FakeOidcProvider, users_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mapping = dataclasses.replace(MAPPING, allowed_groups=frozenset({"sre", "staff"}))
    async for site in _site(db_url, provider, users_path, monkeypatch, mapping=mapping):
        async with site.browser() as browser:
            provider.user.groups = ["contractors"]
            answer = await oidc_login(site, browser)
            assert answer.status == 403 and "not in a group allowed" in await answer.text()
            provider.user.groups = ["staff"]  # allowed, and granted no role
            answer = await oidc_login(site, browser)
            assert answer.status == 403 and "grant no role" in await answer.text()
            assert session_cookie(browser) is None
        assert await session_rows(site) == []


async def test_a_group_granting_a_role_in_one_team_gives_a_session_that_edits_that_teams_schedule_only(
    db_url: str, provider: FakeOidcProvider, users_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    mapping = GroupMapping(grants=(GroupGrant("ops", Role.EDITOR, team="payments"),))
    async for site in _site(db_url, provider, users_path, monkeypatch, mapping=mapping):
        admin = (("authorization", f"Bearer {site.server.admin_key}"),)
        await make_team(site.server.ctx.pool, "payments")
        async with grpc.aio.insecure_channel(site.server.grpc_target) as channel:
            stub = schedules_pb2_grpc.ScheduleServiceStub(channel)
            theirs = (await stub.CreateSchedule(schedules_pb2.CreateScheduleRequest(
                name="payments primary", time_zone="UTC", team_id="payments"), metadata=admin)).schedule
            loose = (await stub.CreateSchedule(schedules_pb2.CreateScheduleRequest(
                name="company-wide", time_zone="UTC"), metadata=admin)).schedule
            async with site.browser() as browser:
                provider.user.groups = ["ops"]
                assert (await oidc_login(site, browser)).status == 303
                status, me = await whoami(site, browser)
                assert (status, me["role"], me["team_roles"]) == (200, "viewer", {"payments": "editor"})
                cookie = (("cookie", f"{COOKIE}={session_cookie(browser)}"),)
                edited = await stub.UpdateSchedule(schedules_pb2.UpdateScheduleRequest(
                    schedule_id=theirs.id, name="payments primary", time_zone="Europe/Berlin"), metadata=cookie)
                assert (edited.schedule.time_zone, edited.schedule.team_id) == ("Europe/Berlin", "payments")
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.UpdateSchedule(schedules_pb2.UpdateScheduleRequest(
                        schedule_id=loose.id, name="company-wide", time_zone="Europe/Berlin"), metadata=cookie)
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            got = await stub.GetSchedule(schedules_pb2.GetScheduleRequest(schedule_id=loose.id), metadata=admin)
            assert got.schedule.time_zone == "UTC"
        async with site.server.ctx.pool.connection() as conn:
            cur = await conn.execute("SELECT role, team_roles FROM access.sessions")
            assert [tuple(r.values()) for r in await cur.fetchall()] == [("viewer", {"payments": "editor"})]


async def test_the_session_id_is_new_at_every_login_and_a_planted_cookie_is_worthless(site: Site) -> None:
    async with site.browser() as attacker, site.browser() as victim:
        await oidc_login(site, attacker)
        planted = session_cookie(attacker)
        assert planted is not None
        # the attacker's cookie is set in the victim's browser before the victim signs in
        victim.cookie_jar.update_cookies({COOKIE: planted}, response_url=aiohttp.client.URL(site.url))
        await oidc_login(site, victim)
        after = session_cookie(victim)
        assert after is not None and after != planted
        # the login ended the session of the cookie it replaced: the planted one opens nothing
        assert (await whoami(site, attacker))[0] == 401
        assert (await whoami(site, victim))[1]["user_id"] == "u-1001"

        # a made-up session cookie is not a session either
        async with site.browser() as forger:
            forger.cookie_jar.update_cookies({COOKIE: "made-up.value"}, response_url=aiohttp.client.URL(site.url))
            assert (await whoami(site, forger))[0] == 401


# --------------------------------------------------------------------------- expiry


async def test_a_session_ends_after_12_idle_hours_and_each_use_moves_the_idle_deadline(site: Site) -> None:
    async with site.browser() as browser:
        await oidc_login(site, browser)
        for _ in range(3):
            site.clock.advance(11 * 3600)
            assert (await whoami(site, browser))[0] == 200
        before = await session_rows(site)
        site.clock.advance(12 * 3600 + 1)
        assert (await whoami(site, browser))[0] == 401
        assert len(before) == 1 and await session_rows(site) == []  # the expired row is deleted


async def test_expired_sessions_are_deleted_by_the_retention_pass_not_by_a_login(site: Site) -> None:
    access = site.server.ctx.access
    assert access is not None and access.sessions is not None
    async with site.browser() as laptop, site.browser() as phone:
        await oidc_login(site, laptop)
        site.clock.advance(12 * 3600 + 1)  # the laptop's session is past its idle timeout, never brought back
        await oidc_login(site, phone)
        assert len(await session_rows(site)) == 2  # a login deletes no one's expired row
        pruned = await AccessPruner(site.server.ctx.pool, 365, site.clock, access.sessions.store).prune_once()
        assert pruned.sessions == 1
        [left] = await session_rows(site)
        assert (await whoami(site, phone))[0] == 200 and (await whoami(site, laptop))[0] == 401
        assert await session_rows(site) == [left]
        assert (await AccessPruner(site.server.ctx.pool, 365, site.clock, access.sessions.store)
                .prune_once()).sessions == 0


async def test_last_seen_is_written_at_most_once_a_minute(site: Site) -> None:
    async with site.browser() as browser:
        await oidc_login(site, browser)
        store = site.server.ctx.access.sessions.store  # type: ignore[union-attr]

        async def last_seen() -> Any:
            async with site.server.ctx.pool.connection() as conn:
                cur = await conn.execute("SELECT last_seen_at FROM access.sessions")
                row = await cur.fetchone()
                assert row is not None
                return row["last_seen_at"]

        first = await last_seen()
        site.clock.advance(30)
        await whoami(site, browser)
        assert await last_seen() == first
        site.clock.advance(31)
        await whoami(site, browser)
        assert await last_seen() == site.clock.now()
        assert store.lifetimes.idle_s == 12 * 3600


async def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    db_url: str, provider: FakeOidcProvider, users_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async for site in _site(db_url, provider, users_path, monkeypatch, session_lifetime_s=3 * 24 * 3600.0):
        async with site.browser() as browser:
            await oidc_login(site, browser)
            answers = []
            for _ in range(7):  # used every 11 h: never idle, 77 h in all
                site.clock.advance(11 * 3600)
                answers.append((await whoami(site, browser))[0])
            assert answers == [200] * 6 + [401]


# --------------------------------------------------------------------------- listing, ending, logout


async def test_a_person_lists_their_sessions_ends_one_and_logs_out(site: Site) -> None:
    async with site.browser() as laptop, site.browser() as phone:
        await oidc_login(site, laptop)
        await oidc_login(site, phone)
        token = await csrf_token(site, laptop)
        async with laptop.get(f"{site.url}/api/v1/sessions") as r:
            listed = await r.json()
        assert r.status == 200
        assert listed["user_id"] == "u-1001" and listed["csrf_token"] == token
        assert [s["current"] for s in listed["sessions"]] == [False, True]  # newest (the phone's) first
        phone_id = listed["sessions"][0]["id"]

        async with laptop.delete(f"{site.url}/api/v1/sessions/{phone_id}", headers={"X-CSRF-Token": token}) as r:
            assert r.status == 204
        assert (await whoami(site, phone))[0] == 401
        async with laptop.delete(f"{site.url}/api/v1/sessions/{phone_id}", headers={"X-CSRF-Token": token}) as r:
            assert r.status == 404
        # a session id that is no number ("²" passes str.isdigit) is a 400, and ends nothing
        async with laptop.delete(f"{site.url}/api/v1/sessions/%C2%B2", headers={"X-CSRF-Token": token}) as r:
            assert r.status == 400
        assert (await whoami(site, laptop))[0] == 200

        async with laptop.post(f"{site.url}/logout", data={"csrf_token": token}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
        assert await session_rows(site) == []
        assert (await whoami(site, laptop))[0] == 401


async def test_a_sessions_request_looks_its_session_up_once(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    access = site.server.ctx.access
    assert access is not None and access.sessions is not None
    store = access.sessions.store
    real_find = store.find
    finds: list[str | None] = []

    async def counted(cookie_value: str | None) -> Any:  # the real lookup, counted
        finds.append(cookie_value)
        return await real_find(cookie_value)

    async with site.browser() as laptop:
        await oidc_login(site, laptop)
        token = await csrf_token(site, laptop)
        monkeypatch.setattr(store, "find", counted)
        async with laptop.get(f"{site.url}/api/v1/sessions") as r:
            assert r.status == 200 and (await r.json())["csrf_token"] == token
        assert len(finds) == 1
        async with laptop.delete(f"{site.url}/api/v1/sessions/999999", headers={"X-CSRF-Token": token}) as r:
            assert r.status == 404
        assert len(finds) == 2
        cookie = (("cookie", f"{COOKIE}={session_cookie(laptop)}"),)
        async with grpc.aio.insecure_channel(site.server.grpc_target) as channel:
            stub = access_pb2_grpc.SessionServiceStub(channel)
            listed = await stub.ListSessions(access_pb2.ListSessionsRequest(), metadata=cookie)
            assert [s.current for s in listed.sessions] == [True]
            assert len(finds) == 3
            gone = await failure_of(stub.EndSession(access_pb2.EndSessionRequest(id=999999), metadata=cookie))
            assert gone.code() == grpc.StatusCode.NOT_FOUND and len(finds) == 4


async def test_over_grpc_a_session_lists_and_ends_its_own_sessions_and_a_key_has_none(site: Site) -> None:
    async with site.browser() as laptop, site.browser() as phone:
        await oidc_login(site, laptop)
        await oidc_login(site, phone)
        cookie = (("cookie", f"{COOKIE}={session_cookie(laptop)}"),)
        async with grpc.aio.insecure_channel(site.server.grpc_target) as channel:
            stub = access_pb2_grpc.SessionServiceStub(channel)
            listed = await stub.ListSessions(access_pb2.ListSessionsRequest(), metadata=cookie)
            assert listed.user_id == "u-1001"
            assert [(s.method, s.role, s.current) for s in listed.sessions] == [
                ("oidc", "responder", False), ("oidc", "responder", True)]
            await stub.EndSession(access_pb2.EndSessionRequest(id=listed.sessions[0].id), metadata=cookie)
            assert (await whoami(site, phone))[0] == 401
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await stub.EndSession(access_pb2.EndSessionRequest(id=listed.sessions[0].id), metadata=cookie)
            assert gone.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as keyed:
                await stub.ListSessions(access_pb2.ListSessionsRequest(),
                                        metadata=(("authorization", f"Bearer {site.server.admin_key}"),))
            assert keyed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # ending a session is a change, and the audit log names who did it
        async with site.server.ctx.pool.connection() as conn:
            cur = await conn.execute("SELECT principal, resource, outcome FROM access.audit_events "
                                     "WHERE method LIKE '%%EndSession' ORDER BY id")
            audited = [tuple(r.values()) for r in await cur.fetchall()]
        assert audited == [("session:u-1001", f"sessions/{listed.sessions[0].id}", "OK"),
                           ("session:u-1001", f"sessions/{listed.sessions[0].id}", "NOT_FOUND")]


async def test_an_api_key_has_no_sessions_to_list(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{site.url}/api/v1/sessions",
                            headers={"Authorization": f"Bearer {site.server.admin_key}"}) as r:
            assert r.status == 403
        async with http.get(f"{site.url}/api/v1/sessions") as r:
            assert r.status == 401


# --------------------------------------------------------------------------- CSRF


async def test_a_state_changing_request_needs_the_csrf_token_and_this_sites_origin(site: Site) -> None:
    async with site.browser() as browser:
        await oidc_login(site, browser)
        token = await csrf_token(site, browser)
        logout = f"{site.url}/logout"

        async with browser.post(logout, allow_redirects=False) as r:
            assert r.status == 403 and "CSRF token" in (await r.json())["detail"]
        async with browser.post(logout, headers={"X-CSRF-Token": "not-the-token"}, allow_redirects=False) as r:
            assert r.status == 403
        async with browser.post(logout, headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
                                allow_redirects=False) as r:
            assert r.status == 403 and "cross-site" in (await r.json())["detail"]
        async with browser.post(logout, headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
                                allow_redirects=False) as r:
            assert r.status == 403
        assert (await whoami(site, browser))[0] == 200  # none of these logged out

        async with browser.post(logout, headers={"X-CSRF-Token": token, "Origin": site.url,
                                                 "Sec-Fetch-Site": "same-origin"}, allow_redirects=False) as r:
            assert r.status == 303
        assert (await whoami(site, browser))[0] == 401


async def test_any_state_changing_request_with_a_session_cookie_is_guarded_registered_or_not(site: Site) -> None:
    _, key = await site.server.integration("generic")
    body = {"summary": "disk full", "dedup_key": "d1"}
    async with site.browser() as browser:
        await oidc_login(site, browser)
        webhook = f"{site.url}/api/v1/webhooks/generic?token={key}"
        async with browser.post(webhook, json=body, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        async with browser.post(webhook, json=body) as r:
            assert r.status == 403 and "CSRF token" in (await r.json())["detail"]
        async with site.server.ctx.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM alerting.alerts")
            assert (await cur.fetchone())["n"] == 0  # type: ignore[index]
    async with aiohttp.ClientSession() as sender, sender.post(webhook, json=body) as r:
        assert r.status == 204  # a sender with no session cookie is not a browser: the key alone decides
    async with site.server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM alerting.alerts")
        assert (await cur.fetchone())["n"] == 1  # type: ignore[index]


async def test_a_bogus_bearer_beside_a_session_cookie_does_not_skip_the_csrf_check(site: Site) -> None:
    async with site.browser() as laptop, site.browser() as phone:
        await oidc_login(site, laptop)
        await oidc_login(site, phone)
        before = await session_rows(site)
        phone_id = before[-1]["id"]  # the newer of the two
        assert len(before) == 2
        junk = {"Authorization": "Bearer junk"}
        async with laptop.post(f"{site.url}/logout", headers=junk, allow_redirects=False) as r:
            assert r.status == 403 and "CSRF token" in (await r.json())["detail"]
        async with laptop.delete(f"{site.url}/api/v1/sessions/{phone_id}", headers=junk) as r:
            assert r.status == 403 and "CSRF token" in (await r.json())["detail"]
        async with laptop.post(f"{site.url}/logout", headers={**junk, "Origin": "https://evil.example"},
                               allow_redirects=False) as r:
            assert r.status == 403
        assert await session_rows(site) == before  # nobody was logged out, no session ended
        assert (await whoami(site, laptop))[0] == 200 and (await whoami(site, phone))[0] == 200


async def test_another_sessions_csrf_token_does_not_pass(site: Site) -> None:
    async with site.browser() as mine, site.browser() as theirs:
        await oidc_login(site, mine)
        await oidc_login(site, theirs)
        their_token = await csrf_token(site, theirs)
        async with mine.post(f"{site.url}/logout", headers={"X-CSRF-Token": their_token},
                             allow_redirects=False) as r:
            assert r.status == 403


# --------------------------------------------------------------------------- local password login


async def password_login(site: Site, browser: aiohttp.ClientSession, user: str, password: str,
                         next_path: str = "/") -> tuple[int, str, aiohttp.ClientResponse]:
    async with browser.post(f"{site.url}/login", data={"user": user, "password": password, "next": next_path},
                            allow_redirects=False) as r:
        return r.status, await r.text(), r


async def test_the_login_page_offers_the_provider_and_the_password_form(site: Site) -> None:
    async with site.browser() as browser, browser.get(f"{site.url}/login?next=/alerts") as r:
        page = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert "Sign in with 127.0.0.1" in page and "/auth/oidc/start?next=%2Falerts" in page
    assert "name=password type=password" in page


async def test_a_password_login_starts_a_session_with_the_directorys_role(site: Site) -> None:
    async with site.browser() as browser:
        status, _, answer = await password_login(site, browser, "alice", PASSWORD, "/schedules")
        assert (status, answer.headers["Location"]) == (303, "/schedules")
        _, me = await whoami(site, browser)
        assert (me["kind"], me["user_id"], me["role"]) == ("session", "alice", "editor")


async def test_wrong_user_and_wrong_password_get_one_answer_and_failures_are_throttled(site: Site) -> None:
    async with site.browser() as browser:
        wrong_password = await password_login(site, browser, "alice", "guess")
        unknown_user = await password_login(site, browser, "mallory", "guess")
        assert wrong_password[0] == unknown_user[0] == 401
        assert "invalid user or password" in wrong_password[1] and "invalid user or password" in unknown_user[1]
        assert wrong_password[1] == unknown_user[1]
        for attempt in range(4):
            assert (await password_login(site, browser, "alice", f"guess {attempt}"))[0] == 401
        # five failures for alice: the right password is refused too, until the window passes
        status, page, answer = await password_login(site, browser, "alice", PASSWORD)
        assert status == 429 and "too many failed attempts" in page and int(answer.headers["Retry-After"]) > 0
        assert session_cookie(browser) is None
        site.clock.advance(15 * 60 + 1)
        assert (await password_login(site, browser, "alice", PASSWORD))[0] == 303
        assert (await whoami(site, browser))[1]["user_id"] == "alice"


async def test_a_password_login_is_not_accepted_from_another_site(site: Site) -> None:
    async with site.browser() as browser:
        async with browser.post(f"{site.url}/login", data={"user": "alice", "password": PASSWORD},
                                headers={"Origin": "https://evil.example"}, allow_redirects=False) as r:
            assert r.status == 403
        assert session_cookie(browser) is None


def _edit_users(path: Path, alice_role: str | None) -> None:
    """Give alice another role, or (None) take her out of the users file."""
    loaded = users_file.parse(path.read_text())
    if alice_role is None:
        del loaded.users["alice"]
    else:
        loaded.users["alice"].role = alice_role
    users_file.write(path, list(loaded.users.values()))


async def test_a_directory_role_change_or_removal_ends_a_password_session(site: Site, users_path: Path) -> None:
    async with site.browser() as browser:
        await password_login(site, browser, "alice", PASSWORD)
        assert (await whoami(site, browser))[1]["role"] == "editor"
        await asyncio.to_thread(_edit_users, users_path, "viewer")
        site.clock.advance(61)  # the directory is asked again with the once-a-minute last-seen write
        assert (await whoami(site, browser))[0] == 401
        assert await session_rows(site) == []

        assert (await password_login(site, browser, "alice", PASSWORD))[0] == 303
        assert (await whoami(site, browser))[1]["role"] == "viewer"
        await asyncio.to_thread(_edit_users, users_path, None)
        site.clock.advance(61)
        assert (await whoami(site, browser))[0] == 401
        assert await session_rows(site) == []


# --------------------------------------------------------------------------- redirects


def test_next_is_followed_only_to_a_path_on_this_site() -> None:
    assert safe_next("/incidents?open=1#top") == "/incidents?open=1#top"
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
                    "javascript:alert(1)", "evil.example", "/ok\r\nSet-Cookie: x=1", "", None):
        assert safe_next(hostile) == "/", hostile


async def test_an_open_redirect_through_login_is_refused(site: Site) -> None:
    async with site.browser() as browser:
        answer = await oidc_login(site, browser, next_path="https://evil.example/steal")
        assert answer.status == 303 and answer.headers["Location"] == "/"
    async with site.browser() as browser:
        status, _, answer = await password_login(site, browser, "alice", PASSWORD, "//evil.example/steal")
        assert (status, answer.headers["Location"]) == (303, "/")


# --------------------------------------------------------------------------- the log


async def test_no_cookie_session_id_or_csrf_token_reaches_the_log(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with site.browser() as browser:
        await oidc_login(site, browser)
        token = await csrf_token(site, browser)
        await password_login(site, browser, "alice", "wrong")
        await password_login(site, browser, "alice", PASSWORD)
        cookie = session_cookie(browser)
        async with browser.post(f"{site.url}/logout", data={"csrf_token": "bad"}, allow_redirects=False):
            pass
    assert cookie is not None
    text = caplog.text
    assert "session" in text  # the log does speak of sessions …
    for secret in (cookie, cookie.partition(".")[0], cookie.partition(".")[2], token, PASSWORD,
                   *site.provider.issued):
        assert secret not in text  # … never of their secrets


# --------------------------------------------------------------------------- pending logins


async def test_a_pending_login_is_taken_once_and_not_after_it_expired(pool: Any) -> None:
    clock = Clock()
    clock.freeze()
    pending = PgPendingLogins(pool, clock, ttl_s=600)

    def login(state: str) -> LoginStart:
        return LoginStart(state=state, nonce="n", code_verifier="v", redirect_uri="http://127.0.0.1/cb",
                          authorize_url="", created_at=clock.now(), return_to="/x", binding="b")

    await pending.put(login("s1"))
    taken = await pending.take("s1")
    assert taken is not None and (taken.nonce, taken.code_verifier, taken.return_to, taken.binding) == (
        "n", "v", "/x", "b")
    assert await pending.take("s1") is None  # a replayed callback finds nothing
    await pending.put(login("s2"))
    clock.advance(601)
    assert await pending.take("s2") is None
    await pending.put(login("s3"))  # and leftovers are swept as new logins start
    assert await pending.count() == 1
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT state_hash FROM access.pending_logins")
        row = await cur.fetchone()
    assert row is not None and b"s3" not in bytes(row["state_hash"])


async def test_the_login_callback_from_another_browser_is_refused(site: Site) -> None:
    async with site.browser() as starter, site.browser() as other:
        async with starter.get(f"{site.url}/auth/oidc/start", allow_redirects=False) as start:
            authorize = start.headers["Location"]
        callback = await consent(site.provider, authorize)
        async with other.get(f"{site.url}/auth/oidc/callback", params=callback, allow_redirects=False) as r:
            assert r.status == 401 and "another browser" in await r.text()
        assert session_cookie(other) is None
    assert urlsplit(authorize).path == "/authorize"


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    db_url: str, provider: FakeOidcProvider, users_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async for site in _site(db_url, provider, users_path, monkeypatch, public_url="https://oncall.example"):
        async with site.browser() as browser:
            status, _, answer = await password_login(site, browser, "alice", PASSWORD)
            assert status == 303
            set_cookie = next(v for v in answer.headers.getall("Set-Cookie") if v.startswith(f"{COOKIE}="))
            assert "secure" in {part.strip().lower() for part in set_cookie.split(";")}
            # the public URL's origin is this site's
            async with browser.post(f"{site.url}/login", data={"user": "alice", "password": PASSWORD},
                                    headers={"Origin": "https://oncall.example"}, allow_redirects=False) as r:
                assert r.status == 303


async def test_the_serve_banner_says_how_to_sign_in_or_that_only_api_keys_work(
    site: Site, db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    banner = login_banner(site.server.ctx)
    assert banner.startswith("browser login at ") and banner.count("/login") == 1
    assert "OIDC (127.0.0.1)" in banner and "local passwords (local directory)" in banner
    monkeypatch.setenv("ONCALL_DIRECTORY", "none")
    async with run_server(server_settings(db_url)) as bare:
        assert login_banner(bare.ctx) == (
            "browser login: none configured (ONCALL_OIDC_ISSUER unset, the directory holds no passwords); "
            "only API keys are enabled")
        async with aiohttp.ClientSession() as http, http.get(f"{bare.http_url}/login") as r:
            assert r.status == 200 and "use an API key" in await r.text()
