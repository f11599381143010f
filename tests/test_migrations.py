"""Migrations: applied once each, even when several processes start at once on a new database.

The race is made certain rather than left to chance: the test holds the migration lock
while two real processes start, waits until both are queued on it, then lets them go.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from fixtures.processes import ROOT, oncall_env, run_cli

from oncall.store.migrate import LOCK_KEY, apply_migrations, load_migrations, pending_migrations

MIGRATE = """
import asyncio, sys
from oncall.logs import configure
from oncall.store.migrate import apply_migrations
configure("INFO")
applied = asyncio.run(apply_migrations(sys.argv[1]))
print("applied:" + ",".join(applied))
"""


def _waiting_on_the_lock(conn: psycopg.Connection) -> int:
    row = conn.execute(
        """SELECT count(*) FROM pg_locks
           WHERE locktype = 'advisory' AND NOT granted AND database = (
               SELECT oid FROM pg_database WHERE datname = current_database())"""
    ).fetchone()
    return row[0]


def test_two_processes_migrating_a_new_database_at_once_apply_each_migration_once(fresh_database):
    url = fresh_database()
    versions = [m.version for m in load_migrations()]
    assert versions, "the repository has migrations"
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", MIGRATE, url],
                env=oncall_env(None),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 60  # a bound on the wait, not a measurement
            while _waiting_on_the_lock(holder) < 2:
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline, "both processes should be waiting on the migration lock"
                time.sleep(0.02)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        outputs = [p.communicate(timeout=60) for p in procs]

    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "ERROR" not in err, err
    applied = sorted(out.strip().removeprefix("applied:") for out, _ in outputs)
    # one process applied everything, the other found nothing left to do
    assert applied == ["", ",".join(versions)]

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name FROM public.oncall_migrations ORDER BY version").fetchall()
        assert rows == [(m.version, m.name) for m in load_migrations()]
        assert conn.execute("SELECT to_regclass('alerting.alerts') IS NOT NULL").fetchone()[0]


async def test_running_migrations_again_applies_nothing_and_nothing_is_pending(fresh_database):
    url = fresh_database()
    assert await apply_migrations(url) == [m.version for m in load_migrations()]
    assert await apply_migrations(url) == []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        assert await pending_migrations(conn) == []


async def test_a_new_database_reports_every_migration_pending(fresh_database):
    async with await psycopg.AsyncConnection.connect(fresh_database()) as conn:
        assert await pending_migrations(conn) == [m.version for m in load_migrations()]


def test_oncall_migrate_says_what_it_applied_then_that_the_database_is_up_to_date(fresh_database):
    env = oncall_env(fresh_database())
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    versions = [m.version for m in load_migrations()]
    assert f"applied {len(versions)} migration(s): {', '.join(versions)}" in first.stdout
    again = run_cli("migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert "the database is up to date" in again.stdout


# --------------------------------------------------------------------------- migration files


def write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql)


async def test_a_failing_migration_leaves_nothing_half_applied_and_the_next_run_resumes(fresh_database, tmp_path):
    url = fresh_database()
    write(tmp_path, "0001_first.sql", "CREATE TABLE public.first (id int);")
    write(tmp_path, "0002_second.sql", "CREATE TABLE public.second (id int); SELECT 1 / 0;")
    with pytest.raises(psycopg.errors.DivisionByZero):
        await apply_migrations(url, tmp_path)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT version FROM public.oncall_migrations")
        assert await cur.fetchall() == [("0001",)]
        cur = await conn.execute("SELECT to_regclass('public.second') IS NULL")
        assert (await cur.fetchone())[0], "the failed migration's first statement was rolled back"
        assert await pending_migrations(conn, tmp_path) == ["0002"]

    write(tmp_path, "0002_second.sql", "CREATE TABLE public.second (id int);")
    # the lock was released on failure: this run isn't blocked by the one that failed
    assert await apply_migrations(url, tmp_path) == ["0002"]


async def test_a_migration_edited_after_it_was_applied_is_reported(fresh_database, tmp_path, caplog):
    url = fresh_database()
    write(tmp_path, "0001_first.sql", "CREATE TABLE public.first (id int);")
    await apply_migrations(url, tmp_path)
    write(tmp_path, "0001_first.sql", "CREATE TABLE public.first (id bigint);")
    assert await apply_migrations(url, tmp_path) == []
    assert "migration 0001_first changed after it was applied" in caplog.text


@pytest.mark.parametrize("name", ["0002-add-index.sql", "2_add_index.sql", "0002_AddIndex.sql"])
def test_a_misnamed_migration_file_is_an_error_not_silently_skipped(tmp_path, name):
    write(tmp_path, "0001_first.sql", "SELECT 1;")
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(RuntimeError, match=f"migration {name} is misnamed"):
        load_migrations(tmp_path)


def test_two_migrations_with_one_version_are_an_error(tmp_path):
    write(tmp_path, "0001_first.sql", "SELECT 1;")
    write(tmp_path, "0001_also_first.sql", "SELECT 1;")
    with pytest.raises(RuntimeError, match="duplicate migration versions"):
        load_migrations(tmp_path)
