"""The Grafana source: tells the unified alerting payload from the legacy one and parses it."""

from __future__ import annotations

from collections.abc import Sequence

from oncall_hookspecs import AlertEvent, BadRequest, InboundRequest

from oncall_hookspecs import payload as fields
from .legacy import parse_legacy
from .unified import parse_unified

_LEGACY_MARKERS = ("ruleId", "ruleName", "evalMatches", "state")


class GrafanaSource:
    """``POST /api/v1/webhooks/grafana``, and GoAlert's path for the same payloads."""

    name = "grafana"
    paths: Sequence[str] = ("/api/v2/grafana/incoming",)
    #: unified alerting sends a whole group in one POST, as Alertmanager does (it is one)
    max_body_bytes = 16 * 1024 * 1024

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        doc = fields.json_body(request)
        # Unified alerting always sends 'alerts' and 'version' ("1"); legacy alerting neither.
        if "alerts" in doc or "version" in doc:
            return parse_unified(doc)
        if any(name in doc for name in _LEGACY_MARKERS):
            return parse_legacy(doc)
        raise BadRequest(
            "missing_field",
            "'alerts' is required (unified alerting); a legacy alerting payload needs 'ruleId' and 'state'",
        )
