"""What a routing condition sees of an alert: the variable names, their CEL types, their values.

``labels`` is ``map(string, string)``, ``annotations`` is ``map(string, dyn)`` (any JSON),
and the rest are strings. Values are normalised here, once per alert, so both engines are
handed the same plain data: label values that are not strings become their JSON text, and
integers beyond CEL's 64 bits become doubles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from oncall_hookspecs import AlertView

#: the string variables, besides the ``labels`` and ``annotations`` maps
STRING_VARIABLES = ("severity", "summary", "details", "source", "integration", "status")
#: every variable, in the order the activation lists them
VARIABLES = ("labels", "annotations", *STRING_VARIABLES)

_INT64 = (-(2**63), 2**63 - 1)


def alert_variables(alert: AlertView, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The activation for ``alert``: every variable a condition may name, or only ``names``
    (what the expressions to evaluate name: an unused map is then never built)."""
    return {name: _VARIABLE[name](alert) for name in (VARIABLES if names is None else names)}


def _labels(alert: AlertView) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else _json_text(v) for k, v in alert.labels.items()}


def _annotations(alert: AlertView) -> dict[str, Any]:
    return {str(k): _json_value(v) for k, v in alert.annotations.items()}


#: how each variable is made from an alert (as alert_variables makes them all)
_VARIABLE: dict[str, Callable[[AlertView], Any]] = {
    "labels": _labels,
    "annotations": _annotations,
    "severity": lambda alert: alert.severity or "",
    "summary": lambda alert: alert.summary or "",
    "details": lambda alert: alert.details or "",
    "source": lambda alert: alert.source or "",
    "integration": lambda alert: alert.integration_name or "",
    "status": lambda alert: alert.status or "",
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
