"""Access control over real gRPC: every method in the one permission table, each role × every method
refused with the right code and nothing written, keys that never exceed their creator, last use
written once a minute, the audit log of changes, and the proxy-auth plugin at the door."""

from __future__ import annotations

import asyncio
import base64
import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import grpc
import orjson
import oncall.access.v1
import oncall.alerting.v1
import oncall.notification.v1
import psycopg
import pytest
from fixtures.auth import bearer, make_key, make_team
from fixtures.processes import oncall_env, run_cli
from fixtures.rpc import HANG_GUARD_S, ReflectionClient, failure_of, reflection_client
from fixtures.teams import team_world, writes
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oncall_hookspecs import ROLES, AuthRequest, Principal

from oncall.access.v1 import access_pb2 as pb
from oncall.access.v1 import access_pb2_grpc
from oncall.alerting.v1 import alerting_pb2, alerting_pb2_grpc, escalation_pb2, escalation_pb2_grpc
from oncall.auth import audit, keys, methods, permissions
from oncall.auth.access import Access
from oncall.auth.access import bearer as parse_bearer
from oncall.auth.principal import CLI
from oncall.auth.retention import AccessPruner
from oncall.clock import Clock
from oncall.errors import InvalidArgument
from oncall.store.paging import encode_page_token

from conftest import run_server, server_settings

OPEN = {methods.HEALTH_SERVICE, *methods.REFLECTION_SERVICES}


def _generated_methods() -> dict[str, MethodDescriptor]:
    found: dict[str, MethodDescriptor] = {}
    for package in (oncall.access.v1, oncall.alerting.v1, oncall.notification.v1):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.endswith("_pb2"):
                module = importlib.import_module(f"{package.__name__}.{info.name}")
                for service in module.DESCRIPTOR.services_by_name.values():
                    for m in service.methods:
                        found[f"/{service.full_name}/{m.name}"] = m
    return found


# --------------------------------------------------------------------------- the one table


def _served_methods(target: str) -> dict[str, MethodDescriptor]:
    with reflection_client(target) as client:  # reflection is open: no key
        return {
            f"/{name}/{m.name}": m
            for name in client.services if name not in OPEN
            for m in client.pool.FindServiceByName(name).methods
        }


async def test_every_method_the_server_serves_has_exactly_one_permission_in_the_table(server: Any) -> None:
    served = await asyncio.to_thread(_served_methods, server.grpc_target)
    assert {"/oncall.alerting.v1.IncidentService/MergeIncidents", "/oncall.alerting.v1.GroupingService/TestGrouping",
            "/oncall.access.v1.ApiKeyService/CreateApiKey"} <= set(served)
    missing = sorted(set(served) - set(methods.METHODS))
    assert missing == [], f"methods with no entry in oncall.auth.methods.METHODS: {missing}"
    # and the table names no method that doesn't exist, nor one the protos declare but the server doesn't serve
    assert set(methods.METHODS) == set(served) == set(_generated_methods())
    for method, permission in methods.METHODS.items():
        assert permission in permissions.ALL, f"{method} needs {permission!r}, which no role has"


def test_each_role_may_do_all_the_role_below_it_may_and_contact_details_start_at_responder() -> None:
    for lower, higher in zip(ROLES, ROLES[1:], strict=False):
        assert permissions.of_role(lower) < permissions.of_role(higher)
    assert "contacts:read" not in permissions.VIEWER and "contacts:read" in permissions.RESPONDER
    assert {"alerts:ack", "alerts:resolve", "alerts:escalate", "alerts:note", "overrides:write"} <= permissions.RESPONDER
    assert not {"policies:write", "rules:write"} & permissions.RESPONDER
    assert {"rules:write", "policies:write", "schedules:write", "templates:write", "silences:write",
            "heartbeats:write", "grouping_rules:write"} <= permissions.EDITOR
    assert not {"api_keys:write", "integrations:write", "audit:read"} & permissions.EDITOR
    assert {"api_keys:write", "integrations:write", "ticket_providers:write", "settings:write"} <= permissions.ADMIN


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None
    #: what the caller may do everywhere; None: nothing, for it is nobody (UNAUTHENTICATED)
    may: frozenset[str] | None
    #: what it may do on one team's resources only (a team's key): the door admits those of the
    #: team-checked methods, and the service refuses them for what is not the team's
    team_may: frozenset[str] = frozenset()

    def refused(self, method: str, permission: str) -> bool:
        """Whether the door refuses ``method`` to this caller."""
        if self.may is None:
            return True
        return permission not in self.may and not (method in methods.TEAM_CHECKED and permission in self.team_may)


