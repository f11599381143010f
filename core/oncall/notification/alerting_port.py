"""Notification's one door into alerting: pending requests, alert status, timeline lines, and acting on alerts.

Notification never names an alerting table itself; it asks an :class:`AlertingPort`. The
PostgreSQL implementation here runs each question on the caller's connection, so that what
notification decides and what it tells alerting commit together (a request is taken in the
transaction that writes its notification; a delivery's timeline line with its result).
A remote implementation (alerting's gRPC service, when the services run apart) would ignore
the connection and rely on what already makes each call safe to repeat: a request's
idempotency key becomes its notification's, and a timeline line names its delivery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from ..alerting import incidents
from ..alerting import store as alert_store
from ..alerting.incident_context import incident_contexts
from ..alerting.models import Alert
from ..errors import NotFound
from ..escalation.state import escalate_incident_now, escalate_now
from ..store.database import Conn, Pool

@dataclass(frozen=True, slots=True)
class Request:
    """An escalation engine's request to notify a target about an alert."""

    id: int
    idempotency_key: str
    alert_id: int | None
    target_kind: str
    target_id: str
    user_id: str | None
    template_id: str | None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IncidentActed:
    """What acting on an alert's incident left: the incident, its status, title and alert count."""

    incident_id: int
    status: str
    title: str
    alert_count: int


@dataclass(frozen=True, slots=True)
class TimelineLine:
    """One line on an alert's timeline, written by the notifier ('SMS to user 42: delivered')."""

    alert_id: int
    note: str
    data: Mapping[str, Any]


