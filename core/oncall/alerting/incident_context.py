"""An incident as templates see it: ``incident`` in every page's render context.

One definition (``incident_dict``), used by the escalation engine for real pages
(``incident_contexts``) and by the sample contexts of preview and validation
(``sample_incident``, ``sample_grouped_incident``), so a template checked against a sample
sees the shape a page gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from oncall_hookspecs.types import SEVERITIES

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
    """The ``incident`` of a sample context built around the sample's ``alert``: its own incident."""
    row = {
        "id": alert.get("id", 1), "title": alert.get("summary", ""), "status": alert.get("status", "triggered"),
        "severity": alert.get("severity", "unknown"), "alert_count": 1, "open_alerts": 1, "triggered_alerts": 1,
        "rule_id": None, "group_key": None, "integration_name": alert.get("integration"),
        "created_at": alert.get("created_at", ""),
    }
    first = {"id": row["id"], "status": row["status"], "summary": row["title"], "severity": row["severity"],
             "labels": dict(alert.get("labels") or {})}
    return incident_dict(row, [first], dict(alert.get("labels") or {}))


def sample_grouped_incident(
    incident_id: int, title: str, status: str, group_key: str, alerts: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``incident`` of a sample context for a grouping rule's incident of ``alerts`` (in id order).

    Made as ``incident_contexts`` makes a real one: the counters and severity from all of
    ``alerts``, the first ``FIRST_ALERTS`` of them listed, and the labels every one carries
    with the same value.
    """
    first = alerts[0]
    open_alerts = [a for a in alerts if a["status"] != "resolved"]
    common = dict(first.get("labels") or {})
    for a in alerts[1:]:
        labels = a.get("labels") or {}
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    row = {
        "id": incident_id, "title": title, "status": status,
        # the gravest (SEVERITIES runs gravest first, as alerting.severity_rank ranks them)
        "severity": min((a["severity"] for a in alerts), key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else 99),
        "alert_count": len(alerts), "open_alerts": len(open_alerts),
        "triggered_alerts": sum(1 for a in alerts if a["status"] == "triggered"),
        "rule_id": "sample", "group_key": group_key, "integration_name": first.get("integration"),
        "created_at": first.get("created_at", ""),
    }
    return incident_dict(row, alerts[:FIRST_ALERTS], common)
