"""The OnCall plugin contract: a third-party plugin depends on this package alone.

    from oncall_hookspecs import hookimpl, AlertEvent, InboundRequest

    class MySource:
        name = "mysource"
        paths = ()
        def parse(self, request: InboundRequest) -> list[AlertEvent]: ...

    @hookimpl
    def register_sources(register):
        register(MySource())
"""

from .markers import hookimpl, hookspec
from .types import (
    ALERT_LIFECYCLE_KINDS,
    Action,
    ActionResult,
    AlertEvent,
    AlertLifecycleEvent,
    AlertView,
    BadRequest,
    CallbackRoute,
    Channel,
    ChannelHost,
    ChannelMessage,
    ContactMethod,
    DeliveryResult,
    Directory,
    IngestOutcome,
    IngestResult,
    InboundRequest,
    LifecycleListener,
    Renderer,
    RenderedPayload,
    Router,
    RoutingDecision,
    RoutingRule,
    RuleActions,
    RuleProblem,
    RuleTrace,
    Source,
    Ticket,
    TicketProvider,
    User,
    WebhookResponse,
    plugin_settings,
)

__all__ = [
    "ALERT_LIFECYCLE_KINDS",
    "Action",
    "ActionResult",
    "AlertEvent",
    "AlertLifecycleEvent",
    "AlertView",
    "BadRequest",
    "CallbackRoute",
    "Channel",
    "ChannelHost",
    "ChannelMessage",
    "ContactMethod",
    "DeliveryResult",
    "Directory",
    "IngestOutcome",
    "IngestResult",
    "InboundRequest",
    "LifecycleListener",
    "Renderer",
    "RenderedPayload",
    "Router",
    "RoutingDecision",
    "RoutingRule",
    "RuleActions",
    "RuleProblem",
    "RuleTrace",
    "Source",
    "Ticket",
    "TicketProvider",
    "User",
    "WebhookResponse",
    "hookimpl",
    "hookspec",
    "plugin_settings",
]
