"""The template model: a body per channel, each made of named parts; the defaults are the channels' specs'."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from oncall_hookspecs import Escape as Escape  # re-exported: how each part escapes, from the channel's spec

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
# ``escalation`` when a policy paged, ``contact_methods`` for a user, ``reply_code`` for a
# channel that takes text replies, and ``bundle`` when one message summarises several alerts
# for one destination: ``{"count": n, "alerts": [alert, ...], "group": str}``.

#: Context keys the engine sets only sometimes; a sample without them is not warned about.
OPTIONAL_CONTEXT: frozenset[str] = frozenset({"escalation", "contact_methods", "reply_code", "bundle", "routing"})

_ESCALATION = {"policy_id": "payments-primary", "policy": "Payments primary", "step": 1, "steps": 3, "repeat": 0}

# A realistic context in the shape the escalation engine records: what previews and
# validation render when the caller brings no sample of its own.
SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({
    "alert": {
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
    },
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})


def _bundled(alert_id: int, summary: str, severity: str, alertname: str, instance: str, minute: int) -> dict[str, Any]:
    return {
        "id": alert_id,
        "status": "triggered",
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
    "bundle": {"count": len(_BUNDLE_ALERTS), "alerts": _BUNDLE_ALERTS, "group": "payments-db"},
    "escalation": dict(_ESCALATION),
    "contact_methods": [{"type": "sms", "value": "+15555550100"}],
})


# ---------------------------------------------------------------------------- the last resort


def minimal_parts(channel: str, context: Mapping[str, Any]) -> dict[str, str]:
    """The last-resort message's parts for ``channel`` (its spec's, or one derived from its parts)."""
    return channels.current().minimal_parts(channel, context)
