"""The renderer, router, directory and lifecycle contracts: each passes a plugin that keeps it and names a broken one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from oncall_hookspecs import (
    AlertLifecycleEvent,
    AlertView,
    ContactMethod,
    GroupingMatch,
    GroupingRule,
    RenderedPayload,
    RoutingDecision,
    RoutingRule,
    RuleActions,
    RuleProblem,
    RuleTrace,
    User,
)
from oncall_hookspecs.types import ALERT_LIFECYCLE_KINDS
from oncall_testkit import (
    ContractViolation,
    check_directory,
    check_grouper,
    check_lifecycle_listener,
    check_renderer,
    check_router,
)

# --------------------------------------------------------------------------- renderers


class GoodRenderer:
    channel = "pager"

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        text = template_output.get("text", "")
        if not text.strip():
            return RenderedPayload("pager", None, errors=["the message is empty"])
        if "\x00" in text or text.encode("utf-8", "replace").decode() != text:
            return RenderedPayload("pager", None, errors=["the message holds characters a pager cannot show"])
        if len(text) > 160:
            return RenderedPayload("pager", None, errors=[f"{len(text)} characters: a pager shows 160"])
        return RenderedPayload("pager", {"text": text})


DEFAULT = {"text": "CRITICAL: Disk full on db-1"}
TOO_LONG = {"text": "x" * 161}


def test_a_renderer_that_keeps_the_contract_passes() -> None:
    check_renderer(GoodRenderer(), DEFAULT, rejects=[TOO_LONG])


class Indexes(GoodRenderer):
    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        return super().render({"text": template_output["text"]}, context)


class TakesEverything(GoodRenderer):
    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        return RenderedPayload("pager", {"text": template_output.get("text", "")})


class WrongChannel(GoodRenderer):
    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        result = super().render(template_output, context)
        return RenderedPayload("sms", result.payload, result.warnings, result.errors)


class ParsesJson(GoodRenderer):
    """A JSON part parsed and looked up without checking what it holds."""

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        doc = json.loads(template_output.get("text", ""))
        return RenderedPayload("pager", {"text": doc["text"][:160]})


@pytest.mark.parametrize(
    ("renderer", "default", "message"),
    [
        (Indexes(), DEFAULT, "render raised KeyError"),
        (TakesEverything(), DEFAULT, "rendered with no errors"),
        (WrongChannel(), DEFAULT, "the payload is for channel 'sms'"),
        (ParsesJson(), {"text": '{"text": "Disk full"}'}, "render raised"),
    ],
    ids=["indexes", "takes-everything", "wrong-channel", "parses-json"],
)
def test_a_renderer_that_breaks_the_contract_is_named(renderer: GoodRenderer, default: Any, message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        check_renderer(renderer, default, rejects=[TOO_LONG])


class KeepsNul(GoodRenderer):
    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
        text = template_output.get("text", "")
        return RenderedPayload("pager", {"text": text[:160]}) if text else RenderedPayload("pager", None, errors=["empty"])


def test_a_payload_the_core_cannot_store_is_named() -> None:
    with pytest.raises(ContractViolation, match="NUL character|not JSON the core can store"):
        check_renderer(KeepsNul(), DEFAULT)


def test_a_default_with_errors_is_named() -> None:
    with pytest.raises(ContractViolation, match="the default template output has errors"):
        check_renderer(GoodRenderer(), TOO_LONG)


# --------------------------------------------------------------------------- routers


class LabelRouter:
    """Conditions are ``key=value`` on the alert's labels."""

    name = "labels"

    def validate(self, condition: str) -> list[RuleProblem]:
        key, sep, _ = condition.partition("=")
        if not sep or not key.strip():
            return [RuleProblem("a condition is key=value", position=0, line=1, column=1)]
        return []

    async def route(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
        decision = RoutingDecision()
        for rule in rules:
            if self.validate(rule.condition):
                decision.trace.append(RuleTrace(rule.id, rule.name, False, "invalid condition"))
                decision.errors.append(f"{rule.name}: invalid condition")
                continue
            key, _, value = rule.condition.partition("=")
            matched = alert.labels.get(key) == value
            decision.trace.append(RuleTrace(rule.id, rule.name, matched))
            if matched:
                decision.matched_rules.append(rule.name)
                decision.escalation_policy_id = decision.escalation_policy_id or rule.actions.escalation_policy_id
                if not rule.continue_:
                    break
        if not decision.matched_rules:
            decision.default_route = True
            decision.escalation_policy_id = default.escalation_policy_id
        return decision


VALID = ["team=storage", "instance=db-1"]
INVALID = ["no equals sign", "=storage"]


async def test_a_router_that_keeps_the_contract_passes() -> None:
    await check_router(LabelRouter(), valid=VALID, invalid=INVALID)


class ForgetsTheDefault(LabelRouter):
    async def route(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
        decision = await super().route(alert, rules, default)
        if decision.default_route:
            decision.escalation_policy_id = None
        return decision


class RaisesOnBadRules(LabelRouter):
    async def route(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
        for rule in rules:
            if self.validate(rule.condition):
                raise ValueError(f"bad condition {rule.condition!r}")
        return await super().route(alert, rules, default)


class ValidatesNothing(LabelRouter):
    def validate(self, condition: str) -> list[RuleProblem]:
        return []


class NamesRulesById(LabelRouter):
    async def route(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
        decision = await super().route(alert, rules, default)
        by_name = {r.name: r.id for r in rules}
        decision.matched_rules = [by_name[n] for n in decision.matched_rules]
        return decision


@pytest.mark.parametrize(
    ("router", "message"),
    [
        (ForgetsTheDefault(), "the policy must be the default's"),
        (RaisesOnBadRules(), "route raised ValueError"),
        (ValidatesNothing(), "validated with no problems"),
        (NamesRulesById(), "matched_rules must name given rules"),
    ],
    ids=["forgets-default", "raises", "validates-nothing", "ids-not-names"],
)
async def test_a_router_that_breaks_the_contract_is_named(router: LabelRouter, message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        await check_router(router, valid=VALID, invalid=INVALID)


# --------------------------------------------------------------------------- grouping routers


class LabelGrouper(LabelRouter):
    """Also groups: a key is label names, comma-separated for a list."""

    def validate_key(self, expression: str) -> list[RuleProblem]:
        if not expression.strip() or any(not name.strip() for name in expression.split(",")):
            return [RuleProblem("a key is label names, comma-separated", position=0, line=1, column=1)]
        return []

    def key(self, alert: AlertView, expression: str) -> str:
        names = [name.strip() for name in expression.split(",")]
        missing = [name for name in names if name not in alert.labels]
        if missing:
            raise ValueError(f"the key names missing labels {missing}")
        values = [alert.labels[name] for name in names]
        key = values[0] if len(values) == 1 else json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        if not key:
            raise ValueError("the key is an empty string")
        return key

    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        match = GroupingMatch()
        for rule in sorted(rules, key=lambda r: r.position):
            label, _, value = rule.condition.partition("=")
            if self.validate(rule.condition) or alert.labels.get(label) != value:
                match.trace.append(RuleTrace(rule.id, rule.name, False))
                continue
            try:
                key = self.key(alert, rule.key) if not self.validate_key(rule.key) else None
            except ValueError as exc:
                key, error = None, str(exc)
            else:
                error = "the key is invalid"
            if key is None:
                match.trace.append(RuleTrace(rule.id, rule.name, False, error))
                match.errors.append(f"rule {rule.name!r}: {error}")
                continue
            match.trace.append(RuleTrace(rule.id, rule.name, True))
            match.rule_id, match.rule_name, match.key = rule.id, rule.name, key
            return match
        return match


KEYS = ["alertname,instance", "alertname"]
INVALID_KEYS = ["", "alertname,,instance"]


async def test_a_grouping_router_that_keeps_the_contract_passes() -> None:
    await check_router(LabelGrouper(), valid=VALID, invalid=INVALID, keys=KEYS, invalid_keys=INVALID_KEYS)


async def test_a_grouping_router_checked_without_keys_is_told_to_give_them() -> None:
    with pytest.raises(ContractViolation, match="give check_router keys"):
        await check_router(LabelGrouper(), valid=VALID, invalid=INVALID)
    with pytest.raises(ContractViolation, match="not a Grouper"):
        await check_router(LabelRouter(), valid=VALID, invalid=INVALID, keys=KEYS, invalid_keys=INVALID_KEYS)


class GroupsInGivenOrder(LabelGrouper):
    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        return super().group(alert, [replace(r, position=i) for i, r in enumerate(rules)])


class KeyAsList(LabelGrouper):
    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        match = super().group(alert, rules)
        if match.key is not None and match.key.startswith("["):
            match.key = json.loads(match.key)
        return match


class RaisesOnBadKeys(LabelGrouper):
    def key(self, alert: AlertView, expression: str) -> str:
        if self.validate_key(expression):
            raise KeyError(expression)
        return super().key(alert, expression)

    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        for rule in rules:
            if alert.labels.get(rule.condition.partition("=")[0]) is not None:
                self.key(alert, rule.key)
        return super().group(alert, rules)


class StopsAtBadKeys(LabelGrouper):
    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        match = super().group(alert, rules)
        if match.errors:
            return GroupingMatch(trace=[t for t in match.trace if not t.matched], errors=match.errors)
        return match


class AsyncGroup(LabelGrouper):
    async def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:  # type: ignore[override]
        return super().group(alert, rules)


class AcceptsAnyKey(LabelGrouper):
    def validate_key(self, expression: str) -> list[RuleProblem]:
        return []


class TracesEveryRule(LabelGrouper):
    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        match = super().group(alert, rules)
        match.trace += [RuleTrace(r.id, r.name, False) for r in rules if r.id not in {t.rule_id for t in match.trace}]
        return match


@pytest.mark.parametrize(
    ("grouper", "message"),
    [
        (GroupsInGivenOrder(), "rules are walked by position"),
        (KeyAsList(), "the key of a match must be non-empty text"),
        (RaisesOnBadKeys(), "group raised KeyError"),
        (StopsAtBadKeys(), "the walk must go on"),
        (AsyncGroup(), "group must be synchronous"),
        (AcceptsAnyKey(), "validated with no problems"),
        (TracesEveryRule(), "must be the trace's last entry"),
    ],
    ids=["given-order", "key-as-list", "raises", "stops-at-bad-keys", "async", "accepts-any-key", "traces-past-match"],
)
def test_a_grouper_that_breaks_the_contract_is_named(grouper: LabelGrouper, message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        check_grouper(grouper, conditions=VALID, keys=KEYS, invalid_keys=INVALID_KEYS, max_examples=10)


# --------------------------------------------------------------------------- directories

ANN = User("ann", "Ann Example", "ann@example.com", contact_methods=(ContactMethod("sms-1", "sms", "+15555550100"),))


class DictDirectory:
    name = "dict"

    def __init__(self) -> None:
        self.users = {ANN.id: ANN}

    async def get_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def get_users(self, user_ids: Sequence[str]) -> list[User]:
        return [self.users[u] for u in dict.fromkeys(user_ids) if u in self.users]

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        user = self.users.get(user_id)
        return list(user.contact_methods) if user else []


async def test_a_directory_that_keeps_the_contract_passes() -> None:
    await check_directory(DictDirectory(), known=["ann"])


class RaisesForStrangers(DictDirectory):
    async def get_user(self, user_id: str) -> User | None:
        return self.users[user_id]


class NoneForNoMethods(DictDirectory):
    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        return await super().get_contact_methods(user_id) or None  # type: ignore[return-value]


class Duplicates(DictDirectory):
    async def get_users(self, user_ids: Sequence[str]) -> list[User]:
        return [ANN]


@pytest.mark.parametrize(
    ("directory", "message"),
    [
        (RaisesForStrangers(), "raised KeyError"),
        (NoneForNoMethods(), r"must be \[\] for an unknown user"),
        (Duplicates(), r"must be \[\] for a user that does not exist"),
    ],
    ids=["raises", "none", "everyone-is-ann"],
)
async def test_a_directory_that_breaks_the_contract_is_named(directory: DictDirectory, message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        await check_directory(directory, known=["ann"])


# --------------------------------------------------------------------------- lifecycle listeners


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.heard: list[str] = []

    async def on_alert_event(self, event: AlertLifecycleEvent) -> None:
        self.heard.append(event.kind)


async def test_a_listener_hears_every_kind_of_event() -> None:
    listener = Recorder()
    await check_lifecycle_listener(listener)
    assert set(listener.heard) == ALERT_LIFECYCLE_KINDS


async def test_a_listener_that_names_its_kinds_hears_those() -> None:
    listener = Recorder()
    listener.alert_kinds = ("routed", "created")  # type: ignore[attr-defined]
    await check_lifecycle_listener(listener)
    assert listener.heard == ["created", "routed"]


class OnlyTriggers(Recorder):
    async def on_alert_event(self, event: AlertLifecycleEvent) -> None:
        if event.kind not in ("created", "duplicate"):
            raise NotImplementedError(event.kind)


class Synchronous:
    name = "sync"

    def on_alert_event(self, event: AlertLifecycleEvent) -> None:
        return None


async def test_a_listener_that_breaks_the_contract_is_named() -> None:
    with pytest.raises(ContractViolation, match="on_alert_event\\('acknowledged'\\) raised NotImplementedError"):
        await check_lifecycle_listener(OnlyTriggers())
    with pytest.raises(ContractViolation, match="must be a coroutine function"):
        await check_lifecycle_listener(Synchronous())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- authentication


class GoodAuthenticator:
    name = "kit-auth"

    async def authenticate(self, request: Any) -> Any:
        from oncall_hookspecs import Principal

        if request.peer == "10.9.9.9" and request.header("x-user"):
            return Principal(kind="proxy", user_id=request.header("x-user"), role="viewer")
        return None


async def test_the_authentication_contract_passes_an_authenticator_that_keeps_it() -> None:
    from oncall_testkit import auth_request, check_authenticator

    [ann] = await check_authenticator(GoodAuthenticator(), [auth_request({"X-User": "ann"}, peer="10.9.9.9")])
    assert ann.user_id == "ann"


async def test_the_authentication_contract_names_an_authenticator_that_trusts_anyone() -> None:
    from oncall_hookspecs import Principal
    from oncall_testkit import check_authenticator

    class Gullible(GoodAuthenticator):
        async def authenticate(self, request: Any) -> Any:
            user = request.header("x-forwarded-user")
            return Principal(kind="proxy", user_id=user, role="admin") if user else None

    with pytest.raises(ContractViolation, match="vouched for an anonymous request"):
        await check_authenticator(Gullible())


async def test_the_authentication_contract_names_one_that_raises_or_answers_a_bad_principal() -> None:
    from oncall_hookspecs import Principal
    from oncall_testkit import auth_request, check_authenticator

    class Raises(GoodAuthenticator):
        async def authenticate(self, request: Any) -> Any:
            return request.headers["authorization"]

    with pytest.raises(ContractViolation, match="raised KeyError"):
        await check_authenticator(Raises())

    class NoRole(GoodAuthenticator):
        async def authenticate(self, request: Any) -> Any:
            return Principal(kind="proxy", user_id="ann", role="root") if request.peer == "10.9.9.9" else None

    with pytest.raises(ContractViolation, match="role must be one of"):
        await check_authenticator(NoRole(), [auth_request({}, peer="10.9.9.9")])


def test_the_permission_rule_contract_wants_true_false_or_none() -> None:
    from oncall_testkit import check_permission_rule

    class Rule:
        name = "kit-rule"

        def permission_allowed(self, principal: Any, action: str, resource: str) -> Any:
            return None if principal.role else False

    check_permission_rule(Rule())

    class Sloppy(Rule):
        def permission_allowed(self, principal: Any, action: str, resource: str) -> Any:
            return "yes"

    with pytest.raises(ContractViolation, match="True, False or None"):
        check_permission_rule(Sloppy())
