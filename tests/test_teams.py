"""Teams over real gRPC, REST and the CLI: teams made, renamed, listed and deleted (never while
something belongs to one); a role granted for one team acts on that team's resources only, and
a key made by a team's key stays within that team and its role."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import grpc
import pytest
from fixtures.auth import make_key, make_team
from fixtures.processes import oncall_env, run_cli
from fixtures.rpc import failure_of
from oncall_hookspecs import Principal

from oncall.access.v1 import access_pb2 as pb
from oncall.access.v1 import access_pb2_grpc
from oncall.auth import keys, permissions
from oncall.errors import PermissionDenied


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
