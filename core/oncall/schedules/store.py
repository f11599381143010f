"""Schedules in PostgreSQL: their SQL and JSON, a per-process cache of built schedules, and
the escalation engine's schedule resolver.

A schedule's definition is one row (time zone, layers as JSONB) plus its override and
temporary-schedule rows. Every change runs under the schedule row's lock, builds the
engine's model from the result (so anything the model refuses is refused before it is
written: a saved schedule always builds), bumps ``version`` and notifies
``oncall_schedules`` with the schedule's id.

Queries go through ``ScheduleCache``, which holds a ``Schedule`` built (and indexed by the
engine) once per (id, version), because rebuilding one per request costs more than the
whole on-call answer should. Without a listener the cache reads the version (one
primary-key query) per question; once ``start``ed on the process's listener it hears
change notifications and answers from memory, with no query at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from ..auth import teams
from ..auth.principal import require
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..store.database import Conn, Pool, fetch_one
from ..store.errors import violations
from ..store.listen import Listener, Registration
from .model import (
    Layer,
    OnCallEntry,
    Override,
    Schedule,
    Shift,
    ShiftLength,
    TemporarySchedule,
    TemporaryShift,
    WeeklyWindow,
    utc_instant,
)
from .resolve import on_call, shifts

if TYPE_CHECKING:
    from ..context import Context

log = logging.getLogger(__name__)

MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_USER_ID = 200
MAX_LAYERS = 50
MAX_PARTICIPANTS = 500
MAX_WINDOWS = 100
MAX_TEMPORARY_SHIFTS = 1000
# shifts() costs grow with the number of shifts in the range; three months covers any
# calendar view and keeps the answer to tens of milliseconds.
MAX_SHIFTS_RANGE = timedelta(days=93)
CACHE_SIZE = 1024
CHANGES_CHANNEL = "oncall_schedules"  # NOTIFY payload: the id of the schedule that changed


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    """What a person defines: every field replaces the stored one on update."""

    name: str
    time_zone: str
    description: str = ""
    layers: tuple[Layer, ...] = ()
    #: the team it belongs to (None: no team); UNCHANGED: no team on create, the stored one on update
    team_id: str | None | teams.Unchanged = teams.UNCHANGED


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """A schedule's definition as stored; its overrides are listed apart (there can be many)."""

    id: str
    name: str
    time_zone: str
    description: str
    layers: tuple[Layer, ...]
    temporary_schedules: tuple[TemporarySchedule, ...]
    version: int
    created_at: datetime
    updated_at: datetime
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredOverride:
    id: str
    schedule_id: str
    start: datetime
    end: datetime
    add_user: str | None
    remove_user: str | None
    created_at: datetime

    def model(self) -> Override:
        return Override(self.id, self.start, self.end, add_user=self.add_user, remove_user=self.remove_user)


@dataclass(frozen=True, slots=True)
class CalendarToken:
    """A secret that opens a schedule's iCal feed; with ``user_id``, only that user's shifts."""

    id: str
    schedule_id: str
    user_id: str | None
    prefix: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BuiltSchedule:
    """One version of a schedule, built: what every on-call query computes on."""

    id: str
    name: str
    version: int
    updated_at: datetime
    schedule: Schedule


# --------------------------------------------------------------------------- JSON


def _time_text(value: time) -> str:
    return value.isoformat()


def layer_to_json(layer: Layer) -> dict[str, Any]:
    return {
        "name": layer.name,
        "participants": list(layer.participants),
        "shift_length": {"count": layer.shift_length.count, "unit": layer.shift_length.unit.value},
        "handoff": _time_text(layer.handoff),
        "start": layer.start.isoformat(),
        "restrictions": [
            {
                "start_day": int(w.start_day),
                "start_time": _time_text(w.start_time),
                "end_day": int(w.end_day),
                "end_time": _time_text(w.end_time),
            }
            for w in layer.restrictions
        ],
    }


