"""The escalation engine: runs the routing pass over new alerts and fires escalation steps, durably.

All state is in PostgreSQL. Work is claimed with ``FOR UPDATE SKIP LOCKED``, so any number
of replicas share it without coordination, and each decision commits in the same
transaction as the notification requests it causes (the outbox). A crash before commit
loses nothing (the work is still due); a commit makes the step's requests exist exactly
once (their idempotency keys are unique). The engine is woken by ``LISTEN/NOTIFY`` — when
an alert event commits or someone changes rules, silences or escalations — and otherwise
sleeps until the next thing falls due.

The incident escalates, and each of its alerts is routed. Its first routed alert starts its
escalation through that alert's policy; an alert that joins it acts on its own routing
(``_join``): suppressed, it pages no one; its route's channels are posted to except those the
incident was posted to; a policy the incident does not escalate through yet (its first
alert was suppressed or had none, or routed to another team) starts for the incident too,
from this alert — an incident holds one escalation per policy (migration 0015), so a joining
alert of a running policy pages no one twice — and an escalation held by a silence this
alert escapes escalates, paging about it. Acknowledging the incident stops every escalation
of it, when each next falls due; an acknowledged incident triggered again (see
``alerting.incident_status``) starts every escalation of it again from its first step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from oncall_hookspecs import AlertView
from oncall_hookspecs.types import SEVERITIES
from psycopg.types.json import Jsonb

from ..alerting import store
from ..alerting.incident_context import incident_contexts
from ..alerting.incident_status import notify_incidents
from ..alerting.models import Alert
from ..clock import SYSTEM_CLOCK, Clock
from ..context import Context
from ..events import listen_forever, run_passes, stop_tasks
from ..grouping.titles import render_title
from ..notification import channels
from ..routing.route import Routed, Routing
from ..store.database import Conn, fetch_one
from . import heartbeats
from .policies import Policy, Step, find_policy
from .silences import Silence, first_match, load_current

log = logging.getLogger(__name__)

ENGINE_CHANNEL = "oncall_engine"
REQUESTS_CHANNEL = "oncall_notification_requests"


def render_context(alert: Alert | AlertView, **extra: Any) -> dict[str, Any]:
    """The alert as data: what templates render from."""
    ctx = {
        "alert": {
            "id": alert.id,
            "status": alert.status,
            "summary": alert.summary,
            "details": alert.details,
            "severity": alert.severity,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "source": alert.source,
            "integration": alert.integration_name,
            "integration_id": alert.integration_id,
            "dedup_key": alert.dedup_key,
            "duplicate_count": alert.duplicate_count,
            "created_at": alert.created_at.isoformat(),
        }
    }
    ctx.update(extra)
    return ctx


@dataclass
class _Work:
    """What one transaction decided: timeline events and requests, written together at its end."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[tuple[Any, ...]] = field(default_factory=list)
    policies: dict[str, Policy | None] = field(default_factory=dict)
    # alert id → its routing outcome: (routed_at, routing json, policy id, severity, labels json)
    routed: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    # alert id → silenced_by to set (None clears it), for alerts not in ``routed``
    silenced: dict[int, str | None] = field(default_factory=dict)
    # (incident id, policy id) → the escalation row as it must be after this transaction
    escalations: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    new_escalations: set[tuple[int, str]] = field(default_factory=set)
    # incidents whose escalations ``escalations`` holds all of (read and locked, or new)
    escalations_read: set[int] = field(default_factory=set)
    # incident id → the channel destinations it was posted to before this transaction
    posted: dict[int, set[str]] = field(default_factory=dict)
    # incident id → its row, locked by this transaction, as it must be after it
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    changed_incidents: set[int] = field(default_factory=set)
    # incident id → its ``incident`` render context (read once per transaction)
    incident_contexts: dict[int, dict[str, Any]] = field(default_factory=dict)
    incident_events: list[tuple[Any, ...]] = field(default_factory=list)
    # user id → contact methods snapshot, looked up before this transaction began (``_with_contacts``)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # users a page needed and ``contacts`` lacked: the transaction is rolled back and run again
    missing: set[str] = field(default_factory=set)
    last_round: bool = False  # no more rounds: a user still missing is paged with a note


class _NeedContacts(Exception):
    """A transaction paged users whose contact methods were not looked up yet: roll it back."""

    def __init__(self, users: set[str]) -> None:
        super().__init__(f"{len(users)} users to look up")
        self.users = users


#: how many times a transaction is run again for users it found it pages (a policy or a
#: schedule changing between rounds is the only reason for more than two)
CONTACT_ROUNDS = 4


@dataclass(frozen=True)
class _Timers:
    silence: datetime | None  # the earliest end of a silence not yet released
    heartbeat: datetime | None  # the earliest expiry of a beating heartbeat

    def due(self, kind: str, now: datetime) -> bool:
        at = getattr(self, kind)
        return at is not None and at <= now


@dataclass
class PassResult:
    routed: int = 0
    fired: int = 0
    released: int = 0
    heartbeats_expired: int = 0


