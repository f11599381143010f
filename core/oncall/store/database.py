"""The connection pool, and the embedded PostgreSQL used when no database is configured."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ..config import Settings

log = logging.getLogger(__name__)


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
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    log.info("ONCALL_DATABASE_URL is unset: using the embedded PostgreSQL in %s", settings.data_dir)
    return embedded_database_url(settings.data_dir)


async def open_pool(url: str, min_size: int = 2, max_size: int = 10) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
        name="oncall",
    )
    await pool.open(wait=True, timeout=30)
    return pool


async def connect(url: str) -> psycopg.AsyncConnection:
    """A single connection outside the pool (migrations, LISTEN)."""
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
