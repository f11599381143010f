"""SQL for incidents as people work them: read, acknowledge, resolve, note, merge, split, timeline.

Every writer here locks the incidents it changes first (by id, ``FOR UPDATE``), then their
alerts (by id), as the escalation engine takes them, and keeps each incident's counters
(alert_count, open_alerts, triggered_alerts) right in the same transaction (see
``incident_status``). A person acting on an incident acts on its alerts, credited to them:
the alerts' own timeline events are recorded and announced like an alert-level call's.
Every incident event written is announced on ``INCIDENTS_CHANNEL`` (WatchIncidents).
Bad input is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from ..auth.principal import require
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Conn, Pool, fetch_one, retried_on_deadlock
from ..store.paging import decode_page_token, encode_page_token, page_size_within
from .incident_status import INCIDENTS_CHANNEL, notify_incidents
from .models import Alert, AlertFilter
from .store import ALERT_COLUMNS, ALERT_FROM, filter_clauses, integration_team, notify_events

__all__ = ["INCIDENTS_CHANNEL", "Incident", "IncidentFilter", "IncidentEvent", "TimelineEntry"]

@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as stored (``alerting.incidents``)."""

    id: int
    status: str
    title: str
    severity: str
    integration_id: int
    first_alert_id: int
    alert_count: int
    open_alerts: int
    triggered_alerts: int
    resolve_on: str
    repage_on_new_alert: bool
    created_at: datetime
    last_alert_at: datetime
    rule_id: str | None = None
    group_key: str | None = None
    joinable: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    routed_at: datetime | None = None
    escalation_policy_id: str | None = None
    merged_into: int | None = None
    #: the team of its integration (its first alert's); None: no team
    team_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Incident:
        return cls(
            id=row["id"],
            status=row["status"],
            title=row["title"],
            severity=row["severity"],
            integration_id=row["integration_id"],
            first_alert_id=row["first_alert_id"],
            alert_count=row["alert_count"],
            open_alerts=row["open_alerts"],
            triggered_alerts=row["triggered_alerts"],
            resolve_on=row["resolve_on"],
            repage_on_new_alert=row["repage_on_new_alert"],
            created_at=row["created_at"],
            last_alert_at=row["last_alert_at"],
            rule_id=row["rule_id"],
            group_key=row["group_key"],
            joinable=row["join_key"] is not None,
            acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"],
            resolved_at=row["resolved_at"],
            resolved_by=row["resolved_by"],
            routed_at=row["routed_at"],
            escalation_policy_id=row["escalation_policy_id"],
            merged_into=row["merged_into"],
            team_id=row.get("team_id"),
        )


#: an incident row's team, selected with it: its integration's
_TEAM = "(SELECT g.team_id FROM alerting.integrations g WHERE g.id = {}.integration_id) AS team_id"


#: ListIncidents' filter: ListAlerts' fields, where labels match an incident when one of its
#: alerts carries every one of them
IncidentFilter = AlertFilter


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One row of ``alerting.incident_events``."""

    id: int
    incident_id: int
    alert_id: int | None
    at: datetime
    kind: str
    actor: str | None
    note: str | None
    data: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> IncidentEvent:
        return cls(**{k: row[k] for k in cls.__slots__})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One entry of an incident's timeline: an incident event (``alert_id`` is the alert it
    concerns, if any) or an alert event of one of its alerts (``alert_id`` is that alert)."""

    source: str  # "incident" | "alert"
    id: int  # the event's id in its own table
    incident_id: int  # the incident the entry was recorded on (a merged-away one keeps its own)
    alert_id: int | None
    at: datetime
    kind: str
    actor: str | None
    note: str | None
    data: dict[str, Any] | None


# --------------------------------------------------------------------------- checks


def _actor(user_id: str) -> str:
    if not user_id or not user_id.strip():
        raise InvalidArgument("user_id is required: say who is acting")
    return user_id.strip()


def _incident_id(value: int, what: str = "incident_id") -> int:
    if value <= 0:
        raise InvalidArgument(f"{what} is required (a positive incident id)")
    return value


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