class Engine:
    def __init__(self, ctx: Context, clock: Clock = SYSTEM_CLOCK, batch_size: int = 200, max_sleep: float = 2.0) -> None:
        self.ctx = ctx
        self.pool = ctx.pool
        self.clock = clock
        self.batch_size = batch_size
        self.max_sleep = max_sleep
        self.routing = Routing(ctx)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # When the next silence ends and the next heartbeat expires, as last read; None until
        # read, or after a change to either. A pass skips their queries while they are
        # known to lie in the future: most wakes are new alerts, which need neither.
        self._timers: _Timers | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._stopping = False
        listening = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(listening), name="oncall-engine-listen"),
            asyncio.create_task(self._loop(), name="oncall-engine-loop"),
        ]
        await asyncio.wait_for(listening.wait(), timeout=30)

    async def stop(self) -> None:
        """Stop listening at once; let a pass in progress finish (then stop)."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            listener, loop = self._tasks
            await stop_tasks([listener], [loop])
        self._tasks = []

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self, listening: asyncio.Event) -> None:
        def on_note(note: psycopg.Notify | None) -> None:
            if note is not None and note.channel == store.EVENTS_CHANNEL and note.payload.startswith(
                store.NOT_FOR_ENGINE
            ):
                return  # a delivery's outcome: nothing for the engine to decide
            if note is not None and note.channel == ENGINE_CHANNEL and note.payload in ("silence", "heartbeat"):
                self._timers = None
            self._wake.set()  # None: (re)connected — catch up on anything missed while not listening

        await listen_forever(self.ctx.listener, (ENGINE_CHANNEL, store.EVENTS_CHANNEL), on_note, listening,
                             "the engine")

    async def _loop(self) -> None:
        async def one_pass() -> float:
            await self.run_once()
            return await self._seconds_until_next()

        await run_passes("engine", self._wake, one_pass, stopping=lambda: self._stopping, retry_s=0.5,
                         max_wait_s=self.max_sleep, logger=log)

    async def _seconds_until_next(self) -> float:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT (SELECT min(next_due_at) FROM alerting.escalations WHERE state = 'active') AS step,
                          (SELECT min(ends_at) FROM alerting.silences WHERE released_at IS NULL) AS silence,
                          (SELECT min(expires_at) FROM alerting.heartbeats WHERE state = 'up') AS heartbeat"""
            )
            row = await fetch_one(cur)
        self._timers = _Timers(row["silence"], row["heartbeat"])
        due = [t for t in (row["step"], row["silence"], row["heartbeat"]) if t is not None]
        if not due:
            return self.max_sleep
        delta: float = (min(due) - self.clock.now()).total_seconds()
        return max(0.0, min(delta, self.max_sleep))

    # ------------------------------------------------------------------ one pass

    async def run_once(self) -> PassResult:
        """Do everything due now; return what was done. Tests call this with a moved clock."""
        result = PassResult()
        while True:
            n = await self.route_pending()
            result.routed += n
            if n < self.batch_size:
                break
        timers, now = self._timers, self.clock.now()
        if timers is None or timers.due("silence", now):
            result.released += await self.release_silences()
        while True:
            n = await self.fire_due()
            result.fired += n
            if n < self.batch_size:
                break
        if timers is None or timers.due("heartbeat", now):
            while True:
                n = await heartbeats.expire_due(self.ctx, self.clock.now(), self.batch_size)
                result.heartbeats_expired += n
                if n < self.batch_size:
                    break
        return result

    async def _flush(self, conn: Conn, work: _Work) -> None:
        """Write what the transaction decided, a few set-based statements in all, and announce it.

        Columns travel as binary arrays (``%b``): PostgreSQL copies them, and psycopg need
        not quote and escape every element of a text array (the engine's main cost before).
        """
        if work.routed:
            ids = list(work.routed)
            rows = [work.routed[i] for i in ids]
            await conn.execute(
                """UPDATE alerting.alerts a
                   SET routed_at = t.routed_at, routing = t.routing::jsonb, escalation_policy_id = t.policy_id,
                       severity = t.severity, labels = t.labels::jsonb, silenced_by = t.silenced_by
                   FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[],
                               %b::text[]) AS t(id, routed_at, routing, policy_id, severity, labels, silenced_by)
                   WHERE a.id = t.id""",
                (ids, *(list(col) for col in zip(*rows, strict=True))),
            )
        if work.silenced:
            await conn.execute(
                """UPDATE alerting.alerts a SET silenced_by = t.silenced_by
                   FROM unnest(%b::bigint[], %b::text[]) AS t(id, silenced_by) WHERE a.id = t.id""",
                (list(work.silenced), list(work.silenced.values())),
            )
        if work.changed_incidents:
            ids = sorted(work.changed_incidents)
            incs = [work.incidents[i] for i in ids]
            await conn.execute(
                """UPDATE alerting.incidents i
                   SET routed_at = t.routed_at, routing = t.routing::jsonb, escalation_policy_id = t.policy_id,
                       severity = t.severity, title = t.title, prev_status = i.status, status = t.status,
                       acknowledged_at = t.acknowledged_at, acknowledged_by = t.acknowledged_by
                   FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[],
                               %b::text[], %b::timestamptz[], %b::text[])
                        AS t(id, routed_at, routing, policy_id, severity, title, status, acknowledged_at,
                             acknowledged_by)
                   WHERE i.id = t.id""",
                (ids, [r["routed_at"] for r in incs],
                 [orjson.dumps(r["routing"]).decode() if r["routing"] is not None else None for r in incs],
                 [r["escalation_policy_id"] for r in incs], [r["severity"] for r in incs],
                 [r["title"] for r in incs], [r["status"] for r in incs],
                 [r["acknowledged_at"] for r in incs], [r["acknowledged_by"] for r in incs]),
            )
        if work.incident_events:
            await conn.execute(
                """INSERT INTO alerting.incident_events (incident_id, alert_id, at, kind, actor, note, data)
                   SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::timestamptz[], %b::text[], %b::text[],
                                        %b::text[], %b::jsonb[])""",
                [list(col) for col in zip(*work.incident_events, strict=True)],
            )
            await notify_incidents(conn, [e[0] for e in work.incident_events])
        if work.escalations:
            cols = ("alert_id", "generation", "policy_id", "step", "repeat", "next_due_at", "last_fired_at",
                    "state", "held_by")
            types = ("bigint", "integer", "text", "integer", "integer", "timestamptz", "timestamptz", "text",
                     "text")
            for new_rows in (True, False):
                keys = [k for k in work.escalations if (k in work.new_escalations) == new_rows]
                if not keys:
                    continue
                arrays = [[k[0] for k in keys]] + [[work.escalations[k][c] for k in keys] for c in cols]
                source = ", ".join(["%b::bigint[]"] + [f"%b::{t}[]" for t in types])
                if new_rows:
                    sql = f"""INSERT INTO alerting.escalations (incident_id, {", ".join(cols)}, updated_at)
                              SELECT t.*, %s FROM unnest({source}) AS t"""
                else:
                    sql = f"""UPDATE alerting.escalations e SET {", ".join(f"{c} = t.{c}" for c in cols)},
                                     updated_at = %s
                              FROM unnest({source}) AS t(incident_id, {", ".join(cols)})
                              WHERE e.incident_id = t.incident_id
                                AND e.policy_id = t.policy_id"""  # noqa: S608 - the column names are ours
                await conn.execute(sql, [self.clock.now(), *arrays])  # updated_at comes first in both
        event_ids: list[int] = []
        if work.events:
            cur = await conn.execute(
                """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note, data)
                   SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::text[], %b::text[], %b::text[],
                                        %b::jsonb[])
                   RETURNING id""",
                [list(col) for col in zip(*work.events, strict=True)],
            )
            event_ids = [r["id"] for r in await cur.fetchall()]
        if work.requests:
            await conn.execute(
                """INSERT INTO alerting.notification_requests
                       (idempotency_key, alert_id, policy_id, step, repeat, target_kind, target_id,
                        user_id, via, template_id, context, created_at, incident_id)
                   SELECT k, a, p, s, r, tk, ti, u, v, tp, c::jsonb, ca, inc
                   FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::integer[], %b::integer[], %b::text[],
                               %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[],
                               %b::bigint[])
                        AS t(k, a, p, s, r, tk, ti, u, v, tp, c, ca, inc)
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                [list(col) for col in zip(*work.requests, strict=True)],
            )
            await conn.execute("SELECT pg_notify(%s, '')", (REQUESTS_CHANNEL,))
        if event_ids:
            await store.notify_events(conn, event_ids)

    def _event(
        self, work: _Work, alert_id: int, kind: str, note: str,
        data: dict[str, Any] | None = None, actor: str = "engine",
    ) -> None:
        work.events.append(
            (alert_id, self.clock.now(), kind, actor, note, Jsonb(data) if data is not None else None)
        )

    async def _policy(self, conn: Conn, work: _Work, policy_id: str) -> Policy | None:
        # read once per transaction: the current version, so edits apply from the next step
        if policy_id not in work.policies:
            work.policies[policy_id] = await find_policy(conn, policy_id)
        return work.policies[policy_id]

    # ------------------------------------------------------------------ routing

    async def route_pending(self) -> int:
        """The routing pass over a batch of new alerts; the escalation of each incident they
        open starts in the same transaction."""
        return await self._with_contacts(self._route_pending)

    async def _route_pending(self, work: _Work) -> int:
        now = self.clock.now()
        async with self.pool.connection() as conn, conn.transaction():
            alerts = await self.routing.claim(conn, self.batch_size)
            if not alerts:
                return 0
            await self._lock_incidents(conn, work, [a.incident_id for a in alerts if a.incident_id is not None])
            rules, default = await self.routing.load_rules(conn)
            silences = await load_current(conn, now)
            for alert in alerts:
                routed = await self.routing.route_alert(alert, rules, default, silences, now)
                incident = work.incidents.get(alert.incident_id) if alert.incident_id is not None else None
                if incident is None or incident["routed_at"] is None:
                    await self._start(conn, work, routed, incident, silences, now)
                else:
                    await self._join(conn, work, routed, incident, silences, now)
            if work.missing:
                raise _NeedContacts(work.missing)
            await self._flush(conn, work)
        self.routing.settle()
        return len(alerts)

    async def _lock_incidents(self, conn: Conn, work: _Work, incident_ids: list[int]) -> None:
        """Lock and read the incidents of this transaction's alerts, in id order (as every writer takes them)."""
        wanted = sorted(set(incident_ids) - set(work.incidents))
        if not wanted:
            return
        cur = await conn.execute(
            "SELECT * FROM alerting.incidents WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (wanted,)
        )
        for row in await cur.fetchall():
            work.incidents[row["id"]] = dict(row)

    async def _incident_context(self, conn: Conn, work: _Work, incident_id: int | None) -> dict[str, Any]:
        if incident_id is None:
            return {}
        if incident_id not in work.incident_contexts:
            work.incident_contexts.update(await incident_contexts(conn, [incident_id]))
        found = work.incident_contexts.get(incident_id)
        if found is None:
            return {}
        incident = work.incidents.get(incident_id)
        if incident is not None:  # what this transaction changed, not yet written
            found = {**found, "status": incident["status"], "severity": incident["severity"],
                     "title": incident["title"]}
        return {"incident": found}

    def _incident_event(
        self, work: _Work, incident_id: int, kind: str, note: str, alert_id: int | None = None,
        data: dict[str, Any] | None = None, actor: str = "engine",
    ) -> None:
        work.incident_events.append(
            (incident_id, alert_id, self.clock.now(), kind, actor, note, Jsonb(data) if data is not None else None)
        )

    def _change_incident(self, work: _Work, incident: dict[str, Any], **changes: Any) -> None:
        incident.update(changes)
        work.changed_incidents.add(incident["id"])

    async def _start(
        self, conn: Conn, work: _Work, routed: Routed, incident: dict[str, Any] | None,
        silences: list[Silence], now: datetime,
    ) -> None:
        """Record a routed alert that routes its incident (its first), post to its route's
        channels, and start the incident's escalation."""
        alert, decision, silence, policy_id = routed.alert, routed.decision, routed.silence, routed.policy_id
        work.routed[alert.id] = routed.row()
        for kind, note, data in routed.events:
            self._event(work, alert.id, kind, note, data)
        if incident is not None:
            grouping = self.ctx.ingestor.grouping
            rule = grouping.rule(incident["rule_id"]) if grouping and incident["rule_id"] else None
            title = render_title(rule.title_template, render_context(alert)) if rule and rule.title_template \
                else incident["title"]
            self._change_incident(work, incident, routed_at=now, routing=routed.alert.routing,
                                  escalation_policy_id=policy_id, title=title,
                                  severity=_graver(incident["severity"], alert.severity))
            self._incident_event(work, incident["id"], "routed",
                                 f"alert #{alert.id} opened the incident; " + routed.events[0][1],
                                 alert.id, {"escalation_policy_id": policy_id})
            work.escalations_read.add(incident["id"])  # the first routed alert: none exists yet
        if decision.suppress:
            return
        if silence is None:
            # the incident's first routed alert: nothing was posted for it before
            await self._route_channels(conn, work, alert, decision.channel_destinations, decision.template_id,
                                       first=True)
        if policy_id is None or incident is None:
            return
        await self._start_policy(conn, work, alert, incident, policy_id, silence, silences, now)

    async def _start_policy(
        self, conn: Conn, work: _Work, alert: Alert, incident: dict[str, Any], policy_id: str,
        silence: Silence | None, silences: list[Silence], now: datetime,
    ) -> bool:
        """Start the incident's escalation through ``policy_id``, paging about ``alert``: held
        by its silence, stopped when the incident is not triggered. False: no such policy."""
        policy = await self._policy(conn, work, policy_id)
        if policy is None:
            self._event(work, alert.id, "escalation_error", f"escalation policy {policy_id!r} does not exist")
            return False
        if incident["status"] != "triggered":
            state, due = "stopped", None
        elif silence is not None:
            state, due = "held", None
        else:
            state, due = "active", now + timedelta(seconds=policy.steps[0].delay_seconds)
        esc = {"alert_id": alert.id, "generation": 0, "policy_id": policy.id, "step": 0, "repeat": 0,
               "next_due_at": due, "last_fired_at": None, "state": state,
               "held_by": silence.id if silence else None}
        key = (incident["id"], policy.id)
        work.escalations[key] = esc
        work.new_escalations.add(key)
        if state == "active" and due is not None and due <= now:
            await self._fire(conn, work, esc, alert, incident, policy, silences, now)
        return True

    async def _escalations_of(self, conn: Conn, work: _Work, incident_id: int) -> dict[str, dict[str, Any]]:
        """The incident's escalations by policy id, as this transaction leaves them (read and
        locked once per transaction, after the incident's row, as ``_restart`` always took them)."""
        if incident_id not in work.escalations_read:
            cur = await conn.execute(
                """SELECT alert_id, generation, policy_id, step, repeat, next_due_at, last_fired_at, state, held_by
                   FROM alerting.escalations WHERE incident_id = %s ORDER BY policy_id FOR UPDATE""",
                (incident_id,),
            )
            for row in await cur.fetchall():
                work.escalations.setdefault((incident_id, row["policy_id"]), dict(row))
            work.escalations_read.add(incident_id)
        return {pid: esc for (iid, pid), esc in work.escalations.items() if iid == incident_id}

    async def _join(
        self, conn: Conn, work: _Work, routed: Routed, incident: dict[str, Any],
        silences: list[Silence], now: datetime,
    ) -> None:
        """Record a routed alert that joined an incident already routed, and act on its own
        routing (the rules are in the README's "Incidents" section):

        - suppressed by its route: on the incident's timeline, paging no one;
        - its route's channels are posted to, except destinations the incident already
          posted to (a silenced alert posts none);
        - its route's policy is already an escalation of the incident: no one is paged again
          (one page per person per step), unless that escalation is held by a silence this
          alert escapes (it then escalates, paging about this alert);
        - its route's policy is not: the incident escalates through that policy too, from
          this alert (held, if a silence holds this alert). An acknowledged incident is
          triggered again for it (the escalations already acknowledged stay stopped): no one
          on that policy has seen the incident;
        - an acknowledged incident none of whose open alerts is acknowledged (they resolved,
          under ``resolve_on: manual``) is triggered again and escalates from the first step;
        - a graver alert re-pages an acknowledged incident whose rule says ``repage_on_new_alert``.
        """
        alert, decision, silence, policy_id = routed.alert, routed.decision, routed.silence, routed.policy_id
        iid = incident["id"]
        work.routed[alert.id] = routed.row()
        for kind, note, data in routed.events:
            self._event(work, alert.id, kind, note, data)
        graver = _rank(alert.severity) > _rank(incident["severity"])
        if graver:
            self._change_incident(work, incident, severity=alert.severity)
        if decision.suppress:
            self._incident_event(work, iid, "alert_joined",
                                 f"alert #{alert.id} joined ({alert.severity}); its route suppresses it: "
                                 "no one is paged", alert.id)
            return
        if silence is None:
            await self._route_channels(conn, work, alert, decision.channel_destinations, decision.template_id)
        if incident["status"] == "acknowledged" and incident["open_alerts"] <= incident["triggered_alerts"]:
            self._change_incident(work, incident, status="triggered", acknowledged_at=None, acknowledged_by=None)
            self._incident_event(work, iid, "triggered",
                                 f"alert #{alert.id} joined and no open alert is acknowledged: "
                                 "the incident pages again from its first step", alert.id)
            await self._restart(conn, work, incident, silences, now)
        elif (graver and incident["repage_on_new_alert"] and incident["status"] == "acknowledged"
              and silence is None):
            self._change_incident(work, incident, status="triggered", acknowledged_at=None, acknowledged_by=None)
            self._incident_event(work, iid, "repaged",
                                 f"alert #{alert.id} joined with graver severity {alert.severity}: "
                                 "the acknowledged incident pages again from its first step", alert.id)
            await self._restart(conn, work, incident, silences, now)
        running = await self._escalations_of(conn, work, iid)
        esc = running.get(policy_id) if policy_id is not None else None
        if policy_id is None:
            note = "its route names no escalation policy: no one is paged"
        elif esc is None:
            note = await self._join_policy(conn, work, alert, incident, policy_id, running, silence, silences, now)
        elif esc["state"] == "held" and silence is None and incident["status"] == "triggered":
            # held by a silence of the alert it pages about, which this one escapes
            policy = await self._policy(conn, work, policy_id)
            if policy is not None:
                due = now if esc["last_fired_at"] is not None \
                    else now + timedelta(seconds=policy.steps[0].delay_seconds)
                self._set_state(esc, alert_id=alert.id, state="active", held_by=None, next_due_at=due)
                self._incident_event(work, iid, "escalation_resumed",
                                     f"alert #{alert.id} is not silenced: the escalation through policy "
                                     f"{policy.name!r}, held by a silence, resumes, paging about it", alert.id,
                                     {"policy_id": policy_id})
                if due <= now:
                    await self._fire(conn, work, esc, alert, incident, policy, silences, now)
                return
            note = f"its escalation policy {policy_id!r} no longer exists: no one is paged"
        else:
            policy = await self._policy(conn, work, policy_id)
            note = (f"policy {policy.name if policy else policy_id!r} already escalates the incident: "
                    "no one is paged again")
        if note:
            self._incident_event(work, iid, "alert_joined", f"alert #{alert.id} joined ({alert.severity}); {note}",
                                 alert.id)

    async def _join_policy(
        self, conn: Conn, work: _Work, alert: Alert, incident: dict[str, Any], policy_id: str,
        running: dict[str, dict[str, Any]], silence: Silence | None, silences: list[Silence], now: datetime,
    ) -> str:
        """Start ``policy_id`` for the incident, from the joining ``alert``; return the timeline
        note still to write ("" when written here)."""
        policy = await self._policy(conn, work, policy_id)
        if policy is None:
            self._event(work, alert.id, "escalation_error", f"escalation policy {policy_id!r} does not exist")
            return f"its escalation policy {policy_id!r} does not exist: no one is paged"
        iid = incident["id"]
        reopened = silence is None and incident["status"] == "acknowledged"
        if reopened:
            # no one on this policy saw the incident: it is triggered again for them, and the
            # escalations already acknowledged stay stopped
            self._change_incident(work, incident, status="triggered", acknowledged_at=None, acknowledged_by=None)
            for other in running.values():
                if other["state"] == "active":
                    self._set_state(other, state="stopped", next_due_at=None)
        if not running:  # the incident escalates from this alert: it is what routed it
            self._change_incident(work, incident, escalation_policy_id=policy_id, routing=alert.routing)
        names = [(found.name if (found := await self._policy(conn, work, p)) else p) for p in sorted(running)]
        why = ("its first alerts page no one" if not running
               else "its other escalations go through " + ", ".join(repr(n) for n in names))
        self._incident_event(
            work, iid, "escalation_started",
            f"alert #{alert.id} routes to policy {policy.name!r} ({why}): the incident escalates through it too"
            + (", held by silence " + silence.id if silence is not None else "")
            + ("; the acknowledged incident is triggered again for it" if reopened else ""),
            alert.id, {"policy_id": policy_id},
        )
        await self._start_policy(conn, work, alert, incident, policy_id, silence, silences, now)
        return ""

    async def _restart(
        self, conn: Conn, work: _Work, incident: dict[str, Any], silences: list[Silence], now: datetime,
    ) -> None:
        """Start every escalation of the incident again from its first step, each as a new
        generation (new pages)."""
        for policy_id, esc in (await self._escalations_of(conn, work, incident["id"])).items():
            policy = await self._policy(conn, work, policy_id)
            if policy is None:
                continue
            due = now + timedelta(seconds=policy.steps[0].delay_seconds)
            self._set_state(esc, generation=esc["generation"] + 1, step=0, repeat=0, next_due_at=due,
                            last_fired_at=None, state="active", held_by=None)
            if due <= now:
                cur = await conn.execute(
                    f"SELECT {store.ALERT_COLUMNS} FROM {store.ALERT_FROM} WHERE a.id = %s", (esc["alert_id"],)
                )
                row = await cur.fetchone()
                if row is not None:
                    await self._fire(conn, work, esc, Alert.from_row(row), incident, policy, silences, now)

    async def _route_channels(
        self, conn: Conn, work: _Work, alert: Alert, destinations: list[str], template_id: str | None,
        first: bool = False,
    ) -> None:
        """Post ``alert`` to its route's channel destinations, but to none its incident was posted
        to already (``first``: the incident's first routed alert, so none was)."""
        if not destinations:
            return
        if alert.incident_id is not None and not first:
            if alert.incident_id not in work.posted:
                cur = await conn.execute(
                    """SELECT DISTINCT target_id FROM alerting.notification_requests
                       WHERE incident_id = %s AND target_kind = 'channel'""",
                    (alert.incident_id,),
                )
                work.posted[alert.incident_id] = {r["target_id"] for r in await cur.fetchall()}
            posted = work.posted[alert.incident_id] | {
                r[6] for r in work.requests if r[5] == "channel" and r[12] == alert.incident_id}
            skipped = [d for d in destinations if d in posted]
            destinations = [d for d in destinations if d not in posted]
            if skipped:
                self._event(work, alert.id, "not_notified",
                            "not posted again to " + ", ".join(skipped) + ": its incident was posted there already",
                            {"channel_destinations_skipped": skipped})
            if not destinations:
                return
        context = render_context(alert, routing={"channel_destinations": destinations},
                                 **await self._incident_context(conn, work, alert.incident_id))
        for dest in destinations:
            self._request(work, f"{alert.id}:route:channel:{dest}", alert.id, None, None, None,
                          "channel", dest, None, None, template_id, context, alert.incident_id)
        self._event(work, alert.id, "notified", "posted to " + ", ".join(destinations),
                    {"channel_destinations": destinations})

    # ------------------------------------------------------------------ escalation

    async def fire_due(self) -> int:
        return await self._with_contacts(self._fire_due)

    async def _with_contacts(self, run: Callable[[_Work], Awaitable[int]]) -> int:
        """Run a transaction that may page users, with no directory call awaited inside it.

        A round that finds it pages users whose contact methods were not looked up is rolled
        back (``_NeedContacts``); they are looked up with no transaction open, and the round
        runs again with them. The directory can be slow (up to its timeout): a transaction
        held open meanwhile would hold its rows' locks and a connection that long.
        """
        contacts: dict[str, dict[str, Any]] = {}
        for round_ in range(CONTACT_ROUNDS):
            try:
                return await run(_Work(contacts=contacts, last_round=round_ == CONTACT_ROUNDS - 1))
            except _NeedContacts as need:
                contacts.update(await self._contact_snapshots(sorted(need.users)))
        raise AssertionError("unreachable: the last round pages with what it has")

    async def _fire_due(self, work: _Work) -> int:
        now = self.clock.now()
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"""SELECT e.incident_id AS e_incident_id, e.alert_id AS e_alert_id, e.generation, e.policy_id,
                           e.step, e.repeat, e.next_due_at, e.last_fired_at, e.state, e.held_by,
                           {store.ALERT_COLUMNS}
                    FROM alerting.escalations e
                    JOIN alerting.alerts a ON a.id = e.alert_id
                    JOIN alerting.integrations i ON i.id = a.integration_id
                    WHERE e.state = 'active' AND e.next_due_at <= %s
                    ORDER BY e.next_due_at LIMIT %s
                    FOR UPDATE OF e, a SKIP LOCKED""",
                (now, self.batch_size),
            )
            rows = await cur.fetchall()
            if not rows:
                return 0
            # the incidents too (they decide whether paging goes on), in id order
            await self._lock_incidents(conn, work, [r["e_incident_id"] for r in rows])
            silences = await load_current(conn, now)
            for row in rows:
                incident = work.incidents.get(row["e_incident_id"])
                if incident is None:
                    continue
                policy = await self._policy(conn, work, row["policy_id"])
                esc = {"alert_id": row["e_alert_id"], "generation": row["generation"],
                       **{k: row[k] for k in ("policy_id", "step", "repeat", "next_due_at", "last_fired_at",
                                              "state", "held_by")}}
                work.escalations[(row["e_incident_id"], row["policy_id"])] = esc
                await self._fire(conn, work, esc, Alert.from_row(row), incident, policy, silences, now)
            if work.missing:
                raise _NeedContacts(work.missing)
            await self._flush(conn, work)
        return len(rows)

    @staticmethod
    def _set_state(esc: dict[str, Any], **changes: Any) -> None:
        esc.update(changes)  # written by _flush with the rest of the transaction

    def _set_silenced(self, work: _Work, alert_id: int, silence_id: str | None) -> None:
        if alert_id in work.routed:
            work.routed[alert_id] = (*work.routed[alert_id][:5], silence_id)
        else:
            work.silenced[alert_id] = silence_id

    async def _fire(
        self, conn: Conn, work: _Work, esc: dict[str, Any], alert: Alert, incident: dict[str, Any],
        policy: Policy | None, silences: list[Silence], now: datetime,
    ) -> None:
        """Fire the incident's next step, paging about ``alert`` (its first), or stop: the
        incident was acknowledged or resolved, or a silence holds it."""
        if incident["status"] != "triggered":
            self._set_state(esc, state="stopped", next_due_at=None)
            return
        if policy is None:
            self._set_state(esc, state="done", next_due_at=None)
            self._event(work, alert.id, "escalation_error", f"escalation policy {esc['policy_id']!r} no longer exists")
            return
        if alert.status == "resolved":
            # an alert of the triggered incident is still open: page about it instead
            cur = await conn.execute(
                f"""SELECT {store.ALERT_COLUMNS} FROM {store.ALERT_FROM}
                    WHERE a.incident_id = %s AND a.status <> 'resolved'
                    ORDER BY a.status = 'triggered' DESC, a.id LIMIT 1""",
                (incident["id"],),
            )
            found = await cur.fetchone()
            if found is not None:
                alert = Alert.from_row(found)
                self._set_state(esc, alert_id=alert.id)
        silence = await first_match(silences, alert.view(), policy.id, self.routing.router)
        if silence is not None:
            self._set_state(esc, state="held", held_by=silence.id, next_due_at=None)
            self._set_silenced(work, alert.id, silence.id)
            self._event(work, alert.id, "silenced", f"silenced by {silence.id}; escalation paused",
                              {"silence_id": silence.id})
            return
        step_i, repeat = esc["step"], esc["repeat"]
        if step_i >= len(policy.steps):  # the policy lost steps since this was scheduled
            if repeat >= policy.repeat:
                self._set_state(esc, state="done", next_due_at=None)
                return
            step_i, repeat = 0, repeat + 1
        if step_i == 0 and repeat == 0 and esc.get("last_fired_at") is None and alert.silenced_by:
            # released from a silence before its first step: post the route's channels now
            routing = alert.routing or {}
            await self._route_channels(conn, work, alert, list(routing.get("channel_destinations") or []),
                                       routing.get("template_id"))
        step = policy.steps[step_i]
        await self._page(conn, work, alert, esc, policy, step, step_i, repeat, now)

        nxt, nxt_repeat = step_i + 1, repeat
        if nxt < len(policy.steps):
            due: datetime | None = now + timedelta(seconds=policy.steps[nxt].delay_seconds)
        elif repeat < policy.repeat:
            nxt, nxt_repeat = 0, repeat + 1
            due = now + timedelta(seconds=policy.repeat_delay_seconds)
        else:
            due = None
        self._set_state(
            esc, step=nxt, repeat=nxt_repeat, next_due_at=due,
            state="active" if due is not None else "done", last_fired_at=now, held_by=None,
        )
        if alert.silenced_by:
            self._set_silenced(work, alert.id, None)

    async def _page(
        self, conn: Conn, work: _Work, alert: Alert, esc: dict[str, Any], policy: Policy, step: Step,
        step_i: int, repeat: int, now: datetime,
    ) -> None:
        template_id = (alert.routing or {}).get("template_id")
        context = render_context(
            alert, escalation={"policy_id": policy.id, "policy": policy.name, "step": step_i + 1,
                               "steps": len(policy.steps), "repeat": repeat},
            **await self._incident_context(conn, work, alert.incident_id),
        )
        # schedules first, so every user this step pages is looked up in the directory at once
        resolved = [
            (target, await self._on_call(target.id, now) if target.kind == "schedule" else None)
            for target in step.targets
        ]
        contacts = self._contacts_for(
            work, [t.id for t, _ in resolved if t.kind == "user"] + [u for _, users in resolved for u in users or ()]
        )

        def for_user(user: str) -> dict[str, Any]:
            return {**context, **contacts[user]} if user in contacts else context

        # a restarted escalation (a re-page) is a new generation: its pages are new requests
        generation = esc.get("generation") or 0
        prefix = f"{alert.id}" if not generation else f"{alert.id}.g{generation}"
        incident_id = alert.incident_id
        paged: list[str] = []
        for target, users in resolved:
            base = f"{prefix}:{step_i}:{repeat}:{target.kind}:{target.id}"
            if target.kind == "schedule":
                if users is None:
                    # no schedule resolver yet: the request names the schedule itself
                    self._request(work, base, alert.id, policy.id, step_i, repeat, "schedule",
                                  target.id, None, None, template_id, context, incident_id)
                    paged.append(f"schedule {target.id} (unresolved)")
                elif not users:
                    self._event(work, alert.id, "escalation_error", f"no one is on call for schedule {target.id}")
                else:
                    for user in users:
                        self._request(work, f"{base}:{user}", alert.id, policy.id, step_i, repeat,
                                      "schedule", target.id, user, f"schedule:{target.id}", template_id,
                                      for_user(user), incident_id)
                    paged.append(f"schedule {target.id} → {', '.join(users)}")
            else:
                target_user = target.id if target.kind == "user" else None
                self._request(work, base, alert.id, policy.id, step_i, repeat, target.kind,
                              target.id, target_user, None, template_id,
                              for_user(target_user) if target_user else context, incident_id)
                paged.append(f"{target.kind} {target.id}")
        stale = [u for u, c in contacts.items() if c["contact_methods_stale"]]
        unknown = [u for u, c in contacts.items() if not c["contact_methods"] and not c["contact_methods_stale"]]
        skipped = [s for c in contacts.values() for s in c.get("contact_methods_skipped", ())]
        self._event(
            work, alert.id, "escalated",
            f"step {step_i + 1} of {len(policy.steps)}"
            + (f" (repeat {repeat})" if repeat else "") + ": paged " + "; ".join(paged)
            + (f"; directory unreachable: last known contact methods for {', '.join(stale)}" if stale else "")
            + (f"; no contact methods known for {', '.join(unknown)}" if unknown else "")
            + (f"; skipped {'; '.join(skipped)}" if skipped else ""),
            {"policy_id": policy.id, "step": step_i, "repeat": repeat, "incident_id": incident_id},
        )

    def _contacts_for(self, work: _Work, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The snapshots of ``user_ids`` this transaction was given; the others are noted as missing
        (the round is then run again with them), or, in the last round, paged with a note."""
        if self.ctx.directory is None:
            return {}
        wanted = list(dict.fromkeys(user_ids))
        missing = [u for u in wanted if u not in work.contacts]
        if missing and not work.last_round:
            work.missing.update(missing)
        return {u: work.contacts.get(u) or {
            "contact_methods": [], "contact_methods_stale": False,
            "contact_methods_note": "the directory was not asked in time (the policy or schedule kept changing)"}
            for u in wanted}

    async def _contact_snapshots(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each user's contact methods as the directory knows them now, for their requests' context.

        Through the CachedDirectory in ``ctx.directory`` (none: nothing is attached),
        all users at once, each lookup bounded by the directory's own timeout and the whole by
        a backstop. Called with no transaction open (``_with_contacts``). A lookup that fails
        attaches an empty list and a note: the page is recorded regardless.
        """
        directory = self.ctx.directory
        wanted = list(dict.fromkeys(user_ids))
        if directory is None or not wanted:
            return {}
        backstop = 2 * getattr(directory, "timeout_s", 1.0)  # past the directory's own timeout
        try:
            found: list[Any] = await asyncio.wait_for(
                asyncio.gather(*(directory.contact_methods(u) for u in wanted), return_exceptions=True), backstop
            )
        except TimeoutError:
            found = [TimeoutError(f"no answer within {backstop:g} s")] * len(wanted)
        snapshots: dict[str, dict[str, Any]] = {}
        for user_id, lookup in zip(wanted, found, strict=True):
            if isinstance(lookup, BaseException):
                if not isinstance(lookup, Exception):
                    raise lookup
                log.error("directory lookup of user %s failed: %s", user_id, lookup)
                snapshots[user_id] = {"contact_methods": [], "contact_methods_stale": False,
                                      "contact_methods_note": f"directory lookup failed: {lookup}"}
                continue
            known, skipped = _installed_channels(user_id, lookup.value)
            snap: dict[str, Any] = {
                "contact_methods": [{"id": cm.id, "kind": cm.kind, "address": cm.address} for cm in known],
                "contact_methods_stale": lookup.stale,
            }
            if skipped:
                snap["contact_methods_skipped"] = skipped
            if lookup.stale:
                snap["contact_methods_age_s"] = round(lookup.age_s)
                snap["contact_methods_note"] = (
                    f"directory unreachable ({lookup.error}): contact methods as known {lookup.age_s:.0f} s ago"
                )
            elif not lookup.known:
                snap["contact_methods_note"] = f"directory unreachable ({lookup.error}) and nothing known about {user_id}"
            elif not lookup.value:
                snap["contact_methods_note"] = f"the directory lists no contact methods for {user_id}"
            elif not known:
                snap["contact_methods_note"] = f"no installed channel reaches {user_id}: skipped {'; '.join(skipped)}"
            snapshots[user_id] = snap
        return snapshots

    async def _on_call(self, schedule_id: str, at: datetime) -> list[str] | None:
        resolver = self.ctx.schedule_resolver
        if resolver is not None:
            return list(await resolver(schedule_id, at))
        return None

    def _request(
        self, work: _Work, key: str, alert_id: int, policy_id: str | None,
        step: int | None, repeat: int | None, kind: str, target_id: str, user_id: str | None,
        via: str | None, template_id: str | None, context: dict[str, Any], incident_id: int | None,
    ) -> None:
        work.requests.append((key, alert_id, policy_id, step, repeat, kind, target_id, user_id, via,
                              template_id, orjson.dumps(context).decode(), self.clock.now(), incident_id))

    # ------------------------------------------------------------------ silences

    async def release_silences(self) -> int:
        """Silences that ended: alerts they held and that are still open start escalating."""
        now = self.clock.now()
        work = _Work()
        released = 0
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                """SELECT id FROM alerting.silences WHERE released_at IS NULL AND ends_at <= %s
                   FOR UPDATE SKIP LOCKED""",
                (now,),
            )
            for row in await cur.fetchall():
                sid = row["id"]
                cur2 = await conn.execute(
                    """UPDATE alerting.escalations SET state = 'active', next_due_at = %s, held_by = NULL, updated_at = %s
                       WHERE held_by = %s AND state = 'held' RETURNING alert_id""",
                    (now, now, sid),
                )
                resumed = [r["alert_id"] for r in await cur2.fetchall()]
                cur2 = await conn.execute(
                    """UPDATE alerting.alerts SET silenced_by = NULL
                       WHERE silenced_by = %s AND status <> 'resolved' AND NOT (id = ANY(%s)) RETURNING id""",
                    (sid, resumed),
                )
                for r in await cur2.fetchall():
                    self._event(work, r["id"], "unsilenced", f"silence {sid} ended")
                for alert_id in resumed:
                    self._event(work, alert_id, "unsilenced", f"silence {sid} ended; escalation resumes")
                await conn.execute("UPDATE alerting.silences SET released_at = %s WHERE id = %s", (now, sid))
                released += 1
            await self._flush(conn, work)
        return released


# SEVERITIES runs gravest first and ends with "unknown" (rank 0), as alerting.severity_rank does
_SEVERITY_RANK = {s: len(SEVERITIES) - 1 - i for i, s in enumerate(SEVERITIES)}


def _rank(severity: str | None) -> int:
    """How grave a severity is (alerting.severity_rank in SQL)."""
    return _SEVERITY_RANK.get(severity or "", 0)


def _graver(a: str, b: str) -> str:
    return b if _rank(b) > _rank(a) else a


def _installed_channels(user_id: str, methods: Any) -> tuple[list[Any], list[str]]:
    """``methods`` split into those an installed channel delivers (their kind made the channel's
    name, aliases applied) and a sentence for each of the others, which are not paged."""
    catalog = channels.current()
    names = set(catalog.names())
    known: list[Any] = []
    skipped: list[str] = []
    for cm in methods:
        name = catalog.resolve(cm.kind)
        if name in names:
            known.append(cm if name == cm.kind else replace(cm, kind=name))
        else:
            skipped.append(f"{user_id}'s contact method {cm.id}: no channel {cm.kind!r} is installed")
    return known, skipped
