"""Editing: a message posted about an incident is rewritten as the incident changes (``EditingChannel``).

Slack shows "Incident #12 · 37 alerts" and the same message must say 38 when one more
joins, and "Resolved by …" at the end, without posting again. Three steps:

1. **mark** — each change of an incident is announced on alerting's ``INCIDENTS_CHANNEL``;
   every replica hears it and marks the messages posted about that incident by editing
   channels (``notification.message_edits``, one row per message). A row becomes pending,
   due at once, or at the end of the channel's ``edit_interval_s`` after its last edit (or
   its post), so a storm of joining alerts makes one edit every few seconds per message.
   Marking is idempotent: replicas marking the same change mark one row.
2. **claim** — due rows are taken with ``FOR UPDATE SKIP LOCKED`` and set not pending in
   one short transaction: each edit is made by exactly one replica. A change heard while
   the edit is under way makes the row pending again, due one interval after this edit.
3. **edit** — unless the incident shows as it did (``shown``: status, counts, title,
   who; as of the last edit, else as the page's context had it), the message is
   re-rendered from its notification's template and stored context with the incident as
   it is now (the same render a send runs), and handed to the channel. A failure is retried with backoff, up to ``MAX_FAILURES`` times; a later change
   of the incident makes a fresh edit whatever happened before.

Changes announced while a replica's LISTEN connection was down are caught up on when it is
live again: the messages of every open incident and of those resolved since are marked, and
``shown`` lets only the ones that really changed be edited. An edit is not a page: losing
one (a crash between claim and edit) costs only staleness until the next change, which is
why the claim commits before the channel is called rather than holding a lock across it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from oncall_hookspecs import Channel, DeliveryResult, EditingChannel, MessageEdit

from ...alerting.incident_status import INCIDENTS_CHANNEL
from ...backoff import backoff_delay
from ...clock import Clock
from ...context import Context
from ...store.database import Conn
from ..alerting_port import AlertingPort
from ..pipeline import SendJob, load_template, rendering_for
from ..templates import Template
from . import capabilities

log = logging.getLogger(__name__)

#: edits claimed at a time
EDIT_BATCH = 50
#: changes heard within this are marked in one statement (a storm announces one incident often)
MARK_COALESCE_S = 0.2
#: the longest one channel call may take
EDIT_TIMEOUT_S = 30.0
#: failed edits of one message retried at most this many times (until the next change)
MAX_FAILURES = 5
#: the longest the loop sleeps without looking for due edits
IDLE_S = 5.0
#: how far back a catch-up looks (a replica down longer has messages older than its last edit)
CATCH_UP_S = 3600.0
#: at most this many incidents are looked at in one catch-up
CATCH_UP_MAX = 10_000
#: what of an incident a message shows, compared to tell whether a change needs an edit
SHOWN = ("status", "title", "severity", "alert_count", "open_alerts", "triggered_alerts",
         "acknowledged_by", "resolved_by")
_RNG = random.Random()


def editors(channels: Mapping[str, Channel]) -> dict[str, EditingChannel]:
    """The channels whose spec says they keep their messages current and that implement ``edit``."""
    return {name: c for name, c in channels.items() if capabilities.updates(name) and isinstance(c, EditingChannel)}


@dataclass(frozen=True, slots=True)
class DueEdit:
    """A claimed edit: the message, the delivery that posted it, and how to render it again."""

    channel: str
    provider_id: str
    delivery_id: int
    incident_id: int
    destination: str
    alert_id: int | None
    failures: int
    template_id: str | None
    template_version: int | None
    context: Mapping[str, Any]
    shown: Mapping[str, Any] | None = None

    @property
    def shown_before(self) -> dict[str, Any]:
        """What the message shows of its incident: as of its last edit, else as its page had it."""
        if self.shown is not None:
            return dict(self.shown)
        incident = self.context.get("incident")
        return shown_of(incident if isinstance(incident, Mapping) else {})


def shown_of(incident: Mapping[str, Any]) -> dict[str, Any]:
    return {k: incident.get(k) for k in SHOWN}


async def mark(conn: Conn, incident_ids: Sequence[int], channels: Mapping[str, float], now: datetime) -> int:
    """Mark the messages the editing ``channels`` (name → edit interval, s) posted about these
    incidents as pending; returns how many rows were marked."""
    if not incident_ids or not channels:
        return 0
    names = sorted(channels)
    cur = await conn.execute(
        """WITH posted AS (
               SELECT DISTINCT ON (d.channel, d.provider_id) d.channel, d.provider_id, d.id, n.incident_id,
                      coalesce(d.sent_at, %(now)s) AS sent_at, iv.interval_s
               FROM notification.notifications n
               JOIN notification.deliveries d ON d.notification_id = n.id
               JOIN unnest(%(names)s::text[], %(intervals)s::float8[]) AS iv(channel, interval_s)
                    ON iv.channel = d.channel
               WHERE n.incident_id = ANY(%(ids)s) AND d.provider_id IS NOT NULL AND d.bundled_into IS NULL
                     AND d.bundle_size = 1 AND d.status IN ('sent', 'delivered')
               ORDER BY d.channel, d.provider_id, d.id
           )
           INSERT INTO notification.message_edits AS e
               (channel, provider_id, delivery_id, incident_id, interval_s, due_at)
           SELECT channel, provider_id, id, incident_id, interval_s,
                  greatest(%(now)s, sent_at + make_interval(secs => interval_s))
           FROM posted
           ON CONFLICT (channel, provider_id) DO UPDATE SET
               pending = true, failures = 0, interval_s = EXCLUDED.interval_s,
               -- a pending row keeps its turn (a retry's gives way); else the next edit waits out the interval
               due_at = CASE WHEN e.pending AND e.failures = 0 THEN e.due_at
                             ELSE greatest(%(now)s, coalesce(e.edited_at, %(now)s)
                                           + make_interval(secs => EXCLUDED.interval_s))
                        END""",
        {"ids": sorted(set(incident_ids)), "names": names, "intervals": [channels[n] for n in names], "now": now},
    )
    return cur.rowcount


async def claim(conn: Conn, now: datetime, limit: int = EDIT_BATCH) -> list[DueEdit]:
    """Take the due edits (not pending any more, edited now) with what re-rendering them needs."""
    cur = await conn.execute(
        """WITH due AS (
               SELECT channel, provider_id FROM notification.message_edits
               WHERE pending AND due_at <= %(now)s
               ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
           ), taken AS (
               UPDATE notification.message_edits e SET pending = false, edited_at = %(now)s, claims = e.claims + 1
               FROM due WHERE e.channel = due.channel AND e.provider_id = due.provider_id
               RETURNING e.channel, e.provider_id, e.delivery_id, e.incident_id, e.failures
           )
           SELECT t.*, e.shown, d.destination, d.alert_id, n.template_id, n.template_version, n.context
           FROM taken t
           JOIN notification.message_edits e ON e.channel = t.channel AND e.provider_id = t.provider_id
           JOIN notification.deliveries d ON d.id = t.delivery_id
           JOIN notification.notifications n ON n.id = d.notification_id
           ORDER BY t.incident_id, t.channel, t.provider_id""",
        {"now": now, "limit": limit},
    )
    return [DueEdit(r["channel"], r["provider_id"], r["delivery_id"], r["incident_id"], r["destination"],
                    r["alert_id"], r["failures"], r["template_id"], r["template_version"], r["context"] or {},
                    r["shown"])
            for r in await cur.fetchall()]


async def record_shown(conn: Conn, done: Sequence[tuple[DueEdit, Mapping[str, Any]]]) -> None:
    """What the edited messages show now (the next change is compared to it)."""
    if done:
        await conn.execute(
            """UPDATE notification.message_edits e SET shown = t.shown, failures = 0, last_error = ''
               FROM unnest(%s::text[], %s::text[], %s::jsonb[]) AS t(channel, provider_id, shown)
               WHERE e.channel = t.channel AND e.provider_id = t.provider_id""",
            ([e.channel for e, _ in done], [e.provider_id for e, _ in done],
             [Jsonb(dict(shown)) for _, shown in done]),
        )


async def next_due(conn: Conn) -> datetime | None:
    cur = await conn.execute("SELECT min(due_at) AS due FROM notification.message_edits WHERE pending")
    row = await cur.fetchone()
    return row["due"] if row else None


async def _failed(conn: Conn, edit: DueEdit, result: DeliveryResult, now: datetime) -> None:
    """A failed edit: retried after a backoff (or the provider's wish) unless it is permanent or
    has failed too often; a change made meanwhile keeps its own, earlier turn."""
    retry = not result.permanent and edit.failures + 1 < MAX_FAILURES
    wait = backoff_delay(edit.failures + 1, 2.0, 300.0, result.retry_after, _RNG)
    await conn.execute(
        """UPDATE notification.message_edits SET failures = failures + 1, last_error = %s,
                  pending = pending OR %s,
                  due_at = CASE WHEN pending THEN due_at ELSE %s END
           WHERE channel = %s AND provider_id = %s""",
        (result.response[:1000], retry, now + timedelta(seconds=wait), edit.channel, edit.provider_id),
    )


class Editor:
    """Marks, claims and makes the edits of this process's editing channels (see the module docstring)."""

    def __init__(self, ctx: Context, channels: Mapping[str, EditingChannel], alerting: AlertingPort,
                 clock: Clock) -> None:
        self.ctx = ctx
        self.channels = dict(channels)
        self.alerting = alerting
        self.clock = clock
        self._changed: set[int] = set()
        self._catch_up = False
        self._last_pass: datetime | None = None
        self._wake = asyncio.Event()

    @property
    def intervals(self) -> dict[str, float]:
        return {name: capabilities.edit_interval_s(name) for name in self.channels}

    def heard(self, note: psycopg.Notify | None) -> None:
        """A NOTIFY on ``INCIDENTS_CHANNEL`` (ids, comma-separated); None after a reconnect."""
        if note is None:
            self._catch_up = True
        else:
            for part in note.payload.split(","):
                if part.isdigit():
                    self._changed.add(int(part))
        self._wake.set()

    async def run(self, listening: asyncio.Event) -> None:
        """Hear incident changes and make the edits they call for, until cancelled."""
        reg = self.ctx.listener.register([INCIDENTS_CHANNEL], self.heard, lambda: self.heard(None),
                                         name="the message editor")
        try:
            await reg.wait_live()
            listening.set()
            while True:
                self._wake.clear()
                timeout = IDLE_S
                try:
                    await self.run_once()
                    timeout = await self._seconds_until_next()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("message editor pass failed; retrying shortly")
                    timeout = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, min(timeout, IDLE_S)))
                if self._changed:
                    await asyncio.sleep(MARK_COALESCE_S)  # let a burst of announcements gather
        finally:
            reg.close()

    async def _seconds_until_next(self) -> float:
        async with self.ctx.pool.connection() as conn:
            due = await next_due(conn)
        return IDLE_S if due is None else (due - self.clock.now()).total_seconds()

    async def run_once(self) -> int:
        """Mark what was heard (or, after a gap, what may have changed), then make every due edit;
        returns how many messages were edited."""
        now = self.clock.now()
        changed, self._changed = self._changed, set()
        if self._catch_up:
            self._catch_up = False
            # the last pass saw everything announced until shortly before it; a first pass looks back an hour
            since = now - timedelta(seconds=CATCH_UP_S) if self._last_pass is None else self._last_pass - timedelta(
                seconds=30)
            async with self.ctx.pool.connection() as conn:
                changed |= set(await self.alerting.incidents_maybe_changed(conn, since, CATCH_UP_MAX))
        self._last_pass = now
        if changed:
            async with self.ctx.pool.connection() as conn:
                await mark(conn, sorted(changed), self.intervals, now)
        made = 0
        while True:
            async with self.ctx.pool.connection() as conn:
                due = await claim(conn, self.clock.now())
            if not due:
                return made
            made += await self._edit(due)
            if len(due) < EDIT_BATCH:
                return made

    async def _edit(self, due: Sequence[DueEdit]) -> int:
        async with self.ctx.pool.connection() as conn:
            incidents = await self.alerting.incident_contexts(conn, sorted({e.incident_id for e in due}))
            # a change that leaves the message's incident as it shows it (a note, a repeated
            # announcement, a catch-up) edits nothing
            due = [e for e in due if e.incident_id not in incidents
                   or shown_of(incidents[e.incident_id]) != e.shown_before]
            templates: list[Template] = []
            for e in due:
                try:
                    templates.append(await load_template(conn, e.template_id, e.template_version))
                except Exception:  # noqa: BLE001 - a vanished template: the defaults render it, as a send would
                    templates.append(Template())
        if not due:
            return 0
        jobs = [SendJob(t, e.channel, {**e.context, "incident": incidents.get(e.incident_id, {})})
                for e, t in zip(due, templates, strict=True)]
        renders = await rendering_for(self.ctx).send(jobs)
        results = await asyncio.gather(*(
            self._call(e, r.rendered.payload, incidents.get(e.incident_id)) for e, r in zip(due, renders, strict=True)
        ))
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn:
            await record_shown(conn, [(e, shown_of(incidents[e.incident_id]))
                                      for e, r in zip(due, results, strict=True) if r.ok])
            for e, r in zip(due, results, strict=True):
                if not r.ok:
                    log.warning("%s: could not edit message %s about incident %d: %s",
                                e.channel, e.provider_id, e.incident_id, r.response)
                    await _failed(conn, e, r, now)
        return sum(1 for r in results if r.ok)

    async def _call(self, e: DueEdit, payload: Any, incident: Mapping[str, Any] | None) -> DeliveryResult:
        if incident is None:
            return DeliveryResult(ok=False, permanent=True, response=f"incident {e.incident_id} no longer exists")
        if payload is None:
            return DeliveryResult(ok=False, permanent=True, response="the message could not be rendered again")
        status = str(incident.get("status") or "")
        actor = incident.get("resolved_by") if status == "resolved" else (
            incident.get("acknowledged_by") if status == "acknowledged" else None)
        edit = MessageEdit(channel=e.channel, destination=e.destination, provider_id=e.provider_id, payload=payload,
                           alert_id=e.alert_id, incident_id=e.incident_id, status=status,
                           actor=str(actor) if actor else None, incident=incident)
        try:
            return await asyncio.wait_for(self.channels[e.channel].edit(edit), EDIT_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            return DeliveryResult(ok=False, response=f"no answer within {EDIT_TIMEOUT_S:g} s")
        except Exception as exc:  # noqa: BLE001 - one channel's failure is its own
            log.exception("%s: editing message %s raised", e.channel, e.provider_id)
            return DeliveryResult(ok=False, response=f"{type(exc).__name__}")
