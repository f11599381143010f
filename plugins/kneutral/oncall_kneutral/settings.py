"""The kneutral plugin's settings, from ``ONCALL_KNEUTRAL_*``, checked once at startup."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from oncall.directory.settings import SettingsError, is_loopback, seconds_setting, target_setting
from oncall.tls import ClientTls, TlsError, channel_credentials
from oncall_hookspecs import plugin_settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class KneutralSettings:
    addr: str
    token: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    tls: bool = False
    ca_file: Path | None = None  # PEM roots to trust; None: the system's
    # the client certificate presented to a kneutral-api that requires one (mutual TLS)
    cert_file: Path | None = None
    key_file: Path | None = None

    def __repr__(self) -> str:  # never the token
        return (f"KneutralSettings(addr={self.addr!r}, token={'set' if self.token else 'unset'}, "
                f"timeout_s={self.timeout_s}, tls={self.tls}, ca_file={self.ca_file}, cert_file={self.cert_file})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KneutralSettings | None:
        """The settings, or None when ONCALL_KNEUTRAL_ADDR is unset. Raises SettingsError."""
        s = plugin_settings("kneutral", os.environ if env is None else env)
        if not (s.get("addr") or "").strip():
            return None
        tls_raw = (s.get("tls") or "").strip().lower()
        if tls_raw not in _TRUE | _FALSE:
            raise SettingsError(f"ONCALL_KNEUTRAL_TLS must be true or false, got {s.get('tls')!r}")
        ca_file, cert_file, key_file = (_file(s, name) for name in ("ca_file", "cert_file", "key_file"))
        if (cert_file is None) != (key_file is None):
            raise SettingsError("ONCALL_KNEUTRAL_CERT_FILE and ONCALL_KNEUTRAL_KEY_FILE go together: set both or neither")
        settings = cls(
            addr=target_setting("ONCALL_KNEUTRAL_ADDR", s["addr"]),
            token=s.get("token") or None,
            timeout_s=seconds_setting("ONCALL_KNEUTRAL_TIMEOUT_S", s.get("timeout_s"), DEFAULT_TIMEOUT_S),
            tls=tls_raw in _TRUE or ca_file is not None or cert_file is not None,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )
        if settings.token and not settings.tls and not is_loopback(settings.addr):
            log.warning("ONCALL_KNEUTRAL_TOKEN goes to %s in clear text: set ONCALL_KNEUTRAL_TLS=true",
                        settings.addr)
        return settings

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for the channel (with the client certificate when one is set), or
        None for plaintext. Raises SettingsError for files that can't be used."""
        if not self.tls:
            return None
        try:
            return channel_credentials(ClientTls(self.ca_file, self.cert_file, self.key_file), "ONCALL_KNEUTRAL")
        except TlsError as exc:
            raise SettingsError(str(exc)) from None


def _file(s: Mapping[str, str], name: str) -> Path | None:
    raw = (s.get(name) or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"ONCALL_KNEUTRAL_{name.upper()}: no such file {raw!r}")
    return path
