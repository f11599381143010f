"""``oncall serve``, ``oncall engine`` and ``oncall migrate``: run the server, the engine alone, the migrations.

These run on the server, on its database: with ``ONCALL_SERVER_URL`` set (the command line
of a laptop, which reaches OnCall through its API) they refuse, exit 2, rather than look for
a database there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from ..config import Settings
from .runner import run_loop


def refused_remotely(command: str, why: str = "it works on the server's own database") -> bool:
    """True, having said so in one sentence, when ``ONCALL_SERVER_URL`` is set: ``command`` runs on the server."""
    if not os.environ.get("ONCALL_SERVER_URL", "").strip():
        return False
    print(f"oncall: `oncall {command}` runs on the server ({why}), not through ONCALL_SERVER_URL: "
          "run it there, or unset ONCALL_SERVER_URL", file=sys.stderr)
    return True


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ..server import CannotListen, serve
    from ..tls import TlsError

    if refused_remotely("serve", "it is the server"):
        return 2
    if args.role not in ("all", "alerting"):
        print(f"role {args.role!r} is not available yet; use --role all", file=sys.stderr)
        return 2
    try:
        return run_loop(serve(settings, demo=args.demo))
    except (CannotListen, TlsError) as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 1


def cmd_engine(args: argparse.Namespace, settings: Settings) -> int:
    from ..server import run_engine

    if refused_remotely("engine"):
        return 2
    return run_loop(run_engine(settings))


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ..store.database import resolve_database_url
    from ..store.migrate import apply_migrations

    if refused_remotely("migrate"):
        return 2

    async def go() -> int:
        url = await asyncio.to_thread(resolve_database_url, settings)
        applied = await apply_migrations(url)
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "the database is up to date")
        return 0

    return run_loop(go())


def _remote_status(remote: Any, timeout: float) -> int:
    """``oncall status`` with ONCALL_SERVER_URL: the server's readiness, and who the key is there."""
    import aiohttp

    async def go() -> int:
        limits = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=limits, headers={"User-Agent": "oncall-cli"}) as http:
            try:
                async with http.get(f"{remote.url}/readyz") as r:
                    body = await r.json(content_type=None)
                    ready = r.status == 200
                    detail = body.get("detail", "") if isinstance(body, dict) else ""
                    print(f"server at {remote.url}: {'ready' if ready else 'not ready'}"
                          f"{': ' + detail if detail else ''}")
                async with http.get(f"{remote.url}/api/v1/whoami",
                                    headers={"Authorization": f"Bearer {remote.key}"}) as r:
                    who = await r.json(content_type=None)
                    if r.status != 200 or not isinstance(who, dict):
                        print(f"oncall: the key is refused there: {who.get('detail', r.status) if isinstance(who, dict) else r.status}",
                              file=sys.stderr)
                        return 1
                    print(f"calling as {who.get('kind')}:{who.get('user_id')} (role {who.get('role') or 'none'})")
            except (aiohttp.ClientError, TimeoutError) as exc:
                print(f"oncall: cannot reach {remote.url}: {exc or type(exc).__name__}", file=sys.stderr)
                return 1
        return 0 if ready else 1

    return run_loop(go())


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Ask a running server's gRPC health service, over TLS when the client settings say so;
    with ONCALL_SERVER_URL (and no --target), the server's readiness over HTTP and who the key is."""
    from .api import ConfigError, remote_from_env

    try:
        remote = remote_from_env()
    except ConfigError as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 2
    if remote is not None and not args.target:
        return _remote_status(remote, args.timeout)

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from ..rpc.client import dial_target, open_channel
    from ..tls import TlsError

    target = args.target or dial_target(settings)

    async def go() -> int:
        async with open_channel(settings, target) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=args.timeout)
            except grpc.aio.AioRpcError as exc:
                print(f"oncall: gRPC at {target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
                return 1
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        print(f"gRPC at {target} ({'TLS' if settings.grpc_client_tls else 'plaintext'}): {status}")
        return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1

    try:
        return run_loop(go())
    except TlsError as exc:
        print(f"oncall: {exc}", file=sys.stderr)
        return 1


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server (HTTP, gRPC, engine)")
    p.add_argument("--demo", action="store_true", help="create a demo integration and print a curl command")
    p.add_argument("--role", default="all", help="which services to run (default: all)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("engine", help="run only the escalation engine (beside servers run with ONCALL_ENGINE=off)")
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("status", help="ask a running server's gRPC health service (ONCALL_GRPC_ADDR; "
                                      "TLS with ONCALL_GRPC_CA_FILE, a client certificate with ONCALL_GRPC_CERT_FILE)")
    p.add_argument("--target", help="host:port to dial (default: ONCALL_GRPC_ADDR)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    p.set_defaults(func=cmd_status)
