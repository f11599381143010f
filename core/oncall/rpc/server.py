"""The gRPC server: every service of this process, plus health checking and reflection."""

from __future__ import annotations

import errno
import logging
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..auth.access import Access
from ..context import Context
from .access import AccessInterceptor
from ..tls import grpc_server_credentials
from .errors import ErrorMappingInterceptor

log = logging.getLogger(__name__)


def interceptors(ctx: Context) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors every call goes through, outermost first: gRPC's, and REST's too.

    The REST transcoder (``oncall.rest.invoke``) runs each of its calls through this same
    list, so a check added here (access control) applies to both doors.
    """
    if ctx.access is None:
        ctx.access = Access(ctx.pool, ctx.registry.authenticators.values(), ctx.registry.permission_rules.values())
    wait = ctx.settings.db_acquire_timeout_s
    # the lock first, so a caller without a key learns nothing else about the request
    return [
        AccessInterceptor(ctx.access, reflection=ctx.settings.grpc_reflection, acquire_timeout_s=wait),
        ErrorMappingInterceptor(wait),
    ]


def add_servicers(server: Any, ctx: Context) -> list[str]:
    """Add every service of this process to ``server``; return their full names.

    ``server`` is a grpc.aio.Server, or whatever else takes the generated registrations
    (the REST transcoder's collector of handlers).
    """
    from . import access_service, alerting, grouping, notification  # the servicers; imported here so the CLI starts fast

    service_names = [*alerting.add_services(server, ctx), *notification.add_services(server, ctx)]
    service_names += grouping.add_services(server, ctx)
    service_names += access_service.add_services(server, ctx)
    return service_names


async def start_grpc(
    ctx: Context, reuse_port: bool = False,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    """Start serving on ``ONCALL_GRPC_ADDR``; return the server, its health servicer, its port.

    ``reuse_port`` only for worker processes sharing the port on purpose: gRPC turns
    SO_REUSEPORT on by default, and a second server would then silently share the port.
    """
    server = grpc.aio.server(
        interceptors=interceptors(ctx), options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    service_names = add_servicers(server, ctx)

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in service_names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    if ctx.settings.grpc_reflection:
        reflection.enable_server_reflection(
            (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    host, port = ctx.settings.grpc_host_port
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    tls = ctx.settings.server_tls
    try:
        if tls is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, grpc_server_credentials(tls))
    except RuntimeError:  # grpcio raises where older versions returned 0
        bound = 0
    if bound == 0:
        # gRPC gives no reason; by far the most common one is a port already taken
        raise OSError(errno.EADDRINUSE, "the address is already in use or cannot be bound")
    await server.start()
    return server, health_servicer, bound
