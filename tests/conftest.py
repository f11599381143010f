"""Test fixtures: a real PostgreSQL (ONCALL_TEST_DATABASE_URL, else embedded) and real servers.

Each test session gets its own database, migrated once; each test starts from empty
tables. Tests that need a pristine database of their own (migration races, server
processes) ask ``fresh_database`` for one. ``server`` runs the whole server in-process and
``grpc_channel`` talks to it with an admin API key (``server.channel(key)`` with another); ``ctx`` and ``clock`` are for tests that run the escalation
engine themselves. Plain helpers live in ``tests/fixtures/`` (``from fixtures.x import y``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from fixtures.auth import keyed_channel, make_key
from fixtures.processes import free_port  # noqa: F401  (re-exported: conftest has always offered it)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from oncall.alerting import store
from oncall.alerting.ingest import Ingestor
from oncall.clock import Clock
from oncall.config import Settings
from oncall.context import Context
from oncall.grouping.assign import GroupingCache
from oncall.routing.route import pick_router
from oncall.plugins import load_plugins
from oncall.store.database import open_pool
from oncall.store.migrate import apply_migrations

ROOT = Path(__file__).resolve().parent.parent


def _admin_url(tmp_root: Path) -> str:
    url = os.environ.get("ONCALL_TEST_DATABASE_URL")
    if url:
        return url
    import pgserver

    server = pgserver.get_server(tmp_root / "pg", cleanup_mode="stop")
    return server.get_uri()


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


class Databases:
    """Creates throwaway databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self, prefix: str = "oncall_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return _with_dbname(self.admin_url, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(_admin_url(tmp_path_factory.mktemp("embedded-pg")))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def migrated_url(databases: Databases) -> str:
    """The session's database, with every migration applied."""
    url = databases.create()
    asyncio.run(apply_migrations(url))
    return url


@pytest.fixture
def fresh_database(databases: Databases) -> Callable[[], str]:
    """A factory of empty, unmigrated databases."""
    return databases.create


def _truncate_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
               WHERE schemaname NOT IN ('public', 'pg_catalog', 'information_schema')"""
        ).fetchall()
        if rows:
            conn.execute("TRUNCATE " + ", ".join(r[0] for r in rows) + " RESTART IDENTITY CASCADE")


@pytest.fixture
def db_url(migrated_url: str) -> str:
    """The migrated session database, emptied for this test."""
    _truncate_all(migrated_url)
    return migrated_url


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[Any]:
    p = await open_pool(db_url, 1, 8)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def ctx(pool: Any, db_url: str) -> AsyncIterator[Context]:
    """A Context as the server builds one, without the server: every installed plugin and a running Ingestor.

    Nothing runs the escalation engine; a test runs it itself, on ``clock``. A module that needs
    more in the context (its typed service fields) overrides this fixture, asking for it by the same name.
    """
    _, registry = load_plugins()
    ingestor = Ingestor(pool)
    ingestor.start()
    context = Context(
        settings=Settings(database_url=db_url), pool=pool, registry=registry, ingestor=ingestor, database_url=db_url
    )
    # grouping rules a test stores apply once it awaits ``ctx.ingestor.grouping.refresh()``
    ingestor.grouping = GroupingCache(pool, pick_router(context))
    await ingestor.grouping.refresh()
    yield context
    await context.listener.close()
    await ingestor.stop()


@pytest.fixture
def clock() -> Clock:
    """A frozen clock: time moves only when the test advances it."""
    c = Clock()
    c.freeze()
    return c


@dataclass
class RunningServer:
    """An in-process ``oncall serve`` on ephemeral ports."""

    ctx: Context
    http_url: str
    grpc_target: str
    keys: dict[str, str] = field(default_factory=dict)
    #: an admin API key, made as ``oncall keys create --role admin`` makes one
    admin_key: str = ""

    def channel(self, token: str | None = None, **kwargs: Any) -> grpc.aio.Channel:
        """A channel to the server that sends ``token`` (default: the admin key) with every call."""
        return keyed_channel(self.grpc_target, token or self.admin_key, **kwargs)

    async def integration(self, source: str, name: str | None = None) -> tuple[int, str]:
        """Create an integration for ``source``; return (id, key)."""
        integ, key = await store.create_integration(self.ctx.pool, source, name or f"{source}-{uuid.uuid4().hex[:6]}")
        return integ.id, key


@contextlib.asynccontextmanager
async def run_server(settings: Settings) -> AsyncIterator[RunningServer]:
    from oncall.server import serve

    stop = asyncio.Event()
    ready: asyncio.Future[Context] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, stop=stop, on_ready=ready.set_result))
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what startup raised
        raise RuntimeError("server exited during startup")
    ctx = ready.result()
    try:
        _, admin_key = await make_key(ctx.pool, "admin", name="test-admin")
        yield RunningServer(
            ctx=ctx,
            http_url=f"http://127.0.0.1:{ctx.http_port}",
            grpc_target=f"127.0.0.1:{ctx.grpc_port}",
            admin_key=admin_key,
        )
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


def server_settings(db_url: str, **overrides: Any) -> Settings:
    base = dict(
        database_url=db_url,
        http_addr="127.0.0.1:0",
        grpc_addr="127.0.0.1:0",
        shutdown_grace_s=2.0,
        pool_min=1,
        pool_max=8,
    )
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
async def server(db_url: str) -> AsyncIterator[RunningServer]:
    """The whole server, in this process, with every installed plugin."""
    async with run_server(server_settings(db_url)) as running:
        yield running


@pytest.fixture
async def grpc_channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    """An asyncio gRPC channel to ``server`` that sends its admin key with every call, closed after the test."""
    async with server.channel() as channel:
        yield channel
