"""SQL for the lifecycle schema: each listener's cursor on each stream, its failures and skips.

Every statement is one statement: the dispatcher's connection is shared by all the
listeners it drives, so a transaction spanning several awaits could take in theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store.database import Conn


@dataclass(frozen=True, slots=True)
class Cursor:
    """A listener's place on a stream, and the failing event after it, if one is failing."""

    listener: str
    stream: str
    last_id: int
    failing_id: int | None
    attempts: int
    last_error: str | None
    failing_since: datetime | None


class LostCursor(Exception):
    """The cursor moved under this dispatcher: it no longer drives the listener."""


#: the advisory lock that makes one connection (one server) the driver of a listener's
#: stream: a constant namespace and the hash of the pair; held until the connection closes
_LOCK = "pg_try_advisory_lock(hashtext('oncall.lifecycle'), hashtext(%s || '/' || %s))"


async def try_claim(conn: Conn, listener: str, stream: str) -> bool:
    """Take the lock that lets this connection drive ``listener`` on ``stream``; False when
    another connection holds it."""
    cur = await conn.execute(f"SELECT {_LOCK} AS got", (listener, stream))
    return bool((await cur.fetchall())[0]["got"])


async def open_cursor(conn: Conn, listener: str, stream: str, start_id: int) -> Cursor:
    """The listener's cursor, created at ``start_id`` when it has none."""
    cur = await conn.execute(
        """WITH created AS (
               INSERT INTO lifecycle.cursors (listener, stream, last_id) VALUES (%s, %s, %s)
               ON CONFLICT (listener, stream) DO NOTHING RETURNING *
           )
           SELECT * FROM created
           UNION ALL SELECT * FROM lifecycle.cursors WHERE listener = %s AND stream = %s""",
        (listener, stream, start_id, listener, stream),
    )
    return _cursor(await cur.fetchone())


async def advance(conn: Conn, listener: str, stream: str, from_id: int, to_id: int) -> None:
    """Move the cursor from ``from_id`` to ``to_id``, clearing any failure; LostCursor when
    it is no longer at ``from_id``."""
    cur = await conn.execute(
        """UPDATE lifecycle.cursors
           SET last_id = %s, failing_id = NULL, attempts = 0, last_error = NULL, failing_since = NULL,
               updated_at = now()
           WHERE listener = %s AND stream = %s AND last_id = %s""",
        (to_id, listener, stream, from_id),
    )
    if cur.rowcount != 1:
        raise LostCursor(f"the cursor of {listener!r} on {stream} is no longer at {from_id}")


async def record_failure(
    conn: Conn, listener: str, stream: str, event_id: int, attempts: int, error: str
) -> None:
    """The event after the cursor failed ``attempts`` times so far (kept across restarts)."""
    await conn.execute(
        """UPDATE lifecycle.cursors
           SET failing_id = %s, attempts = %s, last_error = %s,
               failing_since = CASE WHEN failing_id = %s THEN failing_since ELSE now() END, updated_at = now()
           WHERE listener = %s AND stream = %s""",
        (event_id, attempts, error, event_id, listener, stream),
    )


async def skip(
    conn: Conn, listener: str, stream: str, from_id: int, event_id: int, attempts: int,
    error: str,
) -> None:
    """Record ``event_id`` as skipped after its last attempt and move the cursor past it."""
    cur = await conn.execute(
        """WITH skipped AS (
               INSERT INTO lifecycle.skipped (listener, stream, event_id, attempts, last_error)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (listener, stream, event_id) DO UPDATE
               SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, skipped_at = now()
           )
           UPDATE lifecycle.cursors
           SET last_id = %s, failing_id = NULL, attempts = 0, last_error = NULL, failing_since = NULL,
               updated_at = now()
           WHERE listener = %s AND stream = %s AND last_id = %s""",
        (listener, stream, event_id, attempts, error, event_id, listener, stream, from_id),
    )
    if cur.rowcount != 1:
        raise LostCursor(f"the cursor of {listener!r} on {stream} is no longer at {from_id}")


def _cursor(row: dict[str, Any] | None) -> Cursor:
    assert row is not None  # inserted, or there already
    return Cursor(**{k: row[k] for k in Cursor.__slots__})
