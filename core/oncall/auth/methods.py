"""The one table: every gRPC method of this server and the permission it needs.

A method missing from ``METHODS`` is refused (PERMISSION_DENIED) rather than open, and
``tests/test_access.py`` fails for any method the server registers without an entry.

A role held in one team only counts at the door for ``TEAM_CHECKED`` methods alone: their
services know the team of what they create, change or act on and ask
``auth.principal.require`` with it before writing. Every other method is decided at the
door by the role everywhere.
``OPEN_SERVICES`` need no principal at all: health checking, and reflection unless
``ONCALL_GRPC_REFLECTION=off``.
"""

from __future__ import annotations

from collections.abc import Mapping

_A = "oncall.alerting.v1"
_N = "oncall.notification.v1"
_X = "oncall.access.v1"


def _service(name: str, methods: Mapping[str, str]) -> dict[str, str]:
    return {f"/{name}/{method}": permission for method, permission in methods.items()}


#: full method name → the permission (``resource:action``) a caller needs
METHODS: dict[str, str] = {
    **_service(f"{_A}.AlertService", {
        "CreateAlert": "alerts:create",
        "GetAlert": "alerts:read",
        "ListAlerts": "alerts:read",
        "AcknowledgeAlert": "alerts:ack",
        "ResolveAlert": "alerts:resolve",
        "GetAlertTimeline": "alerts:read",
        "AddNote": "alerts:note",
        "WatchAlerts": "alerts:read",
    }),
    **_service(f"{_A}.IncidentService", {
        "ListIncidents": "incidents:read",
        "GetIncident": "incidents:read",
        "ListIncidentAlerts": "incidents:read",
        "AcknowledgeIncident": "incidents:ack",
        "ResolveIncident": "incidents:resolve",
        "EscalateIncident": "incidents:escalate",
        "AddIncidentNote": "incidents:note",
        "MergeIncidents": "incidents:merge",
        "SplitAlert": "incidents:merge",
        "GetIncidentTimeline": "incidents:read",
        "WatchIncidents": "incidents:read",
    }),
    **_service(f"{_A}.EscalationService", {
        "CreatePolicy": "policies:write",
        "UpdatePolicy": "policies:write",
        "DeletePolicy": "policies:write",
        "GetPolicy": "policies:read",
        "ListPolicies": "policies:read",
        "GetEscalationState": "escalations:read",
        "EscalateAlert": "alerts:escalate",
        # whom each step paged, resolved through the directory: contact details
        "ListNotificationRequests": "contacts:read",
    }),
    **_service(f"{_A}.GroupingService", {
        "CreateGroupingRule": "grouping_rules:write",
        "GetGroupingRule": "grouping_rules:read",
        "ListGroupingRules": "grouping_rules:read",
        "UpdateGroupingRule": "grouping_rules:write",
        "DeleteGroupingRule": "grouping_rules:write",
        "ReorderGroupingRules": "grouping_rules:write",
        "ListGroupingPresets": "grouping_rules:read",
        "TestGrouping": "grouping_rules:read",
    }),
    **_service(f"{_A}.HeartbeatService", {
        "CreateHeartbeat": "heartbeats:write",
        "GetHeartbeat": "heartbeats:read",
        "ListHeartbeats": "heartbeats:read",
        "DeleteHeartbeat": "heartbeats:write",
    }),
    **_service(f"{_A}.IntegrationService", {
        "CreateIntegration": "integrations:write",
        # never the key: an integration is read with its key_prefix only
        "ListIntegrations": "integrations:read",
        "GetIntegration": "integrations:read",
        "UpdateIntegration": "integrations:write",
        "RotateIntegrationKey": "integrations:write",
        "DeleteIntegration": "integrations:write",
    }),
    **_service(f"{_A}.RoutingService", {
        "CreateRule": "rules:write",
        "UpdateRule": "rules:write",
        "DeleteRule": "rules:write",
        "ReorderRules": "rules:write",
        "ListRules": "rules:read",
        "GetRule": "rules:read",
        "GetDefaultRoute": "rules:read",
        "SetDefaultRoute": "rules:write",
        "TestRoute": "rules:read",
    }),
    **_service(f"{_A}.ScheduleService", {
        "CreateSchedule": "schedules:write",
        "UpdateSchedule": "schedules:write",
        "DeleteSchedule": "schedules:write",
        "GetSchedule": "schedules:read",
        "ListSchedules": "schedules:read",
        "AddOverride": "overrides:write",
        "RemoveOverride": "overrides:write",
        "ListOverrides": "schedules:read",
        "SetTemporarySchedule": "overrides:write",
        "ClearTemporarySchedule": "overrides:write",
        "GetOnCallUsers": "schedules:read",
        "ListShifts": "schedules:read",
        "CreateCalendarToken": "calendar_tokens:write",
        "ListCalendarTokens": "calendar_tokens:read",
        "RevokeCalendarToken": "calendar_tokens:write",
    }),
    **_service(f"{_A}.SilenceService", {
        "CreateSilence": "silences:write",
        "ExpireSilence": "silences:write",
        "GetSilence": "silences:read",
        "ListSilences": "silences:read",
        "SetMaintenance": "silences:write",
    }),
    **_service(f"{_N}.NotificationService", {
        "CreateTemplate": "templates:write",
        "UpdateTemplate": "templates:write",
        "GetTemplate": "templates:read",
        "ListTemplates": "templates:read",
        "ListTemplateVersions": "templates:read",
        "DeleteTemplate": "templates:write",
        "RenderPreview": "templates:read",
        "SendNotification": "notifications:send",
        # a notification's deliveries name their destinations (addresses): contact details
        "GetNotification": "contacts:read",
        "WatchNotification": "contacts:read",
        "ListNotifications": "contacts:read",
    }),
    **_service(f"{_X}.ApiKeyService", {
        "CreateApiKey": "api_keys:write",
        "ListApiKeys": "api_keys:read",
        "RevokeApiKey": "api_keys:write",
    }),
    **_service(f"{_X}.SessionService", {
        # a person's own sessions: every role has them
        "ListSessions": "sessions:read",
        "EndSession": "sessions:write",
    }),
    **_service(f"{_X}.AuditService", {
        "ListAuditEvents": "audit:read",
    }),
    **_service(f"{_X}.TeamService", {
        "CreateTeam": "teams:write",
        "ListTeams": "teams:read",
        "GetTeam": "teams:read",
        "UpdateTeam": "teams:write",
        "DeleteTeam": "teams:write",
    }),
}

