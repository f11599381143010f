"""No lost updates: a policy, routing rule or silence changed from a version someone has changed
since is refused (gRPC ABORTED, REST 409) and changes nothing; from the current version it goes through."""

from __future__ import annotations

import aiohttp
import grpc
from fixtures.grouping import rows
from fixtures.rpc import failure_of

from oncall.alerting.v1 import escalation_pb2 as epb
from oncall.alerting.v1 import escalation_pb2_grpc, routing_pb2_grpc, silences_pb2_grpc
from oncall.alerting.v1 import routing_pb2 as rpb
from oncall.alerting.v1 import silences_pb2 as spb


#: columns the running engine writes on its own time (a silence's release when it ends), not the call under test
_ENGINE_COLUMNS = frozenset({"released_at"})


async def table_rows(pool, table: str) -> list[dict]:
    """Every row of ``table`` (a fixed name from this file), in id order, less what the engine writes by itself."""
    found = await rows(pool, f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 - the tests' own constants
    return [{k: v for k, v in row.items() if k not in _ENGINE_COLUMNS} for row in found]


def _steps() -> list[epb.EscalationStep]:
    return [epb.EscalationStep(targets=[epb.EscalationTarget(kind=epb.TARGET_KIND_USER, id="alice")])]


async def test_a_stale_policy_update_is_aborted_and_changes_nothing(server):
    async with server.channel() as channel:
        stub = escalation_pb2_grpc.EscalationServiceStub(channel)
        made = (await stub.CreatePolicy(epb.CreatePolicyRequest(name="db", steps=_steps()))).policy
        # ann and bob both read version 1; ann saves first
        ann = await stub.UpdatePolicy(epb.UpdatePolicyRequest(
            policy_id=made.id, name="db", description="ann's", steps=_steps(), expected_version=made.version))
        assert ann.policy.version == made.version + 1
        before = await table_rows(server.ctx.pool, "alerting.escalation_policies")
        bob = await failure_of(stub.UpdatePolicy(epb.UpdatePolicyRequest(
            policy_id=made.id, name="db", description="bob's", steps=_steps(), expected_version=made.version)))
        assert bob.code() == grpc.StatusCode.ABORTED
        assert bob.details() == (f"policy 'db' is at version {made.version + 1}, not {made.version}: "
                                 "someone changed it; read it again and redo the change")
        assert await table_rows(server.ctx.pool, "alerting.escalation_policies") == before
        # without a version, the last writer wins as before; a missing policy is still NOT_FOUND
        await stub.UpdatePolicy(epb.UpdatePolicyRequest(policy_id=made.id, name="db", steps=_steps()))
        gone = await failure_of(stub.UpdatePolicy(epb.UpdatePolicyRequest(
            policy_id="nope", name="db", steps=_steps(), expected_version=1)))
        assert gone.code() == grpc.StatusCode.NOT_FOUND

    # over REST the same refusal is a 409, and nothing changes
    stale = {"name": "db", "description": "carol's", "expected_version": made.version,
             "steps": [{"targets": [{"kind": "TARGET_KIND_USER", "id": "alice"}]}]}
    before = await table_rows(server.ctx.pool, "alerting.escalation_policies")
    async with aiohttp.ClientSession() as http, http.put(
        f"{server.http_url}/api/v1/escalation-policies/{made.id}", json=stale,
        headers={"Authorization": f"Bearer {server.admin_key}"},
    ) as r:
        assert r.status == 409 and (await r.json())["detail"].startswith("policy 'db' is at version")
    assert await table_rows(server.ctx.pool, "alerting.escalation_policies") == before


async def test_a_stale_routing_rule_update_is_aborted_and_changes_nothing(server):
    async with server.channel() as channel:
        stub = routing_pb2_grpc.RoutingServiceStub(channel)
        made = (await stub.CreateRule(rpb.CreateRuleRequest(name="db", condition="true"))).rule
        await stub.UpdateRule(rpb.UpdateRuleRequest(rule_id=made.id, name="db", condition='labels.team == "db"',
                                                    expected_version=made.version))
        before = await table_rows(server.ctx.pool, "alerting.routing_rules")
        stale = await failure_of(stub.UpdateRule(rpb.UpdateRuleRequest(
            rule_id=made.id, name="db", condition="false", expected_version=made.version)))
        assert stale.code() == grpc.StatusCode.ABORTED and "rule 'db' is at version" in stale.details()
        assert await table_rows(server.ctx.pool, "alerting.routing_rules") == before


def _silence() -> spb.CreateSilenceRequest:
    request = spb.CreateSilenceRequest(
        matchers=[spb.Matcher(name="service", op=spb.MATCH_OPERATOR_EQUAL, value="db")],
        created_by="alice", comment="deploy")
    request.duration.FromSeconds(3600)
    return request


async def test_a_stale_silence_expiry_is_aborted_and_changes_nothing(server):
    async with server.channel() as channel:
        stub = silences_pb2_grpc.SilenceServiceStub(channel)
        made = (await stub.CreateSilence(_silence())).silence
        other = (await stub.CreateSilence(_silence())).silence
        assert made.version == 1 and made.state == spb.SILENCE_STATE_ACTIVE
        # ann and bob both read version 1; ann expires it first, from the version she read
        ann = (await stub.ExpireSilence(spb.ExpireSilenceRequest(
            silence_id=made.id, expected_version=made.version))).silence
        assert (ann.version, ann.state) == (made.version + 1, spb.SILENCE_STATE_EXPIRED)
        before = await table_rows(server.ctx.pool, "alerting.silences")
        bob = await failure_of(stub.ExpireSilence(spb.ExpireSilenceRequest(
            silence_id=made.id, expected_version=made.version)))
        assert bob.code() == grpc.StatusCode.ABORTED
        assert bob.details() == (f"silence {made.id!r} is at version {made.version + 1}, not {made.version}: "
                                 "someone changed it; read it again and redo the change")
        assert await table_rows(server.ctx.pool, "alerting.silences") == before
        # 0 is a version like any other (no silence has it); unset: no check, and expiring an
        # expired silence changes nothing, its version included
        zero = await failure_of(stub.ExpireSilence(spb.ExpireSilenceRequest(silence_id=other.id, expected_version=0)))
        assert zero.code() == grpc.StatusCode.ABORTED
        again = (await stub.ExpireSilence(spb.ExpireSilenceRequest(silence_id=made.id))).silence
        assert again.version == made.version + 1
        assert (await stub.GetSilence(spb.GetSilenceRequest(silence_id=made.id))).silence.version == again.version
        gone = await failure_of(stub.ExpireSilence(spb.ExpireSilenceRequest(silence_id="nope", expected_version=1)))
        assert gone.code() == grpc.StatusCode.NOT_FOUND

    # over REST the same refusal is a 409, and nothing changes; the current version goes through
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    before = await table_rows(server.ctx.pool, "alerting.silences")
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{server.http_url}/api/v1/silences/{other.id}/expire",
                             json={"expected_version": other.version + 1}) as r:
            assert r.status == 409
            assert (await r.json())["detail"].startswith(f"silence {other.id!r} is at version 1, not 2")
        assert await table_rows(server.ctx.pool, "alerting.silences") == before
        async with http.post(f"{server.http_url}/api/v1/silences/{other.id}/expire",
                             json={"expected_version": other.version}) as r:
            assert r.status == 200
            assert (await r.json())["silence"]["version"] == other.version + 1
