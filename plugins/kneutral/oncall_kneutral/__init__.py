"""kneutral-api as OnCall's user directory: users and contact methods over the
``oncall.directory.v1.UserDirectory`` gRPC contract, through the core's shared client.

Settings (``ONCALL_KNEUTRAL_*``): ADDR (required; unset, the plugin registers nothing),
TOKEN (sent as ``authorization: Bearer``), TIMEOUT_S (default 2), TLS, CA_FILE, and CERT_FILE
with KEY_FILE (a client certificate, for a kneutral-api that requires mutual TLS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from oncall.directory.grpc_client import GrpcDirectory
from oncall_hookspecs import Directory, hookimpl

from .settings import KneutralSettings

__all__ = ["register_directories"]

log = logging.getLogger(__name__)


@hookimpl
def register_directories(register: Callable[[Directory], None]) -> None:
    # a malformed setting raises here: the plugin is reported as failed, with the message
    settings = KneutralSettings.from_env()
    if settings is None:
        log.debug("kneutral directory not registered: ONCALL_KNEUTRAL_ADDR is not set")
        return
    register(GrpcDirectory(
        "kneutral", settings.addr, token=settings.token, timeout_s=settings.timeout_s,
        credentials=settings.credentials(),
    ))
    log.info("kneutral directory: %s (%s%s, timeout %g s)", settings.addr,
             "TLS" if settings.tls else "plaintext", ", with token" if settings.token else "", settings.timeout_s)
