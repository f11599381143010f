"""Pages of a list: the page size a call may ask, and the token that continues from the last row's id.

Alerts, incidents and the audit log page newest first, integrations oldest first, all the
same way: by a bigint id, with a token this server issued (``{"before": <id>}`` or
``{"after": <id>}`` in URL-safe base64) and nothing else.
"""

from __future__ import annotations

import base64

import orjson

from ..errors import InvalidArgument

MAX_ID = 2**63 - 1  # the ids are bigints


def encode_page_token(last_id: int, key: str = "before") -> str:
    """A page token continuing ``before`` (newest first) or ``after`` (oldest first) ``last_id``."""
    return base64.urlsafe_b64encode(orjson.dumps({key: last_id})).decode().rstrip("=")


def decode_page_token(token: str, key: str = "before") -> int:
    """The id a page token continues before (or after, with ``key="after"``). Only a token this
    server issues is accepted: one that decodes to ``{"before": <id>}``, a bigint above 0, and
    encodes back to itself."""
    try:
        body = orjson.loads(base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True))
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not JSON
        body = None
    before = body.get(key) if isinstance(body, dict) and len(body) == 1 else None
    # type() rather than isinstance(): JSON true is a Python bool, and bool is an int
    if type(before) is not int or not 0 < before <= MAX_ID or encode_page_token(before, key) != token:
        raise InvalidArgument("invalid page token: page_token must be the next_page_token of the previous page")
    return before


def page_size_within(page_size: int) -> int:
    """A list call's page size: 50 when unset, at most 1,000."""
    return 50 if page_size <= 0 else min(page_size, 1000)
