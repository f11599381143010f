"""The template model: a body per channel, each made of named parts; the defaults are the channels' specs'."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from oncall_hookspecs import Escape as Escape  # re-exported: how each part escapes, from the channel's spec

from ..alerting.incident_context import sample_grouped_incident, sample_incident
from . import channels


class TemplateShapeError(ValueError):
    """A template names a channel or part that does not exist."""


@dataclass(frozen=True)
class ChannelTemplate:
    """One channel's Jinja2 sources, by part name (``{"subject": ..., "html": ..., "text": ...}``)."""

    parts: Mapping[str, str]


@dataclass(frozen=True)
class Template:
    """What a team edits: the channels it customises. Everything else uses the channels' defaults."""

    channels: Mapping[str, ChannelTemplate] = field(default_factory=dict)

    def source(self, channel: str, part: str) -> str:
        """The source for one part: the template's own, else the channel's default (from its spec)."""
        own = self.channels.get(channel)
        if own is not None and part in own.parts:
            return own.parts[part]
        return channels.current().spec(channel).defaults[part]

    def is_default(self, channel: str, part: str) -> bool:
        own = self.channels.get(channel)
        return own is None or part not in own.parts

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, stored: bool = False) -> Template:
        """Build from ``{"email": {"subject": "..."}, ...}`` as sent by a client (checked against
        the installed channels' specs), or as ``stored`` (a saved version is kept whole, even for
        a channel whose plugin has since been removed: only that channel's sends fail)."""
        catalog = channels.current()
        out: dict[str, ChannelTemplate] = {}
        for channel, parts in data.items():
            if stored and channel not in catalog and isinstance(parts, Mapping):
                out[channel] = ChannelTemplate(dict(parts))
                continue
            try:
                names = catalog.parts(channel)
            except channels.UnknownChannel as exc:
                raise TemplateShapeError(str(exc)) from None
            if isinstance(parts, str) and len(names) == 1:
                parts = {next(iter(names)): parts}
            if not isinstance(parts, Mapping):
                raise TemplateShapeError(f"{channel}: expected an object of parts ({', '.join(names)})")
            for part, source in parts.items():
                if part not in names:
                    raise TemplateShapeError(
                        f"{channel}: unknown part {part!r}; expected one of {', '.join(names)}"
                    )
                if not isinstance(source, str):
                    raise TemplateShapeError(f"{channel}.{part}: expected a string")
            out[channel] = ChannelTemplate(dict(parts))
        return cls(out)


# ---------------------------------------------------------------------------- sample contexts
#
# The context the escalation engine records (``render_context``): ``alert`` always,
# ``incident`` (``alerting.incident_context``: the alert's incident, with its counters and
# first alerts; a context stored before incidents has none), ``escalation`` when a policy
# paged, ``contact_methods`` for a user, ``reply_code`` for a channel that takes text
# replies, and ``bundle`` when one message summarises several alerts for one destination:
# ``{"count": n, "alerts": [alert, ...], "group": str}``. The samples' ``incident`` is made
# by the function that makes a page's (``incident_dict``).

#: Context keys the engine sets only sometimes; a sample without them is not warned about.
OPTIONAL_CONTEXT: frozenset[str] = frozenset(
    {"escalation", "contact_methods", "reply_code", "bundle", "routing", "incident"}
)

_ESCALATION = {"policy_id": "payments-primary", "policy": "Payments primary", "step": 1, "steps": 3, "repeat": 0}

_SAMPLE_ALERT: dict[str, Any] = {
        "id": 4217,
        "status": "triggered",
        "summary": "High error rate on payments-api (5.2% > 1%)",
        "details": "Error rate over the last 5 minutes is 5.2%.\nRunbook: https://runbooks.example.com/payments-api",
        "severity": "critical",
        "labels": {"alertname": "HighErrorRate", "service": "payments-api", "env": "prod"},
        "annotations": {"runbook_url": "https://runbooks.example.com/payments-api"},
        "source": "alertmanager",
        "integration": "prod-alertmanager",
        "integration_id": "3b5c7e1a-0000-4000-8000-000000000001",
        "dedup_key": "HighErrorRate/payments-api",
        "duplicate_count": 3,
        "created_at": "2026-03-14T09:26:53+00:00",
}

