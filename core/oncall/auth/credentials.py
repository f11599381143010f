"""What the stored credentials share: each is kept only as its SHA-256, and a use is written at most once a minute.

API keys, session ids and pending logins' states are 256 bits of randomness (or near it),
so one fast hash is a safe one; ``TOUCH_EVERY`` bounds the last-use writes of a busy key
or session to one a minute, whichever replicas it calls.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

#: last use is written at most this often per key or session
TOUCH_EVERY = timedelta(minutes=1)


def digest(secret: str) -> bytes:
    """What is stored of ``secret``: its SHA-256."""
    return hashlib.sha256(secret.encode()).digest()
