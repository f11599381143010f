"""The event streams lifecycle listeners hear, and reading one in id order without skipping an id still being written.

A stream is a table of events with increasing ids (the alert timeline today; incident
events later, as a second ``Stream``). Ids are taken when a row is inserted but become
visible when its transaction commits, so a reader can see event 101 while event 100 is
still on its way: moving a cursor past 100 then would lose it for good. ``OrderedReader``
therefore stops at a hole in the ids, notes which transactions were writing to the table
(the ``RowExclusiveLock`` holders in ``pg_locks``: every insert takes that lock before it
takes its id), and passes over the hole only after all of them have ended and a fresh read
still lacks those ids (a transaction rolled back, or a crash skipped a sequence range).
An unrelated long transaction never holds it up; a writer still committing always does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from oncall_hookspecs import ALERT_LIFECYCLE_KINDS, AlertLifecycleEvent

from ..alerting import store
from ..store.database import Conn


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a stream: its id, its kind, and what the listener's method is given."""

    id: int
    kind: str
    payload: Any


class Stream(Protocol):
    """A table of events with increasing ids, heard through one method of a listener."""

    #: the cursor's key in ``lifecycle.cursors.stream``
    name: str
    #: the table whose ids the cursor follows (its writers are waited for at a hole)
    table: str

    def hears(self, listener: Any) -> bool:
        """Whether ``listener`` has this stream's method at all."""
        ...

    def kinds(self, listener: Any) -> Collection[str] | None:
        """The kinds ``listener`` hears on this stream; None: every kind."""
        ...

    async def newest_id(self, conn: Conn) -> int: ...

    async def read_after(self, conn: Conn, after_id: int, limit: int) -> list[StreamEvent]: ...

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


# A writer is a transaction holding the lock an INSERT takes on the table (in this database:
# relation ids repeat across databases). Its virtual transaction id names it until it ends.
_WRITERS = """
    SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') AS writers FROM pg_locks
    WHERE locktype = 'relation' AND mode = 'RowExclusiveLock' AND relation = %s::regclass
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND pid IS DISTINCT FROM pg_backend_pid()
"""
_STILL_WRITING = """
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'relation' AND mode = 'RowExclusiveLock' AND relation = %s::regclass
          AND virtualtransaction = ANY(%s)
    ) AS writing
"""


@dataclass(slots=True)
class _Hole:
    """Ids from ``first`` up to (not including) ``before`` were missing while later ones were there."""

    first: int
    before: int
    writers: Sequence[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Page:
    """What one read found: ``events`` to deliver in order, then ``position``: the id the
    cursor may move to once they are delivered (past kinds and holes passed over).
    ``waiting`` is true while a hole may still fill; ``again`` asks for an immediate
    re-read (a hole just settled, or the page was full)."""

    events: list[StreamEvent]
    position: int
    waiting: bool = False
    again: bool = False


class OrderedReader:
    """Reads ``stream`` after ``position`` in id order, never moving past an id that a
    transaction still open may commit (see the module's docstring)."""

    def __init__(self, stream: Stream, position: int) -> None:
        self.stream = stream
        self.position = position
        self._hole: _Hole | None = None
        self._settled_below = 0  # ids missing below this are gone for good

    async def read(self, conn: Conn, limit: int) -> Page:
        events = await self.stream.read_after(conn, self.position, limit)
        ready: list[StreamEvent] = []
        expected = self.position + 1
        for ev in events:
            if ev.id != expected and ev.id > self._settled_below:
                settled = await self._hole_settled(conn, expected, ev.id)
                self.position = expected - 1
                return Page(ready, self.position, waiting=not settled, again=settled)
            ready.append(ev)
            expected = ev.id + 1
        self._hole = None
        self.position = expected - 1
        return Page(ready, self.position, again=len(events) == limit)

    async def _hole_settled(self, conn: Conn, first: int, before: int) -> bool:
        """Whether every transaction that may have been writing ids ``first``…``before - 1``
        has ended; when so, a re-read passes over those still missing."""
        hole = self._hole
        if hole is None or hole.first != first:
            # taken after the read that found the hole: whoever holds its ids was writing then
            cur = await conn.execute(_WRITERS, (self.stream.table,))
            hole = self._hole = _Hole(first, before, (await cur.fetchall())[0]["writers"])
        if hole.writers:
            cur = await conn.execute(_STILL_WRITING, (self.stream.table, list(hole.writers)))
            if (await cur.fetchall())[0]["writing"]:
                return False
        self._settled_below = max(self._settled_below, hole.before)
        self._hole = None
        return True
