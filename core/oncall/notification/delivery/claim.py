"""Claiming: the worker's advisory lock, and taking due deliveries under it.

Each worker holds a PostgreSQL advisory lock on its id while it lives (``WorkerLock``); a
row ``sending`` under that id is leased to it exactly as long as the lock is held, so
recovery needs no lease timeout. A worker whose lock session is lost stops claiming and
sending at once, and goes on only after taking a lock again, under a new id.

A claim (``Claim.run``) is one short transaction: due rows locked with SKIP LOCKED, the
ones that cannot be sent settled, the rest grouped into units (bundles), held back by
circuits and token buckets (``limits``), given their reply codes and templates, and marked
``sending`` under this worker's id — only if PostgreSQL confirms in the same transaction
that the lock is still this worker's. Rendering comes after the commit (``prepare``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from oncall_hookspecs import Channel

from ...events import stop_tasks
from ..alerting_port import AlertingPort
from . import capabilities, store
from .store import DueDelivery, Sending, Settled

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x4F4E  # pg_advisory_lock(namespace, worker id)
# whether the session with this backend pid holds (namespace, worker id): a two-key advisory
# lock shows in pg_locks as classid, objid with objsubid 2
_HOLDS_LOCK = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid
                                AND objid = %s::oid AND objsubid = 2 AND pid = %s AND granted) AS held"""
LOCK_CHECK_S = 5.0  # how often the lock's own session is asked; its loss is seen at once anyway
LOCK_RETRY_MAX_S = 5.0  # the longest wait between attempts to take the lock again


@dataclass(frozen=True, slots=True)
class Unit:
    """One provider call: a delivery, with the rows bundled into it (the first leads)."""

    rows: tuple[DueDelivery, ...]
    channel: Channel
    circuit: str
    circuit_generation: int = 0  # its circuit's generation when it was claimed
    claimed_by: int = 0  # the worker id (lock) it was claimed under
    started_at: datetime | None = None
    reply_code: str | None = None

    @property
    def leader(self) -> DueDelivery:
        return self.rows[0]

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]

    @property
    def alert_ids(self) -> set[int | None]:
        return {r.alert_id for r in self.rows}


@dataclass
class Plan:
    """What one claim transaction decided, written at its end."""

    settle: list[Settled] = field(default_factory=list)
    defer: dict[int, datetime] = field(default_factory=dict)
    probes: dict[str, tuple[Unit, list[int]]] = field(default_factory=dict)  # circuit: probe, ids held for it


class LockLost(Exception):
    """This worker's lock is gone: nothing may be claimed or sent under it."""


@dataclass
class _LockCheck:
    """One question to PostgreSQL, shared by the sends that start together."""

    worker_id: int
    pid: int
    asked: bool = False  # once on the wire, a later caller needs a question of its own
    task: asyncio.Task[bool] | None = None