async def _lock(conn: Conn, incident_id: int) -> dict[str, Any]:
    cur = await conn.execute(
        f"SELECT n.*, {_TEAM.format('n')} FROM alerting.incidents n WHERE n.id = %s FOR UPDATE OF n", (incident_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"incident {incident_id} not found")
    return dict(row)


async def _record(
    conn: Conn, incident_id: int, kind: str, actor: str | None, note: str | None, now: datetime,
    alert_id: int | None = None, data: dict[str, Any] | None = None,
) -> int:
    cur = await conn.execute(
        """INSERT INTO alerting.incident_events (incident_id, alert_id, at, kind, actor, note, data)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (incident_id, alert_id, now, kind, actor, note, Jsonb(data) if data is not None else None),
    )
    event_id: int = (await fetch_one(cur))["id"]
    await notify_incidents(conn, [incident_id])
    return event_id


async def _record_alert_events(
    conn: Conn, alert_ids: Sequence[int], kind: str, actor: str, note: str, now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    if not alert_ids:
        return
    cur = await conn.execute(
        """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note, data)
           SELECT id, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS t(id) ORDER BY id RETURNING id""",
        (now, kind, actor, note, Jsonb(data) if data is not None else None, list(alert_ids)),
    )
    await notify_events(conn, [r["id"] for r in await cur.fetchall()])


# --------------------------------------------------------------------------- reading


async def get_incident(pool: Pool, incident_id: int) -> Incident:
    _incident_id(incident_id)
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT n.*, {_TEAM.format('n')} FROM alerting.incidents n WHERE n.id = %s", (incident_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"incident {incident_id} not found")
    return Incident.from_row(row)


async def get_incidents(conn: Conn, incident_ids: Sequence[int]) -> list[Incident]:
    """The incidents of ``incident_ids`` that exist, in id order (for WatchIncidents)."""
    cur = await conn.execute(
        f"SELECT n.*, {_TEAM.format('n')} FROM alerting.incidents n WHERE n.id = ANY(%s) ORDER BY n.id",
        (list(incident_ids),),
    )
    return [Incident.from_row(r) for r in await cur.fetchall()]


async def open_incidents(conn: Conn, limit: int = 1000) -> list[Incident]:
    """The newest ``limit`` incidents not yet resolved, in id order."""
    cur = await conn.execute(
        f"""SELECT o.*, {_TEAM.format('o')} FROM (SELECT * FROM alerting.incidents WHERE status <> 'resolved'
                         ORDER BY id DESC LIMIT %s) o ORDER BY o.id""",
        (limit,),
    )
    return [Incident.from_row(r) for r in await cur.fetchall()]


async def list_incidents(
    pool: Pool, flt: IncidentFilter, page_size: int = 50, page_token: str = ""
) -> tuple[list[Incident], str]:
    """Newest first. Returns the page and the token for the next one ('' at the end)."""
    page_size = page_size_within(page_size)
    # an incident matches labels when one of its alerts carries them (the alerts' GIN index answers it)
    where, params = filter_clauses(
        flt, "n", "EXISTS (SELECT 1 FROM alerting.alerts a WHERE a.incident_id = n.id AND a.labels @> %s)",
        page_token,
    )
    sql = f"SELECT n.*, {_TEAM.format('n')} FROM alerting.incidents n"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY n.id DESC LIMIT %s"
    params.append(page_size + 1)
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        rows = await cur.fetchall()
    incidents = [Incident.from_row(r) for r in rows[:page_size]]
    next_token = encode_page_token(incidents[-1].id) if len(rows) > page_size else ""
    return incidents, next_token


async def list_incident_alerts(
    pool: Pool, incident_id: int, page_size: int = 50, page_token: str = ""
) -> tuple[list[Alert], str]:
    """The incident's alerts, oldest first, a page at a time."""
    _incident_id(incident_id)
    page_size = page_size_within(page_size)
    after = decode_page_token(page_token) if page_token else 0
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM alerting.incidents WHERE id = %s", (incident_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"incident {incident_id} not found")
        cur = await conn.execute(
            f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE a.incident_id = %s AND a.id > %s"
            " ORDER BY a.id LIMIT %s",
            (incident_id, after, page_size + 1),
        )
        rows = await cur.fetchall()
    alerts = [Alert.from_row(r) for r in rows[:page_size]]
    next_token = encode_page_token(alerts[-1].id) if len(rows) > page_size else ""
    return alerts, next_token


async def incident_timeline(pool: Pool, incident_id: int) -> list[TimelineEntry]:
    """The incident's events and its alerts' events, interleaved, oldest first (by time, then
    id). The events of incidents merged into it are kept on it too."""
    _incident_id(incident_id)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM alerting.incidents WHERE id = %s", (incident_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"incident {incident_id} not found")
        cur = await conn.execute(
            """WITH RECURSIVE family AS (
                   SELECT %(id)s::bigint AS id
                   UNION
                   SELECT n.id FROM alerting.incidents n JOIN family f ON n.merged_into = f.id
               )
               SELECT 'incident' AS source, e.id, e.incident_id, e.alert_id, e.at, e.kind, e.actor,
                      e.note, e.data
               FROM alerting.incident_events e WHERE e.incident_id IN (SELECT id FROM family)
               UNION ALL
               SELECT 'alert', e.id, a.incident_id, e.alert_id, e.at, e.kind, e.actor, e.note, e.data
               FROM alerting.alert_events e JOIN alerting.alerts a ON a.id = e.alert_id
               WHERE a.incident_id = %(id)s
               ORDER BY at, id, source""",
            {"id": incident_id},
        )
        return [TimelineEntry(**r) for r in await cur.fetchall()]


# --------------------------------------------------------------------------- acting on one


@retried_on_deadlock
async def acknowledge_incident(
    pool: Pool, incident_id: int, user_id: str, note: str = "", now: datetime | None = None
) -> Incident:
    """Acknowledge the incident and every triggered alert of it, credited to ``user_id``.

    Acknowledging an acknowledged incident with no triggered alert changes nothing (its note,
    if any, is added); a resolved one can't be.
    """
    actor = _actor(user_id)
    _incident_id(incident_id)
    at = _now(now)
    async with pool.connection() as conn, conn.transaction():
        inc = await _lock(conn, incident_id)
        require("incidents:ack", f"incidents/{incident_id}", inc["team_id"])
        if inc["status"] == "resolved":
            raise FailedPrecondition(f"incident {incident_id} is resolved; it cannot be acknowledged")
        cur = await conn.execute(
            """UPDATE alerting.alerts SET status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s
               WHERE id IN (SELECT id FROM alerting.alerts WHERE incident_id = %s AND status = 'triggered'
                            ORDER BY id FOR UPDATE)
               RETURNING id""",
            (at, actor, incident_id),
        )
        acked = sorted(r["id"] for r in await cur.fetchall())
        await _record_alert_events(conn, acked, "acknowledged", actor,
                                   note or f"its incident #{incident_id} was acknowledged", at)
        if inc["status"] == "triggered" or acked:
            await conn.execute(
                """UPDATE alerting.incidents SET prev_status = status, status = 'acknowledged',
                          triggered_alerts = greatest(triggered_alerts - %s, 0),
                          acknowledged_at = CASE WHEN status = 'triggered' THEN %s ELSE acknowledged_at END,
                          acknowledged_by = CASE WHEN status = 'triggered' THEN %s ELSE acknowledged_by END
                   WHERE id = %s""",
                (len(acked), at, actor, incident_id),
            )
            await _record(conn, incident_id, "acknowledged", actor, note or None, at,
                          data={"alerts_acknowledged": len(acked)})
        elif note:
            await _record(conn, incident_id, "note", actor, note, at)
    return await get_incident(pool, incident_id)


@retried_on_deadlock
async def resolve_incident(
    pool: Pool, incident_id: int, user_id: str, note: str = "", now: datetime | None = None
) -> Incident:
    """Resolve the incident and every open alert of it, credited to ``user_id``; it closes to
    new alerts. Resolving a resolved incident changes nothing (its note, if any, is added)."""
    actor = _actor(user_id)
    _incident_id(incident_id)
    at = _now(now)
    async with pool.connection() as conn, conn.transaction():
        inc = await _lock(conn, incident_id)
        require("incidents:resolve", f"incidents/{incident_id}", inc["team_id"])
        if inc["status"] == "resolved":
            if note:
                await _record(conn, incident_id, "note", actor, note, at)
            return Incident.from_row(inc)
        cur = await conn.execute(
            """UPDATE alerting.alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s
               WHERE id IN (SELECT id FROM alerting.alerts WHERE incident_id = %s AND status <> 'resolved'
                            ORDER BY id FOR UPDATE)
               RETURNING id""",
            (at, actor, incident_id),
        )
        resolved = sorted(r["id"] for r in await cur.fetchall())
        await _record_alert_events(conn, resolved, "resolved", actor,
                                   note or f"its incident #{incident_id} was resolved", at)
        await conn.execute(
            """UPDATE alerting.incidents SET prev_status = status, status = 'resolved', open_alerts = 0,
                      triggered_alerts = 0, join_key = NULL, resolved_at = %s, resolved_by = %s
               WHERE id = %s""",
            (at, actor, incident_id),
        )
        await _record(conn, incident_id, "resolved", actor, note or None, at,
                      data={"alerts_resolved": len(resolved)})
    return await get_incident(pool, incident_id)


async def add_incident_note(
    pool: Pool, incident_id: int, user_id: str, note: str, now: datetime | None = None
) -> IncidentEvent:
    actor = _actor(user_id)
    _incident_id(incident_id)
    if not note.strip():
        raise InvalidArgument("a note needs text")
    at = _now(now)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT integration_id FROM alerting.incidents WHERE id = %s", (incident_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"incident {incident_id} not found")
        require("incidents:note", f"incidents/{incident_id}", await integration_team(conn, found["integration_id"]))
        event_id = await _record(conn, incident_id, "note", actor, note, at)
        cur = await conn.execute("SELECT * FROM alerting.incident_events WHERE id = %s", (event_id,))
        return IncidentEvent.from_row(await fetch_one(cur))


# --------------------------------------------------------------------------- merge and split


@retried_on_deadlock
async def merge_incidents(
    pool: Pool, target_id: int, source_ids: Sequence[int], user_id: str, note: str = "",
    now: datetime | None = None,
) -> Incident:
    """Move every alert of ``source_ids`` into ``target_id``.

    The sources are resolved (``merged_into`` the target, closed to new alerts) and their
    escalations stop; their own timelines stay on them and show on the target's. The target
    keeps its status: an acknowledged target stays acknowledged even when a moved alert is
    triggered (someone is on it), and a triggered one goes on escalating.
    """
    actor = _actor(user_id)
    _incident_id(target_id, "target_incident_id")
    sources = sorted(set(source_ids))
    if not sources:
        raise InvalidArgument("source_incident_ids is required: name the incidents to merge")
    for sid in sources:
        _incident_id(sid, "source_incident_ids")
    if target_id in sources:
        raise InvalidArgument(f"incident {target_id} cannot be merged into itself")
    at = _now(now)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT * FROM alerting.incidents WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            ([target_id, *sources],),
        )
        rows = {r["id"]: dict(r) for r in await cur.fetchall()}
        missing = [i for i in [target_id, *sources] if i not in rows]
        if missing:
            raise NotFound(f"incident {missing[0]} not found")
        # moving alerts between incidents needs the permission in each one's team
        require("incidents:merge", f"incidents/{target_id}",
                *[await integration_team(conn, rows[i]["integration_id"]) for i in [target_id, *sources]])
        target = rows[target_id]
        if target["status"] == "resolved":
            raise FailedPrecondition(f"incident {target_id} is resolved; merge into an open incident")
        for sid in sources:
            if rows[sid]["merged_into"] is not None:
                raise FailedPrecondition(
                    f"incident {sid} was merged into incident {rows[sid]['merged_into']} already"
                )
        cur = await conn.execute(
            """SELECT id, incident_id, status, severity, created_at FROM alerting.alerts
               WHERE incident_id = ANY(%s) ORDER BY id FOR UPDATE""",
            (sources,),
        )
        moved = list(await cur.fetchall())
        moved_ids = [a["id"] for a in moved]
        await conn.execute(
            "UPDATE alerting.alerts SET incident_id = %s WHERE id = ANY(%s)", (target_id, moved_ids)
        )
        n_open = sum(a["status"] != "resolved" for a in moved)
        n_triggered = sum(a["status"] == "triggered" for a in moved)
        await conn.execute(
            """UPDATE alerting.incidents SET
                   prev_status = status,
                   status = CASE WHEN status = 'triggered' AND triggered_alerts + %(t)s = 0
                                      AND open_alerts + %(o)s > 0 THEN 'acknowledged' ELSE status END,
                   alert_count = alert_count + %(n)s, open_alerts = open_alerts + %(o)s,
                   triggered_alerts = triggered_alerts + %(t)s,
                   last_alert_at = greatest(last_alert_at, %(last)s),
                   severity = CASE WHEN alerting.severity_rank(%(sev)s) > alerting.severity_rank(severity)
                                   THEN %(sev)s ELSE severity END
               WHERE id = %(id)s""",
            {"t": n_triggered, "o": n_open, "n": len(moved), "id": target_id,
             "last": max((rows[s]["last_alert_at"] for s in sources), default=target["last_alert_at"]),
             "sev": max((rows[s]["severity"] for s in sources), key=_rank, default="unknown")},
        )
        await conn.execute(
            """UPDATE alerting.incidents SET prev_status = status, status = 'resolved', merged_into = %s,
                      join_key = NULL, alert_count = 0, open_alerts = 0, triggered_alerts = 0,
                      resolved_at = CASE WHEN status = 'resolved' THEN resolved_at ELSE %s END,
                      resolved_by = CASE WHEN status = 'resolved' THEN resolved_by ELSE %s END
               WHERE id = ANY(%s)""",
            (target_id, at, actor, sources),
        )
        await conn.execute(
            """UPDATE alerting.escalations SET state = 'stopped', next_due_at = NULL, updated_at = %s
               WHERE incident_id = ANY(%s) AND state <> 'stopped'""",
            (at, sources),
        )
        for sid in sources:
            count = sum(a["incident_id"] == sid for a in moved)
            await _record(conn, sid, "merged_into", actor, note or f"merged into incident #{target_id}", at,
                          data={"target_incident_id": target_id, "alerts_moved": count})
        await _record(conn, target_id, "merged", actor,
                      note or "merged incidents " + ", ".join(f"#{s}" for s in sources) + " into this one", at,
                      data={"source_incident_ids": sources, "alerts_moved": len(moved)})
        await _record_alert_events(conn, moved_ids, "moved", actor, f"moved to incident #{target_id} (merge)", at,
                                   data={"incident_id": target_id})
    return await get_incident(pool, target_id)


