"""Ingestion with group commit: concurrent webhooks are committed together, in order.

Each webhook hands its parsed events to ``Ingestor.submit`` and waits. One writer takes
everything waiting, applies it in a single transaction (a few set-based statements, not a
statement per alert), commits, and wakes the waiters with their results. A webhook is
therefore answered only after its alerts are durable, while one fsync serves many
requests. Submission order is kept: events for the same key apply in the order received.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from oncall_hookspecs import Action, AlertEvent, IngestOutcome, IngestResult
from oncall_hookspecs.types import SEVERITIES
from psycopg_pool import AsyncConnectionPool

from ..errors import Unavailable
from .store import notify_events

log = logging.getLogger(__name__)

MAX_SUMMARY = 2048
MAX_DETAILS = 64 * 1024
MAX_KEY = 512

_SEVERITY_ALIASES = {
    "crit": "critical", "critical": "critical", "fatal": "critical", "page": "critical",
    "emergency": "critical", "alert": "critical", "disaster": "critical", "p1": "critical",
    "error": "error", "err": "error", "high": "error", "major": "error", "p2": "error",
    "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning",
    "average": "warning", "p3": "warning",
    "info": "info", "information": "info", "informational": "info", "low": "info",
    "notice": "info", "ok": "info", "none": "info", "p4": "info", "p5": "info",
}  # fmt: skip


def normalize_severity(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "unknown"
    v = value.strip().lower()
    if v in SEVERITIES:
        return v
    return _SEVERITY_ALIASES.get(v, "unknown")


@dataclass(slots=True)
class _Prepared:
    """An event checked and serialised, ready for the batch statements."""

    action: Action
    dedup_key: str
    summary: str
    details: str
    severity: str
    labels: str  # JSON text
    annotations: str  # JSON text
    raw: str | None  # JSON text
    started_at: datetime | None


class InvalidEvent(Exception):
    """A source plugin produced an event that breaks the contract (a server-side bug)."""


def _json_text(value: Any, what: str) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as exc:
        raise InvalidEvent(f"{what} is not JSON-serialisable: {exc}") from None


def prepare(ev: AlertEvent, raw_cap: int) -> _Prepared:
    if not isinstance(ev, AlertEvent):
        raise InvalidEvent(f"sources must return AlertEvent objects, got {type(ev).__name__}")
    action = ev.action if isinstance(ev.action, Action) else Action(ev.action)
    key = ev.dedup_key
    if not isinstance(key, str) or not key:
        raise InvalidEvent("an event needs a non-empty string dedup_key")
    summary = ev.summary if isinstance(ev.summary, str) else str(ev.summary)
    summary = summary.strip()[:MAX_SUMMARY] or key[:MAX_SUMMARY]
    details = ev.details if isinstance(ev.details, str) else str(ev.details)
    labels = {str(k): v if isinstance(v, str) else str(v) for k, v in (ev.labels or {}).items()}
    raw = None
    if ev.raw is not None:
        raw = _json_text(ev.raw, "raw")
        if len(raw) > raw_cap:
            raw = _json_text({"truncated": True, "bytes": len(raw), "head": raw[:raw_cap]}, "raw")
    return _Prepared(
        action=action,
        dedup_key=key[:MAX_KEY],
        summary=summary,
        details=details[:MAX_DETAILS],
        severity=normalize_severity(ev.severity),
        labels=_json_text(labels, "labels"),
        annotations=_json_text(ev.annotations or {}, "annotations"),
        raw=raw,
        started_at=ev.occurred_at,
    )


@dataclass(slots=True)
class _Submission:
    integration_id: int
    events: list[_Prepared]
    future: asyncio.Future[list[IngestResult]]


_UPSERT = """
INSERT INTO alerting.alerts AS a
    (integration_id, dedup_key, status, summary, details, severity, labels, annotations, raw,
     started_at)
SELECT t.integration_id, t.dedup_key, 'triggered', t.summary, t.details, t.severity,
       t.labels::jsonb, t.annotations::jsonb, t.raw::jsonb, t.started_at
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::timestamptz[])
     WITH ORDINALITY AS t(integration_id, dedup_key, summary, details, severity, labels,
                          annotations, raw, started_at, ord)
ORDER BY t.ord
ON CONFLICT (integration_id, dedup_key) WHERE status <> 'resolved' DO UPDATE
SET duplicate_count = a.duplicate_count + 1,
    last_received_at = now(),
    labels = EXCLUDED.labels,
    annotations = EXCLUDED.annotations
