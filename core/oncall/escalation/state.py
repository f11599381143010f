"""An alert's escalation as people see it, manual escalation, and the notification requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ..alerting.incident_status import notify_incidents
from ..alerting.store import notify_events
from ..auth.principal import require
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Pool, fetch_one, retried_on_deadlock
from .policies import Policy, find_policy


@dataclass(frozen=True, slots=True)
class EscalationState:
    alert_id: int
    policy_id: str
    state: str  # active | held | stopped | done
    current_step: int | None  # 0-based index of the step that fired last, None before the first
    next_step: int | None  # 0-based index of the step that fires next, None when none will
    repeat: int
    next_due_at: datetime | None
    last_fired_at: datetime | None
    held_by: str | None


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    id: int
    idempotency_key: str
    alert_id: int
    policy_id: str | None
    step: int | None
    repeat: int | None
    target_kind: str
    target_id: str
    user_id: str | None
    via: str | None
    template_id: str | None
    context: dict[str, Any]
    status: str
    created_at: datetime


async def escalation_state(pool: Pool, alert_id: int) -> EscalationState:
    """The escalation of the alert's incident (escalation runs per incident): of the incident's
    escalations (one per policy its alerts route to), the one through the alert's own policy,
    else the one paging about its first alert, else the first by policy id."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT e.*, inc.status FROM alerting.alerts a
               JOIN alerting.incidents inc ON inc.id = a.incident_id
               LEFT JOIN LATERAL (
                   SELECT * FROM alerting.escalations e WHERE e.incident_id = a.incident_id
                   ORDER BY e.policy_id IS NOT DISTINCT FROM a.escalation_policy_id DESC,
                            e.alert_id = inc.first_alert_id DESC, e.policy_id
                   LIMIT 1
               ) e ON true
               WHERE a.id = %s""",
            (alert_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    if row["policy_id"] is None:
        raise FailedPrecondition(f"alert {alert_id} has no escalation (not routed yet, suppressed, or no policy)")
    state = row["state"]
    if state == "active" and row["status"] != "triggered":
        state = "stopped"  # the engine records this when the step falls due
    fired = row["last_fired_at"] is not None
    current = None
    if fired:
        current = row["step"] - 1 if row["step"] > 0 else None
    return EscalationState(
        alert_id=alert_id,
        policy_id=row["policy_id"],
        state=state,
        current_step=current,
        next_step=row["step"] if state in ("active", "held") else None,
        repeat=row["repeat"],
        next_due_at=row["next_due_at"] if state == "active" else None,
        last_fired_at=row["last_fired_at"],
        held_by=row["held_by"],
    )


def _finished(policy: Policy, step: int, repeat: int, state: str) -> bool:
    """Whether the policy has nothing left to fire: every step of its last pass has fired.

    ``state`` is 'done' once the engine has recorded it; the steps are counted too, because
    a policy edited down to fewer steps can have finished before the engine noticed.
    """
    return state == "done" or (step >= len(policy.steps) and repeat >= policy.repeat)


def _finished_detail(subject: str, policy: Policy) -> str:
    fired = ("every step has fired and it does not repeat" if policy.repeat == 0
             else f"every step has fired in all {policy.repeat + 1} of its passes")
    return (f"{subject} was not escalated, because the policy has finished: {fired}. "
            f"To page everyone in {policy.name!r} again from its first step, escalate with restart.")


async def escalate_now(
    pool: Pool, alert_id: int, user_id: str, now: datetime, note: str = "", restart: bool = False
) -> None:
    """Escalate the alert's incident (see ``escalate_incident_now``); it needs alerts:escalate in the incident's team."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    await escalate_incident_now(pool, row["incident_id"], user_id, now, note, restart, subject=f"alert {alert_id}",
                                permission="alerts:escalate")