async def _callers(pool: Any) -> list[Caller]:
    now = datetime.now(UTC)
    callers = []
    for role in ROLES:
        _, token = await make_key(pool, role, name=f"matrix-{role}")
        callers.append(Caller(role, token, permissions.of_role(role)))
    await make_team(pool, "db")
    _, team = await make_key(pool, "editor", name="matrix-team", team_id="db")
    # reads as a viewer everywhere; the team-checked methods' services refuse it what is not db's
    callers.append(Caller("editor of team db", team, permissions.VIEWER, permissions.EDITOR))
    _, scoped = await make_key(pool, "admin", name="matrix-scoped", scopes=["alerts:read", "alerts:ack"])
    callers.append(Caller("admin scoped to alerts:read+ack", scoped, frozenset({"alerts:read", "alerts:ack"})))
    _, expired = await make_key(pool, "admin", name="matrix-expired", now=now - timedelta(days=2),
                                expires_at=now - timedelta(days=1))
    callers.append(Caller("expired admin key", expired, None))
    revoked_key, revoked = await make_key(pool, "admin", name="matrix-revoked")
    await keys.revoke(pool, revoked_key.id, now)
    callers.append(Caller("revoked admin key", revoked, None))
    forged = revoked[: -4] + ("AAAA" if not revoked.endswith("AAAA") else "BBBB")
    callers.append(Caller("admin key with a wrong secret", forged, None))
    callers.append(Caller("a bearer that is no key", "not-a-key", None))
    callers.append(Caller("no key", None, None))
    return callers


def _call(channel: grpc.Channel, client: ReflectionClient, method: str, token: str | None) -> grpc.StatusCode:
    """Call ``method`` with an empty request (its first message, for a stream); the code it ends with."""
    service, _, name = method.lstrip("/").partition("/")
    m = client.pool.FindServiceByName(service).FindMethodByName(name)
    request_cls = message_factory.GetMessageClass(m.input_type)
    response_cls = message_factory.GetMessageClass(m.output_type)
    kwargs: dict[str, Any] = {"metadata": bearer(token) if token else None, "timeout": HANG_GUARD_S}
    codec = {"request_serializer": request_cls.SerializeToString, "response_deserializer": response_cls.FromString}
    try:
        if m.server_streaming:
            for _ in channel.unary_stream(method, **codec)(request_cls(), **kwargs):
                break
        else:
            channel.unary_unary(method, **codec)(request_cls(), **kwargs)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return, attr-defined]
    return grpc.StatusCode.OK


def _refusals(target: str, caller: Caller) -> dict[str, grpc.StatusCode]:
    """Every method the caller may not call, and every team-checked one it may call only for its
    team, called (with an empty request, naming no resource of its team); method → the code it got."""
    with grpc.insecure_channel(target) as channel:
        client = ReflectionClient(channel)
        return {
            method: _call(channel, client, method, caller.token)
            for method, permission in sorted(methods.METHODS.items())
            if caller.may is None or permission not in caller.may
        }


def _admitted(target: str, caller: Caller) -> dict[str, grpc.StatusCode]:
    """Every unary method the caller may call, called with an empty request; method → code."""
    assert caller.may is not None
    with grpc.insecure_channel(target) as channel:
        client = ReflectionClient(channel)
        out = {}
        for method, permission in sorted(methods.METHODS.items()):
            service, _, name = method.lstrip("/").partition("/")
            m = client.pool.FindServiceByName(service).FindMethodByName(name)
            if permission in caller.may and not m.server_streaming:
                out[method] = _call(channel, client, method, caller.token)
        return out


