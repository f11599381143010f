"""The process's one LISTEN connection: a dispatch table of channels, a liveness check, and
reconnects that tell every subscriber it may have missed something.

Everything in a process that waits for a NOTIFY (the alert event hub, the escalation engine,
the delivery worker, delivery-status watchers, the schedule cache) registers here: a
``Registration`` names its channels, the handler each notification on them is given, and
a gap handler, called each time the registration becomes live (LISTEN in effect for all its
channels: the first time, and after every reconnect), because what was committed before
may not have been heard: it re-reads what it depends on. Handlers are quick and never
block; one that raises is logged and the others still run.

One autocommit connection (``application_name`` ``oncall-listen`` in pg_stat_activity)
LISTENs on every registered channel. It is opened by the first registration and closed
when the last one leaves.

Liveness: whenever the connection has brought nothing for ``check_s``, ``SELECT 1`` must
come back within ``check_timeout_s``. A terminated backend fails the wait at once; a
half-dead TCP connection or a stuck server fails the check. Either way the connection is
dropped, every registration stops being live, and the listener reconnects (backoff from
0.1 s, doubling to 5 s), LISTENs on every channel again and calls every gap handler.
``proven_until`` says until when the connection counts as alive: a cache that answers from
memory between notifications (schedules) trusts itself only until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)

#: the listening connection's ``application_name`` (one backend per process has it)
APPLICATION_NAME = "oncall-listen"
#: how long the connection may be quiet before it must prove itself alive
CHECK_S = 2.0
#: how long the proof (``SELECT 1``) may take before the connection counts as dead
CHECK_TIMEOUT_S = 3.0
#: how long a (re)connect may take, unless the database URL says otherwise
CONNECT_TIMEOUT_S = 5
BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 5.0

NoteHandler = Callable[[psycopg.Notify], None]
GapHandler = Callable[[], None]


class ConnectionDead(Exception):
    """The liveness check got no answer in time."""


class Registration:
    """One subscriber's channels and handlers in the listener's dispatch table."""

    def __init__(self, listener: Listener, channels: frozenset[str], on_note: NoteHandler,
                 on_gap: GapHandler | None, name: str) -> None:
        self.channels = channels
        self.name = name
        self._listener = listener
        self._on_note = on_note
        self._on_gap = on_gap
        self._live = asyncio.Event()
        self.closed = False

    @property
    def live(self) -> bool:
        """Whether LISTEN is in effect for every channel: what commits from now on is heard."""
        return self._live.is_set()

    async def wait_live(self, timeout: float | None = None) -> None:
        """Return once live; TimeoutError after ``timeout`` seconds (the database is unreachable)."""
        await asyncio.wait_for(self._live.wait(), timeout)

    def close(self) -> None:
        """Leave the dispatch table (the listener closes its connection when nobody is left)."""
        self._listener._remove(self)

    def _note(self, note: psycopg.Notify) -> None:
        try:
            self._on_note(note)
        except Exception:  # noqa: BLE001 - one subscriber's failure is its own
            log.exception("%s failed to handle a notification on %s", self.name or "a subscriber", note.channel)

    def _gap(self) -> None:
        if self._on_gap is None:
            return
        try:
            self._on_gap()
        except Exception:  # noqa: BLE001 - one subscriber's failure is its own
            log.exception("%s failed to catch up after (re)connecting", self.name or "a subscriber")


class Listener:
    """The process's one listening connection (see the module's docstring)."""

    def __init__(self, url: str, *, application_name: str = APPLICATION_NAME, check_s: float = CHECK_S,
                 check_timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self._url = url
        self._application_name = application_name
        self._check_s = check_s
        self._check_timeout_s = check_timeout_s
        self._regs: list[Registration] = []
        self._table: dict[str, list[Registration]] = {}  # channel → its registrations
        self._listening: set[str] = set()  # channels LISTENed on the current connection
        self._changed = asyncio.Event()  # the table changed: LISTEN / UNLISTEN on the connection
        self._task: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[Any]] = set()  # tasks and connections being wound down
        self._proven_at = 0.0
        self._connected = False
        #: how many connections this listener has made LISTEN on (1 until the first reconnect)
        self.connections = 0

    # ------------------------------------------------------------------ the dispatch table

    def register(self, channels: Iterable[str], on_note: NoteHandler, on_gap: GapHandler | None = None,
                 *, name: str = "") -> Registration:
        """Hear ``channels``: ``on_note`` with each notification, ``on_gap`` each time the
        registration becomes live. ``await reg.wait_live()`` to know LISTEN is in effect."""
        reg = Registration(self, frozenset(channels), on_note, on_gap, name)
        self._regs.append(reg)
        for channel in reg.channels:
            self._table.setdefault(channel, []).append(reg)
        self._changed.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="oncall-listen")
        return reg

    def _remove(self, reg: Registration) -> None:
        if reg.closed:
            return
        reg.closed = True
        reg._live.clear()
        self._regs.remove(reg)
        for channel in reg.channels:
            regs = self._table[channel]
            regs.remove(reg)
            if not regs:
                del self._table[channel]
        self._changed.set()
        if not self._regs and self._task is not None:
            # nobody listens: give the connection back; the next registration opens a new one
            self._task.cancel()
            self._end(self._task)
            self._task = None

    @property
    def proven_until(self) -> float:
        """``time.monotonic()`` until which the connection counts as alive (0 while it is down)."""
        if not self._connected:
            return 0.0
        return self._proven_at + self._check_s + self._check_timeout_s

    @property
    def alive(self) -> bool:
        return monotonic() < self.proven_until

    async def close(self) -> None:
        """Stop listening (shutdown): close the connection, whoever is still registered."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._end(task)
        if self._ending:
            await asyncio.wait(set(self._ending), timeout=15)

    def _end(self, task: asyncio.Task[Any]) -> None:
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    # ------------------------------------------------------------------ the connection

    async def _run(self) -> None:
        backoff = BACKOFF_START_S
        params = conninfo_to_dict(self._url)
        kwargs: dict[str, Any] = {"autocommit": True, "application_name": self._application_name}
        if not params.get("connect_timeout"):
            kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, **kwargs)
            except Exception as exc:  # noqa: BLE001 - retry, whatever broke
                log.warning("cannot open the LISTEN connection (%s); retrying in %.1fs", exc, backoff)
            else:
                pending: list[asyncio.Future[Any]] = []
                try:
                    await self._serve(conn, pending)
                except Exception as exc:  # noqa: BLE001 - reconnect, whatever broke
                    if self._listening:
                        backoff = BACKOFF_START_S  # it was up: come back at once
                    log.warning("the LISTEN connection was lost (%s); reconnecting in %.1fs", exc, backoff)
                finally:
                    self._lost()
                    await self._bury(conn, pending)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _serve(self, conn: psycopg.AsyncConnection[Any], pending: list[asyncio.Future[Any]]) -> None:
        """LISTEN, hand out notifications, prove the connection alive when quiet; returns only by raising."""
        self._listening = set()
        self._connected = True
        self._proven_at = monotonic()
        first = True
        while True:
            self._changed.clear()
            await self._sync(conn)
            if first:
                self.connections += 1
                first = False
            if await self._receive(conn):
                continue  # the table changed: LISTEN on what is new
            if monotonic() - self._proven_at >= self._check_s:
                await self._check(conn, pending)

    async def _sync(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """LISTEN on channels new to the table, UNLISTEN the ones nobody wants; then whoever is
        now wholly listened for becomes live and is told to catch up."""
        for channel in sorted(set(self._table) - self._listening):
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._listening.add(channel)
        for channel in sorted(self._listening - set(self._table)):
            await conn.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(channel)))
            self._listening.discard(channel)
        self._proven_at = monotonic()
        for reg in list(self._regs):
            if not reg.live and not reg.closed and reg.channels <= self._listening:
                reg._live.set()
                reg._gap()

    async def _receive(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Hand out notifications for up to ``check_s``; True if cut short by a change to the table."""
        reader = asyncio.ensure_future(self._drain(conn))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({reader, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            if not reader.done():
                reader.cancel()  # the connection is idle: psycopg just stops waiting
                await asyncio.wait({reader})
        if not reader.cancelled():
            reader.result()  # the connection broke: raise
            return False
        return True

    async def _drain(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for note in conn.notifies(timeout=self._check_s):
            self._proven_at = monotonic()
            for reg in list(self._table.get(note.channel, ())):
                reg._note(note)

    async def _check(self, conn: psycopg.AsyncConnection[Any], pending: list[asyncio.Future[Any]]) -> None:
        probe = asyncio.ensure_future(conn.execute("SELECT 1"))
        done, _ = await asyncio.wait({probe}, timeout=self._check_timeout_s)
        if not done:
            pending.append(probe)
            raise ConnectionDead(f"no answer to a liveness check within {self._check_timeout_s:g} s")
        probe.result()
        self._proven_at = monotonic()

    def _lost(self) -> None:
        self._connected = False
        self._listening = set()
        for reg in self._regs:
            reg._live.clear()

    async def _bury(self, conn: psycopg.AsyncConnection[Any], pending: list[asyncio.Future[Any]]) -> None:
        """Close a connection given up on. A query still waiting on it is cancelled first (psycopg
        bounds that at about 10 s), in the background: the listener reconnects meanwhile."""
        waiting = [f for f in pending if not f.done()]
        for f in pending:
            f.add_done_callback(lambda f: f.cancelled() or f.exception())
        if not waiting:
            await conn.close()  # never waits: it only closes the socket
            return

        async def bury() -> None:
            for f in waiting:
                f.cancel()
            await asyncio.wait(waiting, timeout=30)
            with contextlib.suppress(Exception):
                await conn.close()

        self._end(asyncio.create_task(bury(), name="oncall-listen-bury"))
