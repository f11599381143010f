"""The running server's composition root: settings, pool, plugin registry, ingestor, caches,
and the services the server wires at startup, each a typed field."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .alerting import store
from .alerting.ingest import Ingestor
from .alerting.models import Integration
from .config import Settings
from .plugins import Registry
from .store.database import UNREACHABLE, Pool, unavailable
from .store.listen import Listener

if TYPE_CHECKING:
    from .auth.access import Access
    # type-only: each of these modules builds on Context, so none is imported when this one runs
    from .directory.client import CachedDirectory
    from .events import EventHub
    from .notification.actions import Host
    from .notification.renderpool import RenderPool
    from .notification.watch import StatusWatcher
    from .routing.route import Routing
    from .schedules.store import ScheduleCache

#: the user ids on call on a schedule at an instant
ScheduleResolver = Callable[[str, datetime], Awaitable[list[str]]]


class KeyCache:
    """Integration keys → integrations, cached briefly so a webhook costs no extra query.

    Unknown keys are cached for a shorter time so a new key works almost at once, while a
    flood of bad keys still can't become a flood of queries.

    When the database can't be reached, a key looked up in the last ``stale_grace`` seconds
    keeps its last answer (stale-if-error): the webhook goes on to be refused for what it
    is (a wrong key 401, another source's key 403, a bad body 400) or to meet the database
    itself (503), rather than every request failing alike. A key never seen, or seen longer
    ago, raises Unavailable (503). Nothing is written on a stale answer that couldn't be
    written on a fresh one: the database being down, the alert is refused either way. For
    ``retry_after`` seconds after a failed lookup, known keys are answered from the cache
    without asking again, so a request meets the outage once (at the ingest), not twice.
    """

    def __init__(
        self,
        pool: Pool,
        ttl: float = 10.0,
        negative_ttl: float = 1.0,
        stale_grace: float = 600.0,
        retry_after: float = 2.0,
    ) -> None:
        self._pool = pool
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._stale_grace = stale_grace
        self._retry_after = retry_after
        self._unreachable_until = 0.0
        self._entries: dict[bytes, tuple[float, Integration | None]] = {}

    async def lookup(self, key: str) -> Integration | None:
        h = store.hash_key(key)
        now = time.monotonic()
        hit = self._entries.get(h)
        if hit is not None and hit[0] > now:
            return hit[1]
        stale = hit is not None and now - hit[0] < self._stale_grace
        if stale and now < self._unreachable_until:
            return hit[1]  # type: ignore[index]
        try:
            integ = await store.find_integration_by_key(self._pool, key)
        except UNREACHABLE as exc:
            self._unreachable_until = time.monotonic() + self._retry_after
            if stale:
                return hit[1]  # type: ignore[index]
            raise unavailable(exc) from None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[h] = (now + (self._ttl if integ else self._negative_ttl), integ)
        return integ

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class Context:
    """What every service of one process shares. ``server._running_core`` wires the services
    below; a field left None is a service this process (a role, a test) runs without."""

    settings: Settings
    pool: Pool
    registry: Registry
    ingestor: Ingestor
    database_url: str
    keys: KeyCache = field(init=False)
    # the process's one LISTEN connection (store/listen.py): everything woken by NOTIFY registers here
    listener: Listener = field(init=False)
    # where templates render: the server's render processes; None renders in this process
    render_pool: RenderPool | None = None
    # the user directory (ONCALL_DIRECTORY); None: pages carry no contact methods
    directory: CachedDirectory | None = None
    # who is on call on a schedule; None: a step's request names the schedule itself
    schedule_resolver: ScheduleResolver | None = None
    # the process's schedule cache (made on first use by ``schedules.store.cache_for``)
    schedule_cache: ScheduleCache | None = None
    # committed alert events, fanned out to WatchAlerts streams and the delivery worker
    events: EventHub | None = None
    # the routing pass the engine routes with, shared by TestRoute and the rule and silence services
    routing: Routing | None = None
    # what channel plugins call back into (one-click links, inbound actions)
    notification_host: Host | None = None
    # notification status changes for WatchNotification (made on first use by ``watch.watcher_for``)
    notification_watcher: StatusWatcher | None = None
    # who is calling and what they may do (auth/access.py); None: the process serves no door that asks
    access: Access | None = None
    # the ports the server listens on, once it does
    http_port: int | None = None
    grpc_port: int | None = None

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.pool)
        self.listener = Listener(self.database_url)