async def snapshot(db_url: str) -> dict[str, list[str]]:
    """Every row of every table (a key's last use aside: written once a minute whatever the call)."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute(
            """SELECT schemaname, tablename FROM pg_tables
               WHERE schemaname NOT IN ('public', 'pg_catalog', 'information_schema') ORDER BY 1, 2""")
        tables = await cur.fetchall()
        out = {}
        for schema, table in tables:
            query = psycopg.sql.SQL("SELECT (to_jsonb(t) - 'last_used_at')::text FROM {} t ORDER BY 1").format(
                psycopg.sql.Identifier(schema, table))
            cur = await conn.execute(query)
            out[f"{schema}.{table}"] = [r[0] for r in await cur.fetchall()]
        return out


async def _until_routed(pool: Any, timeout: float = 15.0) -> None:
    """Return once the engine has routed every alert (and so written what it writes for them)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM alerting.alerts WHERE routed_at IS NULL")
            row = await cur.fetchone()
        if row["n"] == 0:
            await asyncio.sleep(0.5)  # and the pages and posts that routing queued, handed on
            return
        assert asyncio.get_running_loop().time() < deadline, "the engine never routed the alert"
        await asyncio.sleep(0.05)


async def test_every_role_and_every_bad_key_is_refused_each_forbidden_method_and_nothing_changes(
    server: Any, db_url: str,
) -> None:
    # one of each thing a request could name, so a refusal is not a NOT_FOUND in disguise
    async with server.channel() as channel:
        await escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(escalation_pb2.CreatePolicyRequest(
            name="base", steps=[escalation_pb2.EscalationStep(targets=[
                escalation_pb2.EscalationTarget(kind=escalation_pb2.TARGET_KIND_USER, id="ann")])]))
        await alerting_pb2_grpc.AlertServiceStub(channel).CreateAlert(alerting_pb2.CreateAlertRequest(summary="x"))
    await _until_routed(server.ctx.pool)  # the engine's own writes must not land between two snapshots
    callers = await _callers(server.ctx.pool)
    wrong: list[str] = []
    asked = 0
    for caller in callers:
        before = await snapshot(db_url)
        got = await asyncio.to_thread(_refusals, server.grpc_target, caller)
        asked += len(got)
        want = grpc.StatusCode.UNAUTHENTICATED if caller.may is None else grpc.StatusCode.PERMISSION_DENIED
        for method, code in got.items():
            # past the door, a team-checked method refuses what is not the team's; an empty
            # request names nothing, so it may be refused as invalid first
            ok = {want} if caller.refused(method, methods.METHODS[method]) else {
                grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT}
            if code not in ok:
                wrong.append(f"{caller.name}: {method} → {code.name}")
        assert await snapshot(db_url) == before, f"a refused call of {caller.name} changed the database"
        if caller.may is not None:
            admitted = await asyncio.to_thread(_admitted, server.grpc_target, caller)
            refused = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
            wrong += [f"{caller.name} (allowed): {m} → {c.name}" for m, c in admitted.items() if c in refused]
    assert wrong == []
    # the five callers that are nobody were refused every method, the roles what they lack
    assert asked == 5 * len(methods.METHODS) + sum(
        sum(p not in c.may for p in methods.METHODS.values()) for c in callers if c.may is not None)


def _call_with(channel: grpc.Channel, client: ReflectionClient, method: str, token: str, body: dict[str, Any],
               ) -> grpc.StatusCode:
    """Call ``method`` with the request ``body`` (JSON, as REST takes it); the code it ends with."""
    service, _, name = method.lstrip("/").partition("/")
    m = client.pool.FindServiceByName(service).FindMethodByName(name)
    request = json_format.ParseDict(body, message_factory.GetMessageClass(m.input_type)())
    response_cls = message_factory.GetMessageClass(m.output_type)
    try:
        channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                            response_deserializer=response_cls.FromString)(
            request, metadata=bearer(token), timeout=HANG_GUARD_S)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return, attr-defined]
    return grpc.StatusCode.OK


def _with_bodies(target: str, token: str, bodies: dict[str, dict[str, Any]]) -> dict[str, grpc.StatusCode]:
    with grpc.insecure_channel(target) as channel:
        client = ReflectionClient(channel)
        return {method: _call_with(channel, client, method, token, body) for method, body in bodies.items()}