def layer_from_json(doc: dict[str, Any]) -> Layer:
    return Layer(
        name=doc["name"],
        participants=tuple(doc["participants"]),
        shift_length=ShiftLength(doc["shift_length"]["count"], doc["shift_length"]["unit"]),
        handoff=time.fromisoformat(doc["handoff"]),
        start=datetime.fromisoformat(doc["start"]),
        restrictions=tuple(
            WeeklyWindow(
                w["start_day"], time.fromisoformat(w["start_time"]), w["end_day"], time.fromisoformat(w["end_time"])
            )
            for w in doc.get("restrictions", ())
        ),
    )


def temporary_shifts_to_json(found: Iterable[TemporaryShift]) -> list[dict[str, Any]]:
    return [{"start": s.start.isoformat(), "end": s.end.isoformat(), "users": list(s.users)} for s in found]


def temporary_shifts_from_json(doc: Iterable[dict[str, Any]]) -> tuple[TemporaryShift, ...]:
    return tuple(
        TemporaryShift(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]), tuple(s["users"]))
        for s in doc
    )


def _temporary_from_row(row: dict[str, Any]) -> TemporarySchedule:
    return TemporarySchedule(row["id"], row["starts_at"], row["ends_at"], temporary_shifts_from_json(row["shifts"]))


def _override_from_row(row: dict[str, Any]) -> StoredOverride:
    return StoredOverride(
        id=row["id"], schedule_id=row["schedule_id"], start=row["starts_at"], end=row["ends_at"],
        add_user=row["add_user"], remove_user=row["remove_user"], created_at=row["created_at"],
    )


def _schedule_from_row(row: dict[str, Any], temporaries: Sequence[TemporarySchedule]) -> StoredSchedule:
    return StoredSchedule(
        id=row["id"], name=row["name"], time_zone=row["time_zone"], description=row["description"],
        layers=tuple(layer_from_json(d) for d in row["layers"]), temporary_schedules=tuple(temporaries),
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"], team_id=row["team_id"],
    )


def _token_from_row(row: dict[str, Any]) -> CalendarToken:
    return CalendarToken(
        id=row["id"], schedule_id=row["schedule_id"], user_id=row["user_id"],
        prefix=row["token_prefix"], created_at=row["created_at"],
    )


# --------------------------------------------------------------------------- checks


def check_user_id(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is required (a user id)")
    if len(value) > MAX_USER_ID:
        raise InvalidArgument(f"{what} is {len(value)} characters; a user id has at most {MAX_USER_ID}")
    return value


def _check_input(inp: ScheduleInput) -> ScheduleInput:
    """The input, name trimmed, if it is a schedule the engine can build; else InvalidArgument."""
    name = inp.name.strip()
    if not name:
        raise InvalidArgument("a schedule needs a name")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"the name is {len(name)} characters; the limit is {MAX_NAME}")
    if len(inp.description) > MAX_DESCRIPTION:
        raise InvalidArgument(f"the description is {len(inp.description)} characters; the limit is {MAX_DESCRIPTION}")
    if len(inp.layers) > MAX_LAYERS:
        raise InvalidArgument(f"a schedule has at most {MAX_LAYERS} layers")
    for i, layer in enumerate(inp.layers):
        if not layer.name.strip():
            raise InvalidArgument(f"layers[{i}]: a layer needs a name")
        if len(layer.name) > MAX_NAME:
            raise InvalidArgument(f"layers[{i}]: the name is {len(layer.name)} characters; the limit is {MAX_NAME}")
        if len(layer.participants) > MAX_PARTICIPANTS:
            raise InvalidArgument(f"layers[{i}]: a layer has at most {MAX_PARTICIPANTS} participants")
        if len(layer.restrictions) > MAX_WINDOWS:
            raise InvalidArgument(f"layers[{i}]: a layer has at most {MAX_WINDOWS} restriction windows")
        for user in layer.participants:
            check_user_id(user, f"layers[{i}]: participant")
    Schedule(inp.time_zone, inp.layers)  # the zone and the layers, checked by the engine's model
    return replace(inp, name=name)


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A range shifts may be listed over: ordered, and at most ``MAX_SHIFTS_RANGE`` long."""
    start, end = utc_instant(start, "start"), utc_instant(end, "end")
    if end <= start:
        raise InvalidArgument(f"end {end.isoformat()} must be after start {start.isoformat()}")
    if end - start > MAX_SHIFTS_RANGE:
        raise InvalidArgument(
            f"shifts are listed over at most {MAX_SHIFTS_RANGE.days} days at a time; "
            f"{start.isoformat()} to {end.isoformat()} is longer"
        )
    return start, end


# --------------------------------------------------------------------------- schedules

_NOT_FOUND = "schedule {!r} not found"


async def _lock(conn: Conn, schedule_id: str) -> dict[str, Any]:
    """The schedule's row, locked until the transaction ends: changes to one schedule queue up."""
    cur = await conn.execute("SELECT * FROM alerting.schedules WHERE id = %s FOR UPDATE", (schedule_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(_NOT_FOUND.format(schedule_id))
    return row


async def _notify(conn: Conn, schedule_id: str) -> None:
    # delivered at commit, to every process listening: their caches drop this schedule
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES_CHANNEL, schedule_id))


