"""The alert event hub: the committed timeline, in id order, fanned out to in-process subscribers.

Writers ``pg_notify`` the ids of timeline events they commit (see ``alerting.store``);
PostgreSQL delivers them only after commit, to every replica. The hub hears them through
the process's one LISTEN connection (``store.listen``) and reads the timeline forward from
the last id it handed out (``store.ordered``: never past an id a transaction still open may
commit), with each event's alert as it is now, and hands every event to each subscriber
(WatchAlerts streams, the delivery worker's follower of posted messages) in id order.
After a reconnect it simply reads on from where it was. Wakers (the lifecycle dispatcher,
which reads the timeline from cursors of its own) are only told that something new was
committed.

A subscriber that falls behind (its queue of ``queue_size`` events is full) is not cut
off: it goes on from the timeline itself, reading after the last event it was given up to
where the hub is, and rejoins the hub's fan-out when it has caught up. Every subscriber thus
sees every event committed after it subscribed, once each and in order, however slow it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import psycopg

from .alerting import store
from .alerting.models import Alert, TimelineEvent
from .store.database import Pool
from .store.listen import Listener
from .store.ordered import OrderedReader, Page, StreamEvent

log = logging.getLogger(__name__)

#: events read from the timeline at a time (by the hub, and by a subscriber catching up)
BATCH = 500
#: how often a hole in the ids is looked at again when no notification comes to say it filled
HOLE_RECHECK_S = 0.1
#: how many events a subscriber may have waiting before it reads on from the timeline instead
QUEUE_SIZE = 10_000

_END = object()

Pair = tuple[TimelineEvent, Alert]


async def listen_forever(
    listener: Listener, channels: Sequence[str], on_note: Callable[[psycopg.Notify | None], None],
    listening: asyncio.Event, what: str,
) -> None:
    """Hear ``channels`` on the process's LISTEN connection until cancelled.

    ``listening`` is set once LISTEN is in effect. ``on_note`` is also called with None each
    time the connection is (re)established: anything announced while nobody listened must
    be caught up on by the caller.
    """
    reg = listener.register(channels, on_note, lambda: on_note(None), name=what)
    try:
        await reg.wait_live()
        listening.set()
        await asyncio.Future()  # until cancelled
    finally:
        reg.close()


async def stop_tasks(waiting: Sequence[asyncio.Task[Any]], working: Sequence[asyncio.Task[Any]],
                     patience_s: float = 5.0) -> None:
    """Cancel ``waiting`` tasks (listeners) at once; give ``working`` ones (a pass told to stop)
    ``patience_s`` to finish on their own before cancelling them too.

    Cancelling a task in the middle of a query makes psycopg ask the server to cancel it and
    wait for that, which can take long on a busy server; a pass that is let finish cannot stall.
    """
    for t in waiting:
        t.cancel()
    live = [t for t in working if not t.done()]
    if live:
        _, pending = await asyncio.wait(live, timeout=patience_s)
        for t in pending:
            t.cancel()
    await asyncio.gather(*waiting, *working, return_exceptions=True)


async def run_passes(
    what: str, wake: asyncio.Event, one_pass: Callable[[], Awaitable[float]], *, stopping: Callable[[], bool],
    retry_s: float, max_wait_s: float, logger: logging.Logger, after_wait: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The loop of a background worker (the engine, the delivery worker, the message editor).

    Runs ``one_pass`` (which does what is due and returns the seconds until the next thing
    falls due) until ``stopping()``, then waits until woken (``wake``: a NOTIFY, a request)
    or until that time, at most ``max_wait_s``. A pass that fails is logged and tried again
    after ``retry_s``. ``after_wait`` runs after each wait (the editor lets a burst gather).
    """
    while not stopping():
        wake.clear()
        try:
            timeout = await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s pass failed; retrying shortly", what)
            timeout = retry_s
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(timeout, max_wait_s))
        if after_wait is not None:
            await after_wait()