async def test_a_key_of_another_team_is_refused_every_change_to_a_teams_resources_and_nothing_changes(
    server: Any, db_url: str,
) -> None:
    payments = await team_world(server, "payments")
    await make_team(server.ctx.pool, "search")
    bodies = writes(payments)
    # every team-checked method that changes something is asked, with a request that would succeed for payments
    assert set(bodies) == {m for m in methods.TEAM_CHECKED if permissions.changes_state(methods.METHODS[m])}
    for role in ("editor", "admin"):
        _, other = await make_key(server.ctx.pool, role, name=f"search-{role}", team_id="search")
        before = await snapshot(db_url)
        got = await asyncio.to_thread(_with_bodies, server.grpc_target, other, bodies)
        assert {m: c.name for m, c in got.items() if c != grpc.StatusCode.PERMISSION_DENIED} == {}, role
        assert await snapshot(db_url) == before, f"a {role} of search changed payments' resources"
    # and the same requests from an admin of payments are allowed
    _, mine = await make_key(server.ctx.pool, "admin", name="payments-admin", team_id="payments")
    got = await asyncio.to_thread(_with_bodies, server.grpc_target, mine, bodies)
    # escalating an alert no policy pages (it was routed nowhere) has nothing to fire: refused as such, past the lock
    unroutable = {"/oncall.alerting.v1.EscalationService/EscalateAlert", "/oncall.alerting.v1.IncidentService/EscalateIncident"}
    assert {m: c.name for m, c in got.items() if c != grpc.StatusCode.OK and m not in unroutable} == {}
    assert {got[m] for m in unroutable} <= {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}


async def test_health_and_reflection_need_no_key_and_reflection_can_be_turned_off(db_url: str) -> None:
    async with run_server(server_settings(db_url, grpc_reflection=False)) as running, \
            grpc.aio.insecure_channel(running.grpc_target) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as off:
            await asyncio.to_thread(_served_methods, running.grpc_target)
        assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
        no_key = await failure_of(alerting_pb2_grpc.AlertServiceStub(channel).ListAlerts(alerting_pb2.ListAlertsRequest()))
        assert no_key.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "authorization: Bearer oncall_" in (no_key.details() or "")


async def test_a_refusal_names_the_caller_and_the_permission_but_never_the_key(server: Any) -> None:
    _, token = await make_key(server.ctx.pool, "viewer", name="dash")
    async with server.channel(token) as channel:
        denied = await failure_of(escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
            escalation_pb2.CreatePolicyRequest(name="p")))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert re.fullmatch(r"api_key:\d+ \(dash\) \(viewer\) may not policies:write \(CreatePolicy\)", denied.details())
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off (never the key itself)
    async with server.channel(wrong) as channel:
        bad = await failure_of(alerting_pb2_grpc.AlertServiceStub(channel).ListAlerts(alerting_pb2.ListAlertsRequest()))
    assert (bad.code(), bad.details()) == (grpc.StatusCode.UNAUTHENTICATED, "the API key is not valid (unknown, expired or revoked)")
    assert token[8:] not in denied.details() + bad.details()


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer oncall_x", "oncall_x"), ("bearer  oncall_x ", "oncall_x"), (" BEARER oncall_x", "oncall_x"),
    ("Basic dXNlcjpwdw==", None), ("Bearer", None), ("Bearer   ", None), ("", None), (None, None),
])
def test_every_door_reads_a_bearer_token_with_the_one_parser(header: str | None, token: str | None) -> None:
    # the API-key authenticator, the CSRF guard and the webhooks' integration key all call this one
    assert parse_bearer(header) == token


# --------------------------------------------------------------------------- keys


