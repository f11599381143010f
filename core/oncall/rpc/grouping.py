"""The grouping service's gRPC servicer (oncall.alerting.v1.GroupingService), and its conversions.

A thin delegate to ``grouping.store`` (rules), ``grouping.presets`` and ``grouping.replay``
(TestGrouping). Rules are validated by the router the routing pass routes with. After a
change commits, this process's grouping cache is refreshed at once, so the next alert this
process stores is grouped by the new rules (other replicas reload when notified).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeAlias

import grpc

from ..alerting.v1 import grouping_pb2 as pb
from ..alerting.v1 import grouping_pb2_grpc
from ..context import Context
from ..errors import InvalidArgument
from ..grouping import presets, replay, store
from ..grouping.assign import StoredRule
from ..grouping.store import RuleSpec
from ..routing.route import Routing
from . import convert, teams

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["GroupingService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext


# --------------------------------------------------------------------------- conversions


def spec_from_proto(spec: pb.GroupingRuleSpec, base: RuleSpec | None = None) -> RuleSpec:
    """The spec a request carries; over ``base`` (a preset's), only the fields it sets."""
    integration_id = spec.integration_id if spec.HasField("integration_id") else None
    window_seconds = spec.window_seconds if spec.HasField("window_seconds") else None
    idle_seconds = spec.idle_seconds if spec.HasField("idle_seconds") else None
    resolve_on = spec.resolve_on.strip().lower()
    if base is not None:
        # a limit set here replaces the preset's, of either kind
        if window_seconds is not None or idle_seconds is not None:
            base = replace(base, window_seconds=None, idle_seconds=None)
        return base.overridden(
            name=spec.name.strip(), condition=spec.condition, key=spec.key, integration_id=integration_id,
            window_seconds=window_seconds, idle_seconds=idle_seconds, resolve_on=resolve_on,
            title_template=spec.title_template, repage_on_new_alert=True if spec.repage_on_new_alert else None,
        )
    return RuleSpec(
        name=spec.name.strip(), condition=spec.condition, key=spec.key, integration_id=integration_id,
        window_seconds=window_seconds, idle_seconds=idle_seconds, resolve_on=resolve_on or "all",
        title_template=spec.title_template, repage_on_new_alert=spec.repage_on_new_alert,
    )


def spec_to_proto(spec: RuleSpec) -> pb.GroupingRuleSpec:
    return pb.GroupingRuleSpec(
        name=spec.name, condition=spec.condition, key=spec.key, integration_id=spec.integration_id,
        window_seconds=spec.window_seconds, idle_seconds=spec.idle_seconds, resolve_on=spec.resolve_on,
        title_template=spec.title_template, repage_on_new_alert=spec.repage_on_new_alert,
    )


def rule_to_proto(rule: StoredRule) -> pb.GroupingRule:
    return pb.GroupingRule(
        id=rule.id, spec=spec_to_proto(store.spec_of(rule)), position=rule.position, version=rule.version,
        created_at=convert.timestamp(rule.created_at), updated_at=convert.timestamp(rule.updated_at),
        team_id=rule.team_id or "",
    )


def preset_to_proto(preset: presets.Preset) -> pb.GroupingPreset:
    return pb.GroupingPreset(name=preset.name, description=preset.description, spec=spec_to_proto(preset.spec))


def replay_to_proto(result: replay.Replay) -> pb.TestGroupingResponse:
    return pb.TestGroupingResponse(
        incidents=[
            pb.TestedIncident(
                key=i.key, alert_ids=i.alert_ids, alert_count=len(i.alert_ids),
                first_alert_at=convert.timestamp(i.first_alert_at), last_alert_at=convert.timestamp(i.last_alert_at),
                title=i.title, resolved_at=convert.timestamp(i.resolved_at),
                joinable_until=convert.timestamp(i.joinable_until),
            )
            for i in result.incidents
        ],
        not_taken_alert_ids=result.not_taken, errors=result.errors, alerts_replayed=result.alerts_replayed,
        truncated=result.truncated,
    )


def _position(request: pb.CreateGroupingRuleRequest | pb.UpdateGroupingRuleRequest) -> int | None:
    if not request.HasField("position"):
        return None
    if request.position < 0:
        raise InvalidArgument(f"position is 0-based and cannot be negative, got {request.position}")
    return request.position


# --------------------------------------------------------------------------- the servicer


class GroupingService(grouping_pb2_grpc.GroupingServiceServicer):
    """oncall.alerting.v1.GroupingService over the grouping rules of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        # the routing pass's router: it validates what ingest will evaluate
        self._routing: Routing = ctx.routing or Routing(ctx)

    async def _applied(self) -> None:
        """Have this process group by the rules just committed."""
        if self._ctx.ingestor.grouping is not None:
            await self._ctx.ingestor.grouping.refresh()

    async def CreateGroupingRule(
        self, request: pb.CreateGroupingRuleRequest, context: _Call
    ) -> pb.CreateGroupingRuleResponse:
        base = presets.preset(request.preset.strip()).spec if request.preset.strip() else None
        spec = spec_from_proto(request.spec, base)
        rule = await store.create_rule(self._ctx.pool, self._routing.router, spec, _position(request),
                                       teams.created_in(request.team_id))
        await self._applied()
        return pb.CreateGroupingRuleResponse(rule=rule_to_proto(rule))

    async def GetGroupingRule(self, request: pb.GetGroupingRuleRequest, context: _Call) -> pb.GetGroupingRuleResponse:
        rule = await store.get_rule(self._ctx.pool, convert.required(request.rule_id, "rule_id"))
        return pb.GetGroupingRuleResponse(rule=rule_to_proto(rule))

    async def ListGroupingRules(
        self, request: pb.ListGroupingRulesRequest, context: _Call
    ) -> pb.ListGroupingRulesResponse:
        listed = await store.list_rules(self._ctx.pool, teams.team_filter(request))
        return pb.ListGroupingRulesResponse(rules=[rule_to_proto(r) for r in listed])

    async def UpdateGroupingRule(
        self, request: pb.UpdateGroupingRuleRequest, context: _Call
    ) -> pb.UpdateGroupingRuleResponse:
        rule_id = convert.required(request.rule_id, "rule_id")
        if not request.HasField("spec"):
            raise InvalidArgument("spec is required: the rule's fields")
        if request.expected_version <= 0:
            raise InvalidArgument("expected_version is required: the version of the rule you read")
        rule = await store.update_rule(
            self._ctx.pool, self._routing.router, rule_id, spec_from_proto(request.spec), request.expected_version,
            _position(request), teams.moved_to(request),
        )
        await self._applied()
        return pb.UpdateGroupingRuleResponse(rule=rule_to_proto(rule))

    async def DeleteGroupingRule(
        self, request: pb.DeleteGroupingRuleRequest, context: _Call
    ) -> pb.DeleteGroupingRuleResponse:
        await store.delete_rule(self._ctx.pool, convert.required(request.rule_id, "rule_id"))
        await self._applied()
        return pb.DeleteGroupingRuleResponse()

    async def ReorderGroupingRules(
        self, request: pb.ReorderGroupingRulesRequest, context: _Call
    ) -> pb.ReorderGroupingRulesResponse:
        ordered = await store.reorder_rules(self._ctx.pool, convert.rule_ids(request.rule_ids))
        await self._applied()
        return pb.ReorderGroupingRulesResponse(rules=[rule_to_proto(r) for r in ordered])

    async def ListGroupingPresets(
        self, request: pb.ListGroupingPresetsRequest, context: _Call
    ) -> pb.ListGroupingPresetsResponse:
        return pb.ListGroupingPresetsResponse(presets=[preset_to_proto(p) for p in presets.PRESETS])

    async def TestGrouping(self, request: pb.TestGroupingRequest, context: _Call) -> pb.TestGroupingResponse:
        router = self._routing.router
        which = request.WhichOneof("rule")
        if which == "rule_id":
            stored = await store.get_rule(self._ctx.pool, convert.required(request.rule_id, "rule_id"))
            spec, rule = store.spec_of(stored), stored.contract()
        else:
            if which == "preset":
                spec = presets.preset(request.preset.strip()).spec
            elif which == "draft":
                spec = spec_from_proto(request.draft)
            else:
                raise InvalidArgument("say which rule to test: a draft, a rule_id or a preset")
            async with self._ctx.pool.connection() as conn:
                await store.check_spec(conn, router, spec, draft=True)
            rule = replay.draft_rule(spec)
        since = convert.instant(request.since, "since") if request.HasField("since") else None
        until = convert.instant(request.until, "until") if request.HasField("until") else None
        if request.last < 0:
            raise InvalidArgument(f"last must be between 1 and {replay.MAX_ALERTS}, got {request.last}")
        result = await replay.dry_run(self._ctx.pool, router, rule, spec, since=since, until=until,
                                      last=request.last or None)
        return replay_to_proto(result)


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the grouping servicer to ``server``; return its full service name."""
    grouping_pb2_grpc.add_GroupingServiceServicer_to_server(GroupingService(ctx), server)
    return [SERVICE_NAME]