class WorkerLock:
    """The advisory lock a worker's claims stand on, kept by a session of its own."""

    def __init__(self, database_url: str, pool: Any, on_regained: Callable[[], None]) -> None:
        self.database_url = database_url
        self.pool = pool
        self.worker_id = 0  # the id whose lock this worker holds: a new one each time it takes the lock
        self.pid = 0  # the backend holding the lock
        self.held = asyncio.Event()  # set while the lock is this worker's: claims and sends wait for it
        # (row id, worker id it was claimed under) for rows this worker is sending and has not yet
        # recorded: any other row it holds is lost
        self.sending: set[tuple[int, int]] = set()
        self.kept_ids: set[int] = set()  # lost ids held again until their sends on the wire are recorded
        self.recover_others_after = 0.0  # monotonic; see keep
        self.in_flight: Callable[[], int] = lambda: 0  # how many sends are on the wire, for the log line on a loss
        self._on_regained = on_regained
        self._keeper: asyncio.Task[None] | None = None
        self._check: _LockCheck | None = None

    async def attach(self) -> None:
        if self._keeper is None:
            conn = await self._take()
            self._keeper = asyncio.create_task(self._keep(conn), name="oncall-notifier-lock")

    async def close(self) -> None:
        if self._keeper is not None:  # closing the lock's session releases the lock
            await stop_tasks([self._keeper], [])
            self._keeper = None

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        """A session of its own holding the lock on a new worker id: new, so that nothing claimed
        under a lost lock can be taken for something claimed under this one."""
        # keepalives: a dead peer is noticed in about 30 s even when no packet says so
        conn = await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True, keepalives=1, keepalives_idle=10, keepalives_interval=5,
            keepalives_count=3, tcp_user_timeout=30_000,
        )
        try:
            while True:
                worker_id = secrets.randbelow(2**31 - 2) + 1
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, worker_id))
                row = await cur.fetchone()
                if row is not None and row[0]:
                    break
            # Ids lost while sends under them were on the wire: held again, unless a replica has
            # taken one to requeue its rows, those sends record their answers instead of being
            # sent again. Nothing new is claimed under them; each is let go once its sends are in.
            self.kept_ids = set()
            for lost in sorted({by for _, by in self.sending} - {worker_id}):
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, lost))
                row = await cur.fetchone()
                if row is not None and row[0]:
                    self.kept_ids.add(lost)
        except BaseException:
            await conn.close()
            raise
        self.worker_id, self.pid = worker_id, conn.info.backend_pid
        self.held.set()
        return conn

    async def _keep(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        backoff, held_since = 0.1, time.monotonic()
        try:
            while True:
                if conn is None:
                    try:
                        conn = await self._take()
                    except Exception as exc:  # noqa: BLE001 - the database may be back in a moment
                        log.warning("notifier could not take its lock again (%s); retrying in %.1f s",
                                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                                    backoff)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, LOCK_RETRY_MAX_S)
                        continue
                    held_since = time.monotonic()
                    # the other replicas may be taking theirs again too (PostgreSQL restarted): what
                    # they had on the wire is theirs to record, not this worker's to requeue, for now
                    self.recover_others_after = held_since + LOCK_RETRY_MAX_S
                    log.warning("notifier holds its lock again, as worker %d; delivering again", self.worker_id)
                    self._on_regained()
                why = await self._watch(conn)
                self.lose(why)
                with contextlib.suppress(Exception):
                    await conn.close()
                conn = None
                if time.monotonic() - held_since < LOCK_CHECK_S:  # lost again soon after taking it
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, LOCK_RETRY_MAX_S)
                else:
                    backoff = 0.1
        finally:
            self.held.clear()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _watch(self, conn: psycopg.AsyncConnection[Any]) -> str:
        """Wait until the lock is no longer this worker's, and say why: its session ending is seen
        at once (the socket closes); the session is also asked every LOCK_CHECK_S."""
        asked = time.monotonic()
        try:
            while self.held.is_set():  # cleared by a claim or send that found the lock gone
                async for _ in conn.notifies(timeout=1.0):  # nothing is announced here: this waits on the socket
                    pass
                done = {k for k in self.kept_ids if all(by != k for _, by in self.sending)}
                for kept in sorted(done):  # its rows left unanswered are recovered like a dead worker's
                    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, kept))
                    self.kept_ids.discard(kept)
                if self.held.is_set() and time.monotonic() - asked >= LOCK_CHECK_S:
                    cur = await conn.execute(_HOLDS_LOCK, (LOCK_NAMESPACE, self.worker_id, self.pid))
                    row = await cur.fetchone()
                    if row is None or not row[0]:
                        return "its session no longer holds it"
                    asked = time.monotonic()
            return "PostgreSQL said it no longer holds it"
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()
            return f"its connection was lost: {first[0] if first else type(exc).__name__}"

    def lose(self, why: str) -> None:
        """Stop claiming and sending at once: the lock the claims stand on is gone."""
        if self.held.is_set():
            self.held.clear()
            log.error("notifier worker %d lost its database lock (%s): it stopped claiming and sending and "
                      "takes a lock again before going on; %d sends already on the wire may be repeated by "
                      "another replica", self.worker_id, why, self.in_flight())

    async def fence(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """The worker id to claim under, once PostgreSQL has confirmed, inside the claim's own
        transaction, that this worker's lock session still holds its lock; else the claim is
        rolled back (``LockLost``)."""
        worker_id, pid = self.worker_id, self.pid
        if self.held.is_set():
            cur = await conn.execute(_HOLDS_LOCK, (LOCK_NAMESPACE, worker_id, pid))
            row = await cur.fetchone()
            if row is not None and row["held"]:
                return worker_id
            if worker_id == self.worker_id:  # (not a lock taken again meanwhile)
                self.lose("a claim found it released")
        raise LockLost

    async def holds(self, worker_id: int) -> bool:
        """Whether the lock on ``worker_id`` is still this worker's, asked of PostgreSQL now; sends
        that start together share one question."""
        if worker_id != self.worker_id or not self.held.is_set():
            return False
        check = self._check
        if check is None or check.asked or check.worker_id != worker_id:
            check = self._check = _LockCheck(worker_id, self.pid)
            check.task = asyncio.create_task(self._ask(check), name="oncall-notifier-lock-check")
        assert check.task is not None
        held = await asyncio.shield(check.task)
        if not held and worker_id == self.worker_id:  # (not a lock taken again meanwhile)
            self.lose("a send found it released")
        return held and worker_id == self.worker_id and self.held.is_set()

    async def _ask(self, check: _LockCheck) -> bool:
        async with self.pool.connection() as conn:
            check.asked = True
            cur = await conn.execute(_HOLDS_LOCK, (LOCK_NAMESPACE, check.worker_id, check.pid))
            row = await cur.fetchone()
            return bool(row is not None and row["held"])


async def try_xact_lock(conn: psycopg.AsyncConnection[Any], key: int) -> bool:
    """Whether the transaction took the lock on (namespace, ``key``): free means its worker is gone
    (``key`` 0: the pruning replica). Released at commit, so a live owner is never blocked for long."""
    cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s) AS free", (LOCK_NAMESPACE, key))
    row = await cur.fetchone()
    return bool(row is not None and row["free"])