async def test_the_cli_makes_the_bootstrap_key_which_works_until_revoked(server: Any, db_url: str) -> None:
    env = oncall_env(db_url)
    made = await asyncio.to_thread(run_cli, "keys", "create", "--name", "bootstrap", "--role", "admin", env=env)
    assert made.returncode == 0, made.stderr
    [token] = re.findall(r"^key: (oncall_[0-9a-f]{8}_[A-Za-z0-9]{43})$", made.stdout, re.MULTILINE)
    async with server.channel(token) as channel:
        stub = access_pb2_grpc.ApiKeyServiceStub(channel)
        listed = await stub.ListApiKeys(pb.ListApiKeysRequest())
        [mine] = [k for k in listed.api_keys if k.name == "bootstrap"]
        # made through ApiKeyService as the command line, named as the audit log names it
        assert (mine.role, mine.created_by, token.startswith(f"oncall_{mine.prefix}_")) == ("admin", "internal:cli", True)
        # the secret is stored only hashed
        async with server.ctx.pool.connection() as conn:
            cur = await conn.execute("SELECT secret_hash FROM access.api_keys WHERE id = %s", (mine.id,))
            stored = bytes((await cur.fetchone())["secret_hash"])
        assert token.encode() not in stored and len(stored) == 32
        listing = await asyncio.to_thread(run_cli, "keys", "list", env=env)
        assert "bootstrap" in listing.stdout and token not in listing.stdout
        revoked = await asyncio.to_thread(run_cli, "keys", "revoke", str(mine.id), env=env)
        assert revoked.returncode == 0 and f"revoked API key {mine.id}" in revoked.stdout
        gone = await failure_of(stub.ListApiKeys(pb.ListApiKeysRequest()))
        assert gone.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(("args", "says"), [
    (("keys", "create", "--name", "far", "--role", "admin", "--expires", "99999999999d"),
     "oncall: --expires '99999999999d' is too far away: it must land between the years 1 and 9999"),
    (("keys", "create", "--name", "far", "--role", "admin", "--expires", "9" * 5000 + "w"), "is too far away"),
    (("keys", "create", "--name", "past", "--role", "admin", "--expires", "2020-01-01T00:00:00"),
     "oncall: --expires must be in the future, got '2020-01-01T00:00:00'"),
    (("keys", "create", "--name", "now", "--role", "admin", "--expires", "0m"),
     "oncall: --expires must be in the future, got '0m'"),
    (("keys", "create", "--name", "typo", "--role", "admin", "--expires", "soon"),
     "oncall: --expires takes a duration (30d, 12h, 90m, 2w) or an ISO 8601 time, got 'soon'"),
    (("audit", "--limit", "0"), "oncall: --limit must be at least 1, got 0"),
    (("audit", "--limit", "-5"), "oncall: --limit must be at least 1, got -5"),
    (("audit", "--since", "99999999999w"), "oncall: --since '99999999999w' is too far away"),
])
async def test_a_cli_flag_it_cannot_use_is_one_sentence_exit_2_and_writes_nothing(
    db_url: str, args: tuple[str, ...], says: str,
) -> None:
    result = await asyncio.to_thread(run_cli, *args, env=oncall_env(db_url))
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "key:" not in result.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM access.api_keys").fetchone() == (0,)


