"""Ingestion with group commit: concurrent webhooks are committed together, in order.

Each webhook hands its parsed events to ``Ingestor.submit`` and waits. A writer takes
everything waiting, applies it in a single transaction (usually one set-based statement,
never a statement per alert), commits, and wakes the waiters with their results. A webhook
is therefore answered only after its alerts are durable, while one fsync serves many
requests. Two writers (lanes) overlap their batches. Submission order is kept: events for
the same key apply in the order received.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from oncall_hookspecs import Action, AlertEvent, IngestOutcome, IngestResult
from oncall_hookspecs.types import SEVERITIES
from psycopg_pool import PoolTimeout

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import InvalidArgument, OnCallError, Unavailable
from ..grouping.assign import Assignment, GroupingCache
from ..store.database import UNREACHABLE, Conn, Pool, current_acquire_timeout, unavailable
from . import incident_status
from .models import MAX_KEY, Integration, bounded_key
from .store import EVENTS_CHANNEL

log = logging.getLogger(__name__)

MAX_SUMMARY = 2048
MAX_DETAILS = 64 * 1024

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
    started_at: str | None  # ISO 8601; a time without an offset is in the session's zone
    group: Assignment | None = None  # the grouping rule that took it (a trigger), if any


class InvalidEvent(Exception):
    """A source plugin produced an event that breaks the contract (a server-side bug)."""


# PostgreSQL text and jsonb can't hold U+0000, and UTF-8 can't hold a lone surrogate. Both
# are stored as U+FFFD (the replacement character) rather than refused: senders retry a
# refused webhook forever. In JSON text a NUL can only be the escape \u0000, found where it
# isn't an escaped backslash's "u0000".
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 64  # deeper values in a payload are kept as a marker, not refused


def _storable(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def _storable_json(text: str) -> str:
    return _JSON_NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def _sanitised(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of what orjson refused: odd strings, huge integers, NaN, deep nesting."""
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if depth >= _MAX_DEPTH:
        return "(nested too deeply to keep)"
    if isinstance(value, dict):
        return {_storable(str(k)): _sanitised(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitised(v, depth + 1) for v in value]
    return _storable(str(value))


def _json_text(value: Any) -> str:
    """JSON text PostgreSQL will store; never fails (labels, annotations and raw are data)."""
    try:
        return _storable_json(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())
    except TypeError:
        pass
    try:
        return orjson.dumps(_sanitised(value), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as exc:  # not expected: _sanitised leaves only JSON types
        return orjson.dumps({"unserialisable": str(exc)[:200]}).decode()


def _capped(raw: str, cap: int) -> str:
    """``raw``, or a truncation marker with its head, within ``cap`` bytes of UTF-8."""
    if len(raw) * 4 <= cap:  # at most 4 bytes a character: surely within the cap
        return raw
    encoded = raw.encode()
    if len(encoded) <= cap:
        return raw
    head = encoded[: max(cap - 64, 0)].decode("utf-8", "ignore")
    while True:
        doc = _json_text({"truncated": True, "bytes": len(encoded), "head": head})
        excess = len(doc.encode()) - (cap - 16)  # PostgreSQL's jsonb output adds a few spaces
        if excess <= 0 or not head:
            return doc
        head = head[: max(0, len(head) - excess)]  # every character dropped saves >= 1 byte


def prepare(ev: AlertEvent, raw_cap: int) -> _Prepared:
    return _prepare(ev, raw_cap)[0]


def _prepare(ev: AlertEvent, raw_cap: int) -> tuple[_Prepared, dict[str, str]]:
    """The event prepared, and its labels as text (what a grouping rule sees of them)."""
    if not isinstance(ev, AlertEvent):
        raise InvalidEvent(f"sources must return AlertEvent objects, got {type(ev).__name__}")
    action = ev.action if isinstance(ev.action, Action) else Action(ev.action)
    key = ev.dedup_key
    if not isinstance(key, str) or not key:
        raise InvalidEvent("an event needs a non-empty string dedup_key")
    key = _storable(key)
    summary = ev.summary if isinstance(ev.summary, str) else str(ev.summary)
    summary = _storable(summary).strip()[:MAX_SUMMARY] or key[:MAX_SUMMARY]
    details = _storable(ev.details if isinstance(ev.details, str) else str(ev.details))
    labels = {str(k): v if isinstance(v, str) else str(v) for k, v in (ev.labels or {}).items()}
    raw = None if ev.raw is None else _capped(_json_text(ev.raw), raw_cap)
    return _Prepared(
        action=action,
        dedup_key=bounded_key(key, keep=MAX_KEY - 80),  # a readable start, then the digest of it all
        summary=summary,
        details=details[:MAX_DETAILS],
        severity=normalize_severity(ev.severity),
        labels=_json_text(labels),
        annotations=_json_text(ev.annotations or {}),
        raw=raw,
        # as text, so that PostgreSQL reads every time alike, with or without an offset
        started_at=None if ev.occurred_at is None else ev.occurred_at.isoformat(),
    ), labels


@dataclass(slots=True)
class _Submission:
    integration_id: int
    events: list[_Prepared]
    future: asyncio.Future[list[IngestResult]]
    # how long the submitter may wait for a connection (a request's acquire_timeout), or None
    acquire_timeout: float | None = None


# Each statement below does one step of a batch whole: it changes the alerts, writes their
# timeline events and announces them. One statement is one round trip, and on its own
# (autocommit) one transaction. Columns arrive as arrays in binary format (``%(x)b``):
# PostgreSQL copies them rather than parsing array literals, and psycopg need not quote
# and escape every element of a text array.
#
# ``announced`` runs pg_notify, delivered by PostgreSQL only on commit, with the new event
# ids in chunks (a payload must stay under 8000 bytes). It always yields one row, and the
# final SELECT joins it: a CTE that nothing references is not run.
_ANNOUNCE = """
announced AS (
    SELECT count(pg_notify(%(channel)s, ids)) AS notifications
    FROM (
        SELECT string_agg(id::text, ',' ORDER BY id) AS ids
        FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 300 AS chunk FROM recorded) AS numbered
        GROUP BY chunk
    ) AS chunks
)"""

# Rows are locked in (integration, key) order, as every writer takes them, so concurrent
# writers (other replicas, API calls) cannot deadlock with this one.
#
# Every new alert is put into an incident by the same statement. An alert no grouping rule
# took draws its own incident's id from the sequence (the column's default) and ``opened``
# inserts that incident; the reference is checked at commit. ``{incident_ctes}`` is where
# the grouped variant joins alerts to open incidents.
_TRIGGER_TEMPLATE = """
WITH input AS MATERIALIZED (
    SELECT * FROM unnest(%(integration_id)b::bigint[], %(dedup_key)b::text[], %(summary)b::text[],
                         %(details)b::text[], %(severity)b::text[], %(labels)b::text[],
                         %(annotations)b::text[], %(raw)b::text[], %(started_at)b::text[]{group_arrays})
        WITH ORDINALITY AS t(integration_id, dedup_key, summary, details, severity, labels,
                             annotations, raw, started_at{group_columns}, ord)
){incident_ctes}, upserted AS (
    INSERT INTO alerting.alerts AS a
        (integration_id, dedup_key, status, summary, details, severity, labels, annotations,
         raw, started_at{incident_column})
    SELECT t.integration_id, t.dedup_key, 'triggered', t.summary, t.details, t.severity, t.labels::jsonb,
           t.annotations::jsonb, t.raw::jsonb, t.started_at::timestamptz{incident_value}
    FROM input t{incident_joins}
    ORDER BY t.integration_id, t.dedup_key
    ON CONFLICT (integration_id, dedup_key) WHERE status <> 'resolved' DO UPDATE
    SET duplicate_count = a.duplicate_count + 1,
        last_received_at = now(),
        labels = EXCLUDED.labels,
        annotations = EXCLUDED.annotations
    RETURNING a.id, a.integration_id, a.dedup_key, a.incident_id, a.summary, a.severity, a.created_at,
              (a.xmax = 0) AS created
), {opened}, recorded AS (
    INSERT INTO alerting.alert_events (alert_id, kind, actor)
    SELECT id, CASE WHEN created THEN 'created' ELSE 'duplicate' END,
           'integration:' || integration_id
    FROM upserted
    ORDER BY integration_id, dedup_key
    RETURNING id
), """ + _ANNOUNCE + """
SELECT i.ord, u.id, u.created
FROM input i JOIN upserted u USING (integration_id, dedup_key) CROSS JOIN announced
ORDER BY i.ord
"""

# No grouping rule: each new alert opens its own incident.
_TRIGGER = _TRIGGER_TEMPLATE.format(
    group_arrays="", group_columns="", incident_ctes="", incident_column="", incident_value="",
    incident_joins="",
    opened="""opened AS (
    INSERT INTO alerting.incidents
        (id, title, severity, integration_id, first_alert_id, alert_count, open_alerts,
         triggered_alerts, created_at, last_alert_at)
    SELECT incident_id, summary, severity, integration_id, id, 1, 1, 1, created_at, created_at
    FROM upserted WHERE created
)""",
)

# With grouping: an alert a rule took joins the open, joinable incident of its (rule, scope,
# key), or opens one. ``repeats`` locks the open alerts the batch repeats first, as every
# writer (a resolve, a person, the engine) locks alerts before their incidents, so that
# none deadlocks with this statement. ``locked`` then locks the incidents holding the
# batch's keys (in id order) for the rest of the transaction: one resolving meanwhile (its ``join_key`` cleared) is
# read again once that commits and drops out, so no alert joins an incident that is no
# longer open. ``closing`` closes those whose window or idle limit has passed
# (``%(now)s``); ``existing`` is the rest. ``fresh`` draws one id per key that has none, and
# the alert is inserted with its incident's id. Existing incidents count their new alerts
# (``bumped``); ``opened`` inserts the new ones. Two transactions opening the same key at
# once both try to insert it: the unique index lets one in, the other's alerts then
# reference an incident that doesn't exist, its commit fails (``alerts_incident_fk``) and
# the batch is applied again, when it joins the winner's.
#
# A data-modifying CTE no one reads runs after the main query, so ``fresh`` reads
# ``closing`` (an InitPlan, evaluated before its first row): a closed incident's key must be
# off the unique index before ``opened`` inserts its successor, else the insert would
# conflict with it, do nothing, and fail the commit on every retry.
_GROUPED = _TRIGGER_TEMPLATE.format(
    group_arrays=""", %(rule_id)b::text[], %(scope)b::text[], %(group_key)b::text[],
                         %(window_s)b::integer[], %(idle_s)b::integer[], %(resolve_on)b::text[],
                         %(repage)b::boolean[]""",
    group_columns=", rule_id, scope, group_key, window_s, idle_s, resolve_on, repage",
    incident_ctes=""", keys AS MATERIALIZED (
    SELECT DISTINCT rule_id, scope, group_key FROM input WHERE group_key IS NOT NULL
), repeats AS MATERIALIZED (
    SELECT a.id FROM alerting.alerts a JOIN input t USING (integration_id, dedup_key)
    WHERE a.status <> 'resolved'
    ORDER BY a.integration_id, a.dedup_key
    FOR NO KEY UPDATE OF a
), locked AS MATERIALIZED (
    SELECT i.id, i.rule_id, i.scope, i.join_key, i.joinable_until
    FROM alerting.incidents i JOIN keys k
      ON i.rule_id = k.rule_id AND i.scope = k.scope AND i.join_key = k.group_key
    WHERE (SELECT count(*) FROM repeats) >= 0
    ORDER BY i.id
    FOR NO KEY UPDATE OF i
), closing AS (
    UPDATE alerting.incidents i SET join_key = NULL
    FROM locked l
    WHERE i.id = l.id AND l.joinable_until <= %(now)s
    RETURNING i.id
), existing AS MATERIALIZED (
    SELECT id, rule_id, scope, join_key FROM locked
    WHERE joinable_until IS NULL OR joinable_until > %(now)s
), fresh AS MATERIALIZED (
    SELECT k.rule_id, k.scope, k.group_key, nextval('alerting.incident_ids') AS id
    FROM keys k
    WHERE NOT EXISTS (SELECT 1 FROM existing e
                      WHERE e.rule_id = k.rule_id AND e.scope = k.scope AND e.join_key = k.group_key)
      AND (SELECT count(*) FROM closing) >= 0
)""",
    incident_column=", incident_id",
    incident_value=", coalesce(e.id, f.id, nextval('alerting.incident_ids'))",
    incident_joins="""
    LEFT JOIN existing e ON e.rule_id = t.rule_id AND e.scope = t.scope AND e.join_key = t.group_key
    LEFT JOIN fresh f ON f.rule_id = t.rule_id AND f.scope = t.scope AND f.group_key = t.group_key""",
    opened="""new_alerts AS MATERIALIZED (
    SELECT u.id, u.incident_id, u.integration_id, u.summary, u.severity, u.created_at,
           t.rule_id, t.scope, t.group_key, t.window_s, t.idle_s, t.resolve_on, t.repage,
           EXISTS (SELECT 1 FROM existing e WHERE e.id = u.incident_id) AS joined
    FROM upserted u JOIN input t USING (integration_id, dedup_key)
    WHERE u.created
), bumped AS (
    UPDATE alerting.incidents i
    SET alert_count = i.alert_count + n.n, open_alerts = i.open_alerts + n.n,
        triggered_alerts = i.triggered_alerts + n.n, last_alert_at = %(now)s,
        joinable_until = CASE WHEN i.idle_seconds IS NOT NULL
                              THEN %(now)s + make_interval(secs => i.idle_seconds)
                              ELSE i.joinable_until END
    FROM (SELECT incident_id, count(*) AS n FROM new_alerts WHERE joined GROUP BY incident_id) n
    WHERE i.id = n.incident_id
), opened AS (
    INSERT INTO alerting.incidents
        (id, rule_id, scope, group_key, join_key, joinable_until, window_seconds, idle_seconds,
         resolve_on, repage_on_new_alert, title, severity, integration_id, first_alert_id,
         alert_count, open_alerts, triggered_alerts, created_at, last_alert_at)
    SELECT incident_id, min(rule_id), min(scope), min(group_key), min(group_key),
           %(now)s + make_interval(secs => coalesce(min(window_s), min(idle_s))),
           min(window_s), min(idle_s), coalesce(min(resolve_on), 'all'), coalesce(bool_or(repage), false),
           (array_agg(summary ORDER BY id))[1],
           (array_agg(severity ORDER BY alerting.severity_rank(severity) DESC, id))[1],
           (array_agg(integration_id ORDER BY id))[1], min(id),
           count(*), count(*), count(*), %(now)s, %(now)s
    FROM new_alerts WHERE NOT joined
    GROUP BY incident_id
    ORDER BY min(rule_id), min(scope), min(group_key)
    ON CONFLICT (rule_id, scope, join_key) WHERE join_key IS NOT NULL DO NOTHING
)""",
)

_CLOSE = """
WITH input AS MATERIALIZED (
    SELECT * FROM unnest(%(integration_id)b::bigint[], %(dedup_key)b::text[])
        WITH ORDINALITY AS t(integration_id, dedup_key, ord)
), target AS (
    SELECT a.id, a.status AS was FROM alerting.alerts a JOIN input USING (integration_id, dedup_key)
    WHERE a.status = ANY(%(from_statuses)s) ORDER BY a.integration_id, a.dedup_key FOR UPDATE OF a
), changed AS (
    UPDATE alerting.alerts a SET {assignments}
    FROM target WHERE a.id = target.id
    RETURNING a.id, a.integration_id, a.dedup_key, a.incident_id, target.was,
              a.status = 'resolved' AS now_resolved, 'integration:' || a.integration_id AS actor
), recorded AS (
    INSERT INTO alerting.alert_events (alert_id, kind, actor)
    SELECT id, %(kind)s, 'integration:' || integration_id
    FROM changed
    ORDER BY integration_id, dedup_key
    RETURNING id
), """ + incident_status.derive_ctes("changed") + """, """ + _ANNOUNCE + """
SELECT i.ord, c.id
FROM input i LEFT JOIN changed c USING (integration_id, dedup_key) CROSS JOIN announced
ORDER BY i.ord
"""
_RESOLVE = _CLOSE.format(
    assignments="status = 'resolved', resolved_at = now(), resolved_by = 'integration:' || a.integration_id"
)
_ACK = _CLOSE.format(
    assignments="status = 'acknowledged', acknowledged_at = now(), acknowledged_by = 'integration:' || a.integration_id"
)

# The open alerts of a batch's keys, locked in key order; no rows come back. (NO KEY UPDATE,
# as an upsert locks them: the engine's inserts referencing them are not held up.)
_LOCK_ALERTS = """
SELECT FROM (
    SELECT count(*) AS n FROM (
        SELECT a.id FROM alerting.alerts a
        JOIN unnest(%(integration_id)b::bigint[], %(dedup_key)b::text[]) AS t(integration_id, dedup_key)
          USING (integration_id, dedup_key)
        WHERE a.status <> 'resolved'
        ORDER BY a.integration_id, a.dedup_key
        FOR NO KEY UPDATE OF a
    ) AS locked
) AS counted WHERE n < 0
"""

# (action, statement, statuses it applies to, outcome when it applied)
_CLOSING = (
    (Action.ACKNOWLEDGE, _ACK, ["triggered"], IngestOutcome.ACKNOWLEDGED),
    (Action.RESOLVE, _RESOLVE, ["triggered", "acknowledged"], IngestOutcome.RESOLVED),
)

_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_INCIDENT_FK = "alerts_incident_fk"

# What batches in flight never share: (integration id, dedup key) of every event, and
# ("rule:<id>:<scope>", incident key) of every grouped trigger. Two lanes joining or opening
# one incident would only wait for each other on its row (and, both opening it, one would
# fail at commit and be applied again), so the second waits its turn in the queue instead,
# where it goes on gathering submissions into a larger batch.
_Key = tuple[int | str, str]


def _keys(sub: _Submission) -> set[_Key]:
    keys: set[_Key] = set()
    for ev in sub.events:
        keys.add((sub.integration_id, ev.dedup_key))
        if ev.group is not None:
            keys.add((f"rule:{ev.group.rule_id}:{ev.group.scope}", ev.group.key))
    return keys


# An event of a batch, with where its result goes: (integration, event, submission, index)
_Item = tuple[int, _Prepared, int, int]
# Events as the statements take them: each submission's integration and its events, in order
_Events = Sequence[tuple[int, Sequence[_Prepared]]]
# A statement to run, its parameters, the events it applies and the outcome it records
_Statement = tuple[str, dict[str, Any], list[_Item], IngestOutcome | None]


class Ingestor:
    """The group-commit writer. ``start`` it on the server's loop; ``stop`` drains it.

    ``lanes`` batches may be committing at once, each on its own connection, so that one
    batch's round trip and fsync overlap the next batch's statements. Batches in flight
    never share a key: a submission that shares one with a batch still committing waits
    for it (and so does everything queued behind it), which keeps every key's events in
    arrival order.
    """

    def __init__(
        self, pool: Pool, raw_cap: int = 64 * 1024, max_batch: int = 5000, lanes: int = 2,
        clock: Clock = SYSTEM_CLOCK, grouping: GroupingCache | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        #: the grouping rules new alerts are put into incidents by (None: each alert its own)
        self.grouping = grouping
        self.raw_cap = raw_cap
        self._max_batch = max_batch
        self._lanes = lanes
        self._queue: deque[_Submission] = deque()
        self._wake = asyncio.Event()
        self._released = asyncio.Event()  # a batch finished committing; its keys are free
        self._in_flight: dict[int, set[_Key]] = {}  # lane → keys of its batch
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.batches = 0
        self.events_committed = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._lane(i), name=f"oncall-ingest-writer-{i}") for i in range(self._lanes)
        ]

    async def stop(self) -> None:
        """Commit everything already submitted, then stop."""
        self._stopping = True
        self._wake.set()
        await asyncio.gather(*self._tasks)

    def prepare(self, events: Sequence[AlertEvent], integration: Integration | None = None) -> list[_Prepared]:
        """Check and serialise ``integration``'s events; a trigger a grouping rule takes
        carries its assignment (evaluated here, before the batch, from the event itself).
        ``integration`` None (a heartbeat's own alert): each opens its own incident."""
        grouping = self.grouping
        if grouping is None or not grouping.active or integration is None:
            return [prepare(ev, self.raw_cap) for ev in events]
        now = self._clock.now()
        prepared = []
        for ev in events:
            p, labels = _prepare(ev, self.raw_cap)
            if p.action is Action.TRIGGER:
                p.group = grouping.assign(ev, p.severity, integration, now, labels)
            prepared.append(p)
        return prepared

    async def submit(self, integration_id: int, events: list[_Prepared]) -> list[IngestResult]:
        """Queue prepared events; return their results once they are committed."""
        if self._stopping:
            raise Unavailable("the server is shutting down")
        if not events:
            return []
        fut: asyncio.Future[list[IngestResult]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Submission(integration_id, events, fut, current_acquire_timeout()))
        self._wake.set()
        return await fut

    def _take(self) -> tuple[list[_Submission], set[_Key]]:
        """The next batch: submissions from the head of the queue, in order, up to
        ``max_batch`` events, stopping before the first that shares a key (a dedup key, or
        the incident key of a grouped trigger) with a batch in flight."""
        batch: list[_Submission] = []
        keys: set[_Key] = set()
        n = 0
        busy = list(self._in_flight.values())
        while self._queue and n < self._max_batch:
            sub = self._queue[0]
            sub_keys = _keys(sub)
            if any(not held.isdisjoint(sub_keys) for held in busy):
                break
            self._queue.popleft()
            batch.append(sub)
            keys |= sub_keys
            n += len(sub.events)
        return batch, keys

    async def _lane(self, lane: int) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, keys = self._take()
            if not batch:
                # the head of the queue waits for a batch in flight that holds one of its keys
                self._released.clear()
                await self._released.wait()
                continue
            self._in_flight[lane] = keys
            try:
                await self._commit(batch)
            finally:
                del self._in_flight[lane]
                self._released.set()

    async def _commit(self, batch: list[_Submission]) -> None:
        reconnected = False
        for attempt in range(5):
            try:
                results = await self._apply(batch)
            except _RETRYABLE as exc:
                log.warning("ingest batch retried after %s (attempt %d)", type(exc).__name__, attempt + 1)
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            except psycopg.errors.ForeignKeyViolation as exc:
                if exc.diag.constraint_name != _INCIDENT_FK:
                    log.error("ingest batch of %d requests refused: %s", len(batch), exc.diag.message_primary)
                    self._fail(batch, Unavailable("the alert could not be stored; retry later"))
                    return
                # another transaction opened an incident for one of this batch's keys first:
                # applied again, the batch joins it (see _GROUPED)
                log.info("ingest batch applied again: an incident for one of its keys opened meanwhile")
                continue
            except PoolTimeout as exc:
                # No connection in the time the senders may wait: the database is down (or
                # the pool exhausted). What is queued would meet the same wall, so it is told
                # now too, rather than each batch in turn waiting out its own timeout.
                err = unavailable(exc)
                self._fail(batch, err)
                self._fail_queued(err)
                return
            except UNREACHABLE as exc:
                if not reconnected:
                    # The connection broke (a restart, a terminated backend): once more on a
                    # fresh one. Had the statement committed before the break, the retry
                    # counts each alert as a duplicate, never as a second alert.
                    reconnected = True
                    log.warning("ingest batch retried on a new connection after %s", type(exc).__name__)
                    continue
                self._fail(batch, unavailable(exc))
                return
            except (psycopg.DataError, UnicodeEncodeError) as exc:
                detail = str(exc)
                if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
                    detail = exc.diag.message_primary
                if len(batch) > 1:
                    # One request's data (text that can't be encoded, say) fails the statement
                    # for the whole batch: commit each request alone, so only that one fails.
                    log.warning("ingest batch of %d requests refused (%s); committing them one by one",
                                len(batch), detail)
                    for sub in batch:
                        await self._commit([sub])
                    return
                self._fail(batch, InvalidArgument(f"the alert could not be stored: {detail}"))
                return
            except Exception as exc:  # noqa: BLE001 - every waiter must hear of the failure
                log.error("ingest batch of %d requests failed: %s", len(batch), exc)
                self._fail(batch, Unavailable("the alert could not be stored; retry later"))
                return
            self.batches += 1
            for sub, res in zip(batch, results, strict=True):
                self.events_committed += len(res)
                if not sub.future.done():
                    sub.future.set_result(res)
            return
        self._fail(batch, Unavailable("the alert could not be stored (contention); retry later"))

    def _fail_queued(self, err: OnCallError) -> None:
        while self._queue:
            sub = self._queue.popleft()
            if not sub.future.done():
                sub.future.set_exception(err)

    @staticmethod
    def _fail(batch: list[_Submission], err: Exception) -> None:
        for sub in batch:
            if not sub.future.done():
                sub.future.set_exception(err)

    async def _apply(self, batch: list[_Submission]) -> list[list[IngestResult]]:
        events = [(sub.integration_id, sub.events) for sub in batch]
        statements = _statements(events, self._clock.now())
        waits = [s.acquire_timeout for s in batch if s.acquire_timeout is not None]
        async with self._pool.connection(timeout=min(waits) if waits else None) as conn:
            if len(statements) == 1:
                # the common case: one statement, its own transaction, one round trip
                sql, params, _, _ = statements[0]
                cur = await conn.execute(sql, params)
                answers = [await cur.fetchall()]
            else:
                # sent together, applied in order, committed together
                async with conn.pipeline(), conn.transaction():
                    curs = [await conn.execute(sql, params) for sql, params, _, _ in statements]
                answers = [await c.fetchall() for c in curs]
        return _results(events, statements, answers)


async def apply_events(conn: Conn, events: _Events, now: datetime | None = None) -> list[list[IngestResult]]:
    """Apply events with the Ingestor's own statements, inside the caller's transaction on ``conn``.

    For a decision that must commit together with the alerts it opens or closes (a heartbeat
    expiring or beating again): dedup, the one open alert per (integration, dedup key) and
    the timeline are exactly an ingested event's. Nothing is committed here.
    """
    statements = _statements(events, now or SYSTEM_CLOCK.now())
    answers: list[list[Any]] = []
    for sql, params, _, _ in statements:
        cur = await conn.execute(sql, params)
        answers.append(await cur.fetchall())
    return _results(events, statements, answers)


def _statements(events: _Events, now: datetime) -> list[_Statement]:
    """One statement per (round, action), in the order they must run; each with what to make of its rows."""
    # Round r holds the r-th event for each key, so every statement touches a key once
    # and events for one key still apply in arrival order.
    rounds: list[list[_Item]] = []
    occurrences: dict[tuple[int, str], int] = defaultdict(int)
    for si, (integration_id, evs) in enumerate(events):
        for ei, ev in enumerate(evs):
            k = (integration_id, ev.dedup_key)
            r = occurrences[k]
            occurrences[k] = r + 1
            if r == len(rounds):
                rounds.append([])
            rounds[r].append((integration_id, ev, si, ei))

    statements: list[_Statement] = []
    for rnd in rounds:
        by_action: dict[Action, list[_Item]] = defaultdict(list)
        for item in rnd:
            by_action[item[1].action].append(item)
        if triggers := by_action.get(Action.TRIGGER):
            trig = [t[1] for t in triggers]
            params: dict[str, Any] = {
                "integration_id": [t[0] for t in triggers],
                "dedup_key": [ev.dedup_key for ev in trig],
                "summary": [ev.summary for ev in trig],
                "details": [ev.details for ev in trig],
                "severity": [ev.severity for ev in trig],
                "labels": [ev.labels for ev in trig],
                "annotations": [ev.annotations for ev in trig],
                "raw": [ev.raw for ev in trig],
                "started_at": [ev.started_at for ev in trig],
                "channel": EVENTS_CHANNEL,
            }
            sql = _TRIGGER
            if any(ev.group is not None for ev in trig):
                sql = _GROUPED
                groups = [ev.group for ev in trig]
                params.update(
                    now=now,
                    rule_id=[g.rule_id if g else None for g in groups],
                    scope=[g.scope if g else None for g in groups],
                    group_key=[g.key if g else None for g in groups],
                    window_s=[g.window_seconds if g else None for g in groups],
                    idle_s=[g.idle_seconds if g else None for g in groups],
                    resolve_on=[g.resolve_on if g else None for g in groups],
                    repage=[g.repage_on_new_alert if g else None for g in groups],
                )
            statements.append((sql, params, triggers, None))
        for action, sql, from_statuses, outcome in _CLOSING:
            if items := by_action.get(action):
                params = {
                    "integration_id": [t[0] for t in items],
                    "dedup_key": [t[1].dedup_key for t in items],
                    "from_statuses": from_statuses,
                    "kind": outcome.value,
                    "channel": EVENTS_CHANNEL,
                    "now": now,
                }
                statements.append((sql, params, items, outcome))
    if len(statements) > 1:
        # One transaction of several statements would otherwise lock an incident (a trigger
        # joining it) before an alert (a later statement's ack or resolve), the reverse of
        # every other writer's order, and deadlock with a person acting on that alert.
        # Locking the batch's open alerts first, in key order, keeps alerts before incidents.
        keys = sorted({(t[0], t[1].dedup_key) for rnd in rounds for t in rnd})
        lock_params: dict[str, Any] = {"integration_id": [k[0] for k in keys], "dedup_key": [k[1] for k in keys]}
        statements.insert(0, (_LOCK_ALERTS, lock_params, [], None))
    return statements


def _results(
    events: _Events, statements: list[_Statement], answers: list[list[Any]]
) -> list[list[IngestResult]]:
    results: list[list[IngestResult | None]] = [[None] * len(evs) for _, evs in events]
    for (_, _, items, outcome), rows in zip(statements, answers, strict=True):
        for row, (_, ev, si, ei) in zip(rows, items, strict=True):
            alert_id = row["id"]
            if outcome is None:
                got = IngestOutcome.CREATED if row["created"] else IngestOutcome.DUPLICATE
            elif alert_id is None:
                got = IngestOutcome.IGNORED
            else:
                got = outcome
            results[si][ei] = IngestResult(ev.dedup_key, got, alert_id)
    return results  # type: ignore[return-value]