def settle_unsendable(
    rows: Sequence[DueDelivery], channels: Mapping[str, Channel], opted_out: set[tuple[str, str]],
    statuses: Mapping[int, str], plan: Plan,
) -> list[DueDelivery]:
    """Rows that cannot be sent are settled now (no such channel, opted out, the alert was
    acknowledged or resolved before its page went); returns the rest."""
    keep = []
    for r in rows:
        if r.channel not in channels:
            plan.settle.append(Settled(r, "failed", f"no channel plugin named {r.channel!r} is installed and configured"))
        elif (r.channel, r.destination) in opted_out:
            plan.settle.append(Settled(r, "failed", "the destination opted out (STOP); send START to opt back in"))
        elif r.user_id is not None and r.alert_id is not None and statuses.get(r.alert_id, "triggered") != "triggered":
            plan.settle.append(Settled(r, "cancelled", f"alert {r.alert_id} was {statuses[r.alert_id]} before this page went"))
        else:
            keep.append(r)
    return keep


def group(rows: Sequence[DueDelivery], channels: Mapping[str, Channel]) -> list[Unit]:
    """One unit per row, except that rows about alerts for one destination of a bundling channel go as one."""
    units: list[Unit] = []
    bundles: dict[tuple[str, str], int] = {}  # (channel, destination) → index in units
    for r in rows:
        channel = channels[r.channel]
        circuit = capabilities.circuit_key(r.channel, r.destination)
        if capabilities.bundles(r.channel, channel) and r.alert_id is not None:
            key = (r.channel, r.destination)
            if key in bundles:
                i = bundles[key]
                units[i] = replace(units[i], rows=(*units[i].rows, r))
                continue
            bundles[key] = len(units)
        units.append(Unit((r,), channel, circuit))
    return units


async def unsendable(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[DueDelivery], alerting: AlertingPort,
) -> tuple[set[tuple[str, str]], dict[int, str]]:
    """What settling needs to know: opted-out destinations, and the status of the alerts pages are for."""
    opted_out = await store.opted_out(conn, [(r.channel, r.destination) for r in rows])
    pages = [r.alert_id for r in rows if r.alert_id is not None and r.user_id is not None]
    statuses = await alerting.alert_statuses(conn, pages) if pages else {}
    return opted_out, statuses


async def write_plan(
    conn: psycopg.AsyncConnection[Any], plan: Plan, send: Sequence[Unit], worker_id: int, settle_as: int,
    now: datetime, probe_wait_s: float,
) -> list[Unit]:
    """Write what the claim decided: probes, deferrals, settled rows, and the units marked ``sending``
    under ``worker_id``; returns those units as claimed."""
    sending = {id(u) for u in send}
    for key, (probe, held) in plan.probes.items():
        if id(probe) in sending:
            until = now + timedelta(seconds=probe_wait_s)
            await store.start_probe(conn, key, probe.leader.id, until)
            log.info("channel %s: its pause is over; delivery %d goes as the probe", key, probe.leader.id)
        else:  # the probe waits for its rate limit: the rest wait with it
            until = plan.defer.get(probe.leader.id, now + timedelta(seconds=1))
        for delivery_id in held:
            plan.defer[delivery_id] = until
    await store.defer(conn, plan.defer, now)
    claimed = [replace(u, claimed_by=worker_id, started_at=now) for u in send]
    await store.mark_sending(conn, worker_id, [
        Sending(r.id, u.reply_code, len(u.rows), None if r is u.leader else u.leader.id)
        for u in claimed for r in u.rows
    ], now)
    await store.settle(conn, plan.settle, settle_as, now)
    await store.notify_status(conn, {r.notification_id for u in claimed for r in u.rows}
                              | {s.delivery.notification_id for s in plan.settle})
    return claimed
