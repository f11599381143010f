"""Delivery-status changes for WatchNotification: one LISTEN connection per process, fanned out.

Whoever changes a delivery ``pg_notify``s ``outbox.STATUS_CHANNEL`` with its notification's
id after the change; PostgreSQL delivers it on commit, to every replica. One connection per
process listens (started by the first watcher, closed when the last one leaves) and wakes
the watchers of that notification, who re-read it. A wake-up carries no data, so several
changes may become one re-read, and none is lost: after a reconnect every watcher is woken,
since what changed meanwhile was not heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from ..errors import Unavailable
from .outbox import STATUS_CHANNEL

log = logging.getLogger(__name__)


class Watch:
    """One watcher of one notification: ``await changed()`` returns when it may have changed."""

    def __init__(self, watcher: StatusWatcher, notification_id: int) -> None:
        self.notification_id = notification_id
        self._watcher = watcher
        self._event = asyncio.Event()
        self.closed = False

    def _wake(self) -> None:
        self._event.set()

    async def changed(self) -> bool:
        """Wait for a change; False when the watch was closed (the server is stopping) instead."""
        await self._event.wait()
        self._event.clear()
        return not self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._event.set()
            self._watcher._unsubscribe(self)


class StatusWatcher:
    """Listens on ``STATUS_CHANNEL`` while anyone watches, and wakes watchers by notification id."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._subs: dict[int, set[Watch]] = {}
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()

    async def subscribe(self, notification_id: int) -> Watch:
        """A watch that hears every change committed after this returns."""
        watch = Watch(self, notification_id)
        self._subs.setdefault(notification_id, set()).add(watch)
        if self._task is None:
            self._live = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._live), name="oncall-delivery-status")
        try:
            await asyncio.wait_for(self._live.wait(), self._timeout)
        except TimeoutError:
            watch.close()
            raise Unavailable("cannot listen for delivery changes now; try again shortly") from None
        except BaseException:
            watch.close()
            raise
        return watch

    @property
    def watching(self) -> int:
        return sum(len(s) for s in self._subs.values())

    async def stop(self) -> None:
        """End every watch (their streams finish) and close the connection."""
        for subs in list(self._subs.values()):
            for watch in list(subs):
                watch.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _unsubscribe(self, watch: Watch) -> None:
        subs = self._subs.get(watch.notification_id)
        if subs is not None:
            subs.discard(watch)
            if not subs:
                del self._subs[watch.notification_id]
        if not self._subs and self._task is not None:
            # nobody watches: give the connection back; the next watcher starts a new one
            self._task.cancel()
            self._task = None

    def _wake(self, notification_id: int) -> None:
        for watch in list(self._subs.get(notification_id, ())):
            watch._wake()

    def _wake_all(self) -> None:
        for subs in list(self._subs.values()):
            for watch in list(subs):
                watch._wake()

    def _dispatch(self, payload: str) -> None:
        for part in payload.split(","):
            try:
                self._wake(int(part))
            except ValueError:
                continue  # not a notification id: nothing to wake

    async def _run(self, live: asyncio.Event) -> None:
        backoff = 0.1
        reconnecting = False
        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {STATUS_CHANNEL}")
                    if reconnecting:
                        self._wake_all()  # changes made while the connection was down were not heard
                    live.set()
                    backoff = 0.1
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect whatever broke
                log.warning("delivery status listener lost (%s); reconnecting in %.1fs", exc, backoff)
                reconnecting = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def watcher_for(ctx: Any) -> StatusWatcher:
    """The process's watcher, kept in ``ctx.notification_watcher`` (made on first use)."""
    if ctx.notification_watcher is None:
        ctx.notification_watcher = StatusWatcher(ctx.database_url)
    return ctx.notification_watcher