async def test_a_key_made_over_grpc_is_shown_once_and_never_exceeds_its_creator(server: Any) -> None:
    _, scoped_admin = await make_key(server.ctx.pool, "admin", name="keymaster",
                                     scopes=["api_keys:write", "api_keys:read", "alerts:read"])
    async with server.channel(scoped_admin) as channel:
        stub = access_pb2_grpc.ApiKeyServiceStub(channel)
        made = await stub.CreateApiKey(pb.CreateApiKeyRequest(name="grafana", role="viewer", scopes=["alerts:read"]))
        assert made.key.startswith(f"oncall_{made.api_key.prefix}_") and made.api_key.created_by.endswith("(keymaster)")
        assert list(made.api_key.scopes) == ["alerts:read"]
        listed = await stub.ListApiKeys(pb.ListApiKeysRequest())
        assert made.key not in str(listed)
        # an unscoped key, or one scoped beyond the creator, would exceed it
        for request, why in [
            (pb.CreateApiKeyRequest(name="x", role="viewer"), "creator's scopes"),
            (pb.CreateApiKeyRequest(name="x", role="editor", scopes=["policies:write"]), "creator's scopes"),
        ]:
            refused = await failure_of(stub.CreateApiKey(request))
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED and why in refused.details()
        bad = await failure_of(stub.CreateApiKey(pb.CreateApiKeyRequest(name="x", role="viewer", scopes=["policies:write"])))
        assert (bad.code(), bad.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                               "scope 'policies:write' is not a permission of the role 'viewer'")
        unknown = await failure_of(stub.CreateApiKey(pb.CreateApiKeyRequest(name="x", role="root")))
        assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    # below admin nobody manages keys, and no grant lets a role hand out a higher one
    editor = Principal(kind="api_key", user_id="ed", role="editor")
    now = datetime.now(UTC)
    with pytest.raises(Exception, match="may not exceed its creator's role: editor may not grant admin"):
        keys.check_grant(editor, "admin", None, (), None, now)
    assert keys.check_grant(editor, "responder", None, ["alerts:ack"], None, now) == ("alerts:ack",)
    team = Principal(kind="api_key", user_id="t", role="viewer", team_roles=(("db", "admin"),))
    with pytest.raises(Exception, match="for that team"):
        keys.check_grant(team, "viewer", None, (), None, now)
    with pytest.raises(Exception, match="expires_at must be in the future"):
        keys.check_grant(CLI, "viewer", None, (), now - timedelta(seconds=1), now)


async def test_a_key_past_its_expiry_is_refused_from_that_instant(pool: Any, clock: Clock) -> None:
    key, token = await make_key(pool, "viewer", now=clock.now(), expires_at=clock.now() + timedelta(hours=1))
    access = Access(pool, clock=clock)
    request = AuthRequest(transport="grpc", headers={"authorization": f"Bearer {token}"})
    found = await access.authenticate(request)
    assert found is not None and found.key_id == key.id
    clock.advance(3600)
    with pytest.raises(Exception, match="not valid"):
        await access.authenticate(request)


async def test_last_use_is_written_at_most_once_a_minute_even_across_replicas(pool: Any, clock: Clock) -> None:
    key, token = await make_key(pool, "viewer", now=clock.now())
    request = AuthRequest(transport="grpc", headers={"authorization": f"Bearer {token}"})
    first, replica = Access(pool, clock=clock), Access(pool, clock=clock)

    async def last_used() -> datetime | None:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT last_used_at FROM access.api_keys WHERE id = %s", (key.id,))
            return (await cur.fetchone())["last_used_at"]

    start = clock.now()
    await first.authenticate(request)
    assert await last_used() == start
    clock.advance(30)
    await first.authenticate(request)
    await replica.authenticate(request)  # its own memory says "never", the database says "30 s ago"
    assert await last_used() == start
    clock.advance(31)
    await replica.authenticate(request)
    assert await last_used() == start + timedelta(seconds=61)
    assert not await keys.touch(pool, key.id, clock.now())


# --------------------------------------------------------------------------- audit


