"""oncall-plugin-testkit: what an OnCall plugin's tests need, as a pytest plugin.

    from oncall_testkit import check_source, json_request, registered

    def test_my_source_keeps_the_contract():
        source = registered("my-plugin").one("sources")
        check_source(source, [json_request({"id": "a1", "title": "Disk full"})])

- ``registered(name)``: the plugin loaded through its entry point and hooks, as the core loads it;
- a contract check per family: ``check_source``, ``check_channel`` (and ``check_smtp_channel``),
  ``check_renderer``, ``check_channel_spec``, ``check_router`` (and ``check_grouper``), ``check_directory``, ``check_lifecycle_listener``,
  ``check_authenticator`` (and ``check_permission_rule``);
- ``FakeChannelHost`` (fixture ``fake_host``): the core's side of two-way channels, recording every call;
- builders: ``inbound_request``, ``auth_request``, ``json_request``, ``form_request``, ``alert_view``,
  ``lifecycle_event``, ``routing_rule``, ``grouping_rule``, ``channel_message``;
- provider fakes speaking each provider's protocol on 127.0.0.1: ``oncall_testkit.receiver``
  (any HTTP endpoint; fixture ``receiver``), ``slack_api``, ``twilio_api``, ``teams_api``,
  ``ntfy_api``, ``smtp_server``, ``oidc_provider`` (an OpenID Connect provider for login tests).
"""

from .alerts import (
    LIFECYCLE_KINDS,
    alert_view,
    channel_message,
    grouping_rule,
    lifecycle_event,
    routing_rule,
)
from .contract import (
    ContractViolation,
    check_authenticator,
    check_bad_request,
    check_channel,
    check_channel_spec,
    check_decision,
    check_directory,
    check_event,
    check_grouper,
    check_grouping_match,
    check_lifecycle_listener,
    check_permission_rule,
    check_principal,
    check_renderer,
    check_result,
    check_router,
    check_smtp_channel,
    check_source,
)
from .host import FakeAlert, FakeChannelHost, HostCall
from .registration import Registered, registered
from .requests import auth_request, form_request, inbound_request, json_request, with_body

__all__ = [
    "LIFECYCLE_KINDS",
    "ContractViolation",
    "FakeAlert",
    "FakeChannelHost",
    "HostCall",
    "Registered",
    "alert_view",
    "auth_request",
    "check_authenticator",
    "channel_message",
    "check_bad_request",
    "check_channel",
    "check_channel_spec",
    "check_decision",
    "check_directory",
    "check_event",
    "check_grouper",
    "check_grouping_match",
    "check_lifecycle_listener",
    "check_permission_rule",
    "check_principal",
    "check_renderer",
    "check_result",
    "check_router",
    "check_smtp_channel",
    "check_source",
    "form_request",
    "grouping_rule",
    "inbound_request",
    "json_request",
    "lifecycle_event",
    "registered",
    "routing_rule",
    "with_body",
]
