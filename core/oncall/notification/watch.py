"""Delivery-status changes for WatchNotification, heard on the process's LISTEN connection and fanned out.

Whoever changes a delivery ``pg_notify``s ``outbox.STATUS_CHANNEL`` with its notification's
id after the change; PostgreSQL delivers it on commit, to every replica. While anyone
watches, the watcher is registered with the process's listener (``store.listen``) and
wakes the watchers of that notification, who re-read it. A wake-up carries no data, so
several changes may become one re-read, and none is lost: each time the listener
(re)connects every watcher is woken, since what changed meanwhile was not heard.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import psycopg

from ..errors import Unavailable
from ..store.listen import Listener, Registration

if TYPE_CHECKING:
    from ..context import Context
from .outbox import STATUS_CHANNEL


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
    """Registered for ``STATUS_CHANNEL`` while anyone watches; wakes watchers by notification id."""

    def __init__(self, listener: Listener, *, connect_timeout_s: float = 10.0) -> None:
        self._listener = listener
        self._timeout = connect_timeout_s
        self._subs: dict[int, set[Watch]] = {}
        self._reg: Registration | None = None

    async def subscribe(self, notification_id: int) -> Watch:
        """A watch that hears every change committed after this returns."""
        watch = Watch(self, notification_id)
        self._subs.setdefault(notification_id, set()).add(watch)
        if self._reg is None:
            self._reg = self._listener.register([STATUS_CHANNEL], self._dispatch, self._wake_all,
                                                name="delivery-status watchers")
        try:
            await self._reg.wait_live(self._timeout)
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
        """End every watch (their streams finish) and leave the listener."""
        for subs in list(self._subs.values()):
            for watch in list(subs):
                watch.close()
        if self._reg is not None:
            self._reg.close()
            self._reg = None

    def _unsubscribe(self, watch: Watch) -> None:
        subs = self._subs.get(watch.notification_id)
        if subs is not None:
            subs.discard(watch)
            if not subs:
                del self._subs[watch.notification_id]
        if not self._subs and self._reg is not None:
            self._reg.close()  # nobody watches: stop hearing the channel
            self._reg = None

    def _wake(self, notification_id: int) -> None:
        for watch in list(self._subs.get(notification_id, ())):
            watch._wake()

    def _wake_all(self) -> None:
        for subs in list(self._subs.values()):
            for watch in list(subs):
                watch._wake()

    def _dispatch(self, note: psycopg.Notify) -> None:
        for part in note.payload.split(","):
            try:
                self._wake(int(part))
            except ValueError:
                continue  # not a notification id: nothing to wake


def watcher_for(ctx: Context) -> StatusWatcher:
    """The process's watcher, kept in ``ctx.notification_watcher`` (made on first use)."""
    if ctx.notification_watcher is None:
        ctx.notification_watcher = StatusWatcher(ctx.listener)
    return ctx.notification_watcher
