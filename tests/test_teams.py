"""Teams over real gRPC, REST and the CLI: teams made, renamed, listed and deleted (never while
something belongs to one); a role granted for one team acts on that team's resources only, and
a key made by a team's key stays within that team and its role."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import grpc
import psycopg
import pytest
from fixtures.auth import make_key, make_team
from fixtures.processes import oncall_env, run_cli
from fixtures.rpc import failure_of
from fixtures.teams import step, team_world
from oncall_hookspecs import Principal

from oncall.access.v1 import access_pb2 as pb
from oncall.access.v1 import access_pb2_grpc
from oncall.alerting import store
from oncall.alerting.v1 import alerting_pb2, alerting_pb2_grpc, incidents_pb2_grpc
from oncall.alerting.v1 import escalation_pb2 as esc
from oncall.alerting.v1 import escalation_pb2_grpc
from oncall.alerting.v1 import grouping_pb2 as grp
from oncall.alerting.v1 import incidents_pb2 as inc
from oncall.alerting.v1 import grouping_pb2_grpc
from oncall.alerting.v1 import routing_pb2 as rt
from oncall.alerting.v1 import routing_pb2_grpc
from oncall.alerting.v1 import schedules_pb2 as sch
from oncall.alerting.v1 import schedules_pb2_grpc
from oncall.auth import keys, permissions, principal
from oncall.notification.v1 import notification_pb2 as ntf
from oncall.notification.v1 import notification_pb2_grpc
from oncall.errors import PermissionDenied
from oncall.store import migrate


async def test_teams_are_made_renamed_listed_and_deleted_over_grpc_and_rest(server: Any) -> None:
    async with server.channel() as channel:  # admin
        stub = access_pb2_grpc.TeamServiceStub(channel)
        made = await stub.CreateTeam(pb.CreateTeamRequest(id="payments", name="Payments"))
        assert (made.team.id, made.team.name) == ("payments", "Payments") and made.team.created_at.seconds
        await stub.CreateTeam(pb.CreateTeamRequest(id="search"))  # the name defaults to the id
        taken = await failure_of(stub.CreateTeam(pb.CreateTeamRequest(id="payments")))
        assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
        for bad in ("Payments", "-x", "a b", "x" * 64, ""):
            refused = await failure_of(stub.CreateTeam(pb.CreateTeamRequest(id=bad, name="n")))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        renamed = await stub.UpdateTeam(pb.UpdateTeamRequest(id="search", name="Search & Discovery"))
        assert renamed.team.name == "Search & Discovery"
        assert (await failure_of(stub.UpdateTeam(pb.UpdateTeamRequest(id="search", name=" ")))).code() == \
            grpc.StatusCode.INVALID_ARGUMENT
        listed = await stub.ListTeams(pb.ListTeamsRequest())
        assert [(t.id, t.name) for t in listed.teams] == [("payments", "Payments"), ("search", "Search & Discovery")]
        assert not (await stub.ListTeams(pb.ListTeamsRequest(my_teams=True))).teams  # the admin key has no team
        missing = await failure_of(stub.GetTeam(pb.GetTeamRequest(id="nope")))
        assert missing.code() == grpc.StatusCode.NOT_FOUND
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with aiohttp.ClientSession(base_url=server.http_url, headers=headers) as http:
        async with http.get("/api/v1/teams/payments") as r:
            assert r.status == 200 and (await r.json())["team"]["name"] == "Payments"
        async with http.post("/api/v1/teams", json={"id": "ops"}) as r:
            assert r.status == 200
        async with http.delete("/api/v1/teams/ops") as r:
            assert r.status == 200
        async with http.get("/api/v1/teams") as r:
            assert [t["id"] for t in (await r.json())["teams"]] == ["payments", "search"]
    # a viewer reads teams, only an admin changes them
    _, viewer = await make_key(server.ctx.pool, "viewer", name="vi")
    async with server.channel(viewer) as channel:
        stub = access_pb2_grpc.TeamServiceStub(channel)
        assert len((await stub.ListTeams(pb.ListTeamsRequest())).teams) == 2
        denied = await failure_of(stub.DeleteTeam(pb.DeleteTeamRequest(id="search")))
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_team_an_api_key_belongs_to_is_not_deleted_until_the_key_is_revoked(server: Any) -> None:
    await make_team(server.ctx.pool, "payments")
    key, _ = await make_key(server.ctx.pool, "editor", name="pay-ci", team_id="payments")
    async with server.channel() as channel:
        stub = access_pb2_grpc.TeamServiceStub(channel)
        used = await failure_of(stub.DeleteTeam(pb.DeleteTeamRequest(id="payments")))
        assert used.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"API key {key.id}" in used.details() and "payments" in used.details()
        assert [t.id for t in (await stub.ListTeams(pb.ListTeamsRequest())).teams] == ["payments"]
        await access_pb2_grpc.ApiKeyServiceStub(channel).RevokeApiKey(pb.RevokeApiKeyRequest(id=key.id))
        await stub.DeleteTeam(pb.DeleteTeamRequest(id="payments"))
        assert not (await stub.ListTeams(pb.ListTeamsRequest())).teams
    # a key for a team that does not exist is not made
    async with server.channel() as channel:
        gone = await failure_of(access_pb2_grpc.ApiKeyServiceStub(channel).CreateApiKey(
            pb.CreateApiKeyRequest(name="x", role="viewer", team_id="payments")))
        assert gone.code() == grpc.StatusCode.NOT_FOUND and "no team 'payments'" in gone.details()


async def test_the_cli_makes_lists_and_deletes_teams(server: Any, db_url: str) -> None:
    env = oncall_env(db_url)
    made = await asyncio.to_thread(run_cli, "teams", "create", "payments", "--name", "Payments", env=env)
    assert made.returncode == 0 and "created team payments (Payments)" in made.stdout, made.stderr
    bad = await asyncio.to_thread(run_cli, "teams", "create", "Not A Slug", env=env)
    assert bad.returncode == 1 and "is not a team id" in bad.stderr
    listed = await asyncio.to_thread(run_cli, "teams", "list", env=env)
    assert "payments" in listed.stdout and "Payments" in listed.stdout
    deleted = await asyncio.to_thread(run_cli, "teams", "delete", "payments", env=env)
    assert deleted.returncode == 0 and "deleted team payments" in deleted.stdout
    again = await asyncio.to_thread(run_cli, "teams", "delete", "payments", env=env)
    assert again.returncode == 1 and "no team 'payments'" in again.stderr


async def test_a_team_key_reads_as_a_viewer_and_makes_keys_only_for_its_team_within_its_role(server: Any) -> None:
    pool = server.ctx.pool
    for team in ("payments", "search"):
        await make_team(pool, team)
    key, admin_of_payments = await make_key(pool, "admin", name="pay-admin", team_id="payments")
    principal = key.principal()
    assert (principal.role, principal.team_roles) == ("viewer", (("payments", "admin"),))
    assert permissions.may(principal, "policies:write", "payments")
    assert not permissions.may(principal, "policies:write", "search")
    assert not permissions.may(principal, "policies:write", None)
    assert permissions.may(principal, "policies:read", None)
    async with server.channel(admin_of_payments) as channel:
        stub = access_pb2_grpc.ApiKeyServiceStub(channel)
        made = await stub.CreateApiKey(pb.CreateApiKeyRequest(name="pay-bot", role="responder", team_id="payments"))
        assert (made.api_key.role, made.api_key.team_id) == ("responder", "payments")
        for request in [
            pb.CreateApiKeyRequest(name="x", role="viewer", team_id="search"),  # another team
            pb.CreateApiKeyRequest(name="x", role="viewer"),  # every team
        ]:
            refused = await failure_of(stub.CreateApiKey(request))
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, request
        # it lists and revokes its team's keys only
        listed = await stub.ListApiKeys(pb.ListApiKeysRequest())
        assert {k.name for k in listed.api_keys} == {"pay-admin", "pay-bot"}
        other, _ = await make_key(pool, "viewer", name="search-ro", team_id="search")
        denied = await failure_of(stub.RevokeApiKey(pb.RevokeApiKeyRequest(id=other.id)))
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
        await stub.RevokeApiKey(pb.RevokeApiKeyRequest(id=made.api_key.id))
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT name FROM access.api_keys WHERE revoked_at IS NOT NULL ORDER BY name")
        assert [r["name"] for r in await cur.fetchall()] == ["pay-bot"]
    # an editor of payments may not make an admin key for payments (above its role there)
    editor_of_payments = Principal(kind="session", user_id="ann", role="viewer", team_roles=(("payments", "editor"),))
    with pytest.raises(PermissionDenied, match="editor in team payments may not grant admin"):
        keys.check_grant(editor_of_payments, "admin", "payments", (), None, datetime.now(UTC))
    assert keys.check_grant(editor_of_payments, "editor", "payments", (), None, datetime.now(UTC)) == ()


async def test_an_editor_of_a_team_edits_its_policies_only_and_cannot_move_them_out(server: Any) -> None:
    payments = await team_world(server, "payments")
    search = await team_world(server, "search")
    async with server.channel() as channel:
        loose = (await escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
            esc.CreatePolicyRequest(name="no-team", steps=[step()]))).policy
    assert loose.team_id == ""
    _, editor = await make_key(server.ctx.pool, "editor", name="pay-editor", team_id="payments")
    async with server.channel(editor) as channel:
        stub = escalation_pb2_grpc.EscalationServiceStub(channel)
        edited = await stub.UpdatePolicy(esc.UpdatePolicyRequest(
            policy_id=payments.policy, name="payments, edited", steps=[step("bob")]))
        assert (edited.policy.name, edited.policy.team_id) == ("payments, edited", "payments")  # unset: stays
        made = await stub.CreatePolicy(esc.CreatePolicyRequest(name="pay-2", steps=[step()], team_id="payments"))
        assert made.policy.team_id == "payments"
        refusals = {
            "no-team policy": stub.UpdatePolicy(esc.UpdatePolicyRequest(policy_id=loose.id, name="x", steps=[step()])),
            "search's policy": stub.UpdatePolicy(esc.UpdatePolicyRequest(
                policy_id=search.policy, name="x", steps=[step()])),
            "moved to search": stub.UpdatePolicy(esc.UpdatePolicyRequest(
                policy_id=payments.policy, name="x", steps=[step()], team_id="search")),
            "moved to no team": stub.UpdatePolicy(esc.UpdatePolicyRequest(
                policy_id=payments.policy, name="x", steps=[step()], team_id="")),
            "created with no team": stub.CreatePolicy(esc.CreatePolicyRequest(name="x", steps=[step()])),
            "deleted search's": stub.DeletePolicy(esc.DeletePolicyRequest(policy_id=search.policy)),
        }
        for what, call in refusals.items():
            refused = await failure_of(call)
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, what
        assert "teams/search/policies/" in (await failure_of(stub.DeletePolicy(
            esc.DeletePolicyRequest(policy_id=search.policy)))).details()
        # nothing refused was written
        listed = {p.name: p.team_id for p in (await stub.ListPolicies(esc.ListPoliciesRequest())).policies}
        assert listed == {"payments, edited": "payments", "pay-2": "payments", "search-policy": "search",
                          "no-team": ""}
        # the lists' team filters
        mine = await stub.ListPolicies(esc.ListPoliciesRequest(my_teams=True))
        assert sorted(p.name for p in mine.policies) == ["pay-2", "payments, edited"]
        named = await stub.ListPolicies(esc.ListPoliciesRequest(team_ids=["search"]))
        assert [p.name for p in named.policies] == ["search-policy"]
        both = await stub.ListPolicies(esc.ListPoliciesRequest(team_ids=["search"], my_teams=True))
        assert len(both.policies) == 3
        bad = await failure_of(stub.ListPolicies(esc.ListPoliciesRequest(team_ids=["Not A Team"])))
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
        schedules = await schedules_pb2_grpc.ScheduleServiceStub(channel).ListSchedules(
            sch.ListSchedulesRequest(my_teams=True))
        assert [s.team_id for s in schedules.schedules] == ["payments"]
        rules = await routing_pb2_grpc.RoutingServiceStub(channel).ListRules(rt.ListRulesRequest(team_ids=["search"]))
        assert [r.name for r in rules.rules] == ["search-rule"]
        grouping = await grouping_pb2_grpc.GroupingServiceStub(channel).ListGroupingRules(
            grp.ListGroupingRulesRequest(my_teams=True))
        assert [r.spec.name for r in grouping.rules] == ["payments-grouping"]
        templates = await notification_pb2_grpc.NotificationServiceStub(channel).ListTemplates(
            ntf.ListTemplatesRequest(my_teams=True))
        assert [t.id for t in templates.templates] == ["payments-pages"]
    async with server.channel() as channel:  # the admin everywhere has no teams of its own
        assert not (await escalation_pb2_grpc.EscalationServiceStub(channel).ListPolicies(
            esc.ListPoliciesRequest(my_teams=True))).policies
        # an admin moves a policy between teams
        moved = await escalation_pb2_grpc.EscalationServiceStub(channel).UpdatePolicy(esc.UpdatePolicyRequest(
            policy_id=loose.id, name="no-team", steps=[step()], team_id="search"))
        assert moved.policy.team_id == "search"
        unknown = await failure_of(escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
            esc.CreatePolicyRequest(name="ghost", steps=[step()], team_id="ghosts")))
        assert unknown.code() == grpc.StatusCode.NOT_FOUND


async def test_a_team_is_not_deleted_while_its_resources_belong_to_it(server: Any) -> None:
    payments = await team_world(server, "payments")
    async with server.channel() as channel:
        teams_stub = access_pb2_grpc.TeamServiceStub(channel)
        used = await failure_of(teams_stub.DeleteTeam(pb.DeleteTeamRequest(id="payments")))
        assert used.code() == grpc.StatusCode.FAILED_PRECONDITION
        for what in (f"escalation policy {payments.policy}", f"schedule {payments.schedule}",
                     f"routing rule {payments.rule}", f"grouping rule {payments.grouping_rule}",
                     f"template {payments.template}", f"API key {payments.key}"):
            assert what in used.details()
        assert [t.id for t in (await teams_stub.ListTeams(pb.ListTeamsRequest())).teams] == ["payments"]


def test_the_permission_rule_is_asked_with_a_resource_naming_the_team() -> None:
    asked: list[tuple[str, str, str | None]] = []

    def decide(principal: Principal, permission: str, resource: str, team: str | None) -> bool:
        asked.append((permission, resource, team))
        return team == "payments"

    editor = Principal(kind="api_key", user_id="k", role="viewer", team_roles=(("payments", "editor"),))
    tokens = (principal.current.set(editor), principal.deciding.set(decide))
    try:
        principal.require("policies:write", "policies/p1", "payments", "payments")
        with pytest.raises(PermissionDenied, match="teams/search/policies/p1"):
            principal.require("policies:write", "policies/p1", "payments", "search")
        with pytest.raises(PermissionDenied, match="a resource of no team needs the role everywhere"):
            principal.require("policies:write", "policies")
    finally:
        principal.current.reset(tokens[0])
        principal.deciding.reset(tokens[1])
    assert asked == [("policies:write", "teams/payments/policies/p1", "payments"),
                     ("policies:write", "teams/payments/policies/p1", "payments"),
                     ("policies:write", "teams/search/policies/p1", "search"),
                     ("policies:write", "policies", None)]
    principal.require("policies:write", "policies")  # no call being served: trusted


async def test_a_responder_of_a_team_acts_on_its_integrations_alerts_and_incidents_only(
    server: Any, db_url: str,
) -> None:
    payments = await team_world(server, "payments")
    search = await team_world(server, "search")
    _, responder = await make_key(server.ctx.pool, "responder", name="pay-oncall", team_id="payments")
    async with server.channel(responder) as channel:
        alerts = alerting_pb2_grpc.AlertServiceStub(channel)
        incidents = incidents_pb2_grpc.IncidentServiceStub(channel)
        acked = await alerts.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id=payments.alert,
                                                                                   user_id="ann"))
        assert (acked.alert.status, acked.alert.team_id) == (alerting_pb2.ALERT_STATUS_ACKNOWLEDGED, "payments")
        await incidents.ResolveIncident(inc.ResolveIncidentRequest(incident_id=payments.other_incident,
                                                                   user_id="ann"))
        raised = await alerts.CreateAlert(alerting_pb2.CreateAlertRequest(
            summary="by hand", integration_id=payments.integration))
        assert raised.alert.team_id == "payments"
        refusals = {
            "ack search's alert": alerts.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(
                alert_id=search.alert, user_id="ann")),
            "note on search's alert": alerts.AddNote(alerting_pb2.AddNoteRequest(
                alert_id=search.alert, user_id="ann", note="x")),
            "resolve search's incident": incidents.ResolveIncident(inc.ResolveIncidentRequest(
                incident_id=search.incident, user_id="ann")),
            "merge search's incident into payments'": incidents.MergeIncidents(inc.MergeIncidentsRequest(
                target_incident_id=payments.incident, source_incident_ids=[search.incident], user_id="ann")),
            "raise on search's integration": alerts.CreateAlert(alerting_pb2.CreateAlertRequest(
                summary="x", integration_id=search.integration)),
            "raise on the manual integration (no team)": alerts.CreateAlert(alerting_pb2.CreateAlertRequest(
                summary="x")),
        }
        for what, call in refusals.items():
            refused = await failure_of(call)
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, what
        # the lists' team filters
        mine = await alerts.ListAlerts(alerting_pb2.ListAlertsRequest(my_teams=True))
        assert {a.team_id for a in mine.alerts} == {"payments"} and len(mine.alerts) == 3
        theirs = await incidents.ListIncidents(inc.ListIncidentsRequest(team_ids=["search"]))
        assert {i.team_id for i in theirs.incidents} == {"search"} and len(theirs.incidents) == 2
        everyone = await incidents.ListIncidents(inc.ListIncidentsRequest())
        assert len(everyone.incidents) == 5
    async with server.channel() as channel:  # nothing of search's changed
        got = await alerting_pb2_grpc.AlertServiceStub(channel).GetAlert(
            alerting_pb2.GetAlertRequest(alert_id=search.alert))
        assert got.alert.status == alerting_pb2.ALERT_STATUS_TRIGGERED
        timeline = await alerting_pb2_grpc.AlertServiceStub(channel).GetAlertTimeline(
            alerting_pb2.GetAlertTimelineRequest(alert_id=search.alert))
        assert [e.kind for e in timeline.events if e.kind == "note"] == []
        assert not (await alerting_pb2_grpc.AlertServiceStub(channel).ListAlerts(
            alerting_pb2.ListAlertsRequest(my_teams=True))).alerts  # the admin key has no teams


async def test_the_cli_gives_an_integration_to_a_team(server: Any, db_url: str) -> None:
    await make_team(server.ctx.pool, "payments")
    integration, _ = await store.create_integration(server.ctx.pool, "generic", "hooks")
    env = oncall_env(db_url)
    given = await asyncio.to_thread(run_cli, "teams", "integration", str(integration.id), "payments", env=env)
    assert given.returncode == 0 and "now belongs to team payments" in given.stdout, given.stderr
    assert (await store.get_integration(server.ctx.pool, integration.id)).team_id == "payments"
    used = await asyncio.to_thread(run_cli, "teams", "delete", "payments", env=env)
    assert used.returncode == 1 and f"integration {integration.id}" in used.stderr
    unknown = await asyncio.to_thread(run_cli, "teams", "integration", str(integration.id), "ghosts", env=env)
    assert unknown.returncode == 1 and "no team 'ghosts'" in unknown.stderr
    back = await asyncio.to_thread(run_cli, "teams", "integration", str(integration.id), "-", env=env)
    assert back.returncode == 0 and "no team" in back.stdout
    assert (await store.get_integration(server.ctx.pool, integration.id)).team_id is None


async def test_migrating_keeps_team_keys_and_sessions_as_they_were_granted(fresh_database: Any, tmp_path: Any) -> None:
    url = fresh_database()
    everything = migrate.load_migrations()
    before = [m for m in everything if m.version < "0012"]
    for m in before:
        (tmp_path / f"{m.version}_{m.name}.sql").write_text(m.sql)
    await migrate.apply_migrations(url, tmp_path)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for name, team in (("db-key", "db"), ("odd-key", "Not A Slug"), ("all-key", None)):
            await conn.execute(
                """INSERT INTO access.api_keys (name, prefix, secret_hash, role, team_id, created_by)
                   VALUES (%s, %s, '\\x00', 'editor', %s, 'cli')""", (name, name[:3], team))
        await conn.execute(
            """INSERT INTO access.sessions (id_hash, user_id, role, team_ids, method, created_at, last_seen_at,
                                            expires_at)
               VALUES ('\\x01', 'ann', 'editor', '{payments}', 'oidc', now(), now(), now() + interval '1 day'),
                      ('\\x02', 'bob', 'admin', '{}', 'oidc', now(), now(), now() + interval '1 day')""")
    for m in everything:
        (tmp_path / f"{m.version}_{m.name}.sql").write_text(m.sql)
    assert await migrate.apply_migrations(url, tmp_path) == [m.version for m in everything if m.version >= "0012"]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT id FROM access.teams ORDER BY id")
        assert [r[0] for r in await cur.fetchall()] == ["db"]
        cur = await conn.execute(
            "SELECT name, team_id, revoked_at IS NOT NULL FROM access.api_keys ORDER BY id")
        assert await cur.fetchall() == [("db-key", "db", False), ("odd-key (team Not A Slug)", None, True),
                                        ("all-key", None, False)]
        cur = await conn.execute("SELECT user_id, role, team_roles FROM access.sessions ORDER BY user_id")
        assert await cur.fetchall() == [("ann", "viewer", {"payments": "editor"}), ("bob", "admin", {})]


async def test_an_admin_of_a_team_manages_its_integrations_only(server: Any) -> None:
    """Integrations belong to teams as the other resources do: admin@payments creates, renames,
    rotates and deletes payments' integrations, and none of no team or of search; a move needs
    the role in both teams; lists filter by team. Every refusal writes nothing."""
    from oncall.alerting.v1 import integrations_pb2 as ipb
    from oncall.alerting.v1 import integrations_pb2_grpc

    await make_team(server.ctx.pool, "payments")
    await make_team(server.ctx.pool, "search")
    theirs, _ = await store.create_integration(server.ctx.pool, "generic", "search-hooks", "search")
    nobodys, _ = await store.create_integration(server.ctx.pool, "generic", "shared-hooks")
    _, team_admin = await make_key(server.ctx.pool, "admin", name="pay-admin", team_id="payments")
    async with server.channel(team_admin) as channel:
        stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
        mine = (await stub.CreateIntegration(ipb.CreateIntegrationRequest(
            source="generic", name="pay-hooks", team_id="payments"))).integration
        assert mine.team_id == "payments"
        async with server.ctx.pool.connection() as conn:
            before = await (await conn.execute("SELECT * FROM alerting.integrations ORDER BY id")).fetchall()
        refused = [
            stub.CreateIntegration(ipb.CreateIntegrationRequest(source="generic", name="x")),
            stub.CreateIntegration(ipb.CreateIntegrationRequest(source="generic", name="y", team_id="search")),
            stub.UpdateIntegration(ipb.UpdateIntegrationRequest(integration_id=theirs.id, name="mine now")),
            stub.UpdateIntegration(ipb.UpdateIntegrationRequest(integration_id=nobodys.id, team_id="payments")),
            stub.UpdateIntegration(ipb.UpdateIntegrationRequest(integration_id=mine.id, team_id="search")),
            stub.UpdateIntegration(ipb.UpdateIntegrationRequest(integration_id=mine.id, team_id="")),
            stub.RotateIntegrationKey(ipb.RotateIntegrationKeyRequest(integration_id=theirs.id)),
            stub.DeleteIntegration(ipb.DeleteIntegrationRequest(integration_id=nobodys.id)),
        ]
        for call in refused:
            assert (await failure_of(call)).code() == grpc.StatusCode.PERMISSION_DENIED
        async with server.ctx.pool.connection() as conn:
            after = await (await conn.execute("SELECT * FROM alerting.integrations ORDER BY id")).fetchall()
        assert after == before
        renamed = (await stub.UpdateIntegration(ipb.UpdateIntegrationRequest(
            integration_id=mine.id, name="payments hooks", expected_version=mine.version))).integration
        assert (renamed.name, renamed.team_id, renamed.version) == ("payments hooks", "payments", mine.version + 1)
        assert (await stub.RotateIntegrationKey(ipb.RotateIntegrationKeyRequest(integration_id=mine.id))).key
        nothing = await failure_of(stub.UpdateIntegration(ipb.UpdateIntegrationRequest(integration_id=mine.id)))
        assert nothing.code() == grpc.StatusCode.INVALID_ARGUMENT
        listed = await stub.ListIntegrations(ipb.ListIntegrationsRequest(my_teams=True))
        assert [i.id for i in listed.integrations] == [mine.id]
        both = await stub.ListIntegrations(ipb.ListIntegrationsRequest(team_ids=["payments", "search"]))
        assert [i.id for i in both.integrations] == [theirs.id, mine.id]
        await stub.DeleteIntegration(ipb.DeleteIntegrationRequest(integration_id=mine.id))
