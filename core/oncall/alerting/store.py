"""SQL for the alerting schema: integrations, alerts, timeline. Every statement lives here."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from . import incident_status
from ..auth.principal import require
from ..auth.teams import UNCHANGED, Unchanged
from ..auth.teams import after as teams_after
from ..errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from ..store.errors import violations
from ..store.database import Conn, Pool, fetch_one, retried_on_deadlock
from ..store.paging import decode_page_token, encode_page_token, page_size_within
from .models import MANUAL_SOURCE, STATUSES, Alert, AlertFilter, Integration, TimelineEvent

EVENTS_CHANNEL = "oncall_alert_events"

ALERT_COLUMNS = """
    a.id, a.integration_id, i.name AS integration_name, i.source, a.dedup_key, a.status,
    a.summary, a.details, a.severity, a.labels, a.annotations, a.created_at,
    a.last_received_at, a.started_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at,
    a.resolved_by, a.duplicate_count, a.routed_at, a.routing, a.escalation_policy_id, a.silenced_by,
    a.incident_id, i.team_id
"""
ALERT_FROM = "alerting.alerts a JOIN alerting.integrations i ON i.id = a.integration_id"


def hash_key(key: str) -> bytes:
    # Keys are 256-bit random tokens, so a plain SHA-256 is a safe, fast, indexable hash.
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


# --------------------------------------------------------------------------- integrations


async def create_integration(
    pool: Pool, source: str, name: str, team_id: str | None = None,
) -> tuple[Integration, str]:
    """Create an integration (in ``team_id``: the caller needs integrations:write there);
    return it with its key, which is shown only this once."""
    require("integrations:write", "integrations", team_id)
    async with pool.connection() as conn:
        return await insert_integration(conn, source, name, team_id)


async def insert_integration(
    conn: Conn, source: str, name: str, team_id: str | None = None,
) -> tuple[Integration, str]:
    """``create_integration`` on a caller's connection (and transaction)."""
    if not name.strip():
        raise InvalidArgument("an integration needs a name")
    key = new_key()
    with violations(unique=f"a {source} integration named {name!r} already exists",
                    foreign_key=f"no team {team_id!r} (oncall teams list)"):
        async with conn.transaction():  # a savepoint inside a caller's transaction
            cur = await conn.execute(
                """INSERT INTO alerting.integrations (name, source, key_hash, key_prefix, team_id)
                   VALUES (%s, %s, %s, %s, %s) RETURNING *""",
                (name, source, hash_key(key), key[:6], team_id),
            )
            row = await fetch_one(cur)
    return Integration.from_row(row), key


