"""The running server's shared state: settings, pool, plugin registry, ingestor, caches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool

from .alerting import store
from .alerting.ingest import Ingestor
from .alerting.models import Integration
from .config import Settings
from .plugins import Registry

if TYPE_CHECKING:
    from .notification.renderpool import RenderPool


class KeyCache:
    """Integration keys → integrations, cached briefly so a webhook costs no extra query.

    Unknown keys are cached for a shorter time so a new key works almost at once, while a
    flood of bad keys still can't become a flood of queries.
    """

    def __init__(self, pool: AsyncConnectionPool, ttl: float = 10.0, negative_ttl: float = 1.0) -> None:
        self._pool = pool
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._entries: dict[bytes, tuple[float, Integration | None]] = {}

    async def lookup(self, key: str) -> Integration | None:
        h = store.hash_key(key)
        now = time.monotonic()
        hit = self._entries.get(h)
        if hit is not None and hit[0] > now:
            return hit[1]
        integ = await store.find_integration_by_key(self._pool, key)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[h] = (now + (self._ttl if integ else self._negative_ttl), integ)
        return integ

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class Context:
    settings: Settings
    pool: AsyncConnectionPool
    registry: Registry
    ingestor: Ingestor
    database_url: str
    keys: KeyCache = field(init=False)
    extras: dict[str, Any] = field(default_factory=dict)
    # where templates render: the server's render processes; None renders in this process
    render_pool: RenderPool | None = None

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.pool)
