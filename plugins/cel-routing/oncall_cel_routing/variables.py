"""What a routing condition sees of an alert: the variable names, their CEL types, their values.

``labels`` is ``map(string, string)``, ``annotations`` is ``map(string, dyn)`` (any JSON),
and the rest are strings. Values are normalised here, once per alert, so both engines are
handed the same plain data: label values that are not strings become their JSON text, and
integers beyond CEL's 64 bits become doubles.
"""

from __future__ import annotations

import json
from typing import Any

from oncall_hookspecs import AlertView

#: the string variables, besides the ``labels`` and ``annotations`` maps
STRING_VARIABLES = ("severity", "summary", "details", "source", "integration", "status")

_INT64 = (-(2**63), 2**63 - 1)


def alert_variables(alert: AlertView) -> dict[str, Any]:
    """The activation for ``alert``: every variable a condition may name."""
    return {
        "labels": {str(k): v if isinstance(v, str) else _json_text(v) for k, v in alert.labels.items()},
        "annotations": {str(k): _json_value(v) for k, v in alert.annotations.items()},
        "severity": alert.severity or "",
        "summary": alert.summary or "",
        "details": alert.details or "",
        "source": alert.source or "",
        "integration": alert.integration_name or "",
        "status": alert.status or "",
    }


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)  # not JSON (a datetime from a careless caller): its text
