"""One-click action links: a random token of which only the hash is stored, made with a
delivery (the worker) and spent once at ``/a/<token>`` (the channels' host)."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> bytes:
    """The stored form of a link's token (SHA-256)."""
    # surrogatepass: a key taken from a request may hold a lone surrogate, and must still hash
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
