"""The lifecycle contract: a listener hears every kind of event it asks for, and returns.

``await check_lifecycle_listener(listener)`` hands it one event of each kind it hears (its
``alert_kinds``, else the default ``ALERT_LIFECYCLE_KINDS``; with ``alert_kinds = None``
the timeline's other kinds too), with whatever its destination needs already running (a
listener raises when that is down, and the core retries it), and expects each call to
return None within the deadline. ``alert_kinds`` and ``start_from``, when present, must be
what the core accepts.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import cast

from oncall_hookspecs import AlertLifecycleEvent, LifecycleListener

from ..alerts import LIFECYCLE_KINDS, OTHER_TIMELINE_KINDS, lifecycle_event
from ..registration import ContractViolation, check_shape

DEADLINE_S = 30.0


async def check_lifecycle_listener(listener: LifecycleListener, events: Iterable[AlertLifecycleEvent] = ()) -> None:
    """Run the lifecycle contract; raises ContractViolation naming the event that broke it."""
    check_shape("lifecycle_listeners", LifecycleListener, listener)
    if not inspect.iscoroutinefunction(listener.on_alert_event):
        raise ContractViolation("on_alert_event must be a coroutine function (async def): the core awaits it")
    kinds: tuple[str, ...] = LIFECYCLE_KINDS
    if hasattr(listener, "alert_kinds"):
        wanted = listener.alert_kinds
        if wanted is None:
            kinds = LIFECYCLE_KINDS + OTHER_TIMELINE_KINDS
        elif isinstance(wanted, str) or not all(isinstance(k, str) and k for k in wanted):
            raise ContractViolation(f"alert_kinds must be None or a collection of kind names, got {wanted!r}")
        else:
            kinds = tuple(sorted(wanted))
    start_from = getattr(listener, "start_from", "now")
    if start_from not in ("now", "beginning"):
        raise ContractViolation(f"start_from must be 'now' or 'beginning', got {start_from!r}")
    for event in [*(lifecycle_event(kind) for kind in kinds), *events]:
        try:
            # typed as returning None; held to it here
            result = await asyncio.wait_for(cast(Awaitable[object], listener.on_alert_event(event)), DEADLINE_S)
        except TimeoutError:
            raise ContractViolation(f"on_alert_event({event.kind!r}) did not return within {DEADLINE_S:g} s") from None
        except Exception as exc:
            raise ContractViolation(
                f"on_alert_event({event.kind!r}) raised {type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
        if result is not None:
            raise ContractViolation(f"on_alert_event({event.kind!r}) must return None, got {result!r:.100}")