@retried_on_deadlock
async def escalate_incident_now(
    pool: Pool, incident_id: int, user_id: str, now: datetime, note: str = "", restart: bool = False,
    subject: str = "", permission: str = "incidents:escalate",
) -> None:
    """Fire the incident's next step now; ``restart``: start its policy again from the first step.

    An incident escalating through several policies (its alerts route to each) escalates
    through each of them that has a next step (with ``restart``, each starts again). An acknowledged incident returns to triggered first, and so do its acknowledged alerts
    (so that acknowledging them again acknowledges it again). A policy that has finished has
    no next step: that is refused (FailedPrecondition) and nothing changes, because starting
    it over re-pages everyone who already ignored it; ``restart`` says that is what is
    wanted. A new pass counts as the next repeat, so its requests are new pages, never a
    replay of old ones.
    """
    subject = subject or f"incident {incident_id}"
    if not user_id.strip():
        raise InvalidArgument("user_id is required: say who is escalating")
    actor = user_id.strip()
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """SELECT n.status, g.team_id FROM alerting.incidents n JOIN alerting.integrations g
                 ON g.id = n.integration_id WHERE n.id = %s FOR UPDATE OF n""", (incident_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"{subject} not found")
        # the caller's permission in the incident's team (its integration's), before anything changes
        require(permission, f"incidents/{incident_id}", row["team_id"])
        if row["status"] == "resolved":
            raise FailedPrecondition(f"{subject} is resolved; it cannot be escalated")
        cur = await conn.execute(
            """SELECT alert_id, policy_id, state, step, repeat FROM alerting.escalations
               WHERE incident_id = %s ORDER BY policy_id FOR UPDATE""",
            (incident_id,),
        )
        escalations = list(await cur.fetchall())
        if not escalations:
            raise FailedPrecondition(f"{subject} has no escalation policy to escalate through")
        # each of the incident's escalations (one per policy) that has a next step, or all with restart
        granted: list[tuple[dict[str, Any], int, int]] = []
        refusal = ""
        for esc in escalations:
            policy = await find_policy(conn, esc["policy_id"])
            if policy is None:
                refusal = refusal or (
                    f"{subject} cannot be escalated: its escalation policy {esc['policy_id']!r} no longer exists"
                )
                continue
            step, repeat = esc["step"], esc["repeat"]
            if restart:
                step, repeat = 0, repeat + 1
            elif _finished(policy, step, repeat, esc["state"]):
                refusal = refusal or _finished_detail(subject, policy)
                continue
            granted.append((esc, step, repeat))
        if not granted:
            raise FailedPrecondition(refusal)
        # checked: from here on the request is granted
        if row["status"] == "acknowledged":
            cur = await conn.execute(
                """UPDATE alerting.alerts SET status = 'triggered', acknowledged_at = NULL, acknowledged_by = NULL
                   WHERE incident_id = %s AND status = 'acknowledged' RETURNING id""",
                (incident_id,),
            )
            reopened = [r["id"] for r in await cur.fetchall()]
            await conn.execute(
                """UPDATE alerting.incidents SET prev_status = status, status = 'triggered',
                          acknowledged_at = NULL, acknowledged_by = NULL, triggered_alerts = open_alerts
                   WHERE id = %s""",
                (incident_id,),
            )
            await conn.execute(
                """INSERT INTO alerting.incident_events (incident_id, at, kind, actor, note)
                   VALUES (%s, %s, 'triggered', %s, 'escalated by hand: no longer acknowledged')""",
                (incident_id, now, actor),
            )
            await notify_incidents(conn, [incident_id])
            if reopened:
                cur = await conn.execute(
                    """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note)
                       SELECT id, %s, 'triggered', %s, 'its incident was escalated by hand'
                       FROM unnest(%s::bigint[]) AS t(id) RETURNING id""",
                    (now, actor, reopened),
                )
                await notify_events(conn, [r["id"] for r in await cur.fetchall()])
        default_note = "escalated by hand: the policy starts again from its first step" if restart \
            else "escalated by hand"
        event_ids: list[int] = []
        for esc, step, repeat in granted:
            await conn.execute(
                """UPDATE alerting.escalations SET state = 'active', step = %s, repeat = %s,
                          next_due_at = %s, held_by = NULL, updated_at = %s
                   WHERE incident_id = %s AND policy_id = %s""",
                (step, repeat, now, now, incident_id, esc["policy_id"]),
            )
            cur = await conn.execute(
                """INSERT INTO alerting.alert_events (alert_id, at, kind, actor, note, data)
                   VALUES (%s, %s, 'escalate_requested', %s, %s, %s) RETURNING id""",
                (esc["alert_id"], now, actor, note or default_note,
                 Jsonb({"step": step, "repeat": repeat, "restart": restart, "incident_id": incident_id,
                        "policy_id": esc["policy_id"]})),
            )
            event_ids.append((await fetch_one(cur))["id"])
        await notify_events(conn, event_ids)
        await conn.execute("SELECT pg_notify('oncall_engine', 'escalate')")


def _request_from_row(row: dict[str, Any]) -> NotificationRequest:
    return NotificationRequest(**{k: row[k] for k in NotificationRequest.__slots__})


async def list_requests(
    pool: Pool, alert_id: int | None = None, status: str | None = None, limit: int = 500
) -> list[NotificationRequest]:
    where: list[str] = []
    params: list[object] = []
    if alert_id is not None:
        where.append("alert_id = %s")
        params.append(alert_id)
    if status:
        where.append("status = %s")
        params.append(status)
    sql = "SELECT * FROM alerting.notification_requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id LIMIT %s"
    params.append(min(max(limit, 1), 5000))
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return [_request_from_row(r) for r in await cur.fetchall()]
