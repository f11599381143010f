"""The lifecycle dispatcher: every registered listener hears every committed event, in order, at least once.

Each listener keeps a durable cursor per stream (``lifecycle.cursors``: the last event id
it was given). One server at a time drives a listener: the dispatcher holds a connection
of its own, takes each listener's advisory lock on it, and reads and moves that
listener's cursor through the same connection, so a server that dies (or loses the
connection) lets go of its listeners at once, and another server's dispatcher takes them
over at its next poll. The cursor moves after each event a listener handled, so a restart
or a takeover repeats at most the event that was in flight.

Each (listener, stream) runs on its own task and never holds a pooled connection: a slow
or failing listener delays only itself, never ingest, the engine, the notifier or
another listener. A call that raises or outlives ``lifecycle_timeout_s`` is retried with
backoff; later events wait for it (order is kept), and after ``lifecycle_max_attempts``
tries (0: never) the event is skipped, logged with its id and kept in
``lifecycle.skipped``. Listeners are woken by the event hub's LISTEN/NOTIFY, with a poll
every ``lifecycle_poll_s`` as a safety net; a listener seen for the first time starts from
the newest event (``start_from = "beginning"`` replays the stored timeline instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from ..config import Settings
from ..events import EventHub
from ..backoff import backoff_delay
from ..store.database import Conn, connect
from . import cursors
from ..store.ordered import OrderedReader, StreamEvent
from .streams import STREAMS, Stream

log = logging.getLogger(__name__)

#: events read at a time
BATCH = 200
#: how often a hole in the ids is looked at again while its writers are still open
HOLE_RECHECK_S = 0.1
#: the longest error text kept on the cursor and in the log
MAX_ERROR_CHARS = 500
#: how long start() waits for the first claim (the database may be slow to answer)
START_WAIT_S = 10.0


class Dispatcher:
    """Drives the registered lifecycle listeners from their cursors (see the module's docstring)."""

    def __init__(
        self, url: str, listeners: Mapping[str, Any], settings: Settings, hub: EventHub | None = None,
        streams: tuple[Stream, ...] = STREAMS,
    ) -> None:
        self._url = url
        self._settings = settings
        self._hub = hub
        self._pairs = [(name, listener, stream) for name, listener in sorted(listeners.items())
                       for stream in streams if stream.hears(listener)]
        self._runners: dict[tuple[str, str], _Runner] = {}
        self._stopping = asyncio.Event()
        self._tick = asyncio.Event()
        self._claimed_once = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._remove_waker: Callable[[], None] | None = None

    async def start(self) -> None:
        """Claim what listeners this server can drive, then keep claiming in the background."""
        if not self._pairs:
            return
        self._stopping.clear()
        self._claimed_once.clear()
        if self._hub is not None:
            self._remove_waker = self._hub.add_waker(self._wake)
        self._task = asyncio.create_task(self._own(), name="oncall-lifecycle")
        try:
            await asyncio.wait_for(self._claimed_once.wait(), START_WAIT_S)
        except TimeoutError:
            log.warning("lifecycle listeners: no database answer within %.0f s; they start when it answers",
                        START_WAIT_S)

    async def stop(self, patience_s: float = 5.0) -> None:
        """Stop: a call in flight gets ``patience_s`` to finish (else it is cancelled and heard
        again after the next start); the connection closes, releasing the listeners."""
        self._stopping.set()
        if self._remove_waker is not None:
            self._remove_waker()
            self._remove_waker = None
        await self._stop_runners(patience_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _wake(self) -> None:
        for runner in self._runners.values():
            runner.wake.set()

    async def _own(self) -> None:
        """Hold the connection, claim unclaimed listeners every poll, restart a runner that died."""
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                async with await connect(self._url) as conn:
                    backoff = 0.1
                    while not self._stopping.is_set():
                        await self._claim(conn)
                        self._claimed_once.set()
                        self._tick.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._tick.wait(), self._settings.lifecycle_poll_s)
                        await conn.execute("SELECT 1")  # a dead connection has lost the locks
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect, whatever broke
                if self._stopping.is_set():
                    return
                log.warning("lifecycle listeners lost their database connection (%s); reconnecting in %.1fs",
                            exc, backoff)
            finally:
                # the locks went with the connection: another server may drive them now
                for runner in self._runners.values():
                    runner.task.cancel()
                self._runners.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _claim(self, conn: Conn) -> None:
        for name, listener, stream in self._pairs:
            if self._stopping.is_set():
                return
            key = (name, stream.name)
            runner = self._runners.get(key)
            if runner is not None and not runner.task.done():
                continue
            if runner is not None:  # it failed on the database, or a bug (logged): the lock is still ours
                log.info("lifecycle listener %r: starting again on %s", name, stream.name)
            elif not await cursors.try_claim(conn, name, stream.name):
                continue  # another server drives it
            start = 0 if _start_from(name, listener) == "beginning" else await stream.newest_id(conn)
            cursor = await cursors.open_cursor(conn, name, stream.name, start)
            if runner is None:
                log.info("lifecycle listener %r drives %s from event %d", name, stream.name, cursor.last_id)
            self._runners[key] = _Runner(name, listener, stream, conn, cursor, self._settings, self._stopping)

    async def _stop_runners(self, patience_s: float) -> None:
        runners = list(self._runners.values())
        for runner in runners:
            runner.wake.set()
        tasks = [r.task for r in runners if not r.task.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=patience_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _start_from(name: str, listener: Any) -> str:
    start = getattr(listener, "start_from", "now")
    if start not in ("now", "beginning"):
        log.warning("lifecycle listener %r: start_from is %r, not 'now' or 'beginning'; starting from now",
                    name, start)
        return "now"
    return str(start)


class _Runner:
    """One listener on one stream: read after the cursor, deliver each event, move the cursor."""

    def __init__(
        self, name: str, listener: Any, stream: Stream, conn: Conn, cursor: cursors.Cursor,
        settings: Settings, stopping: asyncio.Event,
    ) -> None:
        self.name = name
        self.listener = listener
        self.stream = stream
        self.conn = conn
        self.settings = settings
        self.stopping = stopping
        self.wake = asyncio.Event()
        self.kinds = stream.kinds(listener)
        self._persisted = cursor.last_id
        # a failing event's count survives restarts, so an event that always fails is not
        # given a fresh set of attempts by each one
        self._failing = (cursor.failing_id, cursor.attempts)
        self._rng = random.Random()
        self.task = asyncio.create_task(self._run(cursor.last_id), name=f"oncall-lifecycle-{name}-{stream.name}")
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("lifecycle listener %r stopped on %s: %s: %s; it starts again at the next poll",
                      self.name, self.stream.name, type(exc).__name__, exc)

    async def _run(self, position: int) -> None:
        reader = OrderedReader(self.stream, position)
        while not self.stopping.is_set():
            self.wake.clear()
            page = await reader.read(self.conn, BATCH)
            for event in page.events:
                if self.stopping.is_set():
                    return
                if (self.kinds is None or event.kind in self.kinds) and not await self._deliver(event):
                    return  # stopping while it failed: heard again after the next start
            if self.stopping.is_set():
                return
            if page.position != self._persisted:  # kinds this listener doesn't hear, holes passed over
                await self._advance(page.position)
            if page.again or page.events:
                continue
            with contextlib.suppress(TimeoutError):
                wait = HOLE_RECHECK_S if page.waiting else self.settings.lifecycle_poll_s
                await asyncio.wait_for(self.wake.wait(), wait)

    async def _advance(self, to_id: int) -> None:
        await cursors.advance(self.conn, self.name, self.stream.name, self._persisted, to_id)
        self._persisted = to_id

    async def _deliver(self, event: StreamEvent) -> bool:
        """Hand ``event`` to the listener until it takes it, or skip it after the last attempt;
        False when the dispatcher stops first."""
        s = self.settings
        attempts = self._failing[1] if self._failing[0] == event.id else 0
        while True:
            attempts += 1
            error = await self._call(event)
            if error is None:
                if attempts > 1:
                    log.info("lifecycle listener %r took %s event %d at attempt %d",
                             self.name, self.stream.name, event.id, attempts)
                self._failing = (None, 0)
                await self._advance(event.id)
                return True
            if s.lifecycle_max_attempts and attempts >= s.lifecycle_max_attempts:
                log.error("lifecycle listener %r: %s event %d skipped after %d attempts; last error: %s",
                          self.name, self.stream.name, event.id, attempts, error)
                await cursors.skip(self.conn, self.name, self.stream.name, self._persisted, event.id, attempts, error)
                self._persisted = event.id
                self._failing = (None, 0)
                return True
            delay = backoff_delay(attempts, s.lifecycle_retry_base_s, s.lifecycle_retry_max_s, None, self._rng)
            log.warning("lifecycle listener %r failed on %s event %d (attempt %d); retrying in %.1fs: %s",
                        self.name, self.stream.name, event.id, attempts, delay, error)
            await cursors.record_failure(self.conn, self.name, self.stream.name, event.id, attempts, error)
            self._failing = (event.id, attempts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return False

    async def _call(self, event: StreamEvent) -> str | None:
        """One call of the listener, bounded by the timeout: None, or what went wrong."""
        timeout_s = self.settings.lifecycle_timeout_s
        try:
            call = asyncio.ensure_future(self.stream.deliver(self.listener, event))
        except Exception as exc:  # noqa: BLE001 - the listener's own failure
            return _describe(exc)
        try:
            done, _ = await asyncio.wait({call}, timeout=timeout_s)
        except asyncio.CancelledError:
            call.cancel()
            raise
        if not done:
            # not awaited: a call that ignores its cancellation must not hold up the others
            call.cancel()
            return f"no answer within {timeout_s:g} s"
        if call.cancelled():
            return "the call was cancelled"
        failure = call.exception()
        return None if failure is None else _describe(failure)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
