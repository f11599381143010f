"""The kneutral plugin's settings, from ``ONCALL_KNEUTRAL_*``, checked once at startup."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from oncall.directory.settings import SettingsError, is_loopback, seconds_setting, target_setting
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

    def __repr__(self) -> str:  # never the token
        return (f"KneutralSettings(addr={self.addr!r}, token={'set' if self.token else 'unset'}, "
                f"timeout_s={self.timeout_s}, tls={self.tls}, ca_file={self.ca_file})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KneutralSettings | None:
        """The settings, or None when ONCALL_KNEUTRAL_ADDR is unset. Raises SettingsError."""
        s = plugin_settings("kneutral", os.environ if env is None else env)
        if not (s.get("addr") or "").strip():
            return None
        tls_raw = (s.get("tls") or "").strip().lower()
        if tls_raw not in _TRUE | _FALSE:
            raise SettingsError(f"ONCALL_KNEUTRAL_TLS must be true or false, got {s.get('tls')!r}")
        ca_file = Path(s["ca_file"]).expanduser() if s.get("ca_file") else None
        if ca_file is not None and not ca_file.is_file():
            raise SettingsError(f"ONCALL_KNEUTRAL_CA_FILE: no such file {str(ca_file)!r}")
        settings = cls(
            addr=target_setting("ONCALL_KNEUTRAL_ADDR", s["addr"]),
            token=s.get("token") or None,
            timeout_s=seconds_setting("ONCALL_KNEUTRAL_TIMEOUT_S", s.get("timeout_s"), DEFAULT_TIMEOUT_S),
            tls=tls_raw in _TRUE or ca_file is not None,
            ca_file=ca_file,
        )
        if settings.token and not settings.tls and not is_loopback(settings.addr):
            log.warning("ONCALL_KNEUTRAL_TOKEN goes to %s in clear text: set ONCALL_KNEUTRAL_TLS=true",
                        settings.addr)
        return settings

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for the channel, or None for plaintext."""
        if not self.tls:
            return None
        roots = self.ca_file.read_bytes() if self.ca_file is not None else None
        return grpc.ssl_channel_credentials(root_certificates=roots)
