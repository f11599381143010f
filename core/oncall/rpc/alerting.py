"""The alerting service's gRPC servicers (oncall.alerting.v1)."""

from __future__ import annotations

import grpc

from ..context import Context


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the alerting servicers to ``server``; return their full service names."""
    return []
