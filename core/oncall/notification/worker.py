"""The delivery worker: engine requests → deliveries → channel plugins, with every attempt recorded.

One pass (``run_once``):

1. **intake** — pending engine requests become notifications with their deliveries.
2. **recover** — a ``sending`` row whose worker has died goes back to ``retrying``. Each
   worker holds a PostgreSQL advisory lock on its id while it lives; the lock is free
   exactly when its session is gone, so recovery needs no lease timeout. A worker whose
   lock session is lost (the connection dropped, PostgreSQL restarted) is dead from then on
   to everyone else: it stops claiming and sending at once, and goes on only after taking a
   lock again, under a new id.
3. **claim** — due rows are locked with SKIP LOCKED (any number of replicas share them),
   settled at once when they cannot be sent (no such channel, opted out, the alert was
   acknowledged before its page went), held back by an open circuit or an empty token
   bucket (they wait, never dropped), grouped into bundles for channels that bundle,
   rendered (the same ``render_for`` a preview runs), and marked ``sending`` under this
   worker's id — committed *before* any provider is called, and only if PostgreSQL confirms
   in the same transaction that this worker's lock session still holds its lock.
4. **send** — concurrently, each after asking PostgreSQL once more that the lock is still
   this worker's (a unit whose lock is gone goes back to the queue unsent); each result is
   committed with its attempt row, the circuit breaker's state, and a line on the alert's
   timeline ("SMS to user 42: delivered"). A result is recorded only while its row is still
   ``sending`` under the id it was claimed under.

A crash (or a lost lock) between a provider call and its commit repeats that one send,
once, with the same idempotency key; nothing else can repeat or vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
import psycopg
from oncall_hookspecs import BundlingChannel, Channel, ChannelMessage, DeliveryResult, RateLimitedChannel, UpdatingChannel
from psycopg.types.json import Jsonb

from ..alerting import store as alert_store
from ..clock import SYSTEM_CLOCK, Clock
from ..config import parse_rate_limits
from ..context import Context
from ..escalation.engine import REQUESTS_CHANNEL
from ..events import listen_forever, stop_tasks
from . import channels as catalog
from . import outbox
from .links import hash_token
from .pipeline import SendJob, SendRender, fallback_note, load_template, rendering_for
from .templates import Template

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x4F4E  # pg_advisory_lock(namespace, worker id)
# whether the session with this backend pid holds (namespace, worker id): a two-key advisory
# lock shows in pg_locks as classid, objid with objsubid 2
_HOLDS_LOCK = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid
                                AND objid = %s::oid AND objsubid = 2 AND pid = %s AND granted) AS held"""
LOCK_CHECK_S = 5.0  # how often the lock's own session is asked; its loss is seen at once anyway
LOCK_RETRY_MAX_S = 5.0  # the longest wait between attempts to take the lock again

# what a channel is (rate limits, bundling, circuit scope, links, reply codes, label) is its spec's: catalog
MAX_REPLY_CODE = 99
SEND_GUARD_S = 120.0
CIRCUIT_PAUSE_MAX_S = 600.0  # the pause doubles after each failed probe, up to this
PROBE_WAIT_S = SEND_GUARD_S + 60.0  # a probe with no recorded answer by then lets the next one go
PRUNE_EVERY_S = 600.0  # a channel that neither answers nor times out by itself


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter (half to full of base·2ⁿ), at least the provider's Retry-After."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = ceiling * (0.5 + rng.random() / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, 3600.0))
    return delay


@dataclass(slots=True)
class _Unit:
    """One provider call: a delivery, with the rows bundled into it."""

    rows: list[dict[str, Any]]
    channel: Channel
    circuit: str
    message: ChannelMessage | None = None
    started_at: datetime | None = None
    claimed_by: int = 0  # the worker id (lock) it was claimed under
    circuit_generation: int = 0  # its circuit's generation when it was claimed

    @property
    def leader(self) -> dict[str, Any]:
        return self.rows[0]


@dataclass
class _Pass:
    """What one claim transaction decided, written at its end."""

    settle: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)  # row, status, reason
    defer: dict[int, datetime] = field(default_factory=dict)
    send: list[_Unit] = field(default_factory=list)
    probes: dict[str, tuple[_Unit, list[int]]] = field(default_factory=dict)  # circuit: probe, ids held for it


class _LockLost(Exception):
    """This worker's lock is gone: nothing may be claimed or sent under it."""


@dataclass
class _LockCheck:
    """One question to PostgreSQL, shared by the sends that start together."""

    worker_id: int
    pid: int
    asked: bool = False  # once on the wire, a later caller needs a question of its own
    task: asyncio.Task[bool] | None = None


