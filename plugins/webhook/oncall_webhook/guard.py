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

An IPv6 address that carries an IPv4 address (IPv4-mapped, -compatible and -translated,
NAT64, 6to4, Teredo) reaches that IPv4 address through the kernel or a translator, so the
IPv4 address is checked too, by the same rules: ``64:ff9b::a9fe:a9fe`` is the metadata
service. Where the embedding depends on how a network is set up (a local-use NAT64
prefix), every position it may take is checked.
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


def _without_scope(addr: IPAddress) -> IPAddress:
    # fd00:ec2::254%eth0 is still fd00:ec2::254
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        return ipaddress.IPv6Address(int(addr))
    return addr


_V6 = ipaddress.IPv6Network
#: the IPv6 ranges whose addresses carry an IPv4 address, most specific first
_IPV4_MAPPED = _V6("::ffff:0:0/96")  # RFC 4291: the kernel connects to it over IPv4
_IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
_IPV4_COMPATIBLE = _V6("::/96")  # RFC 4291, deprecated; :: and ::1 are themselves
_NAT64 = _V6("64:ff9b::/96")  # RFC 6052, the well-known prefix
_NAT64_LOCAL = _V6("64:ff9b:1::/48")  # RFC 8215: a network's own prefix of /48 to /96 inside it
_6TO4 = _V6("2002::/16")  # RFC 3056: the relay's IPv4 address in bits 16-47
_TEREDO = _V6("2001::/32")  # RFC 4380: server in bits 32-63, client (inverted) in the last 32


def _bits(value: int, first: int, count: int) -> int:
    """``count`` bits of a 128-bit address from bit ``first`` (bit 0 the most significant)."""
    return (value >> (128 - first - count)) & ((1 << count) - 1)


def embedded_ipv4(addr: IPAddress) -> list[tuple[ipaddress.IPv4Address, str]]:
    """Each IPv4 address a connection to ``addr`` may reach, with the form that embeds it.

    Empty for an address of no such form. A local-use NAT64 address gives one per RFC 6052
    position (prefix lengths 48, 56, 64 and 96; bits 64-71 are skipped below /96), since the
    guard cannot know which one the network's translator uses.
    """
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    n = int(addr)
    v4 = ipaddress.IPv4Address
    if addr in _IPV4_MAPPED:
        return [(v4(_bits(n, 96, 32)), "IPv4-mapped")]
    if addr in _IPV4_TRANSLATED:
        return [(v4(_bits(n, 96, 32)), "IPv4-translated")]
    if addr in _IPV4_COMPATIBLE:
        return [(v4(_bits(n, 96, 32)), "IPv4-compatible")] if n > 1 else []
    if addr in _NAT64:
        return [(v4(_bits(n, 96, 32)), "NAT64")]
    if addr in _NAT64_LOCAL:
        positions = {
            48: _bits(n, 48, 16) << 16 | _bits(n, 72, 16),
            56: _bits(n, 56, 8) << 24 | _bits(n, 72, 24),
            64: _bits(n, 72, 32),
            96: _bits(n, 96, 32),
        }
        return [(v4(ip), f"local-use NAT64 with a /{length} prefix") for length, ip in positions.items()]
    if addr in _6TO4:
        return [(v4(_bits(n, 16, 32)), "6to4")]
    if addr in _TEREDO:
        return [(v4(_bits(n, 32, 32)), "Teredo server"), (v4(_bits(n, 96, 32) ^ 0xFFFFFFFF), "Teredo client")]
    return []


def check_host_name(host: str) -> None:
    """Raise DestinationRefused when ``host`` names a metadata service (before it is resolved)."""
    cloud = METADATA_HOST_NAMES.get(_normalise(host))
    if cloud is not None:
        raise DestinationRefused(
            f"refused {host}: it is the name of a cloud metadata service ({cloud}), which webhooks may never reach"
        )


def _never_allowed(addr: IPAddress) -> tuple[int, str] | None:
    """Why an address is refused whatever the settings say (ranked: 0 names a metadata
    service, so a refusal mentions it first), or None."""
    if addr.is_link_local:
        return 0, "a link-local address (where cloud metadata services live)"
    if addr in METADATA_ADDRESSES:
        return 0, f"a cloud metadata address ({METADATA_ADDRESSES[addr]})"
    if addr.is_unspecified:
        return 1, "the unspecified address"
    if addr.is_multicast:
        return 1, "a multicast address"
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
        addr = _without_scope(raw)
        embedded = embedded_ipv4(addr)
        # what the connection reaches: the address itself (an IPv4-mapped one is only its IPv4
        # address, which the kernel connects to) and every IPv4 address it carries
        reached: list[tuple[IPAddress, str]] = [] if addr in _IPV4_MAPPED else [(addr, "")]
        reached += [(ip, f", which embeds {ip} ({form})") for ip, form in embedded]
        never = [(found, embeds) for target, embeds in reached if (found := _never_allowed(target))]
        if never:
            (_, reason), embeds = min(never, key=lambda refusal: refusal[0][0])
            raise DestinationRefused(
                f"refused {host}: it resolves to {addr}{embeds}, {reason}, which webhooks may never reach"
            )
        if allow.empty:
            if not public_only:
                continue
            for target, embeds in reached:
                if not target.is_global:
                    raise DestinationRefused(
                        f"refused {host}: it resolves to {addr}{embeds}, {_kind(target)}, and {PUBLIC_ONLY_VAR} "
                        f"allows public addresses only; list the destinations in {ALLOWED_HOSTS_VAR} instead"
                    )
        elif not (
            name_allowed
            or allow.allows_address(addr)
            or (embedded and all(allow.allows_address(ip) for ip, _ in embedded))
        ):
            raise DestinationRefused(
                f"refused {host}: it resolves to {addr}, which {ALLOWED_HOSTS_VAR} "
                f"({allow.describe()}) does not allow"
            )


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (aiohttp connects to those without resolving).

    Raises DestinationRefused for a host aiohttp would take for an IP literal (all digits and
    dots, or any colon) that is no standard one (``127.1``, ``2130706433``): the socket layer
    may still read it as an address, and the resolver would never see it.
    """
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if ":" in text or text.replace(".", "").isdigit():
        raise DestinationRefused(f"refused {host}: it is not a standard IP address (write it as a.b.c.d or IPv6)")
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