async def test_every_admitted_change_is_audited_and_refusals_and_reads_are_not(server: Any, db_url: str) -> None:
    pool = server.ctx.pool
    _, editor = await make_key(pool, "editor", name="ed")
    _, viewer = await make_key(pool, "viewer", name="vi")
    async with server.channel(editor) as channel:
        policies = escalation_pb2_grpc.EscalationServiceStub(channel)
        step = escalation_pb2.EscalationStep(targets=[
            escalation_pb2.EscalationTarget(kind=escalation_pb2.TARGET_KIND_USER, id="ann")])
        created = await policies.CreatePolicy(escalation_pb2.CreatePolicyRequest(name="db", steps=[step]))
        await policies.ListPolicies(escalation_pb2.ListPoliciesRequest())
        missing = await failure_of(policies.DeletePolicy(escalation_pb2.DeletePolicyRequest(policy_id="no-such")))
        assert missing.code() == grpc.StatusCode.NOT_FOUND
        await failure_of(policies.CreatePolicy(escalation_pb2.CreatePolicyRequest(name="")))  # INVALID_ARGUMENT
    async with server.channel(viewer) as channel:
        denied = await failure_of(escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
            escalation_pb2.CreatePolicyRequest(name="sneaky")))
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    async with server.channel() as channel:  # admin
        made = await access_pb2_grpc.ApiKeyServiceStub(channel).CreateApiKey(
            pb.CreateApiKeyRequest(name="ci", role="responder"))
        log = access_pb2_grpc.AuditServiceStub(channel)
        listed = await log.ListAuditEvents(pb.ListAuditEventsRequest())
        rows = [(e.principal, e.method.rpartition("/")[2], e.resource, e.outcome) for e in listed.events]
        assert [r[1:] for r in rows] == [
            ("CreateApiKey", "api_keys", "OK"),
            ("DeletePolicy", "policies/no-such", "NOT_FOUND"),
            ("CreatePolicy", "policies", "OK"),
        ]
        assert rows[2][0].endswith("(ed)") and rows[0][0] == "api_key:1 (test-admin)"
        newest, _, first = listed.events
        assert first.summary["name"] == "db" and first.summary["steps"][0]["targets"][0]["id"] == "ann"
        assert (first.peer, first.role, first.principal_kind) == ("127.0.0.1", "editor", "api_key")
        assert "grpc" in first.user_agent
        assert made.key not in str(listed)  # the key made is in no summary
        # filters and pages
        only = await log.ListAuditEvents(pb.ListAuditEventsRequest(method="CreatePolicy"))
        assert [e.id for e in only.events] == [first.id] and created.policy.id
        page = await log.ListAuditEvents(pb.ListAuditEventsRequest(page_size=2))
        rest = await log.ListAuditEvents(pb.ListAuditEventsRequest(page_size=2, page_token=page.next_page_token))
        assert [e.id for e in [*page.events, *rest.events]] == [e.id for e in listed.events] and not rest.next_page_token
        assert (await log.ListAuditEvents(pb.ListAuditEventsRequest(outcome="NOT_FOUND"))).events[0].resource == \
            "policies/no-such"
        bad = await failure_of(log.ListAuditEvents(pb.ListAuditEventsRequest(page_token="forged")))
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    printed = await asyncio.to_thread(run_cli, "audit", "--method", "CreatePolicy", env=oncall_env(db_url))
    assert printed.returncode == 0 and "CreatePolicy" in printed.stdout and "(ed)" in printed.stdout


async def test_the_audit_log_is_append_only_and_pruned_after_its_retention(pool: Any, clock: Clock) -> None:
    for age_days in (400, 10):
        await audit.record(pool, audit.AuditEvent(
            at=clock.now() - timedelta(days=age_days), principal="internal:cli", principal_kind="internal",
            role="admin", method="/x/Y", resource="x", outcome="OK"))
    async with pool.connection() as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            await conn.execute("UPDATE access.audit_events SET outcome = 'FORGED'")
    assert (await AccessPruner(pool, 365, clock).prune_once()).audit_events == 1
    assert (await AccessPruner(pool, 0, clock).prune_once()).audit_events == 0
    events, _ = await audit.list_events(pool, audit.AuditFilter())
    assert [e.at for e in events] == [clock.now() - timedelta(days=10)]


@pytest.mark.parametrize("body", [{"before": 2**63}, {"audit_before": 2**63}, {"before": 0}, {"audit_before": 1}])
async def test_the_audit_log_pages_with_the_alerts_page_token_and_its_bounds(pool: Any, clock: Clock,
                                                                            body: dict[str, int]) -> None:
    for n in range(3):
        await audit.record(pool, audit.AuditEvent(
            at=clock.now() - timedelta(minutes=n), principal="internal:cli", principal_kind="internal",
            role="admin", method="/x/Y", resource=f"x/{n}", outcome="OK"))
    first, token = await audit.list_events(pool, audit.AuditFilter(), page_size=2)
    rest, last = await audit.list_events(pool, audit.AuditFilter(), page_size=2, page_token=token)
    assert [e.resource for e in [*first, *rest]] == ["x/2", "x/1", "x/0"] and last == ""
    assert token == encode_page_token(first[-1].id)  # one token for every list that pages by id
    # past the bigint range, at 0, or a token no list issues: INVALID_ARGUMENT, never a query
    forged = base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")
    with pytest.raises(InvalidArgument, match="invalid page token"):
        await audit.list_events(pool, audit.AuditFilter(), page_token=forged)


