"""The audit log (SQL for access.audit_events): one row per state-changing call, written, listed, pruned.

Rows are append-only (the table refuses UPDATE); only retention deletes them, whole,
once they are older than ``ONCALL_AUDIT_RETENTION_DAYS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from ..store.database import Pool
from ..store.paging import decode_page_token, encode_page_token, page_size_within


@dataclass(slots=True, frozen=True)
class AuditEvent:
    """One recorded call."""

    at: datetime
    principal: str
    principal_kind: str
    role: str
    method: str
    resource: str
    outcome: str
    summary: dict[str, Any] = field(default_factory=dict)
    key_id: int | None = None
    peer: str = ""
    user_agent: str = ""
    id: int = 0


@dataclass(slots=True, frozen=True)
class AuditFilter:
    """What ``list_events`` keeps: each given filter must hold."""

    principal: str = ""
    method: str = ""  # the full method, or its last part
    resource: str = ""  # a kind ("policies") or one resource ("policies/3")
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None


_COLUMNS = "id, at, principal, principal_kind, role, key_id, method, resource, summary, outcome, peer, user_agent"


async def record(pool: Pool, event: AuditEvent) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO access.audit_events (at, principal, principal_kind, role, key_id, method, resource,
                                               summary, outcome, peer, user_agent)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (event.at, event.principal, event.principal_kind, event.role, event.key_id, event.method,
             event.resource, Jsonb(event.summary), event.outcome, event.peer, event.user_agent),
        )


async def list_events(
    pool: Pool, flt: AuditFilter, page_size: int = 50, page_token: str = "",
) -> tuple[list[AuditEvent], str]:
    """Events matching ``flt``, newest first, one page; with the next page's token ("" on the last)."""
    size = page_size_within(page_size)
    where: list[str] = []
    params: list[Any] = []
    if flt.principal:
        where.append("principal = %s")
        params.append(flt.principal)
    if flt.method:
        where.append("(method = %s OR method LIKE '%%/' || %s)")
        params += [flt.method, flt.method]
    if flt.resource:
        where.append("(resource = %s OR resource LIKE %s || '/%%')")
        params += [flt.resource, flt.resource]
    if flt.outcome:
        where.append("outcome = %s")
        params.append(flt.outcome)
    if flt.since is not None:
        where.append("at >= %s")
        params.append(flt.since)
    if flt.until is not None:
        where.append("at < %s")
        params.append(flt.until)
    if page_token:
        where.append("id < %s")
        params.append(decode_page_token(page_token))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM access.audit_events {clause} ORDER BY id DESC LIMIT %s", (*params, size + 1)
        )
        rows = await cur.fetchall()
    events = [
        AuditEvent(
            id=r["id"], at=r["at"], principal=r["principal"], principal_kind=r["principal_kind"], role=r["role"],
            key_id=r["key_id"], method=r["method"], resource=r["resource"], summary=r["summary"],
            outcome=r["outcome"], peer=r["peer"], user_agent=r["user_agent"],
        )
        for r in rows[:size]
    ]
    return events, (encode_page_token(events[-1].id) if len(rows) > size else "")


async def prune(pool: Pool, now: datetime, retention_days: int) -> int:
    """Delete events older than ``retention_days`` (0 keeps them all); how many went."""
    if retention_days <= 0:
        return 0
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM access.audit_events WHERE at < %s", (now - timedelta(days=retention_days),))
        return cur.rowcount
