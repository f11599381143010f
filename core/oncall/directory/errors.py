"""What a directory raises when it cannot answer: the core tells an outage from a bad answer."""

from __future__ import annotations


class DirectoryError(Exception):
    """The directory failed to answer (refused the call, answered garbage, rejected the token).

    ``CachedDirectory`` falls back to the last known data on any of these: a page goes out
    to the contact methods the directory last gave rather than to none.
    """


class DirectoryUnavailable(DirectoryError):
    """The directory cannot be reached now (down, unreachable, too slow): an outage."""
