"""PagerDuty's Events API v2 (alert events) as an OnCall source.

Anything that can page PagerDuty can page OnCall: point it at ``/v2/enqueue`` on this
server (or ``POST /api/v1/webhooks/pagerduty``) with an OnCall integration key as its
``routing_key``. ``trigger`` opens or repeats the alert with the event's ``dedup_key``,
``acknowledge`` and ``resolve`` act on it; the answer is PagerDuty's 202.
"""

from __future__ import annotations

from collections.abc import Callable

from oncall_hookspecs import Source, hookimpl

from .source import PagerDutySource

__all__ = ["PagerDutySource", "register_sources"]


@hookimpl
def register_sources(register: Callable[[Source], None]) -> None:
    register(PagerDutySource())
