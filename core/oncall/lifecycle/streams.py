"""The event streams lifecycle listeners hear.

A stream is a table of events with increasing ids (the alert timeline today; incident
events later, as a second ``Stream``), read in id order by ``store.ordered.OrderedReader``,
which never moves past an id a transaction still open may commit.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from oncall_hookspecs import ALERT_LIFECYCLE_KINDS, AlertLifecycleEvent

from ..alerting import store
from ..store.ordered import Readable, StreamEvent
from ..store.database import Conn


class Stream(Readable, Protocol):
    """A table of events with increasing ids, heard through one method of a listener."""

    #: the cursor's key in ``lifecycle.cursors.stream``
    name: str

    def hears(self, listener: Any) -> bool:
        """Whether ``listener`` has this stream's method at all."""
        ...

    def kinds(self, listener: Any) -> Collection[str] | None:
        """The kinds ``listener`` hears on this stream; None: every kind."""
        ...

    async def newest_id(self, conn: Conn) -> int: ...

    async def deliver(self, listener: Any, event: StreamEvent) -> None: ...


class AlertEvents:
    """The alert timeline (``alerting.alert_events``), heard through ``on_alert_event``."""

    name = "alert_events"
    table = "alerting.alert_events"

    def hears(self, listener: Any) -> bool:
        return callable(getattr(listener, "on_alert_event", None))

    def kinds(self, listener: Any) -> Collection[str] | None:
        kinds = getattr(listener, "alert_kinds", ALERT_LIFECYCLE_KINDS)
        if kinds is None:
            return None
        if isinstance(kinds, str):  # "note" would otherwise mean the kinds n, o, t and e
            return frozenset({kinds})
        return frozenset(kinds)

    async def newest_id(self, conn: Conn) -> int:
        return await store.newest_event_id(conn)

    async def read_after(self, conn: Conn, after_id: int, limit: int) -> list[StreamEvent]:
        return [
            StreamEvent(e.id, e.kind, AlertLifecycleEvent(
                kind=e.kind, alert=alert.view(), at=e.at, actor=e.actor, note=e.note, id=e.id, data=e.data or {},
            ))
            for e, alert in await store.events_with_alerts_after(conn, after_id, limit)
        ]

    async def deliver(self, listener: Any, event: StreamEvent) -> None:
        await listener.on_alert_event(event.payload)


#: every stream a listener may hear, in the order a new stream would be added
STREAMS: tuple[Stream, ...] = (AlertEvents(),)
