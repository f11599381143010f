"""Audit retention: the server deletes audit events older than ``ONCALL_AUDIT_RETENTION_DAYS``, hourly."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..clock import SYSTEM_CLOCK, Clock
from ..store.database import UNREACHABLE, Pool
from . import audit

log = logging.getLogger(__name__)

EVERY_S = 3600.0


class AuditPruner:
    """Prunes at start and then every ``EVERY_S``; a database that is down waits for the next round."""

    def __init__(self, pool: Pool, retention_days: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self._pool = pool
        self._days = retention_days
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self) -> int:
        deleted = await audit.prune(self._pool, self._clock.now(), self._days)
        if deleted:
            log.info("deleted %d audit event(s) older than %d days", deleted, self._days)
        return deleted

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except UNREACHABLE:
                log.warning("could not prune the audit log: the database is unreachable; trying again later")
            except Exception:  # noqa: BLE001 - pruning again next round is the remedy
                log.exception("pruning the audit log failed")
            await asyncio.sleep(EVERY_S)

    def start(self) -> None:
        if self._days > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
