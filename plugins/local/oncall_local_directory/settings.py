"""The local directory's settings, from ``ONCALL_LOCAL_DIRECTORY_*`` (and ``ONCALL_DATA_DIR``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from oncall.directory.settings import SettingsError, seconds_setting
from oncall_hookspecs import plugin_settings

__all__ = ["LocalSettings", "SettingsError", "check_addr", "users_file_path"]

DEFAULT_ADDR = "127.0.0.1:0"
DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class LocalSettings:
    file: Path
    addr: str = DEFAULT_ADDR
    token: str | None = None  # None: the plugin makes a random one per process
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:  # never the token
        return f"LocalSettings(file={str(self.file)!r}, addr={self.addr!r}, timeout_s={self.timeout_s})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if env is None else env
        s = plugin_settings("local-directory", env)
        return cls(
            file=users_file_path(env),
            addr=check_addr("ONCALL_LOCAL_DIRECTORY_ADDR", s.get("addr") or DEFAULT_ADDR),
            token=s.get("token") or None,
            timeout_s=seconds_setting("ONCALL_LOCAL_DIRECTORY_TIMEOUT_S", s.get("timeout_s"), DEFAULT_TIMEOUT_S),
        )


def users_file_path(env: Mapping[str, str] | None = None) -> Path:
    """ONCALL_LOCAL_DIRECTORY_FILE, else ``users.yaml`` in ONCALL_DATA_DIR (else OnCall's data dir)."""
    env = os.environ if env is None else env
    explicit = env.get("ONCALL_LOCAL_DIRECTORY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    data_dir = env.get("ONCALL_DATA_DIR")
    if data_dir:
        return Path(data_dir).expanduser() / "users.yaml"
    from oncall.config import default_data_dir

    return default_data_dir() / "users.yaml"


def check_addr(name: str, addr: str) -> str:
    """An address to listen on: ``host:port`` (``[v6]:port``), the port 0 to 65535 (0: any free one)."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"{name} must be host:port (127.0.0.1:7070; port 0 picks a free one), got {addr!r}")
    return addr.strip()
