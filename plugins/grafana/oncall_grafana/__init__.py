"""Grafana's alerting webhooks as an OnCall source: unified alerting and legacy alerting.

Unified alerting: one alert event per entry of ``alerts``, deduplicated by its
``fingerprint``; ``resolved`` entries resolve. Legacy alerting: one event per rule,
deduplicated by ``ruleId``; ``ok`` resolves (see :mod:`oncall_grafana.legacy` for every
state). Served at ``POST /api/v1/webhooks/grafana`` and at GoAlert's
``/api/v2/grafana/incoming``.
"""

from __future__ import annotations

from collections.abc import Callable

from oncall_hookspecs import Source, hookimpl

from .source import GrafanaSource

__all__ = ["GrafanaSource", "register_sources"]


@hookimpl
def register_sources(register: Callable[[Source], None]) -> None:
    register(GrafanaSource())