async def _locked_integration(conn: Conn, integration_id: int) -> dict[str, Any]:
    """The integration's row, locked for this transaction; NotFound when there is none."""
    cur = await conn.execute("SELECT * FROM alerting.integrations WHERE id = %s FOR UPDATE", (integration_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"integration {integration_id} not found")
    return dict(row)


async def disable_integration(conn: Conn, integration_id: int) -> None:
    await conn.execute("UPDATE alerting.integrations SET enabled = false WHERE id = %s", (integration_id,))


async def rotate_integration_key(pool: Pool, integration_id: int) -> str:
    """Give an integration a new key (the old one stops working); return it, shown only this once."""
    return (await rotate_key(pool, integration_id))[1]


async def rotate_key(pool: Pool, integration_id: int) -> tuple[Integration, str]:
    """``rotate_integration_key``, with the integration as it is after the change."""
    key = new_key()
    async with pool.connection() as conn, conn.transaction():
        found = await _locked_integration(conn, integration_id)
        require("integrations:write", f"integrations/{integration_id}", found["team_id"])
        cur = await conn.execute(
            """UPDATE alerting.integrations SET key_hash = %s, key_prefix = %s, version = version + 1
               WHERE id = %s RETURNING *""",
            (hash_key(key), key[:6], integration_id),
        )
        row = await fetch_one(cur)
    return Integration.from_row(row), key


async def update_integration(
    pool: Pool, integration_id: int, *, name: str | None = None, team: str | None | Unchanged = UNCHANGED,
    expected_version: int | None = None,
) -> Integration:
    """Rename an integration and/or give it to another team (None: to no team). A move needs
    integrations:write in both teams. With ``expected_version``, a change made from a version
    someone has changed since is refused (Aborted) and changes nothing."""
    if name is not None:
        name = name.strip()
        if not name:
            raise InvalidArgument("an integration needs a name")
    async with pool.connection() as conn, conn.transaction():
        found = await _locked_integration(conn, integration_id)
        if expected_version is not None and found["version"] != expected_version:
            raise Aborted(f"integration {found['name']!r} is at version {found['version']}, not "
                          f"{expected_version}: someone changed it; read it again and redo the change")
        team_id = teams_after(found["team_id"], team)
        require("integrations:write", f"integrations/{integration_id}", found["team_id"], team_id)
        with violations(unique=f"an integration of the same source named {name!r} already exists",
                        foreign_key=f"no team {team_id!r} (oncall teams list)"):
            cur = await conn.execute(
                """UPDATE alerting.integrations SET name = %s, team_id = %s, version = version + 1
                   WHERE id = %s RETURNING *""",
                (name if name is not None else found["name"], team_id, integration_id),
            )
            row = await fetch_one(cur)
    return Integration.from_row(row)


async def delete_integration(pool: Pool, integration_id: int) -> None:
    """Delete an integration no alert arrived through (its silences and heartbeat monitors go
    with it); one with alerts is FailedPrecondition, since their history names it."""
    async with pool.connection() as conn, conn.transaction():
        # the row lock holds off an alert arriving between the count and the delete
        found = await _locked_integration(conn, integration_id)
        require("integrations:write", f"integrations/{integration_id}", found["team_id"])
        cur = await conn.execute(
            "SELECT count(*) AS n FROM alerting.alerts WHERE integration_id = %s", (integration_id,))
        alerts = (await fetch_one(cur))["n"]
        if alerts:
            raise FailedPrecondition(
                f"integration {integration_id} has {alerts} alert{'s' if alerts != 1 else ''}, whose history "
                "needs it; rotate its key to shut it instead")
        await conn.execute("DELETE FROM alerting.integrations WHERE id = %s", (integration_id,))


async def set_integration_team(pool: Pool, integration_id: int, team_id: str | None) -> Integration:
    """Give an integration to a team (None: to no team); its alerts and incidents follow it."""
    return await update_integration(pool, integration_id, team=team_id)


async def integration_team(conn: Conn, integration_id: int) -> str | None:
    """The team of an integration: its alerts' and incidents' team (None: no team, or no such integration)."""
    cur = await conn.execute("SELECT team_id FROM alerting.integrations WHERE id = %s", (integration_id,))
    row = await cur.fetchone()
    team: str | None = row["team_id"] if row is not None else None
    return team


async def list_integrations(pool: Pool) -> list[Integration]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.integrations ORDER BY id")
        return [Integration.from_row(r) for r in await cur.fetchall()]


async def list_integrations_page(
    pool: Pool, after_id: int, page_size: int, team_ids: Sequence[str] | None = None,
) -> tuple[list[Integration], bool]:
    """Integrations with an id above ``after_id`` (of ``team_ids`` only, when given), by id,
    at most ``page_size``; and whether more follow."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT * FROM alerting.integrations WHERE id > %s AND (%s::text[] IS NULL OR team_id = ANY(%s))
               ORDER BY id LIMIT %s""",
            (after_id, None if team_ids is None else list(team_ids), None if team_ids is None else list(team_ids),
             page_size + 1))
        rows = await cur.fetchall()
    return [Integration.from_row(r) for r in rows[:page_size]], len(rows) > page_size


async def get_integration(pool: Pool, integration_id: int) -> Integration:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.integrations WHERE id = %s", (integration_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"integration {integration_id} not found")
    return Integration.from_row(row)


async def find_integration_by_name(pool: Pool, source: str, name: str) -> Integration | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM alerting.integrations WHERE source = %s AND name = %s", (source, name)
        )
        row = await cur.fetchone()
    return Integration.from_row(row) if row else None


async def find_integration_by_key(pool: Pool, key: str) -> Integration | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM alerting.integrations WHERE key_hash = %s", (hash_key(key),)
        )
        row = await cur.fetchone()
    return Integration.from_row(row) if row else None


async def manual_integration(pool: Pool) -> Integration:
    """The built-in integration that alerts raised by hand (gRPC, CLI) come through.

    Its key is random and never shown, so no webhook can use it.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO alerting.integrations (name, source, key_hash, key_prefix)
               VALUES (%s, %s, %s, '')
               ON CONFLICT (source, name) DO UPDATE SET name = EXCLUDED.name
               RETURNING *""",
            (MANUAL_SOURCE, MANUAL_SOURCE, hash_key(new_key())),
        )
        row = await fetch_one(cur)
    return Integration.from_row(row)


# --------------------------------------------------------------------------- reading alerts


async def get_alert(pool: Pool, alert_id: int) -> Alert:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {ALERT_COLUMNS}, a.raw FROM {ALERT_FROM} WHERE a.id = %s", (alert_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    return Alert.from_row(row)


