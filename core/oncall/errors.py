"""Domain errors, and the one place they map to gRPC status codes and HTTP statuses."""

from __future__ import annotations

import grpc


class OnCallError(Exception):
    """A failure the caller can act on. ``code`` is a short machine-readable name."""

    code = "error"
    http_status = 400
    grpc_status = grpc.StatusCode.UNKNOWN

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidArgument(OnCallError):
    code = "invalid_argument"
    http_status = 400
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(OnCallError):
    code = "not_found"
    http_status = 404
    grpc_status = grpc.StatusCode.NOT_FOUND


class AlreadyExists(OnCallError):
    code = "already_exists"
    http_status = 409
    grpc_status = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(OnCallError):
    code = "failed_precondition"
    http_status = 409
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(OnCallError):
    code = "unauthorized"
    http_status = 401
    grpc_status = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(OnCallError):
    code = "forbidden"
    http_status = 403
    grpc_status = grpc.StatusCode.PERMISSION_DENIED


class PayloadTooLarge(OnCallError):
    code = "payload_too_large"
    http_status = 413
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(OnCallError):
    code = "unavailable"
    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