# A realistic context in the shape the escalation engine records: what previews and
# validation render when the caller brings no sample of its own. Its alert is its own
# incident (no grouping rule took it).
SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({
    "alert": _SAMPLE_ALERT,
    "incident": sample_incident(_SAMPLE_ALERT),
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})


def _bundled(alert_id: int, summary: str, severity: str, alertname: str, instance: str, minute: int,
             status: str = "triggered") -> dict[str, Any]:
    return {
        "id": alert_id,
        "status": status,
        "summary": summary,
        "details": f"{summary}.\nRunbook: https://runbooks.example.com/payments-db",
        "severity": severity,
        "labels": {"alertname": alertname, "service": "payments-db", "instance": instance, "env": "prod"},
        "annotations": {"runbook_url": "https://runbooks.example.com/payments-db"},
        "source": "alertmanager",
        "integration": "prod-alertmanager",
        "integration_id": "3b5c7e1a-0000-4000-8000-000000000001",
        "dedup_key": f"{alertname}/{instance}",
        "duplicate_count": 0,
        "created_at": f"2026-03-14T09:{minute:02d}:00+00:00",
    }


_BUNDLE_ALERTS = [
    _bundled(4301, "Disk full on payments-db-1 (/var/lib/postgresql 97%)", "critical", "DiskFull", "payments-db-1", 24),
    _bundled(4302, "Replication lag on payments-db-2 is 45s", "warning", "ReplicationLag", "payments-db-2", 25),
    _bundled(4303, "Connection pool exhausted on payments-db-1", "error", "PoolExhausted", "payments-db-1", 26),
]

# The same, for one message that summarises several alerts for one destination (``bundle``);
# ``alert`` is the bundle's first, for templates that ignore bundles.
BUNDLE_SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({
    "alert": _BUNDLE_ALERTS[0],
    "incident": sample_incident(_BUNDLE_ALERTS[0]),
    "bundle": {"count": len(_BUNDLE_ALERTS), "alerts": _BUNDLE_ALERTS, "group": "payments-db"},
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})

_PROBLEMS = [  # (alertname, severity, summary of {instance})
    ("DiskFull", "critical", "Disk full on {} (/var/lib/postgresql 97%)"),
    ("ReplicationLag", "warning", "Replication lag on {} is 45s"),
    ("PoolExhausted", "error", "Connection pool exhausted on {}"),
    ("SlowQueries", "warning", "Slow queries on {} (p99 2.3s > 500ms)"),
    ("LockWaits", "error", "Lock waits piling up on {} (214 waiting)"),
]
# of the 37: 7 resolved (one among the first 10), 4 acknowledged, the rest triggered
_STATUS = {4303: "resolved", 4305: "acknowledged", 4309: "acknowledged", 4312: "resolved", 4318: "resolved",
           4321: "acknowledged", 4325: "resolved", 4329: "resolved", 4330: "acknowledged", 4333: "resolved",
           4336: "resolved"}


def _grouped(i: int) -> dict[str, Any]:
    alertname, severity, summary = _PROBLEMS[i % len(_PROBLEMS)]
    instance = f"payments-db-{i % 3 + 1}"
    alert_id = 4301 + i
    return _bundled(alert_id, summary.format(instance), severity, alertname, instance, 20 + i,
                    _STATUS.get(alert_id, "triggered"))


_INCIDENT_ALERTS = [_grouped(i) for i in range(37)]

# A page for a grouping rule's incident (key ``labels.service``) that 37 alerts have joined,
# 30 of them still open: ``alert`` is the one that paged (its first), ``incident`` lists
# its first 10 alerts as they are now.
INCIDENT_SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({
    "alert": _INCIDENT_ALERTS[0],
    "incident": sample_grouped_incident(12, "payments-db", "triggered", "payments-db", _INCIDENT_ALERTS),
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})

#: The samples validation renders a template with when the caller brings none: a template
#: that fails for a bundle or for a grouped incident is refused on save, not found out on a page.
DEFAULT_SAMPLES: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "the sample": SAMPLE_CONTEXT,
    "the bundle sample": BUNDLE_SAMPLE_CONTEXT,
    "the grouped-incident sample": INCIDENT_SAMPLE_CONTEXT,
})


# ---------------------------------------------------------------------------- the last resort


def minimal_parts(channel: str, context: Mapping[str, Any]) -> dict[str, str]:
    """The last-resort message's parts for ``channel`` (its spec's, or one derived from its parts)."""
    return channels.current().minimal_parts(channel, context)
