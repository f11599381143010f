"""An incident as templates see it: ``incident`` in every page's render context.

One definition, used by the escalation engine for real pages and by the sample context of
preview and validation (``sample``), so a template checked against the sample sees the
shape a page gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..store.database import Conn

#: how many of an incident's alerts a page's context carries (the first, in order)
FIRST_ALERTS = 10


def incident_dict(row: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]],
                  common_labels: Mapping[str, str]) -> dict[str, Any]:
    """The ``incident`` of a render context, from its row, its first alerts and the labels all share."""
    return {
        "id": row["id"],
        "title": row["title"],
        "status": row["status"],
        "severity": row["severity"],
        "alert_count": row["alert_count"],
        "open_alerts": row["open_alerts"],
        "triggered_alerts": row["triggered_alerts"],
        "grouped": row.get("rule_id") is not None,
        "group_key": row.get("group_key"),
        "integration": row.get("integration_name"),
        "created_at": _iso(row["created_at"]),
        "acknowledged_by": row.get("acknowledged_by"),
        "resolved_by": row.get("resolved_by"),
        "common_labels": dict(common_labels),
        "alerts": [
            {"id": a["id"], "status": a["status"], "summary": a["summary"], "severity": a["severity"],
             "labels": dict(a["labels"])}
            for a in alerts
        ],
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def incident_contexts(conn: Conn, incident_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``incident_dict`` for each of ``incident_ids``, in three set-based queries."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    cur = await conn.execute(
        """SELECT inc.*, i.name AS integration_name FROM alerting.incidents inc
           JOIN alerting.integrations i ON i.id = inc.integration_id WHERE inc.id = ANY(%s)""",
        (ids,),
    )
    rows = {r["id"]: r for r in await cur.fetchall()}
    cur = await conn.execute(
        """SELECT f.* FROM unnest(%s::bigint[]) AS t(incident_id)
           CROSS JOIN LATERAL (SELECT a.incident_id, a.id, a.status, a.summary, a.severity, a.labels
                               FROM alerting.alerts a WHERE a.incident_id = t.incident_id
                               ORDER BY a.id LIMIT %s) f""",
        (ids, FIRST_ALERTS),
    )
    firsts: dict[int, list[dict[str, Any]]] = {}
    for r in await cur.fetchall():
        firsts.setdefault(r["incident_id"], []).append(r)
    # labels every alert of the incident carries with the same value
    cur = await conn.execute(
        """SELECT a.incident_id, l.key, l.value
           FROM alerting.alerts a CROSS JOIN LATERAL jsonb_each_text(a.labels) AS l(key, value)
           JOIN alerting.incidents inc ON inc.id = a.incident_id
           WHERE a.incident_id = ANY(%s)
           GROUP BY a.incident_id, l.key, l.value, inc.alert_count
           HAVING count(*) = inc.alert_count""",
        (ids,),
    )
    common: dict[int, dict[str, str]] = {}
    for r in await cur.fetchall():
        common.setdefault(r["incident_id"], {})[r["key"]] = r["value"]
    return {i: incident_dict(rows[i], firsts.get(i, []), common.get(i, {})) for i in ids if i in rows}


def sample_incident(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The ``incident`` of a sample context built around the sample's ``alert``."""
    row = {
        "id": alert.get("id", 1), "title": alert.get("summary", ""), "status": alert.get("status", "triggered"),
        "severity": alert.get("severity", "unknown"), "alert_count": 1, "open_alerts": 1, "triggered_alerts": 1,
        "rule_id": None, "group_key": None, "integration_name": alert.get("integration"),
        "created_at": alert.get("created_at", ""),
    }
    first = {"id": row["id"], "status": row["status"], "summary": row["title"], "severity": row["severity"],
             "labels": dict(alert.get("labels") or {})}
    return incident_dict(row, [first], dict(alert.get("labels") or {}))
