"""Heartbeat monitors: a job that stops beating opens an alert; beating again resolves it.

Each monitor has its own integration (source ``heartbeat``) whose key authenticates the
beats, so its alerts route like any other (``source == "heartbeat"``). The alert's dedup
key is stable (``heartbeat:<id>``), so a monitor has at most one open alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from oncall_hookspecs import Action, AlertEvent

from ..alerting import ingest, store
from ..errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from ..store.database import Pool, fetch_one
from ..store.errors import violations

if TYPE_CHECKING:
    from ..context import Context

SOURCE = "heartbeat"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    id: str
    name: str
    integration_id: int
    timeout_seconds: int
    last_beat_at: datetime | None
    expires_at: datetime | None
    state: str  # pending | up | expired

    @property
    def dedup_key(self) -> str:
        return f"heartbeat:{self.id}"


def _from_row(row: dict[str, Any]) -> Heartbeat:
    return Heartbeat(
        id=row["id"], name=row["name"], integration_id=row["integration_id"],
        timeout_seconds=row["timeout_seconds"], last_beat_at=row["last_beat_at"],
        expires_at=row["expires_at"], state=row["state"],
    )


async def create_heartbeat(pool: Pool, name: str, timeout_seconds: int) -> tuple[Heartbeat, str]:
    """Create a monitor and its integration; return it with the key (shown only now)."""
    if not name.strip():
        raise InvalidArgument("a heartbeat needs a name")
    if timeout_seconds <= 0 or timeout_seconds > 31 * 24 * 3600:
        raise InvalidArgument("timeout must be between 1 second and 31 days")
    taken = f"a heartbeat named {name!r} already exists"
    try:
        async with pool.connection() as conn, conn.transaction():
            # the monitor and its integration exist together or not at all
            integ, key = await store.insert_integration(conn, SOURCE, name)
            with violations(unique=taken):
                cur = await conn.execute(
                    """INSERT INTO alerting.heartbeats (name, integration_id, timeout_seconds)
                       VALUES (%s, %s, %s) RETURNING *""",
                    (name, integ.id, timeout_seconds),
                )
            return _from_row(await fetch_one(cur)), key
    except AlreadyExists:
        raise AlreadyExists(taken) from None  # its integration's name is the heartbeat's: say which is taken


async def get_heartbeat(pool: Pool, heartbeat_id: str) -> Heartbeat:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.heartbeats WHERE id = %s", (heartbeat_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"heartbeat {heartbeat_id!r} not found")
    return _from_row(row)


async def list_heartbeats(pool: Pool) -> list[Heartbeat]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.heartbeats ORDER BY name")
        return [_from_row(r) for r in await cur.fetchall()]


async def delete_heartbeat(pool: Pool, heartbeat_id: str) -> None:
    """Delete a monitor: its key stops working and an alert it opened is resolved."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "DELETE FROM alerting.heartbeats WHERE id = %s RETURNING integration_id", (heartbeat_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"heartbeat {heartbeat_id!r} not found")
        await store.disable_integration(conn, row["integration_id"])
        cur = await conn.execute(
            "SELECT id FROM alerting.alerts WHERE integration_id = %s AND status <> 'resolved'",
            (row["integration_id"],),
        )
        open_ids = [r["id"] for r in await cur.fetchall()]
    for alert_id in open_ids:
        await store.resolve(pool, alert_id, "system", note="its heartbeat monitor was deleted")


def _event(hb: Heartbeat, action: Action) -> AlertEvent:
    return AlertEvent(
        action=action,
        dedup_key=hb.dedup_key,
        summary=f"Heartbeat {hb.name!r} missed: no beat for {timedelta(seconds=hb.timeout_seconds)}",
        details=f"The heartbeat monitor {hb.name!r} expects a beat at least every {hb.timeout_seconds} s.",
        severity="critical",
        labels={"heartbeat": hb.name},
    )


async def beat(ctx: Context, heartbeat_id: str, integration_id: int, now: datetime) -> Heartbeat:
    """Record a beat. A monitor that had expired resolves its alert, in the same transaction.

    The monitor's row is locked first (waiting for an expiry that holds it), so a beat and an
    expiry happen one after the other: either the expiry opened the alert and this resolves
    it, or this beat came first and the monitor is no longer overdue.
    """
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT * FROM alerting.heartbeats WHERE id = %s FOR UPDATE", (heartbeat_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"heartbeat {heartbeat_id!r} not found")
        hb = _from_row(row)
        if hb.integration_id != integration_id:
            raise PermissionDenied("this key belongs to another integration than this heartbeat's")
        if hb.state == "expired":
            await ingest.apply_events(conn, [(hb.integration_id, ctx.ingestor.prepare([_event(hb, Action.RESOLVE)], None))],
                                     now)
        cur = await conn.execute(
            """UPDATE alerting.heartbeats SET last_beat_at = %s, expires_at = %s, state = 'up'
               WHERE id = %s RETURNING *""",
            (now, now + timedelta(seconds=hb.timeout_seconds), heartbeat_id),
        )
        row = await fetch_one(cur)
        await conn.execute("SELECT pg_notify('oncall_engine', 'heartbeat')")
    return _from_row(row)


async def expire_due(ctx: Context, now: datetime, limit: int = 100) -> int:
    """Open an alert for every monitor whose beat is overdue; return how many expired.

    One transaction claims the overdue monitors (``SKIP LOCKED``: another replica's claim, or
    a beat being recorded, is left alone), opens their alerts through the ingest statements
    and marks them expired: all of it commits, or none of it.
    """
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """SELECT * FROM alerting.heartbeats WHERE state = 'up' AND expires_at <= %s
               ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED""",
            (now, limit),
        )
        due = [_from_row(r) for r in await cur.fetchall()]
        if not due:
            return 0
        await ingest.apply_events(conn, [(hb.integration_id, ctx.ingestor.prepare([_event(hb, Action.TRIGGER)], None))
                                         for hb in due], now)
        await conn.execute(
            "UPDATE alerting.heartbeats SET state = 'expired' WHERE id = ANY(%s)", ([hb.id for hb in due],)
        )
    return len(due)
