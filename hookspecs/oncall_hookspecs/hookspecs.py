"""The hook specifications: one registration hook per plugin family.

Every hook receives ``register``, a callable that takes one object of the family's type.
Hooks run once at startup; the objects they register carry the async methods the core
calls later. A plugin implements any subset of these hooks.
"""

from collections.abc import Callable

from .markers import hookspec
from .types import (
    Authenticator,
    Channel,
    ChannelSpec,
    Directory,
    LifecycleListener,
    PermissionRule,
    Renderer,
    Router,
    Source,
    TicketProvider,
)


@hookspec
def register_sources(register: Callable[[Source], None]) -> None:
    """Register ingestion sources.

    :param register: call with each :class:`Source`; it is served at
        ``POST /api/v1/webhooks/{source.name}`` and at each of ``source.paths``.
    """


@hookspec
def register_routers(register: Callable[[Router], None]) -> None:
    """Register routers, which decide an alert's escalation policy, template and extras.

    :param register: call with each :class:`Router`; the one named by ``ONCALL_ROUTER``
        (default ``cel``) is used.
    """


@hookspec
def register_renderers(register: Callable[[Renderer], None]) -> None:
    """Register channel formatters: template output → channel payload, with validation.

    :param register: call with each :class:`Renderer`; one per ``renderer.channel``.
    """


@hookspec
def register_channels(register: Callable[[Channel], None]) -> None:
    """Register delivery channels (Slack, Teams, email, SMS, voice, push, webhook).

    :param register: call with each :class:`Channel`; one per ``channel.name``.
    """


@hookspec
def register_channel_specs(register: Callable[[ChannelSpec], None]) -> None:
    """Register what the core knows about channels: template parts, defaults, label, capabilities.

    The core knows no channel by name: a channel exists for templates, previews, policies
    and contact methods exactly when a :class:`ChannelSpec` names it. The rule: the plugin
    that renders a channel (registers its :class:`Renderer`) registers its spec, so a spec
    is there whenever its message can be made, even where the delivering plugin has no
    settings yet; a third-party channel's distribution registers all three.

    :param register: call with each :class:`ChannelSpec`; one per ``spec.name``.
    """


@hookspec
def register_ticket_providers(register: Callable[[TicketProvider], None]) -> None:
    """Register ticket providers (Jira, ServiceNow, Salesforce, webhook).

    :param register: call with each :class:`TicketProvider`; one per ``provider.name``.
    """


@hookspec
def register_directories(register: Callable[[Directory], None]) -> None:
    """Register user directories, which resolve user ids to people and contact methods.

    :param register: call with each :class:`Directory`; the one named by
        ``ONCALL_DIRECTORY`` is used.
    """


@hookspec
def register_lifecycle_listeners(register: Callable[[LifecycleListener], None]) -> None:
    """Register listeners for alert lifecycle events (created, acknowledged, resolved …).

    :param register: call with each :class:`LifecycleListener`, one per ``listener.name``.
        Each hears every committed event of :data:`ALERT_LIFECYCLE_KINDS` (or of its own
        ``alert_kinds``) as an :class:`AlertLifecycleEvent`, in timeline order, at least
        once, from its own durable place on the timeline (kept under its name, so renaming
        a listener starts it afresh); a listener that fails or hangs delays only itself.
    """


@hookspec
def register_authenticators(register: Callable[[Authenticator], None]) -> None:
    """Register authenticators, which say who sent a gRPC or HTTP request.

    :param register: call with each :class:`Authenticator`. For every request the core's
        own API-key authenticator is asked first, then its session-cookie one, then each
        registered one in the order the plugins load; the first :class:`Principal` wins, and none at all is
        ``UNAUTHENTICATED`` (401). Webhooks keep their integration keys and never ask.
    """


@hookspec
def register_permission_rules(register: Callable[[PermissionRule], None]) -> None:
    """Register permission rules, which narrow or widen what a role allows.

    :param register: call with each :class:`PermissionRule`; its ``permission_allowed``
        is asked, in order, before the role's permissions decide: the first True or False
        wins, and None passes to the next.
    """


#: hook name → (the family's key in the registry, the protocol its objects satisfy)
FAMILIES: dict[str, tuple[str, type]] = {
    "register_sources": ("sources", Source),
    "register_routers": ("routers", Router),
    "register_renderers": ("renderers", Renderer),
    "register_channels": ("channels", Channel),
    "register_channel_specs": ("channel_specs", ChannelSpec),
    "register_ticket_providers": ("ticket_providers", TicketProvider),
    "register_directories": ("directories", Directory),
    "register_lifecycle_listeners": ("lifecycle_listeners", LifecycleListener),
    "register_authenticators": ("authenticators", Authenticator),
    "register_permission_rules": ("permission_rules", PermissionRule),
}
