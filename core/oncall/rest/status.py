"""The one table from a gRPC status to the HTTP status and ``error`` name a REST client gets.

The body is the project's ``{"error": name, "detail": sentence}``; the names are those the
other HTTP doors use for the same failure (``http/errors.py``). FAILED_PRECONDITION is 409,
as everywhere else in OnCall's HTTP: the request was well formed but the resource is not in
a state that allows it (acknowledging a resolved alert), which retrying unchanged won't fix.
"""

from __future__ import annotations

import grpc

#: gRPC status → (HTTP status, the body's ``error``)
HTTP_STATUS: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.OK: (200, "ok"),
    grpc.StatusCode.CANCELLED: (499, "cancelled"),
    grpc.StatusCode.UNKNOWN: (500, "internal"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_argument"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "deadline_exceeded"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "already_exists"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "resource_exhausted"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "failed_precondition"),
    grpc.StatusCode.ABORTED: (409, "aborted"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "out_of_range"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "unimplemented"),
    grpc.StatusCode.INTERNAL: (500, "internal"),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable"),
    grpc.StatusCode.DATA_LOSS: (500, "internal"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthorized"),
}

#: what a client reads for a 500: the gRPC door's sentence; the log has the rest
INTERNAL_DETAIL = "internal error"


def http_status(code: grpc.StatusCode) -> tuple[int, str]:
    """The HTTP status and error name for a gRPC status (``HTTP_STATUS``; 500 for one not listed)."""
    return HTTP_STATUS.get(code, (500, "internal"))
