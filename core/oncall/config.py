"""Settings from ``ONCALL_*`` environment variables, read once into a typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _split_addr(addr: str, default_port: int) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host:
        return addr or "127.0.0.1", default_port
    return host.strip("[]"), int(port)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("oncall", appauthor=False))


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    http_addr: str = "127.0.0.1:8080"
    grpc_addr: str = "127.0.0.1:9090"
    public_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    raw_payload_max_bytes: int = 64 * 1024
    disabled_plugins: frozenset[str] = frozenset()
    pool_min: int = 2
    pool_max: int = 10
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = env.get("ONCALL_DATA_DIR")
        return cls(
            database_url=env.get("ONCALL_DATABASE_URL") or None,
            data_dir=Path(data_dir) if data_dir else default_data_dir(),
            http_addr=env.get("ONCALL_HTTP_ADDR") or "127.0.0.1:8080",
            grpc_addr=env.get("ONCALL_GRPC_ADDR") or "127.0.0.1:9090",
            public_url=(env.get("ONCALL_PUBLIC_URL") or None),
            max_body_bytes=_int(env, "ONCALL_MAX_BODY_BYTES", 1024 * 1024),
            raw_payload_max_bytes=_int(env, "ONCALL_RAW_PAYLOAD_MAX_BYTES", 64 * 1024),
            disabled_plugins=frozenset(
                p.strip() for p in env.get("ONCALL_DISABLE_PLUGINS", "").split(",") if p.strip()
            ),
            pool_min=_int(env, "ONCALL_DB_POOL_MIN", 2),
            pool_max=_int(env, "ONCALL_DB_POOL_MAX", 10),
            shutdown_grace_s=float(env.get("ONCALL_SHUTDOWN_GRACE_S") or 10.0),
            log_level=(env.get("ONCALL_LOG_LEVEL") or "INFO").upper(),
        )

    @property
    def http_host_port(self) -> tuple[str, int]:
        return _split_addr(self.http_addr, 8080)

    @property
    def grpc_host_port(self) -> tuple[str, int]:
        return _split_addr(self.grpc_addr, 9090)

    @property
    def base_url(self) -> str:
        """The URL people and senders use to reach the HTTP server."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = self.http_host_port
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
