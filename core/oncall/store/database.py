"""The connection pool, the embedded PostgreSQL used when no database is configured, and the
one place where "the database can't be reached" becomes :class:`~oncall.errors.Unavailable`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import ParamSpec, TypeAlias, TypeVar

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, Row, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..config import Settings
from ..errors import Unavailable

log = logging.getLogger(__name__)

#: a connection whose rows are dicts (``row_factory=dict_row``), as every connection here is:
#: annotate with this (and :class:`Pool`) so ``row["column"]`` type-checks
Conn: TypeAlias = AsyncConnection[DictRow]


async def fetch_one(cur: AsyncCursor[Row]) -> Row:
    """The row of a statement that always returns one (``INSERT ... RETURNING``, an aggregate,
    a ``SELECT`` of a row just locked); its absence is a bug, not a "not found"."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in ``data_dir/pg`` and return its URL.

    pgserver shares one server between processes using the same directory and stops it
    when the last of them exits.
    """
    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime directory, which warns on every run where
        # XDG_RUNTIME_DIR is unset (containers, ssh sessions) and falls back to /tmp: harmless
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver.postgres_server import get_server  # the package re-exports it implicitly

        server = get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    log.info("ONCALL_DATABASE_URL is unset: using the embedded PostgreSQL in %s", settings.data_dir)
    return embedded_database_url(settings.data_dir)


# What a caller sees when PostgreSQL is down, restarting, unreachable or out of connections
# for it: psycopg's OperationalError covers a refused or broken connection, an
# administrator's shutdown (57P01, what pg_terminate_backend sends) and the pool's own
# PoolTimeout and PoolClosed; InterfaceError is a connection already closed under us.
UNREACHABLE: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError)

#: what a 503 says, so a sender retries: no sender should be told less, nor more
UNAVAILABLE_DETAIL = "the database is unreachable; retry later"


_LOG_EVERY_S = 10.0
_logged = {"at": -_LOG_EVERY_S, "since": 0}


def unavailable(exc: BaseException) -> Unavailable:
    """The domain error for a database failure in ``UNREACHABLE``. Its text, which can name
    hosts and users, goes to the log (once every few seconds during an outage), never to
    the caller."""
    now = time.monotonic()
    if now - _logged["at"] >= _LOG_EVERY_S:
        what = "no connection was free in time" if isinstance(exc, PoolTimeout) else type(exc).__name__
        more = f" ({_logged['since']} more since the last report)" if _logged["since"] else ""
        log.warning("database unreachable: %s: %s%s", what, str(exc).strip(), more)
        _logged.update(at=now, since=0)
    else:
        _logged["since"] += 1
    return Unavailable(UNAVAILABLE_DETAIL)


_BROKEN: tuple[type[BaseException], ...] = (TimeoutError, *UNREACHABLE)  # a connection that doesn't answer

_ACQUIRE_TIMEOUT: ContextVar[float | None] = ContextVar("oncall_db_acquire_timeout", default=None)


@contextlib.contextmanager
def acquire_timeout(seconds: float) -> Iterator[None]:
    """Within this block (and tasks started in it), taking a pool connection waits at most
    ``seconds`` rather than the pool's own timeout: a request answers 503 at once when the
    database is down, while background work keeps the pool's patience."""
    token = _ACQUIRE_TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _ACQUIRE_TIMEOUT.reset(token)


def current_acquire_timeout() -> float | None:
    """The :func:`acquire_timeout` in force here, or None (the pool's own)."""
    return _ACQUIRE_TIMEOUT.get()


class Pool(AsyncConnectionPool[Conn]):
    """The pool. It honours :func:`acquire_timeout` when a caller names no timeout, and hands
    out only connections that answer: one that died while idle (PostgreSQL restarted, a
    backend terminated, a failover) is dropped and another taken, at once, within the same
    deadline. (psycopg_pool's own ``check`` waits a backoff of a second or more after each
    dead connection, longer than a request may wait.)"""

    async def getconn(self, timeout: float | None = None) -> Conn:
        if timeout is None:
            timeout = _ACQUIRE_TIMEOUT.get()
        if timeout is None:
            timeout = self.timeout
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PoolTimeout(f"couldn't get a working connection after {timeout:.2f} sec")
            conn = await super().getconn(remaining)
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.05)):
                    await conn.execute("")  # one round trip, no statement: is anyone there?
            except _BROKEN:
                await self.putconn(conn)  # broken: the pool discards it and opens another
                continue
            except BaseException:
                await self.putconn(conn)
                raise
            return conn


async def open_pool(url: str, min_size: int = 2, max_size: int = 10) -> Pool:
    pool = Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
        name="oncall",
    )
    await pool.open(wait=True, timeout=30)
    return pool


async def connect(url: str) -> Conn:
    """A single connection outside the pool (migrations, LISTEN)."""
    return await AsyncConnection[DictRow].connect(url, autocommit=True, row_factory=dict_row)


_P = ParamSpec("_P")
_T = TypeVar("_T")
_ABORTED = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_ATTEMPTS = 5


def retried_on_deadlock(fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    """Run a writer's transaction again when PostgreSQL aborted it to break a deadlock.

    Writers that lock an incident before its alerts (IncidentService) and those that lock
    an alert before its incident (the engine, alert-level calls, ingest) can meet on one
    incident; PostgreSQL then aborts one side, and a person's call is simply run again. The
    wrapped function must run its whole transaction itself.
    """

    @functools.wraps(fn)
    async def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        for attempt in range(_ATTEMPTS - 1):
            try:
                return await fn(*args, **kwargs)
            except _ABORTED:
                await asyncio.sleep(0.01 * (attempt + 1))
        return await fn(*args, **kwargs)

    return run
