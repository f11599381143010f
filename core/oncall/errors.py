"""Domain errors: what went wrong, in the domain's words, with no transport's status codes.

Each door translates them in one table keyed by class: ``rpc/errors.py`` to gRPC status
codes, ``http/errors.py`` to HTTP statuses and the ``{"error", "detail"}`` body. A database
error becomes one of these once, at the store edge (``store/errors.py``).
"""

from __future__ import annotations


class OnCallError(Exception):
    """A failure the caller can act on; ``detail`` is the sentence the caller is shown."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidArgument(OnCallError):
    """The request holds something no call may hold (a missing name, a bad condition)."""


class NotFound(OnCallError):
    """What the request names does not exist."""


class AlreadyExists(OnCallError):
    """What the request creates exists already (a name taken)."""


class FailedPrecondition(OnCallError):
    """The request is well formed but the state it meets refuses it (in use, not open)."""


class Aborted(FailedPrecondition):
    """A concurrent change won (an expected version is no longer current): read again and retry."""


class Unauthenticated(OnCallError):
    """No credential, or one that is not valid."""


class PermissionDenied(OnCallError):
    """A valid credential that may not do this."""


class PayloadTooLarge(OnCallError):
    """The request is larger than the limit."""


class Unavailable(OnCallError):
    """Something the call needs (the database) cannot be reached now; retry later."""