def filter_clauses(
    flt: AlertFilter, alias: str, labels_clause: str, page_token: str
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses and parameters of ListAlerts' and ListIncidents' filter over the
    table ``alias`` (statuses, labels through ``labels_clause``, integration, creation
    time, and the page token's id), newest first."""
    where: list[str] = []
    params: list[Any] = []
    for status in flt.statuses:
        if status not in STATUSES:
            raise InvalidArgument(f"unknown status {status!r}")
    if flt.statuses:
        where.append(f"{alias}.status = ANY(%s)")
        params.append(list(flt.statuses))
    if flt.labels:
        where.append(labels_clause)
        params.append(Jsonb(flt.labels))
    if flt.integration_id is not None:
        where.append(f"{alias}.integration_id = %s")
        params.append(flt.integration_id)
    if flt.created_after is not None:
        where.append(f"{alias}.created_at >= %s")
        params.append(flt.created_after)
    if flt.created_before is not None:
        where.append(f"{alias}.created_at < %s")
        params.append(flt.created_before)
    if flt.teams is not None:
        # an alert's, an incident's team is its integration's
        where.append(f"{alias}.integration_id IN (SELECT id FROM alerting.integrations WHERE team_id = ANY(%s))")
        params.append(list(flt.teams))
    if page_token:
        where.append(f"{alias}.id < %s")
        params.append(decode_page_token(page_token))
    return where, params


async def list_alerts(
    pool: Pool, flt: AlertFilter, page_size: int = 50, page_token: str = ""
) -> tuple[list[Alert], str]:
    """Newest first. Returns the page and the token for the next one ('' at the end)."""
    page_size = page_size_within(page_size)
    where, params = filter_clauses(flt, "a", "a.labels @> %s", page_token)
    sql = f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY a.id DESC LIMIT %s"
    params.append(page_size + 1)
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        rows = await cur.fetchall()
    alerts = [Alert.from_row(r) for r in rows[:page_size]]
    next_token = encode_page_token(alerts[-1].id) if len(rows) > page_size else ""
    return alerts, next_token


async def timeline(pool: Pool, alert_id: int) -> list[TimelineEvent]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM alerting.alerts WHERE id = %s", (alert_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"alert {alert_id} not found")
        cur = await conn.execute(
            "SELECT * FROM alerting.alert_events WHERE alert_id = %s ORDER BY id", (alert_id,)
        )
        return [TimelineEvent.from_row(r) for r in await cur.fetchall()]


_EVENTS_WITH_ALERTS = f"""
    SELECT e.id AS e_id, e.alert_id AS e_alert_id, e.at AS e_at, e.kind AS e_kind,
           e.actor AS e_actor, e.note AS e_note, e.data AS e_data, {ALERT_COLUMNS}
    FROM alerting.alert_events e JOIN {ALERT_FROM} ON a.id = e.alert_id
"""


def _event_and_alert(row: dict[str, Any]) -> tuple[TimelineEvent, Alert]:
    event = TimelineEvent(
        id=row["e_id"],
        alert_id=row["e_alert_id"],
        at=row["e_at"],
        kind=row["e_kind"],
        actor=row["e_actor"],
        note=row["e_note"],
        data=row["e_data"],
    )
    return event, Alert.from_row(row)


async def events_with_alerts(
    conn: Conn, event_ids: Sequence[int]
) -> list[tuple[TimelineEvent, Alert]]:
    """Timeline events and the current state of their alerts (for WatchAlerts)."""
    cur = await conn.execute(_EVENTS_WITH_ALERTS + " WHERE e.id = ANY(%s) ORDER BY e.id", (list(event_ids),))
    return [_event_and_alert(row) for row in await cur.fetchall()]


async def events_with_alerts_after(
    conn: Conn, after_id: int, limit: int
) -> list[tuple[TimelineEvent, Alert]]:
    """Up to ``limit`` committed timeline events after ``after_id``, in id order, with the
    current state of their alerts (for lifecycle listeners)."""
    cur = await conn.execute(
        _EVENTS_WITH_ALERTS + " WHERE e.id > %s ORDER BY e.id LIMIT %s", (after_id, limit)
    )
    return [_event_and_alert(row) for row in await cur.fetchall()]


async def newest_event_id(conn: Conn) -> int:
    """The id of the newest committed timeline event (0 when there is none)."""
    cur = await conn.execute("SELECT coalesce(max(id), 0) AS m FROM alerting.alert_events")
    newest: int = (await fetch_one(cur))["m"]
    return newest


async def events_after(conn: Conn, after_id: int, limit: int = 1000) -> list[int]:
    cur = await conn.execute(
        "SELECT id FROM alerting.alert_events WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit)
    )
    return [r["id"] for r in await cur.fetchall()]


# --------------------------------------------------------------------------- changing alerts


#: an events payload starting with this announces events the escalation engine need not wake for
NOT_FOR_ENGINE = "~"


async def notify_events(conn: Conn, event_ids: Sequence[int], *, wake_engine: bool = True) -> None:
    """Announce committed timeline events (delivered by PostgreSQL only on commit).

    ``wake_engine=False`` for events that change nothing the engine decides on (a delivery's
    outcome): watchers still get them, the engine sleeps on.
    """
    prefix = "" if wake_engine else NOT_FOR_ENGINE
    chunk: list[str] = []
    size = 0
    for eid in event_ids:
        s = str(eid)
        if size + len(s) + 1 > 7000:
            await conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, prefix + ",".join(chunk)))
            chunk, size = [], 0
        chunk.append(s)
        size += len(s) + 1
    if chunk:
        await conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, prefix + ",".join(chunk)))


