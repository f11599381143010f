"""The delivery worker: engine requests → deliveries → channel plugins, with every attempt recorded.

This module composes the rooms; each says how its part works. One pass (``run_once``):

1. **intake** — pending engine requests become notifications with their deliveries (``outbox``).
2. **recover** — a ``sending`` row whose worker has died goes back to ``retrying``: a row
   is leased to its worker exactly as long as that worker holds its advisory lock
   (``claim.WorkerLock``), so recovery needs no lease timeout.
3. **claim** — one short transaction (``claim``, ``limits``): due rows locked with SKIP
   LOCKED, settled when they cannot be sent, held back by an open circuit or an empty token
   bucket (they wait, never dropped), bundled, and marked ``sending`` under this worker's
   id, only if PostgreSQL confirms in that transaction that the lock is still this worker's.
4. **prepare** — after that commit, with no row locked: templates render in the render
   processes (the same ``render_for`` a preview runs); one-click links and render failures
   are written in a short transaction of their own (``prepare``).
5. **send** — concurrently, each after asking PostgreSQL once more that the lock is still
   this worker's (a unit whose lock is gone goes back to the queue unsent); each result is
   committed with its attempt row, the circuit breaker's state, and a line on the alert's
   timeline (``record``), only while its row is still ``sending`` under the id it was
   claimed under.

A crash (or a lost lock) between a provider call and its commit repeats that one send,
once, with the same idempotency key; nothing else can repeat or vanish.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping

from oncall_hookspecs import Channel, DeliveryResult

from ...clock import SYSTEM_CLOCK, Clock
from ...config import parse_rate_limits
from ...context import Context
from ...escalation.engine import REQUESTS_CHANNEL
from ...events import listen_forever, run_passes, stop_tasks
from .. import outbox
from ..alerting_port import ALERTING, AlertingPort
from ..pipeline import rendering_for
from ..templates import Template
from . import claim, edits, follow, prepare, record, store
from .claim import LOCK_NAMESPACE, LockLost, Plan, Unit, WorkerLock
from .limits import Limits
from .prepare import Prepared

log = logging.getLogger(__name__)

SEND_GUARD_S = 120.0
PROBE_WAIT_S = SEND_GUARD_S + 60.0  # a probe with no recorded answer by then lets the next one go
PRUNE_EVERY_S = 600.0  # a channel that neither answers nor times out by itself
CLAIM_BATCH = 200

__all__ = ["LOCK_NAMESPACE", "PROBE_WAIT_S", "SEND_GUARD_S", "Notifier"]


class Notifier:
    """The delivery worker for one process. Any number may run on one database."""

    def __init__(self, ctx: Context, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None,
                 alerting: AlertingPort = ALERTING) -> None:
        self.ctx = ctx
        self.clock = clock
        self.settings = ctx.settings
        self.alerting = alerting
        self._wake = asyncio.Event()
        self.lock = WorkerLock(ctx.database_url, ctx.pool, self._wake.set)
        self.lock.in_flight = lambda: len(self._inflight)
        self.limits = Limits(ctx.settings, ctx.registry.channels, parse_rate_limits(ctx.settings.rate_limits))
        self.recorder = record.Recorder(ctx.pool, clock, ctx.settings, rng or random.Random(), self.limits, alerting,
                                        self._recorded)
        self._slots = asyncio.Semaphore(ctx.settings.notify_concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []  # listeners, cancelled at once on stop
        self._loop_task: asyncio.Task[None] | None = None
        self._last_recover = 0.0
        self._last_prune = time.monotonic()  # not at startup: a restart loop must not become a delete loop
        self._stopping = False
        self.editor: edits.Editor | None = None

    @property
    def worker_id(self) -> int:
        """The id whose lock this worker holds: a new one each time it takes the lock."""
        return self.lock.worker_id

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self.ctx.registry.channels

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

    # ------------------------------------------------------------------ lifecycle

    async def attach(self) -> None:
        """Take this worker's advisory lock and keep it: from now on its ``sending`` rows count as alive.

        When the lock's session is lost, the worker stops claiming and sending at once, and takes
        a lock again (retrying with backoff) before it goes on.
        """
        await self.lock.attach()

    async def start(self) -> None:
        """Attach, then run passes whenever woken (a request, a due delivery) or something falls due."""
        await self.attach()
        listening = asyncio.Event()
        self._loop_task = asyncio.create_task(self._loop(), name="oncall-notifier-loop")
        self._tasks = [asyncio.create_task(self._listen(listening), name="oncall-notifier-listen")]
        hub = self.ctx.events
        following = follow.followers(list(self.channels.values()))
        if hub is not None and following:  # only channels that update what they posted need alert events
            self._tasks.append(asyncio.create_task(follow.follow_alerts(hub, following), name="oncall-notifier-alerts"))
        editing = edits.editors(self.channels)
        if editing:  # channels that edit what they posted hear incident changes
            self.editor = edits.Editor(self.ctx, editing, self.alerting, self.clock)
            editor_listening = asyncio.Event()
            self._tasks.append(asyncio.create_task(self.editor.run(editor_listening), name="oncall-notifier-edits"))
            await asyncio.wait_for(editor_listening.wait(), timeout=30)
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
        await self.lock.close()

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self, listening: asyncio.Event) -> None:
        await listen_forever(self.ctx.listener, (REQUESTS_CHANNEL, store.DELIVERIES_CHANNEL),
                             lambda _note: self._wake.set(), listening, "the notifier")

    async def _loop(self) -> None:
        async def one_pass() -> float:
            await self.run_once(wait=False)
            # without the lock nothing is due here: the lock keeper wakes the loop when it has it again
            return await self._seconds_until_next() if self.lock.held.is_set() else 5.0

        await run_passes("notifier", self._wake, one_pass, stopping=lambda: self._stopping, retry_s=1.0,
                         max_wait_s=5.0, logger=log)

    async def _seconds_until_next(self) -> float:
        async with self.ctx.pool.connection() as conn:
            due = await store.next_due(conn)
        return 5.0 if due is None else (due - self.clock.now()).total_seconds()

    # ------------------------------------------------------------------ one pass

    async def run_once(self, *, wait: bool = True) -> int:
        """Intake, recover, claim, prepare and start sends; ``wait``: until those sends are recorded.

        Returns how many provider calls were started.
        """
        async with self.ctx.pool.connection() as conn, conn.transaction():
            await outbox.intake(conn, alerting=self.alerting)
        if not self.lock.held.is_set():  # lost: nothing is claimed until the lock is this worker's again
            return 0
        if time.monotonic() - self._last_recover > 5.0:
            await self.recover()
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            await self.prune()
        started: list[asyncio.Task[None]] = []
        while not self._stopping:
            want = min(self.settings.notify_concurrency - len(self._inflight), CLAIM_BATCH)
            if want <= 0:
                break
            try:
                claimed = await self._claim(want)
            except LockLost:
                break
            for p in await self._prepare(claimed):
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver_as_owner(p))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                started.append(task)
            if len(claimed) < want:
                break
        if wait and started:
            await asyncio.gather(*started, return_exceptions=True)
        return len(started)

    async def _claim(self, limit: int) -> list[tuple[Unit, Template]]:
        """One claim transaction (see ``claim``); returns the units claimed, with their templates."""
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn, conn.transaction():
            rows = await store.lock_due(conn, now, limit)
            if not rows:
                return []
            plan = Plan()
            opted_out, statuses = await claim.unsendable(conn, rows, self.alerting)
            rows = claim.settle_unsendable(rows, self.channels, opted_out, statuses, plan)
            units = claim.group(rows, self.channels)
            units = await self.limits.hold_open_circuits(conn, units, plan, now)
            units = await self.limits.take_tokens(conn, units, plan, now)
            units = await prepare.with_reply_codes(conn, units, now)
            templates = await prepare.templates(conn, units)
            worker_id = await self.lock.fence(conn) if units else self.worker_id
            units = await claim.write_plan(conn, plan, units, worker_id, self.worker_id, now, PROBE_WAIT_S)
            await self.alerting.append_timeline(conn, record.settled_lines(plan.settle), now)
        for u in units:
            self.lock.sending.update((r.id, u.claimed_by) for r in u.rows)
        return list(zip(units, templates, strict=True))

    async def _prepare(self, claimed: list[tuple[Unit, Template]]) -> list[Prepared]:
        """Render the claimed units, holding no transaction, then make their links (see ``prepare``).

        Should that fail, the units go back to the queue unsent.
        """
        if not claimed:
            return []
        units = [u for u, _ in claimed]
        try:
            renders = await prepare.render(rendering_for(self.ctx), units, [t for _, t in claimed])
            now = self.clock.now()
            if not prepare.writes_anything(units, renders):
                return await prepare.finish(None, units, renders, self.alerting, self.public_url,
                                            self.settings.action_link_ttl_s, now)
            async with self.ctx.pool.connection() as conn, conn.transaction():
                return await prepare.finish(conn, units, renders, self.alerting, self.public_url,
                                            self.settings.action_link_ttl_s, now)
        except Exception:
            log.exception("preparing %d claimed deliveries failed; they go back to the queue", len(units))
            for u in units:
                await self._give_back(u)
            return []

    def _recorded(self, p: Prepared) -> None:
        self.lock.sending.difference_update((r.id, p.unit.claimed_by) for r in p.unit.rows)

    async def recover(self) -> int:
        """Requeue ``sending`` rows whose worker is gone, or that this worker lost track of
        (its result could not be recorded); returns how many."""
        self._last_recover = time.monotonic()
        async with self.ctx.pool.connection() as conn:
            owners = await store.sending_owners(conn)
        total = 0
        for owner in owners:
            async with self.ctx.pool.connection() as conn, conn.transaction():
                if owner != self.worker_id:
                    if (time.monotonic() < self.lock.recover_others_after
                            and all(by != owner for _, by in self.lock.sending)):
                        continue
                    # transaction-level: released at commit, so a live owner is never blocked for long
                    if not await claim.try_xact_lock(conn, owner):
                        continue  # alive
                # what this worker is still sending (also under an id whose lock it lost) is recorded
                # when it answers
                mine = [i for i, by in self.lock.sending if by == owner]
                now = self.clock.now()
                rows = await store.requeue_interrupted(conn, owner, mine, now)
                if rows:
                    await store.release_probes(conn, [r.id for r in rows], now)
                    await store.notify_status(conn, {r.notification_id for r in rows})
                    await store.wake_workers(conn)
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
        async with self.ctx.pool.connection() as conn, conn.transaction():
            if not await claim.try_xact_lock(conn, 0):
                return {}  # another replica is pruning
            deleted = await store.prune(conn, self.clock.now(), self.settings.notification_retention_days)
        if any(deleted.values()):
            log.info("pruned %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
        return deleted

    # ------------------------------------------------------------------ send

    async def _deliver_as_owner(self, p: Prepared) -> None:
        """Send a claimed unit if the lock it was claimed under is still this worker's; else put it
        back in the queue unsent (where a replica may already have put it)."""
        delivering = False
        try:
            try:
                owner = await self.lock.holds(p.unit.claimed_by)
            except Exception as exc:  # noqa: BLE001 - unsure is not owner
                log.warning("could not confirm this worker's lock before sending delivery %d (%s); not sending it",
                            p.unit.leader.id, exc)
                owner = False
            if owner:
                delivering = True
                await self._deliver(p)  # releases the slot
                return
            await self._give_back(p.unit)
        finally:
            if not delivering:
                self._slots.release()
                self._wake.set()

    async def _give_back(self, unit: Unit) -> None:
        try:
            await self._hand_back(unit)
        except Exception as exc:  # noqa: BLE001 - then it is recovered like any row of a lost worker
            log.warning("could not put delivery %d back in the queue (%s); it is recovered later", unit.leader.id, exc)
        self.lock.sending.difference_update((r.id, unit.claimed_by) for r in unit.rows)

    async def _hand_back(self, unit: Unit) -> None:
        """Return a claimed unit that was never sent to the queue, as it was before the claim."""
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn, conn.transaction():
            notifications = await store.hand_back(conn, unit.ids, unit.claimed_by, now)
            if notifications:
                await store.release_probes(conn, unit.ids, now)
                await store.notify_status(conn, notifications)
                await store.wake_workers(conn)
        if notifications:
            log.warning("delivery %d was not sent (this worker lost its lock after claiming it); queued again",
                        unit.leader.id)

    async def _deliver(self, p: Prepared) -> None:
        channel = p.unit.channel
        try:
            if p.rendered.payload is None:
                # nothing to send even as the minimal message (no renderer for the channel)
                result = DeliveryResult(ok=False, permanent=True, response="; ".join(p.rendered.errors)[:1000])
            else:
                try:
                    result = await asyncio.wait_for(channel.send(p.message), SEND_GUARD_S)
                except TimeoutError:
                    result = DeliveryResult(ok=False, response=f"no answer from the {channel.name} channel in {SEND_GUARD_S:.0f} s")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a plugin's bug is this attempt's failure
                    log.exception("channel %s raised while sending delivery %s", channel.name, p.message.delivery_id)
                    result = DeliveryResult(ok=False, response=f"the {channel.name} channel raised {type(exc).__name__}: {exc}"[:1000])
            await self.recorder.record(p, result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recording delivery %s failed; it stays 'sending' until recovered", p.unit.leader.id)
        finally:
            self._slots.release()
            self._wake.set()
