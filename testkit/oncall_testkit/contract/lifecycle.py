"""The lifecycle contract: a listener hears every kind of event, those it ignores included, and returns.

``await check_lifecycle_listener(listener)`` hands it one event of each kind the core emits
(with whatever its destination needs already running: a listener may raise when that is
down, so the core retries it) and expects each call to return None within the deadline.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable

from oncall_hookspecs import AlertLifecycleEvent, LifecycleListener

from ..alerts import LIFECYCLE_KINDS, lifecycle_event
from ..registration import ContractViolation, check_shape

DEADLINE_S = 30.0


async def check_lifecycle_listener(listener: LifecycleListener, events: Iterable[AlertLifecycleEvent] = ()) -> None:
    """Run the lifecycle contract; raises ContractViolation naming the event that broke it."""
    check_shape("lifecycle_listeners", LifecycleListener, listener)
    if not inspect.iscoroutinefunction(listener.on_alert_event):
        raise ContractViolation("on_alert_event must be a coroutine function (async def): the core awaits it")
    for event in [*(lifecycle_event(kind) for kind in LIFECYCLE_KINDS), *events]:
        try:
            result: object = await asyncio.wait_for(listener.on_alert_event(event), DEADLINE_S)  # type: ignore[func-returns-value]
        except TimeoutError:
            raise ContractViolation(f"on_alert_event({event.kind!r}) did not return within {DEADLINE_S:g} s") from None
        except Exception as exc:
            raise ContractViolation(
                f"on_alert_event({event.kind!r}) raised {type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
        if result is not None:
            raise ContractViolation(f"on_alert_event({event.kind!r}) must return None, got {result!r:.100}")
