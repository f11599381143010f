"""The shipped grouping presets: common rules, created by name (issue 12, item 3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument
from .store import RuleSpec


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str
    spec: RuleSpec


PRESETS: tuple[Preset, ...] = (
    Preset(
        "alertmanager-group",
        "One incident per Alertmanager group: the groupKey Alertmanager sends with each"
        " notification (the alertmanager source keeps it in annotations.groupKey); resolved"
        " when all its alerts are.",
        RuleSpec(name="Alertmanager group", condition="has(annotations.groupKey)",
                 key="annotations.groupKey", resolve_on="all"),
    ),
    Preset(
        "alertname-cluster-15m",
        "Alerts with the same alertname and cluster labels, for 15 minutes from the first.",
        RuleSpec(name="Same alertname and cluster for 15 minutes",
                 condition="has(labels.alertname) && has(labels.cluster)",
                 key="[labels.alertname, labels.cluster]", window_seconds=900),
    ),
    Preset(
        "integration-30m",
        "Everything from one integration, for 30 minutes from the first alert.",
        RuleSpec(name="Everything from one integration for 30 minutes", condition="true",
                 key="integration", window_seconds=1800),
    ),
)

_BY_NAME = {p.name: p for p in PRESETS}


def preset(name: str) -> Preset:
    """The preset called ``name``; InvalidArgument naming the presets when there is none."""
    found = _BY_NAME.get(name)
    if found is None:
        raise InvalidArgument(f"no grouping preset {name!r} (presets: {', '.join(_BY_NAME)})")
    return found
