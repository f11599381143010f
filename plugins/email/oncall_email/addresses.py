"""Checking email addresses before they reach a relay: a malformed one fails fast and permanently.

A relay would refuse most malformed addresses itself, but only after a connection, a TLS
handshake and a login, and sometimes with a 4xx that would be retried for nothing. Worse,
a destination carrying CR/LF could smuggle headers or SMTP commands. So every address is
parsed here with the standard library's RFC 5322 parser and checked more strictly than
the grammar requires.
"""

from __future__ import annotations

import ipaddress
import re
from email.errors import MessageError
from email.headerregistry import Address, HeaderRegistry

#: RFC 5321 limits: 64 octets of local part, 254 of whole path
_MAX_LOCAL = 64
_MAX_ADDRESS = 254
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_HEADERS = HeaderRegistry()


class InvalidAddress(ValueError):
    """The value is not a single, well-formed email address; the message says why."""


def parse_address(value: str) -> Address:
    """A bare ``local@domain`` address, its domain converted to ASCII (IDNA).

    Raises InvalidAddress for anything else: display names, lists, comments, control
    characters, non-ASCII local parts, domains that are not host names or IP literals.
    """
    text = value.strip()
    if not text:
        raise InvalidAddress("the address is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidAddress(f"the address {value!r} contains control characters")
    try:
        parsed = Address(addr_spec=text)
    except (MessageError, ValueError, IndexError) as exc:
        # IndexError: the parser trips over a trailing "@" instead of reporting it
        raise InvalidAddress(f"{text!r} is not an email address ({exc or 'incomplete'})") from None
    return _checked(parsed.username, parsed.domain, display_name="", original=text)


def parse_mailbox(value: str) -> Address:
    """One mailbox, with an optional display name: ``OnCall <oncall@example.com>``."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidAddress(f"the address {value!r} contains control characters")
    try:
        header = _HEADERS("From", value.strip())
    except (MessageError, ValueError, IndexError) as exc:
        raise InvalidAddress(f"{value!r} is not an email address ({exc or 'incomplete'})") from None
    addresses = header.addresses  # type: ignore[attr-defined]
    if header.defects or len(addresses) != 1:
        raise InvalidAddress(f"{value!r} is not a single email address")
    mailbox = addresses[0]
    # the display-name form hides what the strict parser would refuse in the address itself
    parse_address(mailbox.addr_spec)
    return _checked(mailbox.username, mailbox.domain, display_name=mailbox.display_name, original=value)


def _checked(username: str, domain: str, *, display_name: str, original: str) -> Address:
    if not username or not domain:
        raise InvalidAddress(f"{original!r} is not an email address (it needs a local part and a domain)")
    if len(username.encode("utf-8")) > _MAX_LOCAL:
        raise InvalidAddress(f"{original!r}: the part before '@' is longer than {_MAX_LOCAL} characters")
    ascii_domain = _ascii_domain(domain, original)
    address = Address(display_name=display_name, username=username, domain=ascii_domain)
    if len(address.addr_spec) > _MAX_ADDRESS:
        raise InvalidAddress(f"{original!r} is longer than {_MAX_ADDRESS} characters")
    return address


def _ascii_domain(domain: str, original: str) -> str:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal.lower().startswith("ipv6:"):
            literal = literal[5:]
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            raise InvalidAddress(f"{original!r}: {domain} is not an IP address literal") from None
        return domain
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidAddress(f"{original!r}: {domain!r} is not a valid domain name") from None
    labels = ascii_domain.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise InvalidAddress(f"{original!r}: {domain!r} is not a valid domain name")
    return ascii_domain.rstrip(".")
