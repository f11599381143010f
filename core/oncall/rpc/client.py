"""Dialling OnCall's own gRPC server as a client: plaintext, TLS, or TLS with a client certificate.

    channel = open_channel(settings)                # ONCALL_GRPC_ADDR, with ONCALL_GRPC_CA_FILE etc.

With ``ONCALL_GRPC_CA_FILE`` (or a client certificate) set, the channel is TLS, trusting that
CA (else the system's roots) and presenting ``ONCALL_GRPC_CERT_FILE`` / ``ONCALL_GRPC_KEY_FILE``
to a server that requires client certificates (``ONCALL_GRPC_CLIENT_CA_FILE`` on the server).
"""

from __future__ import annotations

import grpc

from ..config import Settings
from ..tls import channel_credentials


def dial_target(settings: Settings) -> str:
    """``ONCALL_GRPC_ADDR`` as a client dials it: a server on every interface is dialled on loopback."""
    host, port = settings.grpc_host_port
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_channel(settings: Settings, target: str | None = None,
                 server_name: str | None = None) -> grpc.aio.Channel:
    """An asyncio channel to ``target`` (default: :func:`dial_target`), TLS when the client
    settings say so. ``server_name`` overrides the name the server's certificate must carry
    (for a certificate issued to a name while dialling an address)."""
    target = target or dial_target(settings)
    tls = settings.grpc_client_tls
    if tls is None:
        return grpc.aio.insecure_channel(target)
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.aio.secure_channel(target, channel_credentials(tls), options=options)
