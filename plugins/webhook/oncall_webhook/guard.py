"""The destination guard: which addresses a webhook may reach, and a resolver that enforces it.

Templates choose webhook URLs, so without a guard an alert could make the server POST to
the cloud metadata service. Link-local, unspecified and multicast addresses and the
well-known metadata endpoints are refused whatever the settings say; beyond that,
``ONCALL_WEBHOOK_ALLOWED_HOSTS`` (when set) is the whole list, ``ONCALL_WEBHOOK_PUBLIC_ONLY``
(when the list is empty) keeps webhooks off loopback and private networks, and with
neither any other address may be reached, so a fresh install works with no settings.

Every address a destination resolves to is checked, and the connection is made to exactly
the addresses that were checked (the resolver below is the one aiohttp connects with), so
a DNS answer that changes between check and connect (DNS rebinding) cannot slip past.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_HOSTS_VAR = "ONCALL_WEBHOOK_ALLOWED_HOSTS"
PUBLIC_ONLY_VAR = "ONCALL_WEBHOOK_PUBLIC_ONLY"

#: metadata services reachable by name: refused before any DNS lookup, since on the cloud
#: in question the name resolves to the metadata service (``metadata`` via the search domain)
METADATA_HOST_NAMES: dict[str, str] = {
    "metadata.google.internal": "Google Cloud",
    "metadata.goog": "Google Cloud",
    "metadata": "Google Cloud, through the search domain",
}
#: metadata services outside the link-local ranges (those are refused as link-local anyway)
METADATA_ADDRESSES: dict[IPAddress, str] = {
    ipaddress.ip_address("fd00:ec2::254"): "AWS instance metadata over IPv6",
    ipaddress.ip_address("100.100.100.200"): "Alibaba Cloud instance metadata",
}

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class DestinationRefused(Exception):
    """A destination the guard will not connect to; the message says why, for the timeline.

    Deliberately not an OSError, so aiohttp lets it through unwrapped.
    """


def _valid_hostname(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


@dataclass(frozen=True, slots=True)
class AllowList:
    """``ONCALL_WEBHOOK_ALLOWED_HOSTS`` parsed: exact host names, ``*.suffix`` wildcards, CIDRs.

    Empty means "no list": any address the guard does not always refuse (or, with
    ``ONCALL_WEBHOOK_PUBLIC_ONLY``, any public one). Otherwise only what it names may be reached.
    """

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.com" for "*.example.com"
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """Parse the comma-separated setting; ValueError naming the variable and the bad entry."""
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for entry in (e.strip().lower() for e in raw.split(",")):
            if not entry:
                continue
            if "/" in entry or _is_ip(entry):
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(
                        f"{ALLOWED_HOSTS_VAR}: {entry!r} is not a valid IP address or CIDR"
                    ) from None
            elif entry.startswith("*."):
                suffix = _normalise(entry[2:])
                if not _valid_hostname(suffix):
                    raise ValueError(f"{ALLOWED_HOSTS_VAR}: {entry!r} is not a valid '*.domain' wildcard")
                suffixes.append("." + suffix)
            else:
                name = _normalise(entry)
                if not _valid_hostname(name):
                    raise ValueError(
                        f"{ALLOWED_HOSTS_VAR}: {entry!r} is not a host name, '*.domain' wildcard or CIDR"
                    )
                names.add(name)
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    @property
    def empty(self) -> bool:
        return not (self.names or self.suffixes or self.networks)

    def allows_name(self, host: str) -> bool:
        host = _normalise(host)
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def allows_address(self, addr: IPAddress) -> bool:
        return any(addr in net for net in self.networks)

    def describe(self) -> str:
        entries = sorted(self.names) + ["*" + s for s in self.suffixes] + [str(n) for n in self.networks]
        return ", ".join(entries)


def _normalise(host: str) -> str:
    return host.lower().rstrip(".")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _unmapped(addr: IPAddress) -> IPAddress:
    """The address as the guard compares it: IPv4-mapped forms as IPv4, without a scope id."""
    if isinstance(addr, ipaddress.IPv6Address):
        # ::ffff:169.254.169.254 reaches the same place as 169.254.169.254
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.scope_id is not None:  # fd00:ec2::254%eth0 is still fd00:ec2::254
            return ipaddress.IPv6Address(int(addr))
    return addr


def check_host_name(host: str) -> None:
    """Raise DestinationRefused when ``host`` names a metadata service (before it is resolved)."""
    cloud = METADATA_HOST_NAMES.get(_normalise(host))
    if cloud is not None:
        raise DestinationRefused(
            f"refused {host}: it is the name of a cloud metadata service ({cloud}), which webhooks may never reach"
        )


def _never_allowed(addr: IPAddress) -> str | None:
    """Why an address is refused whatever the settings say, or None."""
    if addr.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if addr in METADATA_ADDRESSES:
        return f"a cloud metadata address ({METADATA_ADDRESSES[addr]})"
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_multicast:
        return "a multicast address"
    return None


def _kind(addr: IPAddress) -> str:
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_private:
        return "a private address"
    return "a non-public address"


def check_addresses(host: str, addresses: list[IPAddress], allow: AllowList, *, public_only: bool = False) -> None:
    """Raise DestinationRefused unless every address ``host`` resolved to may be reached.

    ``public_only`` matters only while ``allow`` is empty: a set allowlist is the whole
    list, and allowing a private range in it is the way to reach one.
    """
    check_host_name(host)
    if not addresses:
        raise DestinationRefused(f"{host} resolved to no address")
    name_allowed = allow.allows_name(host)
    for raw in addresses:
        addr = _unmapped(raw)
        reason = _never_allowed(addr)
        if reason:
            raise DestinationRefused(
                f"refused {host}: it resolves to {addr}, {reason}, which webhooks may never reach"
            )
        if allow.empty:
            if public_only and not addr.is_global:
                raise DestinationRefused(
                    f"refused {host}: it resolves to {addr}, {_kind(addr)}, and {PUBLIC_ONLY_VAR} "
                    f"allows public addresses only; list the destinations in {ALLOWED_HOSTS_VAR} instead"
                )
        elif not (name_allowed or allow.allows_address(addr)):
            raise DestinationRefused(
                f"refused {host}: it resolves to {addr}, which {ALLOWED_HOSTS_VAR} "
                f"({allow.describe()}) does not allow"
            )


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (aiohttp connects to those without resolving)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for webhook sessions: resolves, checks, and returns only checked addresses."""

    def __init__(self, allow: AllowList, *, public_only: bool = False) -> None:
        self._allow = allow
        self._public_only = public_only

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        check_host_name(host)  # before the lookup: the name alone is reason enough
        loop = asyncio.get_running_loop()
        infos: list[tuple[Any, ...]] = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family, flags=getattr(socket, "AI_ADDRCONFIG", 0)
        )
        results: list[ResolveResult] = []
        addresses: list[IPAddress] = []
        for fam, _, proto, _, sockaddr in infos:
            if fam not in (socket.AF_INET, socket.AF_INET6):
                continue
            addr = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            addresses.append(addr)
            results.append(
                {
                    "hostname": host,
                    "host": str(addr),
                    "port": sockaddr[1],
                    "family": fam,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
            )
        check_addresses(host, addresses, self._allow, public_only=self._public_only)
        return results

    async def close(self) -> None:
        return None