async def _bump(conn: Conn, schedule_id: str) -> None:
    await conn.execute(
        "UPDATE alerting.schedules SET version = version + 1, updated_at = now() WHERE id = %s", (schedule_id,)
    )
    await _notify(conn, schedule_id)


@contextlib.asynccontextmanager
async def _changing(
    pool: Pool, schedule_id: str, permission: str,
) -> AsyncIterator[tuple[Conn, dict[str, Any]]]:
    """A transaction holding the schedule's row lock (NotFound without one), once the caller
    may ``permission`` in the schedule's team; after it commits, this process's caches forget
    the schedule at once, without waiting for the notification."""
    async with pool.connection() as conn:
        async with conn.transaction():
            row = await _lock(conn, schedule_id)
            require(permission, f"schedules/{schedule_id}", row["team_id"])
            yield conn, row
    _forget_everywhere(schedule_id)


async def _temporaries(conn: Conn, schedule_id: str) -> list[TemporarySchedule]:
    cur = await conn.execute(
        "SELECT * FROM alerting.schedule_temporaries WHERE schedule_id = %s ORDER BY starts_at", (schedule_id,)
    )
    return [_temporary_from_row(r) for r in await cur.fetchall()]


async def _overrides(conn: Conn, schedule_id: str) -> list[StoredOverride]:
    cur = await conn.execute(
        "SELECT * FROM alerting.schedule_overrides WHERE schedule_id = %s ORDER BY seq", (schedule_id,)
    )
    return [_override_from_row(r) for r in await cur.fetchall()]


