"""Recording: a provider's answer → the delivery's status, its attempt row, its circuit, its timeline line.

Answers that finish together share one short transaction (group commit, ``Recorder``). An
answer is recorded only while its row is still ``sending`` under the id it was claimed
under: a replica that requeued it (this worker had lost its lock) owns it now.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from oncall_hookspecs import DeliveryResult

from ...backoff import backoff_delay
from ...clock import Clock
from ...config import Settings
from ..alerting_port import AlertingPort, TimelineLine
from . import capabilities, store
from .limits import Limits
from .prepare import Prepared

log = logging.getLogger(__name__)


def delivery_note(channel: str, destination: str, user_id: str | None, status: str, why: str) -> str:
    """'SMS to user 42: delivered' (with the reason when it failed or was cancelled)."""
    who = f"user {user_id}" if user_id else capabilities.describe_destination(channel, destination)
    if channel == "none":
        return f"Page to {who}: {status}" + (f" ({why})" if why else "")
    return f"{capabilities.label(channel)} to {who}: {status}" + (f" ({why})" if why and status in ("failed", "cancelled") else "")


def delivery_line(
    delivery_id: int, notification_id: int, channel: str, destination: str, user_id: str | None,
    alert_id: int, status: str, why: str,
) -> TimelineLine:
    """A delivery's outcome as a line on its alert's timeline."""
    return TimelineLine(alert_id, delivery_note(channel, destination, user_id, status, why), {
        "delivery_id": delivery_id, "notification_id": notification_id, "channel": channel,
        "destination": destination, "user_id": user_id, "status": status})


def settled_lines(items: Sequence[store.Settled]) -> list[TimelineLine]:
    return [delivery_line(s.delivery.id, s.delivery.notification_id, s.delivery.channel, s.delivery.destination,
                          s.delivery.user_id, s.delivery.alert_id, s.status, s.reason)
            for s in items if s.delivery.alert_id is not None]


class Recorder:
    """Commits answers for one worker; ``done(prepared)`` is told once each is recorded or given up."""

    def __init__(self, pool: Any, clock: Clock, settings: Settings, rng: random.Random, limits: Limits,
                 alerting: AlertingPort, done: Callable[[Prepared], None]) -> None:
        self.pool = pool
        self.clock = clock
        self.settings = settings
        self.rng = rng
        self.limits = limits
        self.alerting = alerting
        self._done = done
        self._pending: list[tuple[Prepared, DeliveryResult, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def record(self, prepared: Prepared, result: DeliveryResult) -> None:
        """Commit a send's result; results that finish together share one transaction."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((prepared, result, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._record_pending(), name="oncall-notifier-record")
        await done

    async def _record_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            delay = 0.2
            for attempt in range(12):  # about a minute of trying: a result is worth keeping
                try:
                    await self.record_batch([(p, r) for p, r, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the database may be back in a moment
                    if attempt == 11:
                        log.error("could not record %d delivery results (%s); they will be sent again", len(batch), exc)
                        for prepared, _, done in batch:
                            self._done(prepared)
                            if not done.done():
                                done.set_exception(exc)
                        break
                    log.warning("recording delivery results failed (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 8.0)
                else:
                    for prepared, _, done in batch:
                        self._done(prepared)
                        if not done.done():
                            done.set_result(None)
                    break

    def outcome(self, prepared: Prepared, result: DeliveryResult, now: datetime) -> tuple[str, datetime | None, str, str]:
        """(status, next attempt, last error, attempt response) for one provider answer."""
        attempt = prepared.unit.leader.attempts + 1
        if result.ok:
            status, next_at = ("delivered" if result.delivered else "sent"), None
        elif result.permanent or attempt >= self.settings.max_attempts:
            status, next_at = "failed", None
        else:
            status = "retrying"
            delay = backoff_delay(attempt, self.settings.retry_base_s, self.settings.retry_max_s, result.retry_after,
                                  self.rng)
            next_at = now + timedelta(seconds=delay)
        response = (result.response or ("ok" if result.ok else "failed"))[:2000]
        error = "" if result.ok else response
        if status == "failed" and not result.permanent:
            error = f"gave up after {attempt} attempts: {response}"
        if prepared.note:
            response = f"{response} ({prepared.note})"
        return status, next_at, error, response

    async def record_batch(self, batch: Sequence[tuple[Prepared, DeliveryResult]]) -> None:
        now = self.clock.now()
        results: list[store.Result] = []
        outcomes: list[tuple[str, str]] = []
        for prepared, result in batch:
            unit = prepared.unit
            status, next_at, error, response = self.outcome(prepared, result, now)
            outcomes.append((status, error))
            for r in unit.rows:
                results.append(store.Result(
                    r.id, status, error, result.provider_id, next_at, result.ok, status == "delivered",
                    unit.claimed_by, unit.leader.attempts + 1, unit.started_at or now, response, result.retry_after,
                    prepared.rendered.payload,
                ))
        async with self.pool.connection() as conn, conn.transaction():
            recorded = await store.record_results(conn, results, now)
            # the same row may be here twice: claimed before and after a loss
            late = sorted({r.id for r in results if (r.id, r.claimed_by) not in recorded})
            if late:
                log.warning("answers for deliveries %s came after they were requeued (this worker had lost its lock); "
                            "the provider may get them twice", late[:20])
            kept = [(p, r, s) for (p, r), s in zip(batch, outcomes, strict=True)
                    if (p.unit.leader.id, p.unit.claimed_by) in recorded]
            await self.limits.after_answers(conn, [(p.unit, r) for p, r, _ in kept], now)
            lines = []
            for p, _, (status, error) in kept:
                if status == "retrying":
                    continue
                lines += [delivery_line(r.id, r.notification_id, r.channel, r.destination, r.user_id, r.alert_id,
                                        status, error) for r in p.unit.rows if r.alert_id is not None]
            await self.alerting.append_timeline(conn, lines, now)
            await store.notify_status(conn, {r.notification_id for p, _, _ in kept for r in p.unit.rows})
            if any(status == "retrying" for _, _, (status, _) in kept):
                await store.wake_workers(conn)