class AlertingPort(Protocol):
    """What notification needs from alerting."""

    async def take_requests(self, conn: Conn, limit: int) -> list[Request]:
        """Pending requests, oldest first; replicas taking at once get different ones."""

    async def mark_taken(self, conn: Conn, request_ids: Sequence[int]) -> None:
        """These requests became notifications."""

    async def alert_statuses(self, conn: Conn, alert_ids: Sequence[int]) -> dict[int, str]:
        """triggered, acknowledged or resolved: the status of each existing alert's incident."""

    async def append_timeline(self, conn: Conn, lines: Sequence[TimelineLine], at: datetime) -> None:
        """Lines on the timelines of alerts that still exist (announced to watchers, not to the engine)."""

    async def known_user_ids(self, conn: Conn, limit: int) -> list[str]:
        """The user ids alerting refers to (policy targets, schedule participants, current overrides)."""

    async def acknowledge(self, pool: Pool, alert_id: int, user_id: str, note: str) -> Alert: ...

    async def resolve(self, pool: Pool, alert_id: int, user_id: str, note: str) -> Alert: ...

    async def get_alert(self, pool: Pool, alert_id: int) -> Alert: ...

    async def escalate(self, pool: Pool, alert_id: int, user_id: str, at: datetime, note: str) -> Alert:
        """Move the alert's escalation to its next step now."""

    async def act_on_incident(
        self, pool: Pool, alert_id: int, action: str, user_id: str, at: datetime, note: str
    ) -> IncidentActed:
        """Acknowledge, resolve or escalate the incident the alert belongs to (a page is about it)."""

    async def incident_contexts(self, conn: Conn, incident_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The render context's ``incident`` of each existing incident, as it is now."""

    async def incidents_maybe_changed(self, conn: Conn, since: datetime, limit: int) -> list[int]:
        """Incidents that may have changed since ``since``: the open ones and those resolved since
        (for catching up on changes announced while nobody listened)."""


class PostgresAlerting:
    """The port over alerting's own schema, in this process."""

    async def take_requests(self, conn: Conn, limit: int) -> list[Request]:
        cur = await conn.execute(
            """SELECT id, idempotency_key, alert_id, target_kind, target_id, user_id, template_id, context
               FROM alerting.notification_requests WHERE status = 'pending'
               ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
            (limit,),
        )
        return [Request(r["id"], r["idempotency_key"], r["alert_id"], r["target_kind"], r["target_id"], r["user_id"],
                        r["template_id"], r["context"] or {}) for r in await cur.fetchall()]

    async def mark_taken(self, conn: Conn, request_ids: Sequence[int]) -> None:
        await conn.execute(
            "UPDATE alerting.notification_requests SET status = 'queued' WHERE id = ANY(%s)", (list(request_ids),),
        )

    async def alert_statuses(self, conn: Conn, alert_ids: Sequence[int]) -> dict[int, str]:
        if not alert_ids:
            return {}
        # a page is about the alert's incident: it goes while the incident is triggered, even
        # when the alert it names (the incident's first) has resolved and others are open
        cur = await conn.execute(
            """SELECT a.id, inc.status FROM alerting.alerts a JOIN alerting.incidents inc ON inc.id = a.incident_id
               WHERE a.id = ANY(%s)""",
            (sorted(set(alert_ids)),),
        )
        return {r["id"]: r["status"] for r in await cur.fetchall()}

    async def append_timeline(self, conn: Conn, lines: Sequence[TimelineLine], at: datetime) -> None:
        if not lines:
            return
        cur = await conn.execute(
            """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note, data)
               SELECT a, %s, 'notification', 'notifier', n, d::jsonb
               FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS t(a, n, d)
               WHERE EXISTS (SELECT 1 FROM alerting.alerts WHERE id = t.a)
               RETURNING id""",
            (at, [line.alert_id for line in lines], [line.note for line in lines],
             [orjson.dumps(dict(line.data)).decode() for line in lines]),
        )
        await alert_store.notify_events(conn, [r["id"] for r in await cur.fetchall()], wake_engine=False)

    async def known_user_ids(self, conn: Conn, limit: int) -> list[str]:
        cur = await conn.execute(
            """SELECT DISTINCT u FROM (
                   SELECT t->>'id' AS u
                   FROM alerting.escalation_policies p, jsonb_array_elements(p.steps) s,
                        jsonb_array_elements(s->'targets') t
                   WHERE t->>'kind' = 'user'
                   UNION ALL
                   SELECT jsonb_array_elements_text(l->'participants')
                   FROM alerting.schedules sc, jsonb_array_elements(sc.layers) l
                   UNION ALL
                   SELECT add_user FROM alerting.schedule_overrides WHERE add_user IS NOT NULL AND ends_at > now()
               ) known WHERE u IS NOT NULL AND u <> '' ORDER BY u LIMIT %s""",
            (limit,),
        )
        return [r["u"] for r in await cur.fetchall()]

    async def acknowledge(self, pool: Pool, alert_id: int, user_id: str, note: str) -> Alert:
        return await alert_store.acknowledge(pool, alert_id, user_id, note)

    async def resolve(self, pool: Pool, alert_id: int, user_id: str, note: str) -> Alert:
        return await alert_store.resolve(pool, alert_id, user_id, note)

    async def get_alert(self, pool: Pool, alert_id: int) -> Alert:
        return await alert_store.get_alert(pool, alert_id)

    async def escalate(self, pool: Pool, alert_id: int, user_id: str, at: datetime, note: str) -> Alert:
        await escalate_now(pool, alert_id, user_id, at, note)
        return await alert_store.get_alert(pool, alert_id)


    async def act_on_incident(
        self, pool: Pool, alert_id: int, action: str, user_id: str, at: datetime, note: str
    ) -> IncidentActed:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT incident_id, summary FROM alerting.alerts WHERE id = %s", (alert_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"alert {alert_id} not found")
        incident_id = row["incident_id"]
        if action == "acknowledge":
            inc = await incidents.acknowledge_incident(pool, incident_id, user_id, note, now=at)
        elif action == "resolve":
            inc = await incidents.resolve_incident(pool, incident_id, user_id, note, now=at)
        elif action == "escalate":
            await escalate_incident_now(pool, incident_id, user_id, at, note, subject=f"alert {alert_id}")
            inc = await incidents.get_incident(pool, incident_id)
        else:
            raise ValueError(f"unknown action {action!r}")
        return IncidentActed(inc.id, inc.status, inc.title or row["summary"], inc.alert_count)

    async def incident_contexts(self, conn: Conn, incident_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return await incident_contexts(conn, incident_ids)

    async def incidents_maybe_changed(self, conn: Conn, since: datetime, limit: int) -> list[int]:
        cur = await conn.execute(
            """SELECT id FROM alerting.incidents WHERE status <> 'resolved'
               UNION SELECT id FROM alerting.incidents WHERE status = 'resolved' AND resolved_at >= %s
               ORDER BY id DESC LIMIT %s""",
            (since, limit),
        )
        return [r["id"] for r in await cur.fetchall()]


#: the port this process uses (alerting runs in the same process today)
ALERTING: AlertingPort = PostgresAlerting()