async def _record(
    conn: Conn,
    alert_id: int,
    kind: str,
    actor: str | None,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> int:
    cur = await conn.execute(
        """INSERT INTO alerting.alert_events (alert_id, kind, actor, note, data)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (alert_id, kind, actor, note, Jsonb(data) if data is not None else None),
    )
    event_id: int = (await fetch_one(cur))["id"]
    await notify_events(conn, [event_id])
    return event_id


def _actor(user_id: str) -> str:
    if not user_id or not user_id.strip():
        raise InvalidArgument("user_id is required: say who is acting")
    return user_id.strip()


_TRANSITIONS = {
    # target status: (statuses it may come from, the statement that makes the change)
    "acknowledged": (
        ("triggered",),
        """UPDATE alerting.alerts SET status = 'acknowledged', acknowledged_at = now(),
                  acknowledged_by = %s WHERE id = %s""",
    ),
    "resolved": (
        ("triggered", "acknowledged"),
        """UPDATE alerting.alerts SET status = 'resolved', resolved_at = now(),
                  resolved_by = %s WHERE id = %s""",
    ),
}


@retried_on_deadlock
async def _transition(pool: Pool, alert_id: int, to: str, user_id: str, note: str) -> Alert:
    """Move an alert to ``to`` and record it; already there: only the note, if any, is added."""
    actor = _actor(user_id)
    sources, statement = _TRANSITIONS[to]
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """SELECT a.status, a.incident_id, i.team_id FROM alerting.alerts a
               JOIN alerting.integrations i ON i.id = a.integration_id WHERE a.id = %s FOR UPDATE OF a""",
            (alert_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"alert {alert_id} not found")
        require(_PERMISSION[to], f"alerts/{alert_id}", row["team_id"])
        if row["status"] in sources:
            await conn.execute(statement, (actor, alert_id))
            await _record(conn, alert_id, to, actor, note or None)
            # its incident follows (incident_status): acknowledged once no open alert of it is
            # still triggered, resolved by its resolve_on
            await incident_status.apply_alert_changes(
                conn, [(row["incident_id"], row["status"], to == "resolved")], actor, datetime.now(UTC)
            )
        elif row["status"] == to:
            if note:
                await _record(conn, alert_id, "note", actor, note)
        else:
            raise FailedPrecondition(f"alert {alert_id} is {row['status']}; it cannot be {to}")
    return await get_alert(pool, alert_id)


#: what moving an alert to a status needs (in its integration's team)
_PERMISSION = {"acknowledged": "alerts:ack", "resolved": "alerts:resolve"}


async def acknowledge(pool: Pool, alert_id: int, user_id: str, note: str = "") -> Alert:
    """Acknowledge a triggered alert. Acknowledging it again changes nothing; a resolved one can't be."""
    return await _transition(pool, alert_id, "acknowledged", user_id, note)


async def resolve(pool: Pool, alert_id: int, user_id: str, note: str = "") -> Alert:
    """Resolve an open alert. Resolving a resolved alert changes nothing."""
    return await _transition(pool, alert_id, "resolved", user_id, note)


async def add_note(pool: Pool, alert_id: int, user_id: str, note: str) -> TimelineEvent:
    actor = _actor(user_id)
    if not note.strip():
        raise InvalidArgument("a note needs text")
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """SELECT i.team_id FROM alerting.alerts a JOIN alerting.integrations i ON i.id = a.integration_id
               WHERE a.id = %s""", (alert_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"alert {alert_id} not found")
        require("alerts:note", f"alerts/{alert_id}", found["team_id"])
        event_id = await _record(conn, alert_id, "note", actor, note)
        cur = await conn.execute("SELECT * FROM alerting.alert_events WHERE id = %s", (event_id,))
        return TimelineEvent.from_row(await fetch_one(cur))