async def create_schedule(pool: Pool, inp: ScheduleInput) -> StoredSchedule:
    team = teams.after(None, inp.team_id)
    require("schedules:write", "schedules", team)
    inp = _check_input(inp)
    with violations(unique=f"a schedule named {inp.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
        async with pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO alerting.schedules (name, time_zone, description, layers, team_id)
                   VALUES (%s, %s, %s, %s, %s) RETURNING *""",
                (inp.name, inp.time_zone, inp.description, Jsonb([layer_to_json(layer) for layer in inp.layers]),
                 team),
            )
            return _schedule_from_row(await fetch_one(cur), ())


async def update_schedule(
    pool: Pool, schedule_id: str, inp: ScheduleInput, expected_version: int | None = None
) -> StoredSchedule:
    """Replace a schedule's name, zone, description and layers.

    With ``expected_version``, refuse (FailedPrecondition) if someone changed it since that
    version was read: a read-modify-write never silently drops another person's change.
    """
    inp = _check_input(inp)
    with violations(unique=f"a schedule named {inp.name!r} already exists", foreign_key=teams.UNKNOWN_TEAM):
        async with _changing(pool, schedule_id, "schedules:write") as (conn, row):
            team = teams.after(row["team_id"], inp.team_id)
            require("schedules:write", f"schedules/{schedule_id}", team)  # moving it: the role in both teams
            if expected_version is not None and row["version"] != expected_version:
                raise FailedPrecondition(
                    f"schedule {row['name']!r} is at version {row['version']}, not {expected_version}: "
                    "it changed since it was read; read it again and retry"
                )
            temporaries = await _temporaries(conn, schedule_id)
            # the new zone and layers with the stored overrides and temporaries: still builds
            Schedule(inp.time_zone, inp.layers, (), tuple(temporaries))
            cur = await conn.execute(
                """UPDATE alerting.schedules
                   SET name = %s, time_zone = %s, description = %s, layers = %s, team_id = %s,
                       version = version + 1, updated_at = now()
                   WHERE id = %s RETURNING *""",
                (inp.name, inp.time_zone, inp.description, Jsonb([layer_to_json(layer) for layer in inp.layers]),
                 team, schedule_id),
            )
            updated = _schedule_from_row(await fetch_one(cur), temporaries)
            await _notify(conn, schedule_id)
    return updated


async def delete_schedule(pool: Pool, schedule_id: str) -> None:
    """Delete a schedule no escalation policy pages; its overrides, temporaries and tokens go with it."""
    async with _changing(pool, schedule_id, "schedules:write") as (conn, _):
        cur = await conn.execute(
            "SELECT name FROM alerting.escalation_policies WHERE steps @> %s ORDER BY name",
            (Jsonb([{"targets": [{"kind": "schedule", "id": schedule_id}]}]),),
        )
        users = [r["name"] for r in await cur.fetchall()]
        if users:
            raise FailedPrecondition(f"schedule {schedule_id!r} is paged by escalation policies: {', '.join(users)}")
        await conn.execute("DELETE FROM alerting.schedules WHERE id = %s", (schedule_id,))
        await _notify(conn, schedule_id)


async def get_schedule(pool: Pool, schedule_id: str) -> StoredSchedule:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM alerting.schedules WHERE id = %s", (schedule_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(_NOT_FOUND.format(schedule_id))
        return _schedule_from_row(row, await _temporaries(conn, schedule_id))


async def lookup_schedule(pool: Pool, id_or_name: str) -> StoredSchedule:
    """A schedule by id or, failing that, by name (for people typing commands)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM alerting.schedules WHERE id = %s OR name = %s ORDER BY id = %s DESC LIMIT 1",
            (id_or_name, id_or_name, id_or_name),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no schedule has the id or name {id_or_name!r}")
        return _schedule_from_row(row, await _temporaries(conn, row["id"]))


async def list_schedules(pool: Pool, only_teams: tuple[str, ...] | None = None) -> list[StoredSchedule]:
    """Every schedule (or only those of ``only_teams``), by name. Schedules are written by people, so
    there are few: not paged."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM alerting.schedules WHERE %s::text[] IS NULL OR team_id = ANY(%s::text[]) ORDER BY name",
            (teams.param(only_teams), teams.param(only_teams)))
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT * FROM alerting.schedule_temporaries ORDER BY schedule_id, starts_at")
        temporaries: dict[str, list[TemporarySchedule]] = {}
        for r in await cur.fetchall():
            temporaries.setdefault(r["schedule_id"], []).append(_temporary_from_row(r))
    return [_schedule_from_row(r, temporaries.get(r["id"], ())) for r in rows]


# --------------------------------------------------------------------------- overrides


async def add_override(
    pool: Pool,
    schedule_id: str,
    start: datetime,
    end: datetime,
    add_user: str | None = None,
    remove_user: str | None = None,
) -> StoredOverride:
    """Add an override; it applies after every override added before it."""
    for user, what in ((add_user, "add_user"), (remove_user, "remove_user")):
        if user is not None:
            check_user_id(user, what)
    # the engine's checks (aware instants, start before end, someone to add or remove)
    Override("new", start, end, add_user=add_user, remove_user=remove_user)
    async with _changing(pool, schedule_id, "overrides:write") as (conn, _):
        cur = await conn.execute(
            """INSERT INTO alerting.schedule_overrides (schedule_id, starts_at, ends_at, add_user, remove_user)
               VALUES (%s, %s, %s, %s, %s) RETURNING *""",
            (schedule_id, start, end, add_user, remove_user),
        )
        row = await fetch_one(cur)
        await _bump(conn, schedule_id)
    return _override_from_row(row)


async def remove_override(pool: Pool, schedule_id: str, override_id: str) -> None:
    async with _changing(pool, schedule_id, "overrides:write") as (conn, _):
        cur = await conn.execute(
            "DELETE FROM alerting.schedule_overrides WHERE id = %s AND schedule_id = %s RETURNING id",
            (override_id, schedule_id),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"override {override_id!r} not found on schedule {schedule_id!r}")
        await _bump(conn, schedule_id)


async def list_overrides(
    pool: Pool, schedule_id: str, start: datetime | None = None, end: datetime | None = None
) -> list[StoredOverride]:
    """The schedule's overrides in the order they apply; only those overlapping [start, end) if given."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM alerting.schedules WHERE id = %s", (schedule_id,))
        if await cur.fetchone() is None:
            raise NotFound(_NOT_FOUND.format(schedule_id))
        cur = await conn.execute(
            """SELECT * FROM alerting.schedule_overrides
               WHERE schedule_id = %s
                 AND (%s::timestamptz IS NULL OR ends_at > %s)
                 AND (%s::timestamptz IS NULL OR starts_at < %s)
               ORDER BY seq""",
            (schedule_id, start, start, end, end),
        )
        return [_override_from_row(r) for r in await cur.fetchall()]


# --------------------------------------------------------------------------- temporary schedules


async def set_temporary_schedule(
    pool: Pool,
    schedule_id: str,
    temporary_id: str | None,
    start: datetime,
    end: datetime,
    shift_list: Sequence[TemporaryShift],
) -> TemporarySchedule:
    """Create a temporary schedule (``temporary_id`` None) or replace one; it must overlap no other."""
    if len(shift_list) > MAX_TEMPORARY_SHIFTS:
        raise InvalidArgument(f"a temporary schedule has at most {MAX_TEMPORARY_SHIFTS} shifts")
    for i, s in enumerate(shift_list):
        for user in s.users:
            check_user_id(user, f"shifts[{i}]: user")
    temporary = TemporarySchedule(temporary_id or str(uuid.uuid4()), start, end, tuple(shift_list))
    async with _changing(pool, schedule_id, "overrides:write") as (conn, row):
        others = [t for t in await _temporaries(conn, schedule_id) if t.id != temporary.id]
        if temporary_id is not None:
            cur = await conn.execute(
                "SELECT 1 FROM alerting.schedule_temporaries WHERE id = %s AND schedule_id = %s",
                (temporary_id, schedule_id),
            )
            if await cur.fetchone() is None:
                raise NotFound(f"temporary schedule {temporary_id!r} not found on schedule {schedule_id!r}")
        Schedule(row["time_zone"], (), (), (*others, temporary))  # refuses an overlap
        await conn.execute(
            """INSERT INTO alerting.schedule_temporaries (id, schedule_id, starts_at, ends_at, shifts)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE
               SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, shifts = EXCLUDED.shifts""",
            (temporary.id, schedule_id, temporary.start, temporary.end,
             Jsonb(temporary_shifts_to_json(temporary.shifts))),
        )
        await _bump(conn, schedule_id)
    return temporary


async def clear_temporary_schedule(pool: Pool, schedule_id: str, temporary_id: str) -> None:
    async with _changing(pool, schedule_id, "overrides:write") as (conn, _):
        cur = await conn.execute(
            "DELETE FROM alerting.schedule_temporaries WHERE id = %s AND schedule_id = %s RETURNING id",
            (temporary_id, schedule_id),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"temporary schedule {temporary_id!r} not found on schedule {schedule_id!r}")
        await _bump(conn, schedule_id)


# --------------------------------------------------------------------------- calendar tokens


def hash_token(token: str) -> bytes:
    # Tokens are 256-bit random strings, so a plain SHA-256 is a safe, fast, indexable hash.
    return hashlib.sha256(token.encode()).digest()


async def create_calendar_token(
    pool: Pool, schedule_id: str, user_id: str | None = None
) -> tuple[CalendarToken, str]:
    """A new feed token for the schedule (or one user's shifts in it); return it with its secret.

    The secret is returned only here; the database keeps its hash.
    """
    if user_id is not None:
        check_user_id(user_id, "user_id")
    secret = secrets.token_urlsafe(32)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT team_id FROM alerting.schedules WHERE id = %s FOR SHARE", (schedule_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(_NOT_FOUND.format(schedule_id))
        require("calendar_tokens:write", f"schedules/{schedule_id}", found["team_id"])
        cur = await conn.execute(
            """INSERT INTO alerting.schedule_calendar_tokens (schedule_id, user_id, token_hash, token_prefix)
               VALUES (%s, %s, %s, %s) RETURNING *""",
            (schedule_id, user_id, hash_token(secret), secret[:6]),
        )
        return _token_from_row(await fetch_one(cur)), secret


async def list_calendar_tokens(pool: Pool, schedule_id: str) -> list[CalendarToken]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM alerting.schedules WHERE id = %s", (schedule_id,))
        if await cur.fetchone() is None:
            raise NotFound(_NOT_FOUND.format(schedule_id))
        cur = await conn.execute(
            "SELECT * FROM alerting.schedule_calendar_tokens WHERE schedule_id = %s ORDER BY created_at, id",
            (schedule_id,),
        )
        return [_token_from_row(r) for r in await cur.fetchall()]


async def revoke_calendar_token(pool: Pool, schedule_id: str, token_id: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT team_id FROM alerting.schedules WHERE id = %s FOR SHARE", (schedule_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"calendar token {token_id!r} not found on schedule {schedule_id!r}")
        require("calendar_tokens:write", f"schedules/{schedule_id}", found["team_id"])
        cur = await conn.execute(
            "DELETE FROM alerting.schedule_calendar_tokens WHERE id = %s AND schedule_id = %s RETURNING id",
            (token_id, schedule_id),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"calendar token {token_id!r} not found on schedule {schedule_id!r}")


async def find_calendar_token(pool: Pool, secret: str) -> CalendarToken | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM alerting.schedule_calendar_tokens WHERE token_hash = %s", (hash_token(secret),)
        )
        row = await cur.fetchone()
    return _token_from_row(row) if row else None


# --------------------------------------------------------------------------- the cache and queries


class ScheduleCache:
    """Built schedules by (id, version), shared by every query in this process.

    Without a listener, a query reads the schedule's current version (one primary-key
    lookup) and builds only when that version isn't held. After ``start`` it hears
    ``oncall_schedules`` on the process's LISTEN connection (``store.listen``): a held
    schedule is then current until a change notification drops it, and queries cost no I/O
    at all. Changes made in this process drop it at once; another replica's arrive with
    their notification, milliseconds after commit. Trust needs a live connection: while it
    is down, or hasn't proven itself alive within the listener's liveness check (a few
    seconds), queries read versions again, and when it reconnects everything held is
    dropped (notifications may have been missed meanwhile).

    Only the newest version of each schedule is kept, and at most ``size`` schedules.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._built: dict[str, BuiltSchedule] = {}
        # bumped by every forget: a load that overlapped one may be stale, so isn't kept
        self._epoch = 0
        self._listener: Listener | None = None
        self._reg: Registration | None = None
        _CACHES.add(self)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, listener: Listener) -> None:
        """Hear schedule changes on the process's listener. Until it is live, queries read versions."""
        if self._reg is None:
            self._listener = listener
            self._reg = listener.register([CHANGES_CHANNEL], lambda note: self.forget(note.payload),
                                          self.forget_all, name="the schedule cache")

    async def stop(self) -> None:
        if self._reg is not None:
            self._reg.close()
            self._reg = None

    @property
    def listening(self) -> bool:
        """Whether held schedules are answered without reading their version: the change
        channel is listened on (whatever changed before was dropped when it became so) and
        the connection has proven itself alive recently."""
        return self._reg is not None and self._reg.live and self._listener is not None and self._listener.alive

    # ------------------------------------------------------------------ entries

    def forget(self, schedule_id: str) -> None:
        self._epoch += 1
        self._built.pop(schedule_id, None)

    def forget_all(self) -> None:
        self._epoch += 1
        self._built.clear()

    async def get(self, pool: Pool, schedule_id: str) -> BuiltSchedule:
        """The schedule's current version, built; NotFound if there is no such schedule."""
        held = self._built.get(schedule_id)
        if held is not None and self.listening:
            return held
        epoch = self._epoch
        async with pool.connection() as conn:
            if held is not None:
                cur = await conn.execute("SELECT version FROM alerting.schedules WHERE id = %s", (schedule_id,))
                row = await cur.fetchone()
                if row is None:
                    self.forget(schedule_id)
                    raise NotFound(_NOT_FOUND.format(schedule_id))
                if row["version"] == held.version:
                    return held
            built = await self._load(conn, schedule_id)
        if self._epoch == epoch:
            self._built.pop(schedule_id, None)
            if len(self._built) >= self._size:
                self._built.pop(next(iter(self._built)))  # the least recently built
            self._built[schedule_id] = built
        return built

    @staticmethod
    async def _load(conn: Conn, schedule_id: str) -> BuiltSchedule:
        # One snapshot for the row and its overrides and temporaries: what is built is
        # exactly the version it is cached as, even while someone changes the schedule.
        async with conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute("SELECT * FROM alerting.schedules WHERE id = %s", (schedule_id,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(_NOT_FOUND.format(schedule_id))
            overrides = await _overrides(conn, schedule_id)
            temporaries = await _temporaries(conn, schedule_id)
        schedule = Schedule(
            row["time_zone"],
            tuple(layer_from_json(d) for d in row["layers"]),
            tuple(o.model() for o in overrides),
            tuple(temporaries),
        )
        return BuiltSchedule(row["id"], row["name"], row["version"], row["updated_at"], schedule)


# Every cache in this process, so a change made here is forgotten by all of them at commit.
_CACHES: weakref.WeakSet[ScheduleCache] = weakref.WeakSet()


def _forget_everywhere(schedule_id: str) -> None:
    for cache in list(_CACHES):
        cache.forget(schedule_id)


def cache_for(ctx: Context) -> ScheduleCache:
    """The process's schedule cache, kept in ``ctx.schedule_cache`` so every service shares it."""
    if ctx.schedule_cache is None:
        ctx.schedule_cache = ScheduleCache()
    return ctx.schedule_cache


# Local dates and handoffs near the ends of years 1–9999 fall outside what a datetime holds.
_BEYOND_THE_CALENDAR = "{} is too near the end of the calendar (years 1 to 9999) to work the schedule out"


async def on_call_at(
    cache: ScheduleCache, pool: Pool, schedule_id: str, at: datetime
) -> list[OnCallEntry]:
    """Who is on call on the schedule at ``at``, and why."""
    at = utc_instant(at, "at")
    built = await cache.get(pool, schedule_id)
    try:
        return on_call(built.schedule, at)
    except OverflowError:
        raise InvalidArgument(_BEYOND_THE_CALENDAR.format(f"at {at.isoformat()}")) from None


async def shifts_in(
    cache: ScheduleCache,
    pool: Pool,
    schedule_id: str,
    start: datetime,
    end: datetime,
    user: str | None = None,
) -> tuple[BuiltSchedule, list[Shift]]:
    """The schedule's final shifts over [start, end) (at most ``MAX_SHIFTS_RANGE``), only ``user``'s if given."""
    start, end = check_range(start, end)
    built = await cache.get(pool, schedule_id)
    try:
        found = shifts(built.schedule, start, end)
    except OverflowError:
        raise InvalidArgument(_BEYOND_THE_CALENDAR.format(f"{start.isoformat()} to {end.isoformat()}")) from None
    if user is not None:
        found = [s for s in found if s.user == user]
    return built, found


ScheduleResolver = Callable[[str, datetime], Awaitable[list[str]]]


def resolver(ctx: Context) -> ScheduleResolver:
    """The escalation engine's ``schedule_resolver``: the user ids on call at an instant.

    An unknown schedule (deleted after a policy named it) resolves to nobody, and the
    engine records that no one was on call; a database failure propagates, so the step is
    retried rather than paging nobody.
    """
    cache = cache_for(ctx)

    async def schedule_resolver(schedule_id: str, at: datetime) -> list[str]:
        try:
            entries = await on_call_at(cache, ctx.pool, schedule_id, at)
        except NotFound:
            log.warning("escalation targets schedule %r, which does not exist", schedule_id)
            return []
        return [e.user for e in entries]

    return schedule_resolver
