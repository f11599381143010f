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
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from oncall_hookspecs import Channel, DeliveryResult, EditingChannel, MessageEdit

from ...alerting.incident_status import INCIDENTS_CHANNEL
from ...backoff import backoff_delay
from ...events import run_passes
from ...clock import Clock
from ...context import Context
from ...store.database import Conn
from ..alerting_port import AlertingPort
from ..pipeline import SendJob, rendering_for
from . import capabilities, store
from .prepare import template_of

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


def shown_of(incident: Mapping[str, Any]) -> dict[str, Any]:
    return {k: incident.get(k) for k in SHOWN}


def shown_before(edit: store.DueEdit) -> dict[str, Any]:
    """What the message shows of its incident: as of its last edit, else as its page had it."""
    if edit.shown is not None:
        return dict(edit.shown)
    incident = edit.context.get("incident")
    return shown_of(incident if isinstance(incident, Mapping) else {})


async def _failed(conn: Conn, edit: store.DueEdit, result: DeliveryResult, now: datetime) -> None:
    """Retried after a backoff (or the provider's wish) unless permanent or failed too often."""
    retry = not result.permanent and edit.failures + 1 < MAX_FAILURES
    wait = backoff_delay(edit.failures + 1, 2.0, 300.0, result.retry_after, _RNG)
    await store.edit_failed(conn, edit, result.response, retry, now + timedelta(seconds=wait))


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
            await run_passes("message editor", self._wake, self._one_pass, stopping=lambda: False, retry_s=1.0,
                             max_wait_s=IDLE_S, logger=log, after_wait=self._gather)
        finally:
            reg.close()

    async def _one_pass(self) -> float:
        await self.run_once()
        return await self._seconds_until_next()

    async def _gather(self) -> None:
        if self._changed:
            await asyncio.sleep(MARK_COALESCE_S)  # let a burst of announcements gather

    async def _seconds_until_next(self) -> float:
        async with self.ctx.pool.connection() as conn:
            due = await store.next_edit_due(conn)
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
                await store.mark_edits(conn, sorted(changed), self.intervals, now)
        made = 0
        while True:
            async with self.ctx.pool.connection() as conn:
                due = await store.claim_edits(conn, self.clock.now(), EDIT_BATCH)
            if not due:
                return made
            made += await self._edit(due)
            if len(due) < EDIT_BATCH:
                return made

    async def _edit(self, due: Sequence[store.DueEdit]) -> int:
        async with self.ctx.pool.connection() as conn:
            incidents = await self.alerting.incident_contexts(conn, sorted({e.incident_id for e in due}))
            # a change that leaves the message's incident as it shows it (a note, a repeated
            # announcement, a catch-up) edits nothing
            due = [e for e in due if e.incident_id not in incidents
                   or shown_of(incidents[e.incident_id]) != shown_before(e)]
            templates = [await template_of(conn, e.delivery_id, e.template_id, e.template_version) for e in due]
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
            await store.record_shown(conn, [(e, shown_of(incidents[e.incident_id]))
                                      for e, r in zip(due, results, strict=True) if r.ok])
            for e, r in zip(due, results, strict=True):
                if not r.ok:
                    log.warning("%s: could not edit message %s about incident %d: %s",
                                e.channel, e.provider_id, e.incident_id, r.response)
                    await _failed(conn, e, r, now)
        return sum(1 for r in results if r.ok)

    async def _call(self, e: store.DueEdit, payload: Any, incident: Mapping[str, Any] | None) -> DeliveryResult:
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