#: the methods whose service checks the team of the resource itself (``auth.principal.require``)
TEAM_CHECKED: frozenset[str] = frozenset({
    f"/{_A}.EscalationService/{m}" for m in ("CreatePolicy", "UpdatePolicy", "DeletePolicy")
} | {
    f"/{_A}.ScheduleService/{m}" for m in (
        "CreateSchedule", "UpdateSchedule", "DeleteSchedule",
        "AddOverride", "RemoveOverride", "SetTemporarySchedule", "ClearTemporarySchedule",
        "CreateCalendarToken", "RevokeCalendarToken")
} | {
    f"/{_A}.IntegrationService/{m}" for m in (
        "CreateIntegration", "UpdateIntegration", "RotateIntegrationKey", "DeleteIntegration")
} | {
    f"/{_A}.RoutingService/{m}" for m in ("CreateRule", "UpdateRule", "DeleteRule")
} | {
    f"/{_A}.GroupingService/{m}" for m in ("CreateGroupingRule", "UpdateGroupingRule", "DeleteGroupingRule")
} | {
    f"/{_N}.NotificationService/{m}" for m in ("CreateTemplate", "UpdateTemplate", "DeleteTemplate")
} | {
    # an alert's and an incident's team is their integration's
    f"/{_A}.AlertService/{m}" for m in ("CreateAlert", "AcknowledgeAlert", "ResolveAlert", "AddNote")
} | {
    f"/{_A}.EscalationService/EscalateAlert",
} | {
    f"/{_A}.IncidentService/{m}" for m in (
        "AcknowledgeIncident", "ResolveIncident", "EscalateIncident", "AddIncidentNote", "MergeIncidents",
        "SplitAlert")
} | {
    f"/{_X}.ApiKeyService/{m}" for m in ("CreateApiKey", "ListApiKeys", "RevokeApiKey")
})

HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICES = ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")


def service_of(method: str) -> str:
    """``/pkg.Service/Method`` → ``pkg.Service``."""
    return method.lstrip("/").partition("/")[0]


def is_open(method: str, reflection: bool) -> bool:
    """Whether ``method`` needs no principal: health always, reflection while it is on."""
    service = service_of(method)
    return service == HEALTH_SERVICE or (reflection and service in REFLECTION_SERVICES)


def permission_for(method: str) -> str | None:
    """The permission ``method`` needs; None for a method the table doesn't know (refused)."""
    return METHODS.get(method)
