"""The core's view of the user directory: the chosen Directory behind a short cache that
outlives outages, so a page never waits long for, nor is dropped because of, a directory
that blinked.

    directory = open_directory(ctx.registry.directories)   # ONCALL_DIRECTORY, default "local"
    found = await directory.contact_methods("alice")
    found.value, found.stale, found.known

Answers are cached for ``ttl_s`` (ONCALL_DIRECTORY_CACHE_TTL_S, default 60). When the cached
answer is older than that and the directory cannot answer (down, unreachable, slower than
``timeout_s``: ONCALL_DIRECTORY_TIMEOUT_S, default 1), the last answer is returned marked
stale, and one WARNING per user per outage names the user and the age of the data. For
``retry_after_s`` after a failure the directory is not asked at all, so an outage costs one
timeout per few seconds rather than one per page.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from oncall_hookspecs import ContactMethod, Directory, DirectoryUnsupported, User, UserFinder, UserQuery

from .errors import DirectoryError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DIRECTORY = "local"
DEFAULT_TTL_S = 60.0
DEFAULT_TIMEOUT_S = 1.0
DEFAULT_RETRY_AFTER_S = 5.0
# An empty answer (no such user, no contact methods) is usually someone about to be added:
# it is trusted for a shorter time so the fix shows up within seconds.
DEFAULT_NEGATIVE_TTL_S = 5.0
# a directory whose server lacked FindUsers is asked again after this long (it may be upgraded)
UNSUPPORTED_RECHECK_S = 300.0

# Failures that mean "the directory cannot answer now". Anything else is a bug in a
# directory plugin and propagates.
_OUTAGE = (DirectoryError, TimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class Lookup(Generic[T]):
    """One answer, and how much to trust it.

    ``known``: the directory answered for this key at least once, and ``value`` is that
    answer; when False, ``value`` is empty (None or ``()``) because nothing is known.
    ``stale``: ``value`` is the last known answer, older than the cache's TTL, because the
    directory could not be asked now; ``error`` then says why. ``age_s``: seconds since the
    directory gave ``value`` (0 for an answer just fetched, and when nothing is known).
    """

    value: T
    known: bool
    stale: bool = False
    age_s: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class _Entry:
    value: Any
    at: float  # on the cache's clock


class CachedDirectory:
    """Wraps a :class:`~oncall_hookspecs.Directory`: cached lookups that never raise for an outage.

    It also satisfies the Directory protocol itself (``get_user`` and friends give the
    values alone), for callers that want the data and not the freshness.
    """

    def __init__(
        self,
        directory: Directory,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        negative_ttl_s: float = DEFAULT_NEGATIVE_TTL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.name = directory.name
        self.ttl_s = ttl_s
        self.negative_ttl_s = min(negative_ttl_s, ttl_s)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._down_until: float | None = None  # set while an outage is assumed
        self._down_reason = ""
        self._warned: set[str] = set()  # users whose staleness this outage has logged
        self._unsupported_until = 0.0  # FindUsers was UNIMPLEMENTED: not asked again before this

    def __repr__(self) -> str:
        return f"CachedDirectory({self.directory!r}, ttl_s={self.ttl_s}, timeout_s={self.timeout_s})"

    # ------------------------------------------------------------------ lookups

    async def contact_methods(self, user_id: str) -> Lookup[tuple[ContactMethod, ...]]:
        """How to reach ``user_id``, in the order to try; empty when nothing is known."""
        return await self._lookup(
            "contact_methods", user_id, (),
            lambda: self._as_tuple(self.directory.get_contact_methods(user_id)),
        )

    async def user(self, user_id: str) -> Lookup[User | None]:
        """The user's profile; None when the directory has no such user or nothing is known."""
        return await self._lookup("user", user_id, None, lambda: self.directory.get_user(user_id))

    async def users(self, user_ids: Sequence[str]) -> dict[str, Lookup[User | None]]:
        """Several profiles: the expired or unknown ones are fetched in one ``get_users`` call."""
        wanted = list(dict.fromkeys(user_ids))
        now = self._clock()
        result: dict[str, Lookup[User | None]] = {}
        missing = []
        for uid in wanted:
            entry = self._entries.get(("user", uid))
            if entry is not None and self._fresh(entry, now):
                result[uid] = Lookup(entry.value, known=True, age_s=now - entry.at)
            else:
                missing.append(uid)
        if missing:
            failure = self._known_down(now)
            if failure is None:
                try:
                    found = await asyncio.wait_for(self.directory.get_users(missing), self.timeout_s)
                except _OUTAGE as exc:
                    failure = self._went_down(exc)
                else:
                    self._answered()
                    by_id = {u.id: u for u in found}
                    at = self._clock()
                    for uid in missing:
                        self._store(("user", uid), by_id.get(uid), at)
                        result[uid] = Lookup(by_id.get(uid), known=True)
            if failure is not None:
                for uid in missing:
                    result[uid] = self._fallback("user", uid, None, failure)
        return {uid: result[uid] for uid in wanted}

    async def find_users(self, query: UserQuery) -> list[User] | None:
        """The users matching ``query``, asked of the directory (not cached: a reverse lookup
        is rare, and must see a contact just added); None when the directory cannot search
        (it is no ``UserFinder``, its server lacks the call, or it cannot be reached now), so
        the caller falls back to what it can do without."""
        finder = self.directory
        now = self._clock()
        if not isinstance(finder, UserFinder) or now < self._unsupported_until:
            return None
        if self._known_down(now) is not None:
            return None
        try:
            found = await asyncio.wait_for(finder.find_users(query), self.timeout_s)
        except DirectoryUnsupported as exc:
            log.info("directory %s cannot find users (%s): looking them up one by one instead", self.name, exc)
            self._unsupported_until = self._clock() + UNSUPPORTED_RECHECK_S
            return None
        except _OUTAGE as exc:
            self._went_down(exc)
            return None
        self._answered()
        return found

    # the Directory protocol, for callers that want values only
    async def get_user(self, user_id: str) -> User | None:
        return (await self.user(user_id)).value

    async def get_users(self, user_ids: Sequence[str]) -> list[User]:
        return [lk.value for lk in (await self.users(user_ids)).values() if lk.value is not None]

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        return list((await self.contact_methods(user_id)).value)

    async def aclose(self) -> None:
        """Close the wrapped directory's connections, when it has any."""
        close = getattr(self.directory, "aclose", None)
        if close is not None:
            await close()

    # ------------------------------------------------------------------ the cache

    @staticmethod
    async def _as_tuple(call: Awaitable[list[ContactMethod]]) -> tuple[ContactMethod, ...]:
        return tuple(await call)

    def _fresh(self, entry: _Entry, now: float) -> bool:
        ttl = self.ttl_s if entry.value else self.negative_ttl_s
        return now - entry.at < ttl

    def _store(self, key: tuple[str, str], value: Any, at: float) -> None:
        self._entries.pop(key, None)  # re-inserted last: the dict's order is age order
        self._entries[key] = _Entry(value, at)
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    async def _lookup(self, kind: str, user_id: str, empty: T, fetch: Callable[[], Awaitable[T]]) -> Lookup[T]:
        now = self._clock()
        entry = self._entries.get((kind, user_id))
        if entry is not None and self._fresh(entry, now):
            return Lookup(entry.value, known=True, age_s=now - entry.at)
        failure = self._known_down(now)
        if failure is None:
            try:
                value = await asyncio.wait_for(fetch(), self.timeout_s)
            except _OUTAGE as exc:
                failure = self._went_down(exc)
            else:
                self._answered()
                self._store((kind, user_id), value, self._clock())
                return Lookup(value, known=True)
        return self._fallback(kind, user_id, empty, failure)

    # ------------------------------------------------------------------ outages

    def _known_down(self, now: float) -> str | None:
        """Why the directory is not worth asking now, or None to ask it."""
        if self._down_until is not None and now < self._down_until:
            return self._down_reason
        return None

    def _went_down(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {self.timeout_s:g} s"
        else:
            reason = str(exc) or type(exc).__name__
        if self._down_until is None:
            log.warning("directory %s cannot be reached: %s", self.name, reason)
        self._down_until = self._clock() + self.retry_after_s
        self._down_reason = reason
        return reason

    def _answered(self) -> None:
        if self._down_until is not None:
            log.info("directory %s answers again; fresh data from now on", self.name)
        self._down_until = None
        self._warned.clear()

    def _fallback(self, kind: str, user_id: str, empty: T, reason: str) -> Lookup[T]:
        entry = self._entries.get((kind, user_id))
        first = user_id not in self._warned
        self._warned.add(user_id)
        if entry is None:
            if first:
                log.warning(
                    "directory %s cannot be reached (%s) and nothing is known about user %s",
                    self.name, reason, user_id,
                )
            return Lookup(empty, known=False, error=reason)
        age = self._clock() - entry.at
        if first:
            log.warning(
                "directory %s cannot be reached (%s): using what it said about user %s %.0f s ago",
                self.name, reason, user_id, age,
            )
        return Lookup(entry.value, known=True, stale=True, age_s=age, error=reason)


# --------------------------------------------------------------------------- choosing one


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise SystemExit(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def open_directory(
    directories: Mapping[str, Directory], env: Mapping[str, str] | None = None
) -> CachedDirectory | None:
    """The directory named by ``ONCALL_DIRECTORY`` (default ``local``), cached.

    None when it is set to ``none``, or names no registered directory (logged as an error:
    pages are then recorded without contact methods). Raises SystemExit for a malformed
    ``ONCALL_DIRECTORY_CACHE_TTL_S`` or ``ONCALL_DIRECTORY_TIMEOUT_S``.
    """
    env = os.environ if env is None else env
    chosen = (env.get("ONCALL_DIRECTORY") or "").strip()
    name = chosen or DEFAULT_DIRECTORY
    ttl = _seconds(env, "ONCALL_DIRECTORY_CACHE_TTL_S", DEFAULT_TTL_S)
    timeout = _seconds(env, "ONCALL_DIRECTORY_TIMEOUT_S", DEFAULT_TIMEOUT_S)
    if name == "none":
        log.info("ONCALL_DIRECTORY=none: pages are recorded without contact methods")
        return None
    directory = directories.get(name)
    if directory is None:
        # a directory someone chose and didn't get is an error; the default's absence is a
        # deployment that has not set one up yet
        log.log(
            logging.ERROR if chosen else logging.WARNING,
            "ONCALL_DIRECTORY=%s names no registered directory (registered: %s): "
            "pages are recorded without contact methods",
            name, ", ".join(sorted(directories)) or "none",
        )
        return None
    log.info("user directory: %s (cache %g s, timeout %g s)", name, ttl, timeout)
    return CachedDirectory(directory, ttl_s=ttl, timeout_s=timeout)
