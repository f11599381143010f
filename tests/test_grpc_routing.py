"""oncall.alerting.v1.RoutingService through a real gRPC channel to a running server."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import psycopg
import pytest
from fixtures.rpc import failure_of, reflection_client
from google.protobuf.duration_pb2 import Duration

from oncall.alerting.v1 import alerting_pb2 as alerting_pb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.alerting.v1 import escalation_pb2 as escalation_pb
from oncall.alerting.v1 import escalation_pb2_grpc
from oncall.alerting.v1 import routing_pb2 as pb
from oncall.alerting.v1 import routing_pb2_grpc
from oncall.alerting.v1 import silences_pb2 as silences_pb
from oncall.alerting.v1 import silences_pb2_grpc

SERVICE = "oncall.alerting.v1.RoutingService"


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> routing_pb2_grpc.RoutingServiceStub:
    return routing_pb2_grpc.RoutingServiceStub(grpc_channel)


@pytest.fixture
def policies(grpc_channel: grpc.aio.Channel) -> escalation_pb2_grpc.EscalationServiceStub:
    return escalation_pb2_grpc.EscalationServiceStub(grpc_channel)


async def make_policy(policies: escalation_pb2_grpc.EscalationServiceStub, name: str) -> str:
    response = await policies.CreatePolicy(
        escalation_pb.CreatePolicyRequest(
            name=name,
            steps=[
                escalation_pb.EscalationStep(
                    targets=[escalation_pb.EscalationTarget(kind=escalation_pb.TARGET_KIND_USER, id="ada")]
                )
            ],
        )
    )
    return response.policy.id


async def create_rule(
    stub: routing_pb2_grpc.RoutingServiceStub, name: str, condition: str, **fields: Any
) -> pb.RoutingRule:
    return (await stub.CreateRule(pb.CreateRuleRequest(name=name, condition=condition, **fields))).rule


async def names(stub: routing_pb2_grpc.RoutingServiceStub) -> list[str]:
    listed = (await stub.ListRules(pb.ListRulesRequest())).rules
    assert [r.position for r in listed] == list(range(len(listed)))
    return [r.name for r in listed]


# --------------------------------------------------------------------------- rule CRUD and order


async def test_rules_are_created_in_place_read_updated_and_deleted(stub, policies):
    policy_id = await make_policy(policies, "db-primary")
    db = await create_rule(
        stub,
        "db critical",
        'labels.team == "db" && severity == "critical"',
        actions=pb.RuleActions(
            escalation_policy_id=policy_id,
            channel_destinations=["slack:#db"],
            set_labels={"routed": "db"},
        ),
    )
    assert db.id and (db.position, db.version) == (0, 1)
    assert db.condition == 'labels.team == "db" && severity == "critical"'
    assert db.actions.escalation_policy_id == policy_id
    assert list(db.actions.channel_destinations) == ["slack:#db"]
    assert dict(db.actions.set_labels) == {"routed": "db"}
    assert not db.continue_matching

    await create_rule(stub, "catch-all", "true")
    enrich = await create_rule(
        stub, "enrich", 'source == "grafana"', continue_matching=True, position=0,
        actions=pb.RuleActions(set_severity="warning"),
    )
    assert enrich.position == 0 and enrich.continue_matching
    assert await names(stub) == ["enrich", "db critical", "catch-all"]
    await create_rule(stub, "past the end", "true", position=99)
    assert await names(stub) == ["enrich", "db critical", "catch-all", "past the end"]

    got = (await stub.GetRule(pb.GetRuleRequest(rule_id=db.id))).rule
    assert got.name == "db critical" and got.position == 1

    updated = (
        await stub.UpdateRule(
            pb.UpdateRuleRequest(
                rule_id=db.id,
                name="db any severity",
                condition='labels.team == "db"',
                actions=pb.RuleActions(escalation_policy_id=policy_id, suppress=True),
                continue_matching=True,
            )
        )
    ).rule
    assert (updated.id, updated.name, updated.version, updated.position) == (db.id, "db any severity", 2, 1)
    assert updated.condition == 'labels.team == "db"'
    assert updated.continue_matching and updated.actions.suppress
    assert list(updated.actions.channel_destinations) == []  # an update replaces every action
    assert (await stub.GetRule(pb.GetRuleRequest(rule_id=db.id))).rule == updated

    await stub.DeleteRule(pb.DeleteRuleRequest(rule_id=enrich.id))
    assert await names(stub) == ["db any severity", "catch-all", "past the end"]
    for call in (
        stub.GetRule(pb.GetRuleRequest(rule_id=enrich.id)),
        stub.DeleteRule(pb.DeleteRuleRequest(rule_id=enrich.id)),
        stub.UpdateRule(pb.UpdateRuleRequest(rule_id=enrich.id, name="x", condition="true")),
    ):
        assert (await failure_of(call)).code() == grpc.StatusCode.NOT_FOUND


async def test_reorder_sets_the_whole_order_or_changes_nothing(stub):
    a = await create_rule(stub, "a", "true")
    b = await create_rule(stub, "b", "true")
    c = await create_rule(stub, "c", "true")

    reordered = await stub.ReorderRules(pb.ReorderRulesRequest(rule_ids=[c.id, a.id, b.id]))
    assert [(r.name, r.position) for r in reordered.rules] == [("c", 0), ("a", 1), ("b", 2)]
    assert await names(stub) == ["c", "a", "b"]

    missing = await failure_of(stub.ReorderRules(pb.ReorderRulesRequest(rule_ids=[a.id, b.id])))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert c.id in missing.details()
    twice = await failure_of(stub.ReorderRules(pb.ReorderRulesRequest(rule_ids=[a.id, b.id, c.id, a.id])))
    assert twice.code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = await failure_of(stub.ReorderRules(pb.ReorderRulesRequest(rule_ids=[a.id, b.id, c.id, "nope"])))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nope" in unknown.details()
    assert await names(stub) == ["c", "a", "b"]


# --------------------------------------------------------------------------- validation


async def test_a_condition_that_does_not_compile_is_refused_naming_where(stub):
    good = await create_rule(stub, "good", 'labels.team == "db"')

    bad = await failure_of(stub.CreateRule(pb.CreateRuleRequest(name="broken", condition='labels.team == "db" &&')))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "labels.team" in bad.details() and "line 1, column" in bad.details()

    bad = await failure_of(
        stub.UpdateRule(pb.UpdateRuleRequest(rule_id=good.id, name="good", condition="severity = 'critical'"))
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "line 1, column" in bad.details()

    rules = (await stub.ListRules(pb.ListRulesRequest())).rules
    assert [(r.name, r.condition, r.version) for r in rules] == [("good", 'labels.team == "db"', 1)]


async def test_malformed_rules_and_routes_are_invalid_argument_and_store_nothing(stub):
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for request in (
        pb.CreateRuleRequest(name="", condition="true"),
        pb.CreateRuleRequest(name="empty", condition="  "),
        pb.CreateRuleRequest(name="negative", condition="true", position=-1),
        pb.CreateRuleRequest(name="no policy", condition="true", actions=pb.RuleActions(escalation_policy_id="nope")),
        pb.CreateRuleRequest(name="sev", condition="true", actions=pb.RuleActions(set_severity="apocalyptic")),
        pb.CreateRuleRequest(name="dest", condition="true", actions=pb.RuleActions(channel_destinations=["ops"])),
        pb.CreateRuleRequest(name="label", condition="true", actions=pb.RuleActions(set_labels={"no spaces": "x"})),
    ):
        assert (await failure_of(stub.CreateRule(request))).code() == invalid, request
    no_policy = await failure_of(
        stub.SetDefaultRoute(pb.SetDefaultRouteRequest(actions=pb.RuleActions(escalation_policy_id="nope")))
    )
    assert no_policy.code() == invalid and "nope" in no_policy.details()
    assert (await failure_of(stub.GetRule(pb.GetRuleRequest()))).code() == invalid

    assert (await stub.ListRules(pb.ListRulesRequest())).rules == []
    assert (await stub.GetDefaultRoute(pb.GetDefaultRouteRequest())).actions == pb.RuleActions()


async def test_a_second_rule_with_the_same_name_already_exists(stub):
    await create_rule(stub, "db", "true")
    taken = await failure_of(stub.CreateRule(pb.CreateRuleRequest(name="db", condition="false")))
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await names(stub) == ["db"]


async def test_the_default_route_is_set_and_read_back(stub, policies):
    policy_id = await make_policy(policies, "fallback")
    actions = pb.RuleActions(
        escalation_policy_id=policy_id, channel_destinations=["slack:#triage"], template_id="brief"
    )

    assert (await stub.SetDefaultRoute(pb.SetDefaultRouteRequest(actions=actions))).actions == actions
    assert (await stub.GetDefaultRoute(pb.GetDefaultRouteRequest())).actions == actions

    await stub.SetDefaultRoute(pb.SetDefaultRouteRequest())
    assert (await stub.GetDefaultRoute(pb.GetDefaultRouteRequest())).actions == pb.RuleActions()



class FakeTickets:
    """A ticket provider as a plugin registers one (never asked for a ticket here)."""

    def __init__(self, name: str) -> None:
        self.name = name


def stored_routing(db_url: str) -> tuple[list[tuple[Any, ...]], Any]:
    """The rule rows and the routing config row, as the database holds them."""
    with psycopg.connect(db_url) as conn:
        rules = conn.execute("SELECT name, actions, version FROM alerting.routing_rules ORDER BY position").fetchall()
        config = conn.execute("SELECT default_actions, rules_version FROM alerting.routing_config").fetchone()
    return rules, config


async def test_a_ticket_provider_that_is_not_installed_is_refused_on_save_and_nothing_is_written(
    server, stub, db_url,
):
    kept = await create_rule(stub, "kept", "true")
    before = stored_routing(db_url)
    jira = pb.RuleActions(ticket_provider="jira")
    for call in (
        stub.CreateRule(pb.CreateRuleRequest(name="tickets", condition="true", actions=jira)),
        stub.UpdateRule(pb.UpdateRuleRequest(rule_id=kept.id, name="kept", condition="true", actions=jira)),
        stub.SetDefaultRoute(pb.SetDefaultRouteRequest(actions=jira)),
    ):
        refused = await failure_of(call)
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.details() == "ticket provider 'jira' is not installed (installed ticket providers: none)"
    assert stored_routing(db_url) == before

    # once installed providers exist, the refusal lists them, and an installed one is saved
    for name in ("servicenow", "ticket-webhook"):
        server.ctx.registry.ticket_providers[name] = FakeTickets(name)
    refused = await failure_of(stub.CreateRule(pb.CreateRuleRequest(name="tickets", condition="true", actions=jira)))
    assert refused.details() == (
        "ticket provider 'jira' is not installed (installed ticket providers: servicenow, ticket-webhook)"
    )
    assert stored_routing(db_url) == before
    saved = await create_rule(stub, "tickets", "true", actions=pb.RuleActions(ticket_provider="servicenow"))
    assert saved.actions.ticket_provider == "servicenow"
    default = pb.RuleActions(ticket_provider="ticket-webhook")
    assert (await stub.SetDefaultRoute(pb.SetDefaultRouteRequest(actions=default))).actions == default
    rules, (default_actions, _) = stored_routing(db_url)
    assert [(name, actions) for name, actions, _ in rules] == [("kept", {}), ("tickets", {"ticket_provider": "servicenow"})]
    assert default_actions == {"ticket_provider": "ticket-webhook"}


async def test_test_route_says_when_a_stored_rule_names_a_ticket_provider_no_longer_installed(server, stub):
    server.ctx.registry.ticket_providers["jira"] = FakeTickets("jira")
    await create_rule(stub, "tickets", "true", actions=pb.RuleActions(ticket_provider="jira"))
    del server.ctx.registry.ticket_providers["jira"]  # uninstalled after the rule was saved

    decision = (await stub.TestRoute(pb.TestRouteRequest(alert=pb.SampleAlert(summary="disk full")))).decision
    assert decision.ticket_provider == "jira"
    assert list(decision.errors) == [
        "ticket provider 'jira' is not installed (installed ticket providers: none): no ticket is opened"
    ]

# --------------------------------------------------------------------------- TestRoute


async def test_test_route_traces_each_rule_and_decides_without_side_effects(grpc_channel, stub, policies):
    db_policy = await make_policy(policies, "db-primary")
    fallback = await make_policy(policies, "fallback")
    await stub.SetDefaultRoute(pb.SetDefaultRouteRequest(actions=pb.RuleActions(escalation_policy_id=fallback)))
    await create_rule(
        stub, "enrich prod", 'labels.env == "prod"', continue_matching=True,
        actions=pb.RuleActions(set_labels={"tier": "1"}, set_severity="critical"),
    )
    # a runtime error (a string where a number is compared) does not match, routing goes on
    await create_rule(stub, "threshold", "int(annotations.runbook) > 3")
    await create_rule(
        stub, "db", 'labels.team == "db"',
        actions=pb.RuleActions(escalation_policy_id=db_policy, channel_destinations=["slack:#db"]),
    )
    await create_rule(stub, "after the match", "true")

    response = await stub.TestRoute(
        pb.TestRouteRequest(
            alert=pb.SampleAlert(
                summary="replication lag", severity="warning", labels={"team": "db", "env": "prod"},
                annotations={"runbook": "https://runbooks/db"}, source="alertmanager", integration="prom",
            )
        )
    )
    decision = response.decision
    # evaluation stops at the first match that does not continue: "after the match" is absent
    assert [(t.rule_name, t.matched, bool(t.error)) for t in decision.trace] == [
        ("enrich prod", True, False),
        ("threshold", False, True),
        ("db", True, False),
    ]
    assert list(decision.matched_rules) == ["enrich prod", "db"]
    assert not decision.default_route
    assert decision.escalation_policy_id == db_policy
    assert list(decision.channel_destinations) == ["slack:#db"]
    assert decision.severity == "critical"
    assert dict(decision.labels) == {"tier": "1"}
    assert not decision.suppress
    [error] = decision.errors
    assert error.startswith("rule 'threshold'")
    assert response.silenced_by == ""

    # nothing was stored, and no one was paged
    alerts = alerting_pb2_grpc.AlertServiceStub(grpc_channel)
    assert (await alerts.ListAlerts(alerting_pb.ListAlertsRequest())).alerts == []
    requests = await policies.ListNotificationRequests(escalation_pb.ListNotificationRequestsRequest())
    assert requests.requests == []


async def test_test_route_falls_back_to_the_default_route_when_nothing_matches(stub, policies):
    fallback = await make_policy(policies, "fallback")
    await stub.SetDefaultRoute(
        pb.SetDefaultRouteRequest(actions=pb.RuleActions(escalation_policy_id=fallback, template_id="brief"))
    )
    await create_rule(stub, "db only", 'labels.team == "db"', actions=pb.RuleActions(suppress=True))

    decision = (
        await stub.TestRoute(pb.TestRouteRequest(alert=pb.SampleAlert(summary="x", labels={"team": "web"})))
    ).decision
    assert decision.default_route and list(decision.matched_rules) == []
    assert (decision.escalation_policy_id, decision.template_id) == (fallback, "brief")
    assert [(t.rule_name, t.matched) for t in decision.trace] == [("db only", False)]

    suppressed = (
        await stub.TestRoute(pb.TestRouteRequest(alert=pb.SampleAlert(summary="x", labels={"team": "db"})))
    ).decision
    assert suppressed.suppress and list(suppressed.matched_rules) == ["db only"]


async def test_test_route_names_the_silence_that_would_hold_the_alert(grpc_channel, stub, policies):
    policy_id = await make_policy(policies, "primary")
    await stub.SetDefaultRoute(pb.SetDefaultRouteRequest(actions=pb.RuleActions(escalation_policy_id=policy_id)))
    silences = silences_pb2_grpc.SilenceServiceStub(grpc_channel)
    silence = (
        await silences.CreateSilence(
            silences_pb.CreateSilenceRequest(
                matchers=[silences_pb.Matcher(name="tier", op=silences_pb.MATCH_OPERATOR_EQUAL, value="1")],
                duration=Duration(seconds=3600),
                created_by="ada",
            )
        )
    ).silence
    # the label the silence matches is one a rule adds: silences see the routed alert
    await create_rule(stub, "tier 1", 'labels.team == "db"', actions=pb.RuleActions(set_labels={"tier": "1"}))

    held = await stub.TestRoute(pb.TestRouteRequest(alert=pb.SampleAlert(summary="x", labels={"team": "db"})))
    assert held.silenced_by == silence.id
    free = await stub.TestRoute(pb.TestRouteRequest(alert=pb.SampleAlert(summary="x", labels={"team": "web"})))
    assert free.silenced_by == ""


async def test_test_route_refuses_a_missing_or_malformed_sample(stub):
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for request in (
        pb.TestRouteRequest(),
        pb.TestRouteRequest(alert=pb.SampleAlert(severity="doom")),
        pb.TestRouteRequest(alert=pb.SampleAlert(status=9)),
    ):
        assert (await failure_of(stub.TestRoute(request))).code() == invalid, request


# --------------------------------------------------------------------------- reflection


def create_and_test_by_reflection(target: str, token: str) -> tuple[list[str], str, list[tuple[str, bool]], list[str]]:
    """A client with no generated code: everything it knows comes from server reflection.

    Creates a rule, then routes a sample alert; returns the services the server lists, the
    rule's id, the decision's trace as (rule name, matched) and its matched rules.
    """
    with reflection_client(target, token) as client:
        created = client.method(SERVICE, "CreateRule")(name="checkout", condition='labels.service == "checkout"')
        tested = client.method(SERVICE, "TestRoute")(
            alert={"summary": "5xx rate high", "labels": {"service": "checkout"}}
        )
        trace = [(t.rule_name, t.matched) for t in tested.decision.trace]
        return client.services, created.rule.id, trace, list(tested.decision.matched_rules)


async def test_a_client_knowing_only_reflection_creates_a_rule_and_tests_a_route(server, stub):
    services, rule_id, trace, matched = await asyncio.to_thread(create_and_test_by_reflection, server.grpc_target,
                                                                    server.admin_key)

    assert {
        SERVICE,
        "oncall.alerting.v1.EscalationService",
        "oncall.alerting.v1.SilenceService",
        "oncall.alerting.v1.HeartbeatService",
    } <= set(services)
    assert trace == [("checkout", True)]
    assert matched == ["checkout"]
    assert (await stub.GetRule(pb.GetRuleRequest(rule_id=rule_id))).rule.name == "checkout"