class Subscription:
    """A subscriber's (event, alert) pairs in id order: from the hub while it keeps up, from
    the timeline while it is behind. Iterating ends only when it is closed."""

    def __init__(self, hub: EventHub, maxsize: int, after: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        #: the id of the last event queued or read for this subscriber
        self.cursor = after
        #: whether it reads from the timeline (its queue overflowed) rather than from the hub
        self.behind = False
        #: how many times it fell behind and read on from the timeline
        self.fell_behind = 0
        self.closed = False
        self._closed = asyncio.Event()

    def _offer(self, event_id: int, pair: Pair | None) -> None:
        if self.behind or event_id <= self.cursor:
            return
        if pair is not None:
            try:
                self._queue.put_nowait(pair)
                self.cursor = event_id
                return
            except asyncio.QueueFull:
                pass
        # full (or read while nobody subscribed, without its alert): read on from the timeline
        self.behind = True
        self.fell_behind += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._closed.set()
        self._hub._subs.discard(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[Pair]:
        while not self.closed:
            if self.behind and self._queue.empty():
                for pair in await self._read_on():
                    if self.closed:
                        return
                    yield pair
                continue
            item = await self._queue.get()
            if item is _END or self.closed:
                return
            yield item  # type: ignore[misc]

    async def _read_on(self) -> list[Pair]:
        """The next events after ``cursor`` from the timeline, up to where the hub is; when
        there are none left, rejoin the hub (no await between the check and the switch)."""
        upto = self._hub.position
        if self.cursor >= upto:
            self.behind = False
            return []
        try:
            async with self._hub._pool.connection() as conn:
                pairs = await store.events_with_alerts_after(conn, self.cursor, BATCH)
        except Exception as exc:  # noqa: BLE001 - the database is away: wait, then read on
            log.warning("an alert event subscriber could not read the timeline (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), 1.0)
            return []
        # ids up to the hub's position are settled (committed or gone for good); beyond it
        # the hub hands them out, or a later read takes them
        mine = [p for p in pairs if p[0].id <= upto]
        self.cursor = mine[-1][0].id if len(mine) == BATCH else upto
        return mine


class _Timeline:
    """The alert timeline as the hub reads it: each event with its alert while anyone
    subscribes, ids alone while nobody does."""

    table = "alerting.alert_events"

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    async def read_after(self, conn: psycopg.AsyncConnection[Any], after_id: int, limit: int) -> list[StreamEvent]:
        if self._hub._subs:
            return [StreamEvent(e.id, e.kind, (e, a)) for e, a in await store.events_with_alerts_after(conn, after_id, limit)]
        return [StreamEvent(i, "", None) for i in await store.events_after(conn, after_id, limit)]


class EventHub:
    def __init__(self, listener: Listener, pool: Pool, queue_size: int = QUEUE_SIZE) -> None:
        self._listener = listener
        self._pool = pool
        #: the queue bound of new subscriptions (see the module's docstring)
        self.queue_size = queue_size
        self._subs: set[Subscription] = set()
        self._wakers: list[Callable[[], None]] = []
        self._reader: OrderedReader | None = None
        self._due = asyncio.Event()
        self._ready = asyncio.Event()
        self._recheck: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._reg: Any = None
        #: every event up to this id has been handed to the subscribers (or passed over: a
        #: rolled-back id)
        self.position = 0

    def add_waker(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` (quick, never blocking) whenever new events are announced, and after
        each reconnect (announcements may have been missed). Returns the call that removes it."""
        self._wakers.append(wake)
        return lambda: self._wakers.remove(wake)

    def _announced(self, _note: psycopg.Notify | None = None) -> None:
        self._due.set()
        for wake in list(self._wakers):
            wake()

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The open subscriptions (to see who is behind)."""
        return tuple(self._subs)

    def subscribe(self, maxsize: int | None = None, after: int | None = None) -> Subscription:
        """Every event committed from now on, in id order (see ``Subscription``); with
        ``after``, every event after that id first, read from the timeline."""
        start = self.position if after is None else max(0, min(after, self.position))
        sub = Subscription(self, maxsize or self.queue_size, start)
        if start < self.position:
            sub.behind = True  # reads on from the timeline, then rejoins the hub
        self._subs.add(sub)
        return sub

    async def start(self) -> None:
        self._reg = self._listener.register([store.EVENTS_CHANNEL], self._announced, self._announced,
                                            name="the alert event hub")
        self._task = asyncio.create_task(self._pump(), name="oncall-event-hub")
        await asyncio.wait_for(asyncio.gather(self._reg.wait_live(), self._ready.wait()), timeout=30)

    def close_subscribers(self) -> None:
        for sub in list(self._subs):
            sub.close()

    async def stop(self) -> None:
        self.close_subscribers()
        if self._reg is not None:
            self._reg.close()
            self._reg = None
        if self._recheck is not None:
            self._recheck.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pump(self) -> None:
        """Read the timeline on from ``position`` whenever events are announced (or a hole may have settled)."""
        backoff = 0.1
        self._due.set()  # the first pass finds where the timeline ends
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                page = await self._read()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is away: read again shortly
                log.warning("the alert event hub could not read the timeline (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._due.set()
                continue
            if page is not None and page.waiting:  # a writer is still open: its commit notifies, or a rollback doesn't
                self._recheck = asyncio.get_running_loop().call_later(HOLE_RECHECK_S, self._due.set)

    async def _read(self) -> Page | None:
        async with self._pool.connection() as conn:
            if self._reader is None:
                self._reader = OrderedReader(_Timeline(self), await store.newest_event_id(conn))
                self.position = self._reader.position
                self._ready.set()
            while True:
                page = await self._reader.read(conn, BATCH)
                self._deliver(page)
                if not page.again:
                    return page

    def _deliver(self, page: Page) -> None:
        for ev in page.events:
            for sub in list(self._subs):
                sub._offer(ev.id, ev.payload)
        self.position = page.position
