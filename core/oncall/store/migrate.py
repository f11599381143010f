"""Ordered SQL migrations, applied once each under a PostgreSQL advisory lock."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from typing import Any

import psycopg
from psycopg.rows import tuple_row

log = logging.getLogger(__name__)

# pg_advisory_lock key: any fixed 64-bit number unique to this purpose
LOCK_KEY = 0x0_0CA11_5C4E3A
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """The installed copy (wheel) or the repository's ``migrations/`` (editable install)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_migrations", here.parent.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no migrations directory found next to the oncall package")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found = []
    for path in sorted(directory.iterdir()):
        m = _NAME.match(path.name)
        if m:
            found.append(Migration(m.group(1), m.group(2), path.read_text()))
        elif path.suffix == ".sql":
            # skipping it would leave the schema silently behind what the code expects
            raise RuntimeError(
                f"migration {path.name} is misnamed: migrations are NNNN_lower_case_name.sql"
            )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {directory}")
    return found


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS public.oncall_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def apply_migrations(url: str, directory: Path | None = None) -> list[str]:
    """Apply pending migrations; return the versions applied by this call.

    The advisory lock serialises concurrent starters: the second waits, then finds
    everything applied and does nothing.
    """
    migrations = load_migrations(directory)
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            await conn.execute(_BOOKKEEPING)
            cur = await conn.execute("SELECT version, checksum FROM public.oncall_migrations")
            done = {row[0]: row[1] for row in await cur.fetchall()}
            for m in migrations:
                if m.version in done:
                    if done[m.version] != m.checksum:
                        log.warning("migration %s_%s changed after it was applied", m.version, m.name)
                    continue
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO public.oncall_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                log.info("applied migration %s_%s", m.version, m.name)
                applied_now.append(m.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


async def pending_migrations(conn: psycopg.AsyncConnection[Any], directory: Path | None = None) -> list[str]:
    """Versions not yet applied (for /readyz), on a connection with any row factory."""
    wanted = [m.version for m in load_migrations(directory)]
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT to_regclass('public.oncall_migrations') IS NOT NULL")
        row = await cur.fetchone()
        if row is None or not row[0]:
            return wanted
        await cur.execute("SELECT version FROM public.oncall_migrations")
        have = {r[0] for r in await cur.fetchall()}
    return [v for v in wanted if v not in have]