RETURNING a.id, a.integration_id, a.dedup_key, (a.xmax = 0) AS created
"""

# Locks are taken in (integration, key) order, as the upsert takes them, so concurrent
# writers (other replicas, API calls) cannot deadlock with this one.
_CLOSE = """
WITH t AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[]) AS t(integration_id, dedup_key)
), target AS (
    SELECT a.id FROM alerting.alerts a JOIN t USING (integration_id, dedup_key)
    WHERE a.status = ANY(%s) ORDER BY a.integration_id, a.dedup_key FOR UPDATE OF a
)
UPDATE alerting.alerts a SET {assignments}
FROM target WHERE a.id = target.id
RETURNING a.id, a.integration_id, a.dedup_key
"""
_RESOLVE = _CLOSE.format(assignments="status = 'resolved', resolved_at = now(), resolved_by = %s")
_ACK = _CLOSE.format(
    assignments="status = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s"
)

_EVENTS = """
INSERT INTO alerting.alert_events (alert_id, kind, actor)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])
RETURNING id
"""

_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class Ingestor:
    """The group-commit writer. ``start`` it on the server's loop; ``stop`` drains it."""

    def __init__(self, pool: AsyncConnectionPool, raw_cap: int = 64 * 1024, max_batch: int = 5000) -> None:
        self._pool = pool
        self.raw_cap = raw_cap
        self._max_batch = max_batch
        self._queue: deque[_Submission] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0
        self.events_committed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="oncall-ingest-writer")

    async def stop(self) -> None:
        """Commit everything already submitted, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def prepare(self, events: Sequence[AlertEvent]) -> list[_Prepared]:
        return [prepare(ev, self.raw_cap) for ev in events]

    async def submit(self, integration_id: int, events: list[_Prepared]) -> list[IngestResult]:
        """Queue prepared events; return their results once they are committed."""
        if self._stopping:
            raise Unavailable("the server is shutting down")
        if not events:
            return []
        fut: asyncio.Future[list[IngestResult]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Submission(integration_id, events, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch: list[_Submission] = []
            n = 0
            while self._queue and n < self._max_batch:
                sub = self._queue.popleft()
                batch.append(sub)
                n += len(sub.events)
            await self._commit(batch)

    async def _commit(self, batch: list[_Submission]) -> None:
        for attempt in range(5):
            try:
                results = await self._apply(batch)
            except _RETRYABLE as exc:
                log.warning("ingest batch retried after %s (attempt %d)", type(exc).__name__, attempt + 1)
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            except Exception as exc:  # noqa: BLE001 - every waiter must hear of the failure
                log.error("ingest batch of %d requests failed: %s", len(batch), exc)
                err = Unavailable("the alert could not be stored; retry later")
                for sub in batch:
                    if not sub.future.done():
                        sub.future.set_exception(err)
                return
            self.batches += 1
            for sub, res in zip(batch, results, strict=True):
                self.events_committed += len(res)
                if not sub.future.done():
                    sub.future.set_result(res)
            return
        err = Unavailable("the alert could not be stored (contention); retry later")
        for sub in batch:
            if not sub.future.done():
                sub.future.set_exception(err)

    async def _apply(self, batch: list[_Submission]) -> list[list[IngestResult]]:
        # Round r holds the r-th event for each key, so every statement touches a key once
        # and events for one key still apply in arrival order.
        rounds: list[list[tuple[int, str, _Prepared, int, int]]] = []
        occurrences: dict[tuple[int, str], int] = defaultdict(int)
        for si, sub in enumerate(batch):
            for ei, ev in enumerate(sub.events):
                k = (sub.integration_id, ev.dedup_key)
                r = occurrences[k]
                occurrences[k] = r + 1
                if r == len(rounds):
                    rounds.append([])
                rounds[r].append((sub.integration_id, ev.dedup_key, ev, si, ei))
        results: list[list[IngestResult | None]] = [[None] * len(s.events) for s in batch]

        async with self._pool.connection() as conn, conn.transaction():
            event_ids: list[int] = []
            for rnd in rounds:
                rnd.sort(key=lambda x: (x[0], x[1]))
                ev_alert: list[int] = []
                ev_kind: list[str] = []
                ev_actor: list[str] = []
                by_action: dict[Action, list[tuple[int, str, _Prepared, int, int]]] = defaultdict(list)
                for item in rnd:
                    by_action[item[2].action].append(item)

                if triggers := by_action.get(Action.TRIGGER):
                    cur = await conn.execute(
                        _UPSERT,
                        (
                            [t[0] for t in triggers],
                            [t[1] for t in triggers],
                            [t[2].summary for t in triggers],
                            [t[2].details for t in triggers],
                            [t[2].severity for t in triggers],
                            [t[2].labels for t in triggers],
                            [t[2].annotations for t in triggers],
                            [t[2].raw for t in triggers],
                            [t[2].started_at for t in triggers],
                        ),
                    )
                    done = {(r["integration_id"], r["dedup_key"]): r for r in await cur.fetchall()}
                    for integ, key, _, si, ei in triggers:
                        row = done[(integ, key)]
                        outcome = IngestOutcome.CREATED if row["created"] else IngestOutcome.DUPLICATE
                        results[si][ei] = IngestResult(key, outcome, row["id"])
                        ev_alert.append(row["id"])
                        ev_kind.append(outcome.value)
                        ev_actor.append(f"integration:{integ}")

                for action, statuses, sql, outcome in (
                    (Action.ACKNOWLEDGE, ["triggered"], _ACK, IngestOutcome.ACKNOWLEDGED),
                    (Action.RESOLVE, ["triggered", "acknowledged"], _RESOLVE, IngestOutcome.RESOLVED),
                ):
                    items = by_action.get(action)
                    if not items:
                        continue
                    # one actor per statement: split by integration (almost always one)
                    by_integ: dict[int, list[tuple[int, str, _Prepared, int, int]]] = defaultdict(list)
                    for item in items:
                        by_integ[item[0]].append(item)
                    for integ, group in by_integ.items():
                        actor = f"integration:{integ}"
                        cur = await conn.execute(
                            sql, ([g[0] for g in group], [g[1] for g in group], statuses, actor)
                        )
                        done = {(r["integration_id"], r["dedup_key"]): r["id"] for r in await cur.fetchall()}
                        for _, key, _, si, ei in group:
                            alert_id = done.get((integ, key))
                            if alert_id is None:
                                results[si][ei] = IngestResult(key, IngestOutcome.IGNORED, None)
                                continue
                            results[si][ei] = IngestResult(key, outcome, alert_id)
                            ev_alert.append(alert_id)
                            ev_kind.append(outcome.value)
                            ev_actor.append(actor)

                if ev_alert:
                    cur = await conn.execute(_EVENTS, (ev_alert, ev_kind, ev_actor))
                    event_ids.extend(r["id"] for r in await cur.fetchall())
            if event_ids:
                await notify_events(conn, event_ids)
        return results  # type: ignore[return-value]
