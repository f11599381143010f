"""One test per hook of the contract (the gate in hookspecs/tests/test_docs.py looks for them by name): a plugin
implements the hook, the core's loader calls it, and the core uses what it registered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from oncall.config import Settings
from oncall.context import Context
from oncall.directory.client import open_directory
from oncall.routing.route import pick_router
from oncall.http.channels import add_routes
from oncall.notification import channels
from oncall.notification.pipeline import render_for
from oncall.notification.templates import SAMPLE_CONTEXT, Template
from oncall.plugins import Registry, load_plugins
from oncall_hookspecs import (
    AlertLifecycleEvent,
    AlertView,
    CallbackRoute,
    ChannelMessage,
    ChannelSpec,
    ContactMethod,
    DeliveryResult,
    Escape,
    InboundRequest,
    RenderedPayload,
    RoutingDecision,
    RoutingRule,
    RuleActions,
    RuleProblem,
    Ticket,
    User,
    WebhookResponse,
    hookimpl,
)
from oncall_testkit import alert_view


def loaded(name: str, **hooks: Any) -> Registry:
    """The registry after the core loads one plugin implementing ``hooks`` (beside the installed ones)."""
    plugin = SimpleNamespace(**{hook: hookimpl(fn) for hook, fn in hooks.items()})
    _, registry = load_plugins(extra=[(name, plugin)])
    [info] = [p for p in registry.plugins if p.name == name]
    assert (info.status, info.hooks) == ("ok", sorted(hooks)), info.error
    return registry


def context(registry: Registry, **settings: Any) -> Context:
    # a context without a database: these hooks' objects are used without one
    no_pool: Any = None
    return Context(settings=Settings(**settings), pool=no_pool, registry=registry, ingestor=no_pool, database_url="")


def test_hook_register_sources_serves_the_source_at_its_paths() -> None:
    class Source:
        name = "hook-source"
        paths = ("/hooks/hook-source",)

        def parse(self, request: InboundRequest) -> list[Any]:
            return []

    registry = loaded("hook-source-plugin", register_sources=lambda register: register(Source()))
    assert isinstance(registry.sources["hook-source"], Source)
    assert registry.source_paths["/hooks/hook-source"] == "hook-source"


def test_hook_register_routers_gives_the_router_oncall_router_names() -> None:
    class Router:
        name = "hook-router"

        def validate(self, condition: str) -> list[RuleProblem]:
            return []

        async def route(self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions) -> RoutingDecision:
            return RoutingDecision(default_route=True)

    registry = loaded("hook-router-plugin", register_routers=lambda register: register(Router()))
    assert isinstance(pick_router(context(registry, router="hook-router")), Router)


def test_hook_register_renderers_renders_the_channels_payload() -> None:
    class Renderer:
        channel = "sms"

        def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
            return RenderedPayload("sms", {"hooked": template_output["text"]})

    plugin = SimpleNamespace(register_renderers=hookimpl(lambda register: register(Renderer())))
    # the installed renderers plugin registers "sms" too: block it, as ONCALL_DISABLE_PLUGINS would
    _, registry = load_plugins(disabled=["renderers"], extra=[("hook-renderer-plugin", plugin)])
    result = render_for(Template(), "sms", SAMPLE_CONTEXT, registry.renderers)
    assert result.errors == []
    assert "High error rate on payments-api" in result.payload["hooked"]


def test_hook_register_channels_mounts_the_channels_callbacks() -> None:
    async def handler(request: InboundRequest) -> WebhookResponse:
        return WebhookResponse(204)

    class Channel:
        name = "hook-channel"
        routes = (CallbackRoute("POST", "/events", handler),)

        async def send(self, message: ChannelMessage) -> DeliveryResult:
            return DeliveryResult(ok=True)

    registry = loaded("hook-channel-plugin", register_channels=lambda register: register(Channel()))
    app = web.Application()
    add_routes(app, context(registry))
    mounted = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert ("POST", "/api/v1/channels/hook-channel/events") in mounted


def test_hook_register_channel_specs_makes_a_channel_the_core_templates_and_renders() -> None:
    spec = ChannelSpec(name="hook-chat", parts={"text": Escape.TEXT}, defaults={"text": "hooked {{ alert.id }}"},
                       label="Hook chat", aliases=("hc",))

    class Renderer:
        channel = "hook-chat"

        def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload:
            return RenderedPayload("hook-chat", {"text": template_output["text"]})

    registry = loaded("hook-spec-plugin", register_channel_specs=lambda register: register(spec),
                      register_renderers=lambda register: register(Renderer()))
    assert registry.channel_specs["hook-chat"] is spec
    previous = channels.install(channels.ChannelCatalog.from_registry(registry))
    try:
        assert render_for(Template(), "hook-chat", SAMPLE_CONTEXT, registry.renderers).payload == {"text": "hooked 4217"}
        assert Template.from_mapping({"hook-chat": "mine"}).source("hook-chat", "text") == "mine"
        assert channels.current().resolve("HC") == "hook-chat" and channels.current().label("hook-chat") == "Hook chat"
    finally:
        channels.install(previous)


def test_hook_register_ticket_providers_keeps_the_provider_by_name() -> None:
    class Provider:
        name = "hook-tickets"

        async def create_ticket(self, alert: AlertView) -> Ticket:
            return Ticket("hook-tickets", "T-1")

        async def update_ticket(self, ticket: Ticket, alert: AlertView) -> Ticket:
            return ticket

        async def sync_ticket(self, ticket: Ticket) -> Ticket:
            return ticket

    registry = loaded("hook-tickets-plugin", register_ticket_providers=lambda register: register(Provider()))
    assert isinstance(registry.ticket_providers["hook-tickets"], Provider)


async def test_hook_register_directories_answers_the_cores_lookups() -> None:
    ann = User("ann", "Ann", contact_methods=(ContactMethod("sms-1", "sms", "+15555550100"),))

    class Directory:
        name = "hook-directory"

        async def get_user(self, user_id: str) -> User | None:
            return ann if user_id == "ann" else None

        async def get_users(self, user_ids: Sequence[str]) -> list[User]:
            return [ann] if "ann" in user_ids else []

        async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
            return list(ann.contact_methods) if user_id == "ann" else []

    registry = loaded("hook-directory-plugin", register_directories=lambda register: register(Directory()))
    directory = open_directory(registry.directories, {"ONCALL_DIRECTORY": "hook-directory"})
    assert directory is not None
    assert (await directory.contact_methods("ann")).value == ann.contact_methods


def test_hook_register_lifecycle_listeners_keeps_the_listener_by_name() -> None:
    class Listener:
        name = "hook-listener"

        async def on_alert_event(self, event: AlertLifecycleEvent) -> None:
            return None

    registry = loaded("hook-listener-plugin", register_lifecycle_listeners=lambda register: register(Listener()))
    assert isinstance(registry.lifecycle_listeners["hook-listener"], Listener)
    assert alert_view().status == "triggered"  # the kit's builders make what a listener hears


async def test_hook_register_authenticators_is_asked_after_the_api_keys_and_its_principal_is_the_caller() -> None:
    from oncall.auth.access import Access
    from oncall_hookspecs import AuthRequest, Principal

    class HeaderAuth:
        name = "hook-auth"

        async def authenticate(self, request: AuthRequest) -> Principal | None:
            user = request.header("x-hook-user")
            return Principal(kind="proxy", user_id=user, role="responder", via=self.name) if user else None

    registry = loaded("hook-auth-plugin", register_authenticators=lambda register: register(HeaderAuth()))
    no_pool: Any = None  # neither request carries an API key, so the database is never asked
    access = Access(no_pool, registry.authenticators.values())
    assert [a.name for a in access.authenticators][:2] == ["api-key", "hook-auth"]
    ann = await access.authenticate(AuthRequest(transport="grpc", headers={"x-hook-user": "ann"}))
    assert ann is not None and (ann.user_id, ann.role) == ("ann", "responder")
    assert access.allowed(ann, "alerts:ack", "alerts/1") and not access.allowed(ann, "policies:write", "policies")
    assert await access.authenticate(AuthRequest(transport="grpc", headers={})) is None


def test_hook_register_permission_rules_narrows_and_widens_what_a_role_allows() -> None:
    from oncall.auth.access import Access
    from oncall_hookspecs import Principal

    class BreakGlass:
        """Responders may edit policies of team 'db'; nobody may write silences."""

        name = "hook-rule"

        def permission_allowed(self, principal: Principal, action: str, resource: str) -> bool | None:
            if action == "silences:write":
                return False
            if action == "policies:write" and principal.role == "responder" and principal.user_id == "db-oncall":
                return True
            return None

    registry = loaded("hook-rule-plugin", register_permission_rules=lambda register: register(BreakGlass()))
    no_pool: Any = None
    access = Access(no_pool, rules=registry.permission_rules.values())
    admin = Principal(kind="api_key", user_id="root", role="admin")
    db = Principal(kind="proxy", user_id="db-oncall", role="responder")
    assert not access.allowed(admin, "silences:write", "silences")  # narrowed, even for an admin
    assert access.allowed(db, "policies:write", "policies/3")  # widened for one responder
    assert not access.allowed(Principal(kind="proxy", user_id="ann", role="responder"), "policies:write", "policies")
    assert access.allowed(admin, "api_keys:write", "api_keys")  # no opinion: the role decides
