"""TLS from certificate and key files: the HTTP server's SSL context, the gRPC server's
credentials (optionally requiring client certificates), and a gRPC client's credentials.

Files are read and checked once, at startup: a certificate that does not match its key, a
file that is not PEM or cannot be read is one sentence naming the setting, before anything
listens. Nothing here reloads a file that changes later: restart to rotate certificates.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


class TlsError(ValueError):
    """A certificate, key or CA file cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class ServerTls:
    """What a server presents (``cert_file`` with ``key_file``, PEM) and, when ``client_ca_file``
    is set, the CA a gRPC client's certificate must be signed by (mutual TLS)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class ClientTls:
    """How a gRPC client dials with TLS: the roots it trusts (``ca_file``; None: the system's)
    and, for mutual TLS, the certificate it presents (``cert_file`` with ``key_file``)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{setting}: cannot read {str(path)!r}: {exc.strerror or exc}") from None


def _check_pair(cert_file: Path, key_file: Path, settings: str) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except FileNotFoundError as exc:
        raise TlsError(f"{settings}: no such file {exc.filename!r}") from None
    except ssl.SSLError as exc:
        # the reason only ("KEY_VALUES_MISMATCH", "PEM lib"), never a file's contents
        raise TlsError(f"{settings}: the certificate and key cannot be used together ({exc.reason or exc})") from None
    except OSError as exc:
        raise TlsError(f"{settings}: {exc.strerror or exc}") from None


def _check_ca(ca_file: Path, setting: str) -> bytes:
    data = _read(ca_file, setting)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise TlsError(f"{setting}: {str(ca_file)!r} holds no PEM certificate") from None
    return data


def check_server(tls: ServerTls) -> None:
    """Raise :class:`TlsError` unless every file of ``tls`` can be used."""
    _check_pair(tls.cert_file, tls.key_file, "ONCALL_TLS_CERT_FILE / ONCALL_TLS_KEY_FILE")
    if tls.client_ca_file is not None:
        _check_ca(tls.client_ca_file, "ONCALL_GRPC_CLIENT_CA_FILE")


def http_ssl_context(tls: ServerTls) -> ssl.SSLContext:
    """The HTTP server's context: TLS 1.2 or later, HTTP/1.1 by ALPN, no client certificate
    asked for (webhook senders such as PagerDuty present none)."""
    _check_pair(tls.cert_file, tls.key_file, "ONCALL_TLS_CERT_FILE / ONCALL_TLS_KEY_FILE")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def grpc_server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """The gRPC server's credentials; with ``client_ca_file``, a client without a certificate
    signed by that CA fails the handshake (no call reaches a service)."""
    import grpc  # here: the settings import this module, and the CLI should start without gRPC

    check_server(tls)
    key = _read(tls.key_file, "ONCALL_TLS_KEY_FILE")
    cert = _read(tls.cert_file, "ONCALL_TLS_CERT_FILE")
    if tls.client_ca_file is None:
        return grpc.ssl_server_credentials([(key, cert)])
    roots = _read(tls.client_ca_file, "ONCALL_GRPC_CLIENT_CA_FILE")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=roots, require_client_auth=True)


def channel_credentials(tls: ClientTls, prefix: str = "ONCALL_GRPC") -> grpc.ChannelCredentials:
    """A gRPC client's TLS credentials. ``prefix`` names the settings in messages
    (``ONCALL_GRPC_CA_FILE``, ``ONCALL_KNEUTRAL_CERT_FILE`` …)."""
    import grpc

    roots = _check_ca(tls.ca_file, f"{prefix}_CA_FILE") if tls.ca_file is not None else None
    if (tls.cert_file is None) != (tls.key_file is None):
        raise TlsError(f"{prefix}_CERT_FILE and {prefix}_KEY_FILE go together: set both or neither")
    if tls.cert_file is None or tls.key_file is None:
        return grpc.ssl_channel_credentials(root_certificates=roots)
    _check_pair(tls.cert_file, tls.key_file, f"{prefix}_CERT_FILE / {prefix}_KEY_FILE")
    return grpc.ssl_channel_credentials(
        root_certificates=roots,
        private_key=_read(tls.key_file, f"{prefix}_KEY_FILE"),
        certificate_chain=_read(tls.cert_file, f"{prefix}_CERT_FILE"),
    )
