"""An incident's status, derived from its alerts, and the statements that keep it.

Every alert belongs to one incident. An incident keeps counters of its alerts (all, open,
triggered), changed by increments in the same statement that adds an alert or changes an
alert's status: under READ COMMITTED a concurrent writer waits for the incident's row and
then applies its increment to the latest values, so the counters never drift and two
transactions resolving an incident's last two alerts cannot both miss that none is left.

The status follows from them by the incident's ``resolve_on``:

- ``all``: resolved when no alert is open;
- ``first``: resolved when the first of its alerts resolves (the others stay as they are,
  on a resolved incident: their repeats are duplicates and page no one);
- ``manual``: only a person resolves it.

A triggered incident whose open alerts are all acknowledged is acknowledged. An acknowledged
incident none of whose open alerts is acknowledged any more while some are triggered (the
acknowledged ones resolved; the triggered ones joined after the acknowledgement) is
triggered again, and its escalations start again from their first step, as a new
generation (new pages), in the same statement: else a real outage that joined an
acknowledged incident would page no one once the acknowledged alerts resolve. A person
acknowledging or resolving the incident acknowledges or resolves its alerts, credited to
that person. A resolved incident is closed to new alerts (``join_key`` is cleared): an
alert with its key opens a new incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..store.database import Conn

#: NOTIFY channel announcing changed incidents (payload: their ids, comma-separated), sent
#: with every incident event written (WatchIncidents reads the incidents when told)
INCIDENTS_CHANNEL = "oncall_incident_events"

#: CASE expression for the status an incident ``i`` moves to when ``c.closed`` of its alerts
#: were resolved and ``c.untriggered`` left 'triggered' (their counts are the pre-image's)
DERIVED_STATUS = """CASE
    WHEN i.status = 'resolved' THEN 'resolved'
    WHEN c.closed > 0 AND i.resolve_on = 'first' THEN 'resolved'
    WHEN i.resolve_on = 'all' AND i.open_alerts - c.closed <= 0 THEN 'resolved'
    WHEN i.status = 'triggered' AND i.triggered_alerts - c.untriggered <= 0
         AND i.open_alerts - c.closed > 0 THEN 'acknowledged'
    WHEN i.status = 'acknowledged' AND i.triggered_alerts - c.untriggered > 0
         AND (i.open_alerts - c.closed) - (i.triggered_alerts - c.untriggered) <= 0 THEN 'triggered'
    ELSE i.status END"""

#: the SET list applying ``c`` (incident_id, closed, untriggered, actor) to incident ``i`` at
#: ``%(now)s``; the derived status is computed from the pre-image in each
_DERIVE_SET = f"""
    prev_status = i.status,
    status = {DERIVED_STATUS},
    open_alerts = greatest(i.open_alerts - c.closed, 0),
    triggered_alerts = greatest(i.triggered_alerts - c.untriggered, 0),
    acknowledged_at = CASE WHEN i.status = 'triggered' AND ({DERIVED_STATUS}) = 'acknowledged'
                           THEN %(now)s
                           WHEN ({DERIVED_STATUS}) = 'triggered' THEN NULL ELSE i.acknowledged_at END,
    acknowledged_by = CASE WHEN i.status = 'triggered' AND ({DERIVED_STATUS}) = 'acknowledged'
                           THEN c.actor
                           WHEN ({DERIVED_STATUS}) = 'triggered' THEN NULL ELSE i.acknowledged_by END,
    resolved_at = CASE WHEN i.status <> 'resolved' AND ({DERIVED_STATUS}) = 'resolved'
                       THEN %(now)s ELSE i.resolved_at END,
    resolved_by = CASE WHEN i.status <> 'resolved' AND ({DERIVED_STATUS}) = 'resolved'
                       THEN c.actor ELSE i.resolved_by END,
    join_key = CASE WHEN ({DERIVED_STATUS}) = 'resolved' THEN NULL ELSE i.join_key END"""

#: why an incident moved, by the status it moved to (for its timeline)
_REASON = """CASE WHEN t.status = 'acknowledged' THEN 'every open alert is acknowledged'
                  WHEN t.status = 'triggered' THEN
                      'no open alert is acknowledged any more and some are triggered'
                      || CASE WHEN EXISTS (SELECT 1 FROM alerting.escalations e WHERE e.incident_id = t.id)
                              THEN ': its escalation starts again from the first step' ELSE '' END
                  WHEN t.resolve_on = 'first' THEN 'its first alert resolved'
                  ELSE 'all its alerts are resolved' END"""


def derive_ctes(changed: str) -> str:
    """CTEs (to follow a WITH … list) applying alert changes to their incidents and
    recording the incidents that moved. ``changed`` names a CTE with columns
    ``incident_id``, ``was`` (the alert's status before), ``now_resolved`` (bool) and
    ``actor`` (who changed it), and a ``%(now)s`` parameter."""
    return f"""
touched AS (
    UPDATE alerting.incidents i SET {_DERIVE_SET}
    FROM (SELECT incident_id, count(*) FILTER (WHERE now_resolved) AS closed,
                 count(*) FILTER (WHERE was = 'triggered') AS untriggered, min(actor) AS actor
          FROM {changed} GROUP BY incident_id) c
    WHERE i.id = c.incident_id
    -- announced for WatchIncidents (pg_notify runs for every row returned, read or not)
    RETURNING i.id, i.prev_status, i.status, i.resolve_on, c.actor,
              pg_notify('{INCIDENTS_CHANNEL}', i.id::text) AS announced
), incident_recorded AS (
    INSERT INTO alerting.incident_events (incident_id, at, kind, actor, note)
    SELECT t.id, %(now)s, t.status, t.actor, {_REASON}
    FROM touched t WHERE t.prev_status IS DISTINCT FROM t.status
    RETURNING id
), restarted AS (
    -- an acknowledged incident triggered again: every escalation of it from its first step,
    -- a new generation (its requests are new pages), due after that step's delay
    UPDATE alerting.escalations e
    SET generation = e.generation + 1, step = 0, repeat = 0, last_fired_at = NULL, held_by = NULL,
        state = 'active', updated_at = %(now)s,
        next_due_at = %(now)s + coalesce(
            (SELECT make_interval(secs => (p.steps -> 0 ->> 'delay_seconds')::integer)
             FROM alerting.escalation_policies p WHERE p.id = e.policy_id), interval '0')
    FROM touched t
    WHERE e.incident_id = t.id AND t.prev_status = 'acknowledged' AND t.status = 'triggered'
    RETURNING e.incident_id, pg_notify('oncall_engine', 'escalate') AS woken
)"""


async def notify_incidents(conn: Conn, incident_ids: Sequence[int]) -> None:
    """Announce changed incidents on ``INCIDENTS_CHANNEL`` (delivered on commit)."""
    ids = sorted(set(incident_ids))
    for start in range(0, len(ids), 500):
        await conn.execute(
            "SELECT pg_notify(%s, %s)", (INCIDENTS_CHANNEL, ",".join(map(str, ids[start:start + 500])))
        )


async def apply_alert_changes(
    conn: Conn, changes: Sequence[tuple[int, str, bool]], actor: str, now: datetime
) -> list[dict[str, Any]]:
    """Apply alert status changes, each (incident id, status before, now resolved), made in
    this transaction to their incidents; return the incidents that moved (id, prev_status,
    status). The caller commits."""
    if not changes:
        return []
    ids, was, resolved = (list(col) for col in zip(*changes, strict=True))
    cur = await conn.execute(
        """WITH changed AS (
               SELECT t.*, %(actor)s::text AS actor
               FROM unnest(%(ids)s::bigint[], %(was)s::text[], %(resolved)s::boolean[])
                   AS t(incident_id, was, now_resolved)
           ), """ + derive_ctes("changed") + """
           SELECT t.id, t.prev_status, t.status FROM touched t
           WHERE t.prev_status IS DISTINCT FROM t.status
           ORDER BY t.id""",
        {"ids": ids, "was": was, "resolved": resolved, "actor": actor, "now": now},
    )
    return list(await cur.fetchall())