# --------------------------------------------------------------------------- the banner, the demo, the HTTP door


async def test_the_banner_says_how_to_make_the_first_admin_key_until_one_exists(db_url: str, capsys: Any) -> None:
    async with run_server(server_settings(db_url)):
        pass
    assert "oncall keys create --name bootstrap --role admin" in capsys.readouterr().err
    async with run_server(server_settings(db_url)):
        pass  # the first run's fixture key is an admin key
    assert "bootstrap" not in capsys.readouterr().err


async def test_the_demo_prints_a_grpcurl_line_whose_key_lists_alerts(db_url: str, tmp_path: Any, capsys: Any) -> None:
    from oncall.server import _demo

    async with run_server(server_settings(db_url, data_dir=tmp_path)) as running:
        await _demo(running.ctx)
        out = capsys.readouterr().out
        [token] = re.findall(r"grpcurl -plaintext -H 'authorization: Bearer (oncall_\S+)'", out)
        async with running.channel(token) as channel:
            await alerting_pb2_grpc.AlertServiceStub(channel).ListAlerts(alerting_pb2.ListAlertsRequest())
            refused = await failure_of(escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
                escalation_pb2.CreatePolicyRequest(name="p")))
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED  # a viewer key
        await _demo(running.ctx)
        assert token in capsys.readouterr().out  # the same key next time


async def test_whoami_over_http_answers_the_key_and_401_without_one(server: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.http_url}/api/v1/whoami",
                            headers={"Authorization": f"Bearer {server.admin_key}"}) as r:
            assert r.status == 200
            assert (await r.json())["role"] == "admin"
        async with http.get(f"{server.http_url}/api/v1/whoami") as r:
            assert r.status == 401 and (await r.json())["error"] == "unauthorized"


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ONCALL_PROXY_AUTH_TRUSTED_PROXIES", "127.0.0.1/32")
    monkeypatch.setenv("ONCALL_PROXY_AUTH_ROLES", "sre=responder,platform=admin")
    yield


async def test_proxy_auth_headers_are_a_principal_only_from_the_trusted_proxy(
    db_url: str, proxied: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "sre"}
    async with run_server(server_settings(db_url)) as running, aiohttp.ClientSession() as http:
        assert [a.name for a in running.ctx.access.authenticators] == ["api-key", "session", "proxy-auth"]
        async with http.get(f"{running.http_url}/api/v1/whoami", headers=headers) as r:
            assert r.status == 200
            assert (await r.json()) | {"key_id": None} == {
                "kind": "proxy", "user_id": "ann", "role": "responder", "team_roles": {}, "scopes": [], "key_id": None,
                "via": "proxy-auth"}
        async with grpc.aio.insecure_channel(running.grpc_target) as channel:
            metadata = tuple((k.lower(), v) for k, v in headers.items())
            stub = escalation_pb2_grpc.EscalationServiceStub(channel)
            await stub.ListPolicies(escalation_pb2.ListPoliciesRequest(), metadata=metadata)
            denied = await failure_of(stub.CreatePolicy(escalation_pb2.CreatePolicyRequest(name="p"), metadata=metadata))
            assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and "proxy:ann (responder)" in denied.details()
    # the same headers, when the proxy is elsewhere, are nobody's
    monkeypatch.setenv("ONCALL_PROXY_AUTH_TRUSTED_PROXIES", "10.0.0.5")
    async with run_server(server_settings(db_url)) as running, aiohttp.ClientSession() as http:
        async with http.get(f"{running.http_url}/api/v1/whoami", headers=headers) as r:
            assert r.status == 401
        async with grpc.aio.insecure_channel(running.grpc_target) as channel:
            nobody = await failure_of(escalation_pb2_grpc.EscalationServiceStub(channel).ListPolicies(
                escalation_pb2.ListPoliciesRequest(), metadata=tuple((k.lower(), v) for k, v in headers.items())))
            assert nobody.code() == grpc.StatusCode.UNAUTHENTICATED
