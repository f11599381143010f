"""No lost updates: a policy or routing rule changed from a version someone has changed since is
refused (gRPC ABORTED, REST 409) and changes nothing; from the current version it goes through."""

from __future__ import annotations

import aiohttp
import grpc
from fixtures.grouping import rows
from fixtures.rpc import failure_of

from oncall.alerting.v1 import escalation_pb2 as epb
from oncall.alerting.v1 import escalation_pb2_grpc, routing_pb2_grpc
from oncall.alerting.v1 import routing_pb2 as rpb


async def table_rows(pool, table: str) -> list[dict]:
    """Every row of ``table`` (a fixed name from this file), in id order."""
    return await rows(pool, f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 - the tests' own constants


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
