"""Retention of the access schema, hourly: audit events older than ``ONCALL_AUDIT_RETENTION_DAYS``,
and the rows of sessions past their lifetime or idle timeout that nobody brought back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from ..clock import SYSTEM_CLOCK, Clock
from ..store.database import UNREACHABLE, Pool
from . import audit
from .sessions import SessionStore

log = logging.getLogger(__name__)

EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pass deleted."""

    audit_events: int = 0
    sessions: int = 0


class AccessPruner:
    """Prunes at start and then every ``EVERY_S``; a database that is down waits for the next round.

    Audit events go once older than ``retention_days`` (0 keeps them); expired sessions go
    when ``sessions`` is given (a session presented after its end is refused and deleted at
    once: this pass takes the rows of those never presented again).
    """

    def __init__(
        self, pool: Pool, retention_days: int, clock: Clock = SYSTEM_CLOCK, sessions: SessionStore | None = None,
    ) -> None:
        self._pool = pool
        self._days = retention_days
        self._clock = clock
        self._sessions = sessions
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self) -> Pruned:
        now = self._clock.now()
        events = await audit.prune(self._pool, now, self._days)
        if events:
            log.info("deleted %d audit event(s) older than %d days", events, self._days)
        ended = await self._sessions.prune(now) if self._sessions is not None else 0
        if ended:
            log.info("deleted %d expired session(s)", ended)
        return Pruned(audit_events=events, sessions=ended)

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except UNREACHABLE:
                log.warning("could not prune the audit log and sessions: the database is unreachable; "
                            "trying again later")
            except Exception:  # noqa: BLE001 - pruning again next round is the remedy
                log.exception("pruning the audit log and sessions failed")
            await asyncio.sleep(EVERY_S)

    def start(self) -> None:
        if (self._days > 0 or self._sessions is not None) and self._task is None:
            self._task = asyncio.create_task(self._run(), name="access-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