class Notifier:
    """The delivery worker for one process. Any number may run on one database."""

    def __init__(self, ctx: Context, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None) -> None:
        self.ctx = ctx
        self.clock = clock
        self.settings = ctx.settings
        self.worker_id = 0  # the id whose lock this worker holds: a new one each time it takes the lock
        self._rng = rng or random.Random()
        self._limit_overrides = parse_rate_limits(ctx.settings.rate_limits)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(ctx.settings.notify_concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []  # listeners, cancelled at once on stop
        self._loop_task: asyncio.Task[None] | None = None
        self._lock_pid = 0  # the backend holding the lock
        self._kept_ids: set[int] = set()  # lost ids held again until their sends on the wire are recorded
        self._recover_others_after = 0.0  # monotonic; see _keep_lock
        self._locked = asyncio.Event()  # set while the lock is this worker's: claims and sends wait for it
        self._keeper: asyncio.Task[None] | None = None
        self._lock_check: _LockCheck | None = None
        self._last_recover = 0.0
        self._last_prune = time.monotonic()  # not at startup: a restart loop must not become a delete loop
        self._stopping = False
        self._results: list[tuple[_Unit, DeliveryResult, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        # (row id, worker id it was claimed under) for rows this worker is sending and has not yet
        # recorded: any other row it holds is lost
        self._sending_ids: set[tuple[int, int]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def attach(self) -> None:
        """Take this worker's advisory lock and keep it: from now on its ``sending`` rows count as alive.

        When the lock's session is lost, the worker stops claiming and sending at once, and takes
        a lock again (retrying with backoff) before it goes on.
        """
        if self._keeper is None:
            conn = await self._take_lock()
            self._keeper = asyncio.create_task(self._keep_lock(conn), name="oncall-notifier-lock")

    async def _take_lock(self) -> psycopg.AsyncConnection:
        """A session of its own holding the lock on a new worker id: new, so that nothing claimed
        under a lost lock can be taken for something claimed under this one."""
        # keepalives: a dead peer is noticed in about 30 s even when no packet says so
        conn = await psycopg.AsyncConnection.connect(
            self.ctx.database_url, autocommit=True, keepalives=1, keepalives_idle=10, keepalives_interval=5,
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
            self._kept_ids = set()
            for lost in sorted({by for _, by in self._sending_ids} - {worker_id}):
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, lost))
                row = await cur.fetchone()
                if row is not None and row[0]:
                    self._kept_ids.add(lost)
        except BaseException:
            await conn.close()
            raise
        self.worker_id, self._lock_pid = worker_id, conn.info.backend_pid
        self._locked.set()
        return conn

    async def _keep_lock(self, conn: psycopg.AsyncConnection | None) -> None:
        backoff, held_since = 0.1, time.monotonic()
        try:
            while True:
                if conn is None:
                    try:
                        conn = await self._take_lock()
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
                    self._recover_others_after = held_since + LOCK_RETRY_MAX_S
                    log.warning("notifier holds its lock again, as worker %d; delivering again", self.worker_id)
                    self._wake.set()
                why = await self._watch_lock(conn)
                self._lose_lock(why)
                with contextlib.suppress(Exception):
                    await conn.close()
                conn = None
                if time.monotonic() - held_since < LOCK_CHECK_S:  # lost again soon after taking it
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, LOCK_RETRY_MAX_S)
                else:
                    backoff = 0.1
        finally:
            self._locked.clear()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _watch_lock(self, conn: psycopg.AsyncConnection) -> str:
        """Wait until the lock is no longer this worker's, and say why: its session ending is seen
        at once (the socket closes); the session is also asked every LOCK_CHECK_S."""
        asked = time.monotonic()
        try:
            while self._locked.is_set():  # cleared by a claim or send that found the lock gone
                async for _ in conn.notifies(timeout=1.0):  # nothing is announced here: this waits on the socket
                    pass
                done = {k for k in self._kept_ids if all(by != k for _, by in self._sending_ids)}
                for kept in sorted(done):  # its rows left unanswered are recovered like a dead worker's
                    await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, kept))
                    self._kept_ids.discard(kept)
                if self._locked.is_set() and time.monotonic() - asked >= LOCK_CHECK_S:
                    cur = await conn.execute(_HOLDS_LOCK, (LOCK_NAMESPACE, self.worker_id, self._lock_pid))
                    row = await cur.fetchone()
                    if row is None or not row[0]:
                        return "its session no longer holds it"
                    asked = time.monotonic()
            return "PostgreSQL said it no longer holds it"
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()
            return f"its connection was lost: {first[0] if first else type(exc).__name__}"

    def _lose_lock(self, why: str) -> None:
        """Stop claiming and sending at once: the lock the claims stand on is gone."""
        if self._locked.is_set():
            self._locked.clear()
            log.error("notifier worker %d lost its database lock (%s): it stopped claiming and sending and "
                      "takes a lock again before going on; %d sends already on the wire may be repeated by "
                      "another replica", self.worker_id, why, len(self._inflight))

    async def start(self) -> None:
        """Attach, then run passes whenever woken (a request, a due delivery) or something falls due."""
        await self.attach()
        listening = asyncio.Event()
        self._loop_task = asyncio.create_task(self._loop(), name="oncall-notifier-loop")
        self._tasks = [asyncio.create_task(self._listen(listening), name="oncall-notifier-listen")]
        hub = self.ctx.events
        followers = [c for n, c in self.channels.items() if catalog.current().capability(n, "updates") and isinstance(c, UpdatingChannel)]
        if hub is not None and followers:  # only channels that update what they posted need alert events
            self._tasks.append(asyncio.create_task(self._follow_alerts(hub, followers), name="oncall-notifier-alerts"))
        await asyncio.wait_for(listening.wait(), timeout=30)
        log.info("notifier %d delivering through: %s", self.worker_id, ", ".join(sorted(self.channels)) or "no channels")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop claiming; let sends in flight finish (their results are committed), then close."""
        self._stopping = True
        self._wake.set()
        loop = [self._loop_task] if self._loop_task is not None else []
        await stop_tasks(self._tasks, loop)  # listeners at once; the pass in progress may finish
        self._tasks, self._loop_task = [], None
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=grace_s)
        for t in list(self._inflight):  # past the grace: recovered by the next worker as interrupted
            t.cancel()
        if self._keeper is not None:  # closing the lock's session releases the lock
            await stop_tasks([self._keeper], [])
            self._keeper = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self.ctx.registry.channels

    async def _listen(self, listening: asyncio.Event) -> None:
        await listen_forever(self.ctx.database_url, (REQUESTS_CHANNEL, outbox.DELIVERIES_CHANNEL),
                             lambda _note: self._wake.set(), listening, "the notifier")

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            timeout = 5.0
            try:
                await self.run_once(wait=False)
                # without the lock nothing is due here: the lock keeper wakes the loop when it has it again
                timeout = await self._seconds_until_next() if self._locked.is_set() else 5.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifier pass failed; retrying shortly")
                timeout = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, min(timeout, 5.0)))

    async def _seconds_until_next(self) -> float:
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT min(next_attempt_at) AS t FROM notification.deliveries
                   WHERE status IN ('queued', 'retrying')"""
            )
            row = await cur.fetchone()
        if row is None or row["t"] is None:
            return 5.0
        return (row["t"] - self.clock.now()).total_seconds()

    # ------------------------------------------------------------------ one pass

    async def run_once(self, *, wait: bool = True) -> int:
        """Intake, recover, claim and start sends; ``wait``: until those sends are recorded.

        Returns how many provider calls were started.
        """
        async with self.ctx.pool.connection() as conn, conn.transaction():
            await outbox.intake(conn)
        if not self._locked.is_set():  # lost: nothing is claimed until the lock is this worker's again
            return 0
        if time.monotonic() - self._last_recover > 5.0:
            await self.recover()
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            await self.prune()
        started: list[asyncio.Task[None]] = []
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                break
            try:
                units = await self._claim(min(free, 200))
            except _LockLost:
                break
            for unit in units:
                self._sending_ids.update((r["id"], unit.claimed_by) for r in unit.rows)
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver_as_owner(unit))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                started.append(task)
            if len(units) < min(free, 200):
                break
        if wait and started:
            await asyncio.gather(*started, return_exceptions=True)
        return len(started)

    def _free_slots(self) -> int:
        return self.settings.notify_concurrency - len(self._inflight)

    async def recover(self) -> int:
        """Requeue ``sending`` rows whose worker is gone, or that this worker lost track of
        (its result could not be recorded); returns how many."""
        self._last_recover = time.monotonic()
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT claimed_by FROM notification.deliveries WHERE status = 'sending'"
            )
            owners = [r["claimed_by"] for r in await cur.fetchall()]
        total = 0
        for owner in owners:
            async with self.ctx.pool.connection() as conn, conn.transaction():
                if owner != self.worker_id:
                    if time.monotonic() < self._recover_others_after and all(by != owner for _, by in self._sending_ids):
                        continue
                    # transaction-level: released at commit, so a live owner is never blocked for long
                    cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s) AS free", (LOCK_NAMESPACE, owner))
                    if not (await cur.fetchone())["free"]:
                        continue  # alive
                # what this worker is still sending (also under an id whose lock it lost) is recorded
                # when it answers
                mine = [i for i, by in self._sending_ids if by == owner]
                now = self.clock.now()
                cur = await conn.execute(
                    """UPDATE notification.deliveries
                       SET status = 'retrying', claimed_by = NULL, next_attempt_at = %s, updated_at = %s,
                           last_error = 'the worker sending this stopped before recording the answer; sending again'
                       WHERE status = 'sending' AND claimed_by = %s AND NOT (id = ANY(%s))
                       RETURNING id, attempts, updated_at, notification_id""",
                    (now, now, owner, mine),
                )
                rows = await cur.fetchall()
                if rows:
                    await self._release_probes(conn, [r["id"] for r in rows], now)
                    await conn.execute(
                        """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome,
                                                              response, worker)
                           SELECT unnest(%s::bigint[]), unnest(%s::integer[]), %s, %s, 'interrupted',
                                  'the worker stopped mid-send; the provider may or may not have it', %s""",
                        ([r["id"] for r in rows], [r["attempts"] for r in rows], now, now, owner),
                    )
                    await outbox.notify_status(conn, {r["notification_id"] for r in rows})
                    await conn.execute("SELECT pg_notify(%s, '')", (outbox.DELIVERIES_CHANNEL,))
                    log.warning("requeued %d deliveries left 'sending' by %s worker %d", len(rows),
                                "this" if owner == self.worker_id else "stopped", owner)
                total += len(rows)
        return total

    async def prune(self) -> dict[str, int]:
        """Delete what nothing needs any more; one replica at a time. Returns rows deleted per table.

        Spent or expired one-click tokens (after a day, so a late click still reads "expired"),
        reply codes not used for 30 days, token buckets idle for a day (a new one starts full,
        as an idle one would be), and notifications past the retention whose deliveries are
        all final (their deliveries and attempts go with them).
        """
        self._last_prune = time.monotonic()
        now = self.clock.now()
        deleted: dict[str, int] = {}
        async with self.ctx.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s, 0) AS mine", (LOCK_NAMESPACE,))
            if not (await cur.fetchone())["mine"]:
                return deleted  # another replica is pruning
            statements = {
                "action_tokens": ("DELETE FROM notification.action_tokens WHERE expires_at < %s", now - timedelta(days=1)),
                "reply_codes": ("DELETE FROM notification.reply_codes WHERE assigned_at < %s", now - timedelta(days=30)),
                "rate_buckets": ("DELETE FROM notification.rate_buckets WHERE updated_at < %s", now - timedelta(days=1)),
                "seen_requests": ("DELETE FROM notification.seen_requests WHERE expires_at < %s", now),
            }
            days = self.settings.notification_retention_days
            if days > 0:
                statements["notifications"] = (
                    """DELETE FROM notification.notifications n WHERE n.created_at < %s
                       AND NOT EXISTS (SELECT 1 FROM notification.deliveries d WHERE d.notification_id = n.id
                                       AND d.status IN ('queued', 'sending', 'retrying'))""",
                    now - timedelta(days=days),
                )
            for table, (sql, before) in statements.items():
                cur = await conn.execute(sql, (before,))
                deleted[table] = cur.rowcount
        if any(deleted.values()):
            log.info("pruned %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
        return deleted

    # ------------------------------------------------------------------ claim

    async def _claim(self, limit: int) -> list[_Unit]:
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """SELECT d.id, d.notification_id, d.idempotency_key, d.channel, d.destination, d.user_id,
                          d.alert_id, d.attempts, d.status, n.context, n.template_id, n.template_version
                   FROM notification.deliveries d JOIN notification.notifications n ON n.id = d.notification_id
                   WHERE d.status IN ('queued', 'retrying') AND d.next_attempt_at <= %s
                   ORDER BY d.next_attempt_at, d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED""",
                (now, limit),
            )
            rows = await cur.fetchall()
            if not rows:
                return []
            work = _Pass()
            rows = await self._settle_unsendable(conn, rows, work)
            units = self._group(rows)
            units = await self._open_circuits(conn, units, work, now)
            units = await self._take_tokens(conn, units, work, now)
            await self._prepare(conn, units, now)
            work.send.extend(units)
            await self._write_claim(conn, work, now)
        return work.send

    async def _settle_unsendable(
        self, conn: psycopg.AsyncConnection, rows: list[dict[str, Any]], work: _Pass,
    ) -> list[dict[str, Any]]:
        pairs = list({(r["channel"], r["destination"]) for r in rows})
        cur = await conn.execute(
            """SELECT channel, destination FROM notification.opt_outs
               WHERE (channel, destination) IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
            ([p[0] for p in pairs], [p[1] for p in pairs]),
        )
        opted_out = {(r["channel"], r["destination"]) for r in await cur.fetchall()}
        pages = [r["alert_id"] for r in rows if r["alert_id"] is not None and r["user_id"] is not None]
        statuses: dict[int, str] = {}
        if pages:
            cur = await conn.execute(
                "SELECT id, status FROM alerting.alerts WHERE id = ANY(%s)", (list(set(pages)),)
            )
            statuses = {r["id"]: r["status"] for r in await cur.fetchall()}
        keep = []
        for r in rows:
            if r["channel"] not in self.channels:
                work.settle.append((r, "failed", f"no channel plugin named {r['channel']!r} is installed and configured"))
            elif (r["channel"], r["destination"]) in opted_out:
                work.settle.append((r, "failed", "the destination opted out (STOP); send START to opt back in"))
            elif r["user_id"] is not None and statuses.get(r["alert_id"], "triggered") != "triggered":
                work.settle.append((r, "cancelled", f"alert {r['alert_id']} was {statuses[r['alert_id']]} before this page went"))
            else:
                keep.append(r)
        return keep

    def _bundles(self, channel_name: str) -> bool:
        ch = self.channels[channel_name]
        return bool(ch.bundles) if isinstance(ch, BundlingChannel) else catalog.current().capability(channel_name, "bundles")

    def _group(self, rows: list[dict[str, Any]]) -> list[_Unit]:
        units: list[_Unit] = []
        bundles: dict[tuple[str, str], _Unit] = {}
        for r in rows:
            name = r["channel"]
            channel = self.channels[name]
            circuit = catalog.current().circuit(name, r["destination"])
            if self._bundles(name) and r["alert_id"] is not None:
                key = (name, r["destination"])
                if key in bundles:
                    bundles[key].rows.append(r)
                    continue
                bundles[key] = unit = _Unit([r], channel, circuit)
            else:
                unit = _Unit([r], channel, circuit)
            units.append(unit)
        return units

    async def _open_circuits(
        self, conn: psycopg.AsyncConnection, units: list[_Unit], work: _Pass, now: datetime,
    ) -> list[_Unit]:
        """Hold back units whose circuit is open; once its pause is over, let one through as the probe.

        A circuit that is not closed is read under its row lock, so replicas deciding at the same
        moment agree: one probe per circuit, and the rest wait for its answer (``_write_claim``
        records which unit probes).
        """
        keys = sorted({u.circuit for u in units})
        sql = "SELECT channel, state, generation, open_until FROM notification.circuits WHERE channel = ANY(%s)"
        cur = await conn.execute(sql, (keys,))
        circuits = {r["channel"]: r for r in _dicts(await cur.fetchall())}
        tripped = sorted(k for k, c in circuits.items() if c["state"] != "closed")
        if tripped:  # in key order: two claims never wait on each other in a circle
            cur = await conn.execute(sql + " ORDER BY channel FOR UPDATE", (tripped,))
            circuits.update({r["channel"]: r for r in _dicts(await cur.fetchall())})
        keep = []
        for u in units:
            c = circuits.get(u.circuit)
            u.circuit_generation = c["generation"] if c else 0
            if c is None or c["state"] == "closed":
                keep.append(u)
            elif c["open_until"] is not None and c["open_until"] > now:  # paused, or its probe is out
                for r in u.rows:
                    work.defer[r["id"]] = c["open_until"]
            elif u.circuit in work.probes:  # the pause is over and this circuit's probe is chosen
                work.probes[u.circuit][1].extend(r["id"] for r in u.rows)
            else:
                work.probes[u.circuit] = (u, [])
                keep.append(u)
        return keep

    def _limits_for(self, name: str) -> dict[str, tuple[float, float]]:
        """The core's default, then the channel plugin's own, then the operator's setting."""
        limits = catalog.current().rate_limits(name)
        own = ch.rate_limits if isinstance(ch := self.channels[name], RateLimitedChannel) else None
        if isinstance(own, Mapping):
            limits.update({k: (float(v[0]), float(v[1])) for k, v in own.items()
                           if k in ("destination", "channel") and float(v[0]) >= 1 and float(v[1]) > 0})
        limits.update(self._limit_overrides.get(name, {}))
        return limits

    async def _take_tokens(
        self, conn: psycopg.AsyncConnection, units: list[_Unit], work: _Pass, now: datetime,
    ) -> list[_Unit]:
        """Token buckets in PostgreSQL, so every replica draws from the same ones."""
        wants: list[list[tuple[str, float, float]]] = []
        for u in units:
            name = u.leader["channel"]
            limits = self._limits_for(name)
            need = []
            if "destination" in limits:
                need.append((f"{name}:{u.leader['destination']}", *limits["destination"]))
            if "channel" in limits:
                need.append((f"channel:{name}", *limits["channel"]))
            wants.append(need)
        keys = sorted({k for need in wants for k, _, _ in need})
        if not keys:
            return units
        bursts = {k: b for need in wants for k, b, _ in need}
        await conn.execute(
            """INSERT INTO notification.rate_buckets (key, tokens, updated_at)
               SELECT k, b, %s FROM unnest(%s::text[], %s::float8[]) AS t(k, b) ORDER BY k
               ON CONFLICT (key) DO NOTHING""",
            (now, keys, [bursts[k] for k in keys]),
        )
        cur = await conn.execute(
            "SELECT key, tokens, updated_at FROM notification.rate_buckets WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
            (keys,),
        )
        buckets = {r["key"]: [r["tokens"], r["updated_at"]] for r in await cur.fetchall()}
        level: dict[str, float] = {}
        for need in wants:
            for key, burst, per in need:
                if key not in level:
                    tokens, at = buckets[key]
                    level[key] = min(burst, tokens + max(0.0, (now - at).total_seconds()) / per)
        keep = []
        for u, need in zip(units, wants, strict=True):
            short = [(key, per) for key, _, per in need if level[key] < 1.0]
            if short:
                wait = max((1.0 - level[key]) * per for key, per in short)
                for r in u.rows:
                    work.defer[r["id"]] = now + timedelta(seconds=wait)
                continue
            for key, _, _ in need:
                level[key] -= 1.0
            keep.append(u)
        await conn.execute(
            """UPDATE notification.rate_buckets b SET tokens = t.tokens, updated_at = %s
               FROM unnest(%s::text[], %s::float8[]) AS t(key, tokens) WHERE b.key = t.key""",
            (now, list(level), list(level.values())),
        )
        return keep

    async def _prepare(self, conn: psycopg.AsyncConnection, units: list[_Unit], now: datetime) -> None:
        """Render the units' payloads, all in one batch, and make their reply codes and one-click links.

        The batch renders in the render processes (``rendering_for``), so no template stalls
        this loop. A unit whose template failed gets the channel's default, or else a minimal
        message, and the failure goes on the alert's timeline: the page always goes out.
        """
        jobs: list[SendJob] = []
        contexts: list[dict[str, Any]] = []
        codes: list[str | None] = []
        for unit in units:
            lead = unit.leader
            name = lead["channel"]
            context: dict[str, Any] = dict(lead["context"] or {})
            alerts = {r["alert_id"] for r in unit.rows}
            if len(alerts) > 1:  # two pages for one alert (a retry and the next step) are one page
                context["bundle"] = _bundle_context(list({r["alert_id"]: r for r in unit.rows}.values()))
            reply_code = None
            if catalog.current().capability(name, "reply_codes") and lead["alert_id"] is not None and len(alerts) == 1:
                reply_code = await _reply_code(conn, name, lead["destination"], lead["alert_id"], now)
                context["reply_code"] = reply_code
            jobs.append(SendJob(await _template(conn, lead), name, context))
            contexts.append(context)
            codes.append(reply_code)
        results = await rendering_for(self.ctx).send(jobs) if jobs else []
        notes: list[tuple[dict[str, Any], str, SendRender]] = []
        for unit, context, reply_code, result in zip(units, contexts, codes, results, strict=True):
            lead = unit.leader
            name = lead["channel"]
            note = fallback_note(result, name, lead["template_id"], lead["template_version"])
            if note is not None:
                log.warning("delivery %d: %s", lead["id"], note)
                lead["note"] = note
                notes += [(r, note, result) for r in {r["alert_id"]: r for r in unit.rows}.values()]
            lead["rendered"] = rendered = result.rendered
            actions: dict[str, str] = {}
            if catalog.current().capability(name, "action_links") and lead["alert_id"] is not None:
                actions = await _action_links(
                    conn, self.public_url, lead["alert_id"], lead["user_id"], name, lead["id"],
                    now + timedelta(seconds=self.settings.action_link_ttl_s),
                )
            alert = context.get("alert") if isinstance(context.get("alert"), Mapping) else {}
            unit.message = ChannelMessage(
                delivery_id=str(lead["id"]), idempotency_key=lead["idempotency_key"], destination=lead["destination"],
                payload=rendered.payload, alert_id=lead["alert_id"], user_id=lead["user_id"], channel=name,
                actions=actions, reply_code=reply_code, bundle_count=len({r["alert_id"] for r in unit.rows}),
                alert=dict(alert or {}),
            )
        await write_render_notes(conn, notes, now)

    @property
    def public_url(self) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        port = self.ctx.http_port
        base = self.settings.base_url
        if port:
            host = base.rsplit(":", 1)[0]
            return f"{host}:{port}"
        return base

    async def _write_claim(self, conn: psycopg.AsyncConnection, work: _Pass, now: datetime) -> None:
        worker_id = await self._fence(conn) if work.send else self.worker_id
        sending = {id(u) for u in work.send}
        for key, (probe, held) in work.probes.items():
            if id(probe) in sending:
                until = now + timedelta(seconds=PROBE_WAIT_S)
                await conn.execute(
                    "UPDATE notification.circuits SET state = 'half_open', probe_id = %s, open_until = %s WHERE channel = %s",
                    (probe.leader["id"], until, key),
                )
                log.info("channel %s: its pause is over; delivery %d goes as the probe", key, probe.leader["id"])
            else:  # the probe waits for its rate limit: the rest wait with it
                until = work.defer.get(probe.leader["id"], now + timedelta(seconds=1))
            for delivery_id in held:
                work.defer[delivery_id] = until
        if work.defer:
            await conn.execute(
                """UPDATE notification.deliveries d SET next_attempt_at = t.at, updated_at = %s
                   FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(id, at) WHERE d.id = t.id""",
                (now, list(work.defer), list(work.defer.values())),
            )
        if work.send:
            cols: list[list[Any]] = [[] for _ in range(5)]
            for unit in work.send:
                lead = unit.leader
                unit.started_at = now
                unit.claimed_by = worker_id
                code = unit.message.reply_code if unit.message else None
                for r in unit.rows:
                    for col, value in zip(cols, (r["id"], Jsonb(lead["rendered"].payload), code, len(unit.rows),
                                                 None if r is lead else lead["id"]), strict=True):
                        col.append(value)
            await conn.execute(
                """UPDATE notification.deliveries d
                   SET status = 'sending', claimed_by = %s, attempts = d.attempts + 1, updated_at = %s,
                       payload = t.payload, reply_code = t.code, bundle_size = t.size, bundled_into = t.leader
                   FROM unnest(%b::bigint[], %b::jsonb[], %b::text[], %b::integer[], %b::bigint[])
                        AS t(id, payload, code, size, leader)
                   WHERE d.id = t.id""",
                (worker_id, now, *cols),
            )
        if work.settle:
            ids = [row["id"] for row, _, _ in work.settle]
            statuses = [status for _, status, _ in work.settle]
            reasons = [reason for _, _, reason in work.settle]
            await conn.execute(
                """UPDATE notification.deliveries d SET status = t.status, last_error = t.reason, updated_at = %s,
                          attempts = d.attempts + 1
                   FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS t(id, status, reason) WHERE d.id = t.id""",
                (now, ids, statuses, reasons),
            )
            await conn.execute(
                """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome,
                                                      response, worker)
                   SELECT t.id, t.n, %s, %s, t.status, t.reason, %s
                   FROM unnest(%b::bigint[], %b::integer[], %b::text[], %b::text[]) AS t(id, n, status, reason)""",
                (now, now, self.worker_id, ids, [row["attempts"] + 1 for row, _, _ in work.settle], statuses, reasons),
            )
            await write_timeline(conn, work.settle, now)
        touched = {r["notification_id"] for u in work.send for r in u.rows}
        touched |= {row["notification_id"] for row, _, _ in work.settle}
        await outbox.notify_status(conn, touched)

    async def _fence(self, conn: psycopg.AsyncConnection) -> int:
        """The worker id to claim under, once PostgreSQL has confirmed, inside the claim's own
        transaction, that this worker's lock session still holds its lock; else the claim is
        rolled back (``_LockLost``)."""
        worker_id, pid = self.worker_id, self._lock_pid
        if self._locked.is_set():
            cur = await conn.execute(_HOLDS_LOCK, (LOCK_NAMESPACE, worker_id, pid))
            if _dicts(await cur.fetchall())[0]["held"]:
                return worker_id
            if worker_id == self.worker_id:  # (not a lock taken again meanwhile)
                self._lose_lock("a claim found it released")
        raise _LockLost

    # ------------------------------------------------------------------ send and record

    async def _deliver_as_owner(self, unit: _Unit) -> None:
        """Send a claimed unit if the lock it was claimed under is still this worker's; else put it
        back in the queue unsent (where a replica may already have put it)."""
        delivering = False
        try:
            try:
                owner = await self._holds_lock(unit.claimed_by)
            except Exception as exc:  # noqa: BLE001 - unsure is not owner
                log.warning("could not confirm this worker's lock before sending delivery %d (%s); not sending it",
                            unit.leader["id"], exc)
                owner = False
            if owner:
                delivering = True
                await self._deliver(unit)  # releases the slot
                return
            try:
                await self._hand_back(unit)
            except Exception as exc:  # noqa: BLE001 - then it is recovered like any row of a lost worker
                log.warning("could not put delivery %d back in the queue (%s); it is recovered later",
                            unit.leader["id"], exc)
            self._sending_ids.difference_update((r["id"], unit.claimed_by) for r in unit.rows)
        finally:
            if not delivering:
                self._slots.release()
                self._wake.set()

    async def _holds_lock(self, worker_id: int) -> bool:
        """Whether the lock on ``worker_id`` is still this worker's, asked of PostgreSQL now; sends
        that start together share one question."""
        if worker_id != self.worker_id or not self._locked.is_set():
            return False
        check = self._lock_check
        if check is None or check.asked or check.worker_id != worker_id:
            check = self._lock_check = _LockCheck(worker_id, self._lock_pid)
            check.task = asyncio.create_task(self._ask_lock(check), name="oncall-notifier-lock-check")
        assert check.task is not None
        held = await asyncio.shield(check.task)
        if not held and worker_id == self.worker_id:  # (not a lock taken again meanwhile)
            self._lose_lock("a send found it released")
        return held and worker_id == self.worker_id and self._locked.is_set()

    async def _ask_lock(self, check: _LockCheck) -> bool:
        async with self.ctx.pool.connection() as conn:
            check.asked = True
            cur = await conn.execute(_HOLDS_LOCK, (LOCK_NAMESPACE, check.worker_id, check.pid))
            return bool(_dicts(await cur.fetchall())[0]["held"])

    async def _hand_back(self, unit: _Unit) -> None:
        """Return a claimed unit that was never sent to the queue, as it was before the claim."""
        ids = [r["id"] for r in unit.rows]
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """UPDATE notification.deliveries
                   SET status = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END, claimed_by = NULL,
                       attempts = attempts - 1, next_attempt_at = %s, updated_at = %s
                   WHERE id = ANY(%s) AND status = 'sending' AND claimed_by = %s
                   RETURNING notification_id""",
                (now, now, ids, unit.claimed_by),
            )
            rows = _dicts(await cur.fetchall())
            if rows:
                await self._release_probes(conn, ids, now)
                await outbox.notify_status(conn, {r["notification_id"] for r in rows})
                await conn.execute("SELECT pg_notify(%s, '')", (outbox.DELIVERIES_CHANNEL,))
        if rows:
            log.warning("delivery %d was not sent (this worker lost its lock after claiming it); queued again",
                        unit.leader["id"])

    async def _release_probes(self, conn: psycopg.AsyncConnection, delivery_ids: list[int], now: datetime) -> None:
        """A probe that will never answer (requeued, or put back unsent) lets the next one go now."""
        await conn.execute(
            "UPDATE notification.circuits SET probe_id = NULL, open_until = %s WHERE state = 'half_open' AND probe_id = ANY(%s)",
            (now, delivery_ids),
        )

    async def _deliver(self, unit: _Unit) -> None:
        try:
            assert unit.message is not None
            rendered = unit.leader["rendered"]
            if rendered.payload is None:
                # nothing to send even as the minimal message (no renderer for the channel)
                result = DeliveryResult(ok=False, permanent=True, response="; ".join(rendered.errors)[:1000])
            else:
                try:
                    result = await asyncio.wait_for(unit.channel.send(unit.message), SEND_GUARD_S)
                except TimeoutError:
                    result = DeliveryResult(ok=False, response=f"no answer from the {unit.channel.name} channel in {SEND_GUARD_S:.0f} s")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a plugin's bug is this attempt's failure
                    log.exception("channel %s raised while sending delivery %s", unit.channel.name, unit.message.delivery_id)
                    result = DeliveryResult(ok=False, response=f"the {unit.channel.name} channel raised {type(exc).__name__}: {exc}"[:1000])
            await self._record(unit, result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recording delivery %s failed; it stays 'sending' until recovered", unit.leader["id"])
        finally:
            self._slots.release()
            self._wake.set()

    async def _record(self, unit: _Unit, result: DeliveryResult) -> None:
        """Commit a send's result; results that finish together share one transaction (group commit)."""
        done = asyncio.get_running_loop().create_future()
        self._results.append((unit, result, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_pending(), name="oncall-notifier-record")
        await done

    async def _record_pending(self) -> None:
        while self._results:
            batch, self._results = self._results, []
            delay = 0.2
            for attempt in range(12):  # about a minute of trying: a result is worth keeping
                try:
                    await self._record_batch([(u, r) for u, r, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the database may be back in a moment
                    if attempt == 11:
                        log.error("could not record %d delivery results (%s); they will be sent again", len(batch), exc)
                        for unit, _, done in batch:
                            self._sending_ids.difference_update((r["id"], unit.claimed_by) for r in unit.rows)
                            if not done.done():
                                done.set_exception(exc)
                        break
                    log.warning("recording delivery results failed (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 8.0)
                else:
                    for unit, _, done in batch:
                        self._sending_ids.difference_update((r["id"], unit.claimed_by) for r in unit.rows)
                        if not done.done():
                            done.set_result(None)
                    break

    def _outcome(self, unit: _Unit, result: DeliveryResult, now: datetime) -> tuple[str, datetime | None, str, str]:
        """(status, next attempt, last error, attempt response) for one provider answer."""
        attempt = unit.leader["attempts"] + 1
        if result.ok:
            status, next_at = ("delivered" if result.delivered else "sent"), None
        elif result.permanent or attempt >= self.settings.max_attempts:
            status, next_at = "failed", None
        else:
            status = "retrying"
            delay = backoff_delay(attempt, self.settings.retry_base_s, self.settings.retry_max_s, result.retry_after,
                                  self._rng)
            next_at = now + timedelta(seconds=delay)
        response = (result.response or ("ok" if result.ok else "failed"))[:2000]
        error = "" if result.ok else response
        if status == "failed" and not result.permanent:
            error = f"gave up after {attempt} attempts: {response}"
        if unit.leader.get("note"):
            response = f"{response} ({unit.leader['note']})"
        return status, next_at, error, response

    async def _record_batch(self, batch: list[tuple[_Unit, DeliveryResult]]) -> None:
        """Commit results, each only while its row is still ``sending`` under the id it was claimed
        under: a replica that has requeued it (this worker's lock was lost) owns it now."""
        now = self.clock.now()
        cols: list[list[Any]] = [[] for _ in range(12)]
        finals: list[tuple[dict[str, Any], str, str]] = []
        final_claims: list[int] = []
        for unit, result in batch:
            status, next_at, error, response = self._outcome(unit, result, now)
            for r in unit.rows:
                for col, value in zip(cols, (
                    r["id"], status, error, result.provider_id, next_at, result.ok, status == "delivered",
                    unit.claimed_by, unit.leader["attempts"] + 1, unit.started_at or now, response, result.retry_after,
                ), strict=True):
                    col.append(value)
                if status != "retrying":
                    finals.append((r, status, error))
                    final_claims.append(unit.claimed_by)
        async with self.ctx.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """UPDATE notification.deliveries d
                   SET status = t.status, claimed_by = NULL, updated_at = %s, last_error = t.error,
                       provider_id = coalesce(t.provider_id, d.provider_id),
                       next_attempt_at = coalesce(t.next_at, d.next_attempt_at),
                       sent_at = CASE WHEN t.ok THEN coalesce(d.sent_at, %s) ELSE d.sent_at END,
                       delivered_at = CASE WHEN t.delivered THEN %s ELSE d.delivered_at END
                   FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::bool[],
                               %b::bool[], %b::integer[]) AS t(id, status, error, provider_id, next_at, ok, delivered,
                                                               claimed_by)
                   WHERE d.id = t.id AND d.status = 'sending' AND d.claimed_by = t.claimed_by
                   RETURNING d.id, t.claimed_by""",
                (now, now, now, *cols[:8]),
            )
            recorded = {(r["id"], r["claimed_by"]) for r in _dicts(await cur.fetchall())}
            if len(recorded) < len(cols[0]):  # the same row may be here twice: claimed before and after a loss
                late = sorted({i for i, by in zip(cols[0], cols[7], strict=True) if (i, by) not in recorded})
                log.warning("answers for deliveries %s came after they were requeued (this worker had lost its lock); "
                            "the provider may get them twice", late[:20])
                keep = [(i, by) in recorded for i, by in zip(cols[0], cols[7], strict=True)]
                cols = [[v for v, k in zip(col, keep, strict=True) if k] for col in cols]
                batch = [(u, r) for u, r in batch if (u.leader["id"], u.claimed_by) in recorded]
                finals = [f for f, by in zip(finals, final_claims, strict=True) if (f[0]["id"], by) in recorded]
            await conn.execute(
                """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome,
                                                      response, retry_after, worker)
                   SELECT t.id, t.n, t.started, %s, t.status, t.response, t.retry_after, t.worker
                   FROM unnest(%b::bigint[], %b::integer[], %b::timestamptz[], %b::text[], %b::text[], %b::float8[],
                               %b::integer[]) AS t(id, n, started, status, response, retry_after, worker)""",
                (now, cols[0], cols[8], cols[9], cols[1], cols[10], cols[11], cols[7]),
            )
            await self._circuits(conn, batch, now)
            await write_timeline(conn, finals, now)
            await outbox.notify_status(conn, {r["notification_id"] for u, _ in batch for r in u.rows})
            if "retrying" in cols[1]:
                await conn.execute("SELECT pg_notify(%s, '')", (outbox.DELIVERIES_CHANNEL,))

    def _pause_s(self, pauses: int) -> float:
        """The length of the n-th pause in a row: ``circuit_pause_s``, doubling, at most CIRCUIT_PAUSE_MAX_S."""
        base = self.settings.circuit_pause_s
        return min(base * 2 ** min(pauses - 1, 20), max(base, CIRCUIT_PAUSE_MAX_S))

    async def _circuits(
        self, conn: psycopg.AsyncConnection, batch: list[tuple[_Unit, DeliveryResult]], now: datetime,
    ) -> None:
        """The circuit breakers, moved by the answers just recorded, in order.

        closed: retryable failures in a row are counted; at the threshold the circuit opens and
        everything for it waits out a pause. Then one delivery goes as the probe (half-open)
        while the rest wait for its answer: success closes the circuit and lets them all go at
        once; failure opens it again for twice as long. Answers to sends that were already out
        when the circuit opened count for nothing. A permanent error (one bad destination or
        message) says nothing about the channel: a probe that gets one lets the next one probe.
        """
        by_key: dict[str, list[tuple[_Unit, DeliveryResult]]] = {}
        for unit, result in batch:
            by_key.setdefault(unit.circuit, []).append((unit, result))
        keys = sorted(by_key)
        cur = await conn.execute(
            "SELECT channel FROM notification.circuits WHERE channel = ANY(%s) AND (state <> 'closed' OR failures > 0)",
            (keys,),
        )
        busy = {r["channel"] for r in _dicts(await cur.fetchall())}
        keys = [k for k in keys if k in busy or any(not r.ok and not r.permanent for _, r in by_key[k])]
        if not keys:
            return  # the common case: every circuit closed, nothing failed
        await conn.execute(
            "INSERT INTO notification.circuits (channel) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
            (keys,),
        )
        cur = await conn.execute(  # in key order, as claims lock them
            "SELECT * FROM notification.circuits WHERE channel = ANY(%s) ORDER BY channel FOR UPDATE", (keys,),
        )
        changed: list[dict[str, Any]] = []
        released: list[tuple[_Unit, datetime, datetime]] = []  # a probe's circuit, held until, now free at
        for c in _dicts(await cur.fetchall()):
            before = dict(c)
            for unit, result in by_key[c["channel"]]:
                failed = not result.ok and not result.permanent
                if c["state"] == "closed":
                    if result.ok:
                        c["failures"] = 0
                    elif failed and unit.circuit_generation == c["generation"]:
                        c["failures"] += 1
                        if c["failures"] >= self.settings.circuit_threshold:
                            pause = self._pause_s(1)
                            log.warning("channel %s failed %d times in a row; pausing it for %.0f s, then one "
                                        "delivery probes it", c["channel"], c["failures"], pause)
                            c.update(state="open", failures=0, pauses=1, generation=c["generation"] + 1,
                                     open_until=now + timedelta(seconds=pause))
                elif unit.leader["id"] == c["probe_id"]:  # the probe's answer decides
                    held_until = c["open_until"]
                    if result.ok:
                        log.warning("channel %s answered its probe; the circuit is closed", c["channel"])
                        c.update(state="closed", failures=0, pauses=0, probe_id=None, open_until=None)
                        free_at = now
                    elif failed:
                        pause = self._pause_s(c["pauses"] + 1)
                        log.warning("channel %s failed its probe; pausing it for %.0f s", c["channel"], pause)
                        c.update(state="open", pauses=c["pauses"] + 1, probe_id=None,
                                 open_until=now + timedelta(seconds=pause))
                        free_at = c["open_until"]
                    else:  # nothing learnt about the channel: the next delivery probes
                        c.update(probe_id=None, open_until=now)
                        free_at = now
                    released.append((unit, held_until, free_at))
                # else: a send that was out when the circuit opened; its answer counts for nothing
            if c != before:
                changed.append(c)
        if changed:
            await conn.execute(
                """UPDATE notification.circuits c
                   SET state = t.state, failures = t.failures, pauses = t.pauses, generation = t.generation,
                       probe_id = t.probe_id, open_until = t.open_until
                   FROM unnest(%s::text[], %s::text[], %s::integer[], %s::integer[], %s::bigint[], %s::bigint[],
                               %s::timestamptz[]) AS t(channel, state, failures, pauses, generation, probe_id, open_until)
                   WHERE c.channel = t.channel""",
                tuple([c[k] for c in changed] for k in ("channel", "state", "failures", "pauses", "generation",
                                                         "probe_id", "open_until")),
            )
        for unit, held_until, free_at in released:
            # what waited for the probe goes when it says; rows a claim holds now see the new state
            name = unit.leader["channel"]
            destination = unit.leader["destination"] if unit.circuit != name else None
            await conn.execute(
                """UPDATE notification.deliveries SET next_attempt_at = %s, updated_at = %s
                   WHERE id IN (SELECT id FROM notification.deliveries
                                WHERE status IN ('queued', 'retrying') AND next_attempt_at > %s AND next_attempt_at <= %s
                                  AND channel = %s AND (%s::text IS NULL OR destination = %s)
                                FOR UPDATE SKIP LOCKED)""",
                (free_at, now, now, held_until, name, destination, destination),
            )
            await conn.execute("SELECT pg_notify(%s, '')", (outbox.DELIVERIES_CHANNEL,))

    # ------------------------------------------------------------------ alert changes → posted messages

    async def _follow_alerts(self, hub: Any, followers: list[UpdatingChannel]) -> None:
        from ..escalation.engine import render_context

        sub = hub.subscribe()
        try:
            async for event, alert in sub:
                if event.kind not in ("acknowledged", "resolved", "escalate_requested", "triggered"):
                    continue
                ctx_alert = render_context(alert)["alert"]
                for channel in followers:
                    try:
                        await asyncio.wait_for(channel.on_alert_change(ctx_alert, event.actor), 30)
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - one channel's failure is its own
                        log.exception("channel %s failed to follow alert %d's change", channel.name, alert.id)
        finally:
            sub.close()


def _dicts(rows: list[Any]) -> list[dict[str, Any]]:
    """Rows from the pool, whose connections make dicts (``open_pool``)."""
    return cast("list[dict[str, Any]]", rows)


async def write_timeline(
    conn: psycopg.AsyncConnection, items: list[tuple[dict[str, Any], str, str]], now: datetime,
) -> None:
    """'SMS to user 42: delivered' on the alert's timeline, for rows about an alert."""
    rows = [(r, s, why) for r, s, why in items if r.get("alert_id") is not None]
    if not rows:
        return
    cur = await conn.execute(
        """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note, data)
           SELECT a, %s, 'notification', 'notifier', n, d::jsonb
           FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS t(a, n, d)
           WHERE EXISTS (SELECT 1 FROM alerting.alerts WHERE id = t.a)
           RETURNING id""",
        (now, [r["alert_id"] for r, _, _ in rows], [delivery_note(r, s, why) for r, s, why in rows],
         [orjson.dumps({"delivery_id": r["id"], "notification_id": r["notification_id"], "channel": r["channel"],
                        "destination": r["destination"], "user_id": r["user_id"], "status": s}).decode()
          for r, s, _ in rows]),
    )
    await alert_store.notify_events(conn, [r["id"] for r in await cur.fetchall()], wake_engine=False)


def delivery_note(row: Mapping[str, Any], status: str, why: str) -> str:
    label = catalog.current().label(row["channel"])
    who = f"user {row['user_id']}" if row.get("user_id") else catalog.current().describe(row["channel"], row["destination"])
    if row["channel"] == "none":
        return f"Page to {who}: {status}" + (f" ({why})" if why else "")
    return f"{label} to {who}: {status}" + (f" ({why})" if why and status in ("failed", "cancelled") else "")


async def write_render_notes(
    conn: psycopg.AsyncConnection, items: list[tuple[dict[str, Any], str, SendRender]], now: datetime,
) -> None:
    """'template payments v3 failed for slack: …; the default slack message was sent' on the alert's timeline."""
    rows = [(r, note, result) for r, note, result in items if r.get("alert_id") is not None]
    if not rows:
        return
    cur = await conn.execute(
        """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note, data)
           SELECT a, %s, 'notification', 'notifier', n, d::jsonb
           FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS t(a, n, d)
           WHERE EXISTS (SELECT 1 FROM alerting.alerts WHERE id = t.a)
           RETURNING id""",
        (now, [r["alert_id"] for r, _, _ in rows], [note for _, note, _ in rows],
         [orjson.dumps({"delivery_id": r["id"], "notification_id": r["notification_id"], "channel": r["channel"],
                        "template_id": r["template_id"], "template_version": r["template_version"],
                        "sent": result.used, "failures": [{"template": stage, "error": why}
                                                          for stage, why in result.failures]}).decode()
          for r, _, result in rows]),
    )
    await alert_store.notify_events(conn, [r["id"] for r in await cur.fetchall()], wake_engine=False)


def _bundle_context(rows: list[dict[str, Any]]) -> dict[str, Any]:
    alerts = [dict((r["context"] or {}).get("alert") or {}) for r in rows]
    groups = [str((a.get("labels") or {}).get("service") or a.get("integration") or "") for a in alerts]
    group = groups[0] if groups and all(g == groups[0] for g in groups) and groups[0] else "you"
    return {"count": len(rows), "alerts": alerts, "group": group}


async def _template(conn: psycopg.AsyncConnection, row: Mapping[str, Any]) -> Template:
    try:
        return await load_template(conn, row["template_id"], row["template_version"])
    except Exception:  # noqa: BLE001 - a vanished template must not stop the page: the defaults render it
        log.warning("delivery %d: template %s v%s unavailable; using the defaults",
                    row["id"], row["template_id"], row["template_version"])
        return Template()


async def _reply_code(conn: psycopg.AsyncConnection, channel: str, destination: str, alert_id: int, now: datetime) -> str:
    """The short code a reply uses for this alert at this number: kept if it has one, else the
    smallest free one, else the one assigned longest ago."""
    cur = await conn.execute(
        """SELECT code, alert_id, assigned_at FROM notification.reply_codes
           WHERE channel = %s AND destination = %s ORDER BY assigned_at FOR UPDATE""",
        (channel, destination),
    )
    rows = await cur.fetchall()
    for r in rows:
        if r["alert_id"] == alert_id:
            await conn.execute(
                "UPDATE notification.reply_codes SET assigned_at = %s WHERE channel = %s AND destination = %s AND code = %s",
                (now, channel, destination, r["code"]),
            )
            return str(r["code"])
    used = {r["code"] for r in rows}
    code = next((c for c in range(1, MAX_REPLY_CODE + 1) if c not in used), None)
    if code is None:
        code = rows[0]["code"]
        await conn.execute(
            "DELETE FROM notification.reply_codes WHERE channel = %s AND destination = %s AND code = %s",
            (channel, destination, code),
        )
    await conn.execute(
        """INSERT INTO notification.reply_codes (channel, destination, code, alert_id, assigned_at)
           VALUES (%s, %s, %s, %s, %s)""",
        (channel, destination, code, alert_id, now),
    )
    return str(code)


async def _action_links(
    conn: psycopg.AsyncConnection, public_url: str, alert_id: int, user_id: str | None, channel: str,
    delivery_id: int, expires_at: datetime,
) -> dict[str, str]:
    """Single-use, expiring links; only each token's hash is stored."""
    tokens = {action: secrets.token_urlsafe(24) for action in ("acknowledge", "resolve", "escalate")}
    await conn.execute(
        """INSERT INTO notification.action_tokens (token_hash, alert_id, action, user_id, channel, delivery_id, expires_at)
           SELECT unnest(%s::bytea[]), %s, unnest(%s::text[]), %s, %s, %s, %s""",
        ([hash_token(t) for t in tokens.values()], alert_id, list(tokens), user_id, channel, delivery_id, expires_at),
    )
    return {action: f"{public_url}/a/{token}" for action, token in tokens.items()}
