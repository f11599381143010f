"""Password login through the user directory: the check the web login route calls, with failed
attempts throttled per user and per client address.

    login = PasswordLogin(directory)          # the chosen Directory (ctx.directory.directory)
    result = await login.check("alice", password, address=request.remote)
    result.user          # the User when the password is theirs, else None
    result.message       # what to show: the same sentence for a wrong user and a wrong password

The answer never says which of user or password was wrong: an unknown user, a user without a
password and a wrong password are one refusal (``REFUSED``), and the directory takes about as
long for each. Throttling counts an attempt as failed from the moment it starts (so a burst of
concurrent guesses counts whole) and forgives it when the password was right: at most
``per_user`` failures per login name and ``per_address`` per client address (an IPv6 client by
its /64, which one host usually holds whole) within ``window_s``; beyond that an attempt is
refused without asking the directory, until the oldest failure leaves the window. The counts
live in this process (each replica counts its own), on the one clock the core reads.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass

from oncall_hookspecs import Directory, DirectoryUnsupported, PasswordDirectory, User

from ..clock import SYSTEM_CLOCK, Clock

REFUSED = "invalid user or password"

DEFAULT_PER_USER = 5
DEFAULT_PER_ADDRESS = 20
DEFAULT_WINDOW_S = 15 * 60.0


@dataclass(frozen=True, slots=True)
class LoginResult:
    """``user`` when the password was right; else ``message`` says why not, and
    ``retry_after_s`` > 0 when the attempt was throttled (a 429's ``Retry-After``)."""

    user: User | None
    message: str = ""
    retry_after_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.user is not None


def address_key(address: str) -> str:
    """The client address failures count against: an IPv4 address (an IPv4-mapped IPv6 one as
    the IPv4 it is), an IPv6 address's /64, anything else as it is."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """Failed logins per login name and per client address, in a sliding window."""

    def __init__(
        self,
        *,
        per_user: int = DEFAULT_PER_USER,
        per_address: int = DEFAULT_PER_ADDRESS,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Clock = SYSTEM_CLOCK,
        max_keys: int = 100_000,
    ) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _now(self) -> float:
        return self.clock.now().timestamp()

    @staticmethod
    def _keys(user: str, address: str) -> list[tuple[str, str]]:
        return [("user", "u:" + user.strip().casefold()), ("address", "a:" + address_key(address))]

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until ``user`` from ``address`` may try again; 0 when they may now."""
        now = self._now()
        wait = 0.0
        for kind, key in self._keys(user, address):
            times = self._recent(key, now)
            if len(times) >= self.limits[kind]:
                # the attempt that took the count to its limit must leave the window
                wait = max(wait, times[len(times) - self.limits[kind]] + self.window_s - now)
        return wait

    def begin(self, user: str, address: str) -> float:
        """Start an attempt: 0 and the attempt counted as failed until :meth:`forgive`, or the
        seconds to wait (nothing counted) when throttled."""
        wait = self.retry_after(user, address)
        if wait > 0:
            return wait
        now = self._now()
        for _, key in self._keys(user, address):
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            self._failures[key] = times  # re-inserted last: the dict's order is the order keys were used
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
        return 0.0

    def forgive(self, user: str, address: str, *, succeeded: bool) -> None:
        """Undo the attempt :meth:`begin` counted: it did not fail (the directory could not be
        asked), or it succeeded, which also clears the login name's earlier failures."""
        for kind, key in self._keys(user, address):
            times = self._failures.get(key)
            if not times:
                continue
            if succeeded and kind == "user":
                del self._failures[key]
            else:
                times.pop()
                if not times:
                    del self._failures[key]


class PasswordLogin:
    """Checks a login name and password against the directory, throttled (see the module)."""

    def __init__(self, directory: Directory, throttle: LoginThrottle | None = None) -> None:
        self.directory = directory
        self.throttle = throttle or LoginThrottle()

    @property
    def available(self) -> bool:
        """Whether the directory can check passwords at all (it may still answer UNIMPLEMENTED)."""
        return isinstance(self.directory, PasswordDirectory)

    async def check(self, user: str, password: str, *, address: str) -> LoginResult:
        """The user when ``password`` is theirs. Raises :class:`~oncall_hookspecs.DirectoryUnsupported`
        when the directory holds no passwords, and the directory's outage errors
        (:class:`~oncall.directory.errors.DirectoryError`, TimeoutError, OSError) when it cannot
        answer now; neither counts as a failed attempt."""
        directory = self.directory
        if not isinstance(directory, PasswordDirectory):
            raise DirectoryUnsupported(f"the {directory.name} directory holds no passwords")
        wait = self.throttle.begin(user, address)
        if wait > 0:
            return LoginResult(None, f"too many failed attempts; try again in {int(wait) + 1} s", wait)
        try:
            found = await directory.authenticate(user, password)
        except BaseException:
            self.throttle.forgive(user, address, succeeded=False)
            raise
        if found is None:
            return LoginResult(None, REFUSED)
        self.throttle.forgive(user, address, succeeded=True)
        return LoginResult(found)
