"""The alert event hub: one LISTEN connection per process, fanned out to in-process subscribers.

Writers ``pg_notify`` the ids of timeline events they commit (see ``alerting.store``);
PostgreSQL delivers them only after commit, to every replica. The hub fetches the events
once, with their alert's current state, and hands them to each subscriber (WatchAlerts
streams, later the escalation engine). When the connection drops it reconnects and catches
up from the last event id it saw. Wakers (the lifecycle dispatcher, which reads the
timeline from cursors of its own) are only told that something new was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from .alerting import store
from .alerting.models import Alert, TimelineEvent

log = logging.getLogger(__name__)

_END = object()


async def listen_forever(
    url: str, channels: Sequence[str], on_note: Callable[[psycopg.Notify], None], listening: asyncio.Event,
    what: str,
) -> None:
    """LISTEN on ``channels`` on a connection of its own, reconnecting whenever it drops.

    ``on_note`` is also called with None after each (re)connect: anything announced while
    nobody listened must be caught up on by the caller.
    """
    backoff = 0.1
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                for channel in channels:
                    await conn.execute(f"LISTEN {channel}")
                listening.set()
                on_note(None)
                backoff = 0.1
                async for note in conn.notifies():
                    on_note(note)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reconnect, whatever broke
            log.warning("%s lost its listening connection (%s); retrying", what, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


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


class Subscription:
    """A subscriber's queue of (event, alert) pairs, in commit-notification order."""

    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self.overflowed = False

    def _offer(self, item: object) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # a subscriber that can't keep up is cut off rather than holding memory forever
            self.overflowed = True
            self._hub._subs.discard(self)
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.get_nowait()
                self._queue.put_nowait(_END)

    def close(self) -> None:
        self._hub._subs.discard(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[tuple[TimelineEvent, Alert]]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]


class EventHub:
    def __init__(self, url: str, pool: AsyncConnectionPool) -> None:
        self._url = url
        self._pool = pool
        self._subs: set[Subscription] = set()
        self._wakers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.last_event_id = 0

    def add_waker(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` (quick, never blocking) whenever new events are announced, and after
        each reconnect (announcements may have been missed). Returns the call that removes it."""
        self._wakers.append(wake)
        return lambda: self._wakers.remove(wake)

    def _wake(self) -> None:
        for wake in list(self._wakers):
            wake()

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="oncall-event-hub")
        await asyncio.wait_for(self._listening.wait(), timeout=30)

    def close_subscribers(self) -> None:
        for sub in list(self._subs):
            sub.close()

    async def stop(self) -> None:
        self.close_subscribers()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {store.EVENTS_CHANNEL}")
                    async with self._pool.connection() as c:
                        newest = await store.newest_event_id(c)
                    if self.last_event_id and newest > self.last_event_id:
                        await self._catch_up()
                    else:
                        self.last_event_id = max(self.last_event_id, newest)
                    self._listening.set()
                    self._wake()
                    backoff = 0.1
                    async for note in conn.notifies():
                        ids = [int(x) for x in note.payload.lstrip(store.NOT_FOR_ENGINE).split(",") if x]
                        if ids:
                            await self._dispatch(ids)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever broke
                log.warning("event hub connection lost (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _catch_up(self) -> None:
        async with self._pool.connection() as conn:
            ids = await store.events_after(conn, self.last_event_id, limit=10_000)
        if ids:
            await self._dispatch(ids)

    async def _dispatch(self, ids: list[int]) -> None:
        self.last_event_id = max(self.last_event_id, max(ids))
        self._wake()
        if not self._subs:
            return
        async with self._pool.connection() as conn:
            pairs = await store.events_with_alerts(conn, ids)
        for pair in pairs:
            for sub in list(self._subs):
                sub._offer(pair)
