"""Prometheus Alertmanager's webhook (version 4) as an OnCall source.

One alert event per entry of ``alerts``, deduplicated by the entry's ``fingerprint``; an
entry whose status is ``resolved`` resolves the open alert with that fingerprint. Served at
``POST /api/v1/webhooks/alertmanager`` and at GoAlert's
``/api/v2/prometheusalertmanager/incoming``.
"""

from __future__ import annotations

from collections.abc import Callable

from oncall_hookspecs import Source, hookimpl

from .source import AlertmanagerSource

__all__ = ["AlertmanagerSource", "register_sources"]


@hookimpl
def register_sources(register: Callable[[Source], None]) -> None:
    register(AlertmanagerSource())
