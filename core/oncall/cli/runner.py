"""The one runner every command goes through: an event loop, a migrated database, a pool, one sentence per refusal."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..config import Settings
from ..errors import OnCallError


def run_loop(coro: Awaitable[int]) -> int:
    """Run ``coro`` to its exit code, on uvloop when it is installed."""
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def run(
    settings: Settings, fn: Callable[..., Awaitable[int]], *, plugins: bool = False, refusal: str = "oncall",
) -> int:
    """Run ``fn(pool)`` — ``fn(pool, registry)`` with ``plugins`` — on a migrated database.

    A domain refusal ("already exists", "not found") prints ``<refusal>: <sentence>`` and
    exits 1, rather than a traceback.
    """
    from ..plugins import load_plugins
    from ..store.database import open_pool, resolve_database_url
    from ..store.migrate import apply_migrations

    async def go() -> int:
        url = await asyncio.to_thread(resolve_database_url, settings)
        await apply_migrations(url)
        args: tuple[Any, ...] = (load_plugins(settings.disabled_plugins)[1],) if plugins else ()
        pool = await open_pool(url, 1, 2)
        try:
            return await fn(pool, *args)
        except OnCallError as exc:
            print(f"{refusal}: {exc.detail}", file=sys.stderr)
            return 1
        finally:
            await pool.close()

    return run_loop(go())


def key_values(pairs: Sequence[str] | None, flag: str = "--label") -> dict[str, str]:
    """``["k=v", …]`` from repeated CLI flags (--label, --annotation …) as a mapping."""
    out = {}
    for pair in pairs or []:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise SystemExit(f"{flag} takes key=value, got {pair!r}")
        out[k] = v
    return out