@retried_on_deadlock
async def split_alert(
    pool: Pool, alert_id: int, user_id: str, note: str = "", now: datetime | None = None
) -> Incident:
    """Take an alert out of its incident into a new incident of its own; return the new one.

    A triggered alert's new incident escalates from its alert's escalation policy, starting
    now. The old incident's counters and status follow; when the alert was its first alert
    (the one its escalation pages about), its lowest remaining alert takes that place. The
    only alert of an incident cannot be split out.
    """
    actor = _actor(user_id)
    if alert_id <= 0:
        raise InvalidArgument("alert_id is required (a positive alert id)")
    at = _now(now)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"alert {alert_id} not found")
        old_id = found["incident_id"]
        old = await _lock(conn, old_id)  # the incident first, then the alert
        cur = await conn.execute(
            f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE a.id = %s FOR UPDATE OF a", (alert_id,)
        )
        alert = Alert.from_row(await fetch_one(cur))
        if alert.incident_id != old_id:  # moved (merged, split) between the two reads
            raise FailedPrecondition(f"alert {alert_id} moved to another incident meanwhile; try again")
        require("incidents:merge", f"incidents/{old_id}", old["team_id"], alert.team_id)
        if old["alert_count"] <= 1:
            raise FailedPrecondition(f"alert {alert_id} is the only alert of incident {old_id}; there is nothing to split")
        is_open = alert.status != "resolved"
        triggered = alert.status == "triggered"
        cur = await conn.execute(
            """INSERT INTO alerting.incidents
                   (status, prev_status, title, severity, integration_id, first_alert_id, alert_count,
                    open_alerts, triggered_alerts, created_at, last_alert_at, acknowledged_at, acknowledged_by,
                    resolved_at, resolved_by, routed_at, routing, escalation_policy_id)
               VALUES (%s, NULL, %s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               RETURNING id""",
            (alert.status, alert.summary, alert.severity, alert.integration_id, alert.id, int(is_open),
             int(triggered), at, alert.last_received_at, alert.acknowledged_at, alert.acknowledged_by,
             alert.resolved_at, alert.resolved_by, alert.routed_at,
             Jsonb(alert.routing) if alert.routing is not None else None, alert.escalation_policy_id),
        )
        new_id: int = (await fetch_one(cur))["id"]
        await conn.execute("UPDATE alerting.alerts SET incident_id = %s WHERE id = %s", (new_id, alert_id))
        cur = await conn.execute(
            "SELECT min(id) AS m FROM alerting.alerts WHERE incident_id = %s", (old_id,)
        )
        lowest: int = (await fetch_one(cur))["m"]
        cur = await conn.execute(
            """UPDATE alerting.incidents i SET
                   prev_status = i.status,
                   status = CASE
                       WHEN i.status = 'resolved' THEN 'resolved'
                       WHEN i.resolve_on <> 'manual' AND i.open_alerts - %(o)s <= 0 THEN 'resolved'
                       WHEN i.status = 'triggered' AND i.triggered_alerts - %(t)s <= 0 THEN 'acknowledged'
                       ELSE i.status END,
                   alert_count = i.alert_count - 1,
                   open_alerts = greatest(i.open_alerts - %(o)s, 0),
                   triggered_alerts = greatest(i.triggered_alerts - %(t)s, 0),
                   first_alert_id = CASE WHEN i.first_alert_id = %(alert)s THEN %(lowest)s ELSE i.first_alert_id END
               WHERE i.id = %(id)s
               RETURNING i.status""",
            {"o": int(is_open), "t": int(triggered), "alert": alert_id, "lowest": lowest, "id": old_id},
        )
        old_status = (await fetch_one(cur))["status"]
        if old_status != old["status"]:
            stamp = "resolved" if old_status == "resolved" else "acknowledged"
            await conn.execute(
                f"""UPDATE alerting.incidents SET {stamp}_at = %s, {stamp}_by = %s
                           {", join_key = NULL" if old_status == "resolved" else ""}
                    WHERE id = %s""",  # noqa: S608 - the column names are ours
                (at, actor, old_id),
            )
        # a new generation past any escalation that paged about this alert, so its pages are new
        cur = await conn.execute(
            "SELECT coalesce(max(generation) + 1, 0) AS g FROM alerting.escalations WHERE alert_id = %s",
            (alert_id,),
        )
        generation: int = (await fetch_one(cur))["g"]
        await conn.execute(
            "UPDATE alerting.escalations SET alert_id = %s WHERE incident_id = %s AND alert_id = %s",
            (lowest, old_id, alert_id),
        )
        if triggered and alert.escalation_policy_id is not None:
            await conn.execute(
                """INSERT INTO alerting.escalations
                       (incident_id, alert_id, generation, policy_id, step, repeat, next_due_at, state, updated_at)
                   VALUES (%s, %s, %s, %s, 0, 0, %s, 'active', %s)""",
                (new_id, alert_id, generation, alert.escalation_policy_id, at, at),
            )
            await conn.execute("SELECT pg_notify('oncall_engine', 'escalate')")
        split_note = note or f"alert #{alert_id} was split out into incident #{new_id}"
        await _record(conn, old_id, "alert_split", actor, split_note, at, alert_id,
                      {"new_incident_id": new_id})
        if old_status != old["status"]:
            await _record(conn, old_id, old_status, actor, f"after alert #{alert_id} was split out", at)
        await _record(conn, new_id, "split_from", actor, note or f"split out of incident #{old_id}", at, alert_id,
                      {"incident_id": old_id})
        await _record_alert_events(conn, [alert_id], "moved", actor, f"split out into incident #{new_id}", at,
                                   data={"incident_id": new_id, "from_incident_id": old_id})
    return await get_incident(pool, new_id)


def _rank(severity: str) -> int:
    return {"critical": 4, "error": 3, "warning": 2, "info": 1}.get(severity, 0)
