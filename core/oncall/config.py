"""Settings from ``ONCALL_*`` environment variables, read once into a typed object."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .auth.oidc_settings import OidcSettings
from .auth.session_settings import DEFAULT_IDLE_S, DEFAULT_LIFETIME_S, secret_from_env
from .tls import ClientTls, ServerTls


def _split_addr(addr: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, ``:port`` (every interface, as Go and GoAlert read it),
    a bare ``host`` (default port) or a bare port (on 127.0.0.1)."""
    addr = addr.strip()
    if not addr:
        return "127.0.0.1", default_port
    if addr.isdigit():
        return "127.0.0.1", int(addr)
    if addr.count(":") > 1 and not addr.startswith("["):
        return addr, default_port  # a bare IPv6 address
    host, sep, port = addr.rpartition(":")
    if not sep or (host.startswith("[") != host.endswith("]")):
        return addr.strip("[]"), default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{addr!r} is not host:port (the port must be a number from 0 to 65535)")
    return host.strip("[]") or "0.0.0.0", int(port)


def _addr(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        _split_addr(raw, 0)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from None
    return raw


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive, finite number of seconds."""
    value = _float(env, name, default)
    if not (math.isfinite(value) and value > 0):
        raise SystemExit(f"{name} must be a positive number of seconds, got {env.get(name)!r}")
    return value


def _at_least(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _int(env, name, default)
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
    return value


def _optional_bytes(env: Mapping[str, str], name: str) -> int | None:
    if not env.get(name):
        return None
    return _at_least(env, name, 0, 1)


def parse_body_limits(text: str) -> dict[str, int]:
    """``alertmanager=33554432,generic=2097152`` → {source: the most bytes its webhook body may have}."""
    out: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        source, sep, value = item.partition("=")
        if not sep or not source.strip() or not value.strip().isdigit() or int(value) < 1:
            raise SystemExit(
                f"ONCALL_SOURCE_MAX_BODY_BYTES: {item!r} is not <source>=<bytes> (a whole number of at least 1)"
            )
        out[source.strip()] = int(value)
    return out


def _rate_limits(env: Mapping[str, str]) -> str:
    raw = env.get("ONCALL_NOTIFY_RATE_LIMITS", "")
    parse_rate_limits(raw)  # refuse a bad value at startup, naming the variable
    return raw


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


_ON = frozenset({"on", "true", "1", "yes"})
_OFF = frozenset({"off", "false", "0", "no"})


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off setting: on, off, true, false, 1, 0, yes or no (any case); unset: ``default``."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw.lower() in _ON:
        return True
    if raw.lower() in _OFF:
        return False
    raise SystemExit(f"{name} must be on or off (or true/false, 1/0, yes/no), got {raw!r}")


def _ranged(value: float, name: str, low: float, high: float) -> float:
    if not (low <= value <= high):  # also refuses NaN
        raise SystemExit(f"{name} must be from {low:g} to {high:g}, got {value:g}")
    return value


def parse_rate_limits(text: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``sms.destination=2/60,webhook.channel=100/0.01`` → {channel: {scope: (burst, seconds per message)}}."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        try:
            key, value = item.split("=", 1)
            channel, scope = key.strip().split(".", 1)
            burst, per = (float(v) for v in value.split("/", 1))
            if scope not in ("destination", "channel") or not channel:
                raise ValueError(scope)
            if not (math.isfinite(burst) and math.isfinite(per) and burst >= 1 and per > 0):
                raise ValueError(value)
            out.setdefault(channel, {})[scope] = (burst, per)
        except ValueError:
            raise SystemExit(
                f"ONCALL_NOTIFY_RATE_LIMITS: {item!r} is not <channel>.<destination|channel>=<burst>/<seconds>"
                " (a burst of at least 1, a positive number of seconds)"
            ) from None
    return out


def _path(env: Mapping[str, str], name: str) -> Path | None:
    """An optional file's path; a set path must name an existing file."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SystemExit(f"{name}: no such file {raw!r}")
    return path


def _pair(env: Mapping[str, str], cert: str, key: str) -> tuple[Path | None, Path | None]:
    cert_file, key_file = _path(env, cert), _path(env, key)
    if (cert_file is None) != (key_file is None):
        raise SystemExit(f"{cert} and {key} go together: set both or neither")
    return cert_file, key_file


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("oncall", appauthor=False))


#: the body limit of a source that declares none, and of channel callbacks
DEFAULT_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    http_addr: str = "127.0.0.1:8080"
    grpc_addr: str = "127.0.0.1:9090"
    public_url: str | None = None
    # the largest webhook body: unset, each source's own limit (Source.max_body_bytes, else
    # DEFAULT_BODY_BYTES); set, it overrides every source's; body_limits overrides per source
    max_body_bytes: int | None = None
    body_limits: Mapping[str, int] = field(default_factory=dict)
    raw_payload_max_bytes: int = 64 * 1024
    disabled_plugins: frozenset[str] = frozenset()
    pool_min: int = 2
    pool_max: int = 10
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"
    router: str = "cel"
    # run the escalation engine in this process (off: an `oncall engine` process runs it)
    engine: bool = True
    # server processes sharing the HTTP and gRPC ports (SO_REUSEPORT); the first runs the engine
    workers: int = 1
    # the delivery worker (off: an `oncall engine` process delivers); see notification/delivery/worker.py
    notifier: bool = True
    notify_concurrency: int = 64
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    max_attempts: int = 10
    circuit_threshold: int = 5
    circuit_pause_s: float = 30.0
    # "<channel>.<destination|channel>=<burst>/<seconds per message>", comma-separated
    rate_limits: str = ""
    # templates render in child processes (notification/renderpool.py): how many, the wall clock
    # one message may take there before its process is killed, and what memory each may add
    render_processes: int = 2
    render_timeout_s: float = 5.0
    render_memory_mb: int = 512
    action_link_ttl_s: float = 24 * 3600.0
    # notifications (with their deliveries and attempts) older than this are deleted; 0 keeps them
    notification_retention_days: int = 90
    # slow clients (http/connections.py): the whole request head within header_timeout_s;
    # a body that pauses longer than body_timeout_s, or arrives slower than body_min_rate
    # bytes/s on average (after its first body_timeout_s), is cut off; idle keep-alive
    # connections close after keepalive_timeout_s; at most max_connections_per_client
    # connections from one address at once (0: no cap)
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 30.0
    http_body_min_rate: int = 1024
    http_keepalive_timeout_s: float = 75.0
    http_max_connections_per_client: int = 256
    # how long a request (webhook, heartbeat, feed, callback) waits for a database
    # connection before it is answered 503 (the database is down or the pool exhausted)
    db_acquire_timeout_s: float = 1.0
    # lifecycle listeners (lifecycle/dispatcher.py): how long one call may take, how often an
    # event is tried before it is skipped (0: never skipped, the listener waits), the
    # backoff between tries, and the safety-net poll (also how soon another server takes
    # over the listeners of one that died)
    lifecycle_timeout_s: float = 30.0
    lifecycle_max_attempts: int = 10
    lifecycle_retry_base_s: float = 1.0
    lifecycle_retry_max_s: float = 300.0
    lifecycle_poll_s: float = 10.0
    # how many alert events a subscriber (a WatchAlerts stream, the follower that updates
    # posted messages) may have waiting before it reads on from the timeline instead (events.py)
    event_queue_size: int = 10_000
    # gRPC server reflection (open to anyone, like health): off hides the services' shape
    grpc_reflection: bool = True
    # audit events older than this are deleted by the server; 0 keeps them
    audit_retention_days: int = 365
    # TLS (tls.py): the certificate and key HTTP and gRPC present (both or neither; neither:
    # plaintext), and the CA a gRPC client's certificate must be signed by (mutual TLS)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    grpc_client_ca_file: Path | None = None
    # how this process dials OnCall's gRPC as a client (`oncall status`, scripts): the CA to
    # trust (set: TLS) and the certificate to present to a server that requires one
    grpc_ca_file: Path | None = None
    grpc_cert_file: Path | None = None
    grpc_key_file: Path | None = None
    # browser sessions (auth/sessions.py): the idle timeout and absolute lifetime, and the
    # cookie-signing secret (None: the one kept in the database, made on first start)
    session_idle_s: float = DEFAULT_IDLE_S
    session_lifetime_s: float = DEFAULT_LIFETIME_S
    session_secret: bytes | None = field(default=None, repr=False)
    # OIDC login (auth/oidc_settings.py); None: no OIDC login
    oidc: OidcSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = env.get("ONCALL_DATA_DIR")
        tls_cert_file, tls_key_file = _pair(env, "ONCALL_TLS_CERT_FILE", "ONCALL_TLS_KEY_FILE")
        grpc_client_ca_file = _path(env, "ONCALL_GRPC_CLIENT_CA_FILE")
        if grpc_client_ca_file is not None and tls_cert_file is None:
            raise SystemExit("ONCALL_GRPC_CLIENT_CA_FILE needs TLS: set ONCALL_TLS_CERT_FILE and ONCALL_TLS_KEY_FILE")
        grpc_cert_file, grpc_key_file = _pair(env, "ONCALL_GRPC_CERT_FILE", "ONCALL_GRPC_KEY_FILE")
        return cls(
            database_url=env.get("ONCALL_DATABASE_URL") or None,
            data_dir=Path(data_dir) if data_dir else default_data_dir(),
            http_addr=_addr(env, "ONCALL_HTTP_ADDR", "127.0.0.1:8080"),
            grpc_addr=_addr(env, "ONCALL_GRPC_ADDR", "127.0.0.1:9090"),
            public_url=(env.get("ONCALL_PUBLIC_URL") or None),
            max_body_bytes=_optional_bytes(env, "ONCALL_MAX_BODY_BYTES"),
            body_limits=parse_body_limits(env.get("ONCALL_SOURCE_MAX_BODY_BYTES", "")),
            raw_payload_max_bytes=_int(env, "ONCALL_RAW_PAYLOAD_MAX_BYTES", 64 * 1024),
            disabled_plugins=frozenset(
                p.strip() for p in env.get("ONCALL_DISABLE_PLUGINS", "").split(",") if p.strip()
            ),
            pool_min=_int(env, "ONCALL_DB_POOL_MIN", 2),
            pool_max=_int(env, "ONCALL_DB_POOL_MAX", 10),
            shutdown_grace_s=_float(env, "ONCALL_SHUTDOWN_GRACE_S", 10.0),
            log_level=(env.get("ONCALL_LOG_LEVEL") or "INFO").upper(),
            router=env.get("ONCALL_ROUTER") or "cel",
            engine=_switch(env, "ONCALL_ENGINE", True),
            workers=max(1, _int(env, "ONCALL_WORKERS", 1)),
            notifier=_switch(env, "ONCALL_NOTIFIER", True),
            notify_concurrency=max(1, _int(env, "ONCALL_NOTIFY_CONCURRENCY", 64)),
            retry_base_s=_float(env, "ONCALL_NOTIFY_RETRY_BASE_S", 2.0),
            retry_max_s=_float(env, "ONCALL_NOTIFY_RETRY_MAX_S", 300.0),
            max_attempts=max(1, _int(env, "ONCALL_NOTIFY_MAX_ATTEMPTS", 10)),
            circuit_threshold=max(1, _int(env, "ONCALL_NOTIFY_CIRCUIT_THRESHOLD", 5)),
            circuit_pause_s=_float(env, "ONCALL_NOTIFY_CIRCUIT_PAUSE_S", 30.0),
            rate_limits=_rate_limits(env),
            render_processes=int(_ranged(_int(env, "ONCALL_RENDER_PROCESSES", 2), "ONCALL_RENDER_PROCESSES", 1, 64)),
            render_timeout_s=_ranged(_float(env, "ONCALL_RENDER_TIMEOUT_S", 5.0), "ONCALL_RENDER_TIMEOUT_S", 0.5, 300),
            render_memory_mb=int(_ranged(_int(env, "ONCALL_RENDER_MEMORY_MB", 512), "ONCALL_RENDER_MEMORY_MB",
                                         64, 65536)),
            action_link_ttl_s=_float(env, "ONCALL_ACTION_LINK_TTL_S", 24 * 3600.0),
            notification_retention_days=_at_least(env, "ONCALL_NOTIFICATION_RETENTION_DAYS", 90, 0),  # 0 keeps them
            http_header_timeout_s=_seconds(env, "ONCALL_HTTP_HEADER_TIMEOUT_S", 10.0),
            http_body_timeout_s=_seconds(env, "ONCALL_HTTP_BODY_TIMEOUT_S", 30.0),
            http_body_min_rate=_at_least(env, "ONCALL_HTTP_BODY_MIN_RATE", 1024, 0),
            http_keepalive_timeout_s=_seconds(env, "ONCALL_HTTP_KEEPALIVE_TIMEOUT_S", 75.0),
            http_max_connections_per_client=_at_least(env, "ONCALL_HTTP_MAX_CONNECTIONS_PER_CLIENT", 256, 0),
            db_acquire_timeout_s=_seconds(env, "ONCALL_DB_ACQUIRE_TIMEOUT_S", 1.0),
            lifecycle_timeout_s=_seconds(env, "ONCALL_LIFECYCLE_TIMEOUT_S", 30.0),
            lifecycle_max_attempts=_at_least(env, "ONCALL_LIFECYCLE_MAX_ATTEMPTS", 10, 0),
            lifecycle_retry_base_s=_seconds(env, "ONCALL_LIFECYCLE_RETRY_BASE_S", 1.0),
            lifecycle_retry_max_s=_seconds(env, "ONCALL_LIFECYCLE_RETRY_MAX_S", 300.0),
            lifecycle_poll_s=_seconds(env, "ONCALL_LIFECYCLE_POLL_S", 10.0),
            event_queue_size=_at_least(env, "ONCALL_EVENT_QUEUE_SIZE", 10_000, 1),
            grpc_reflection=_switch(env, "ONCALL_GRPC_REFLECTION", True),
            audit_retention_days=_at_least(env, "ONCALL_AUDIT_RETENTION_DAYS", 365, 0),  # 0 keeps them
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            grpc_client_ca_file=grpc_client_ca_file,
            grpc_ca_file=_path(env, "ONCALL_GRPC_CA_FILE"),
            grpc_cert_file=grpc_cert_file,
            grpc_key_file=grpc_key_file,
            session_idle_s=_seconds(env, "ONCALL_SESSION_IDLE_TIMEOUT_S", DEFAULT_IDLE_S),
            session_lifetime_s=_seconds(env, "ONCALL_SESSION_LIFETIME_S", DEFAULT_LIFETIME_S),
            session_secret=secret_from_env(env.get("ONCALL_SESSION_SECRET"), env.get("ONCALL_SESSION_SECRET_FILE")),
            oidc=OidcSettings.from_env(env),
        )

    def body_limit(self, source: str | None = None, declared: int | None = None) -> int:
        """The most bytes a body may have: for ``source`` (which declares ``declared``), or for
        a channel callback when ``source`` is None."""
        if source is not None and source in self.body_limits:
            return self.body_limits[source]
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return declared or DEFAULT_BODY_BYTES

    @property
    def server_tls(self) -> ServerTls | None:
        """What HTTP and gRPC serve TLS with; None: plaintext."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return ServerTls(self.tls_cert_file, self.tls_key_file, self.grpc_client_ca_file)

    @property
    def grpc_client_tls(self) -> ClientTls | None:
        """How a client of this OnCall's gRPC dials it; None: plaintext."""
        if self.grpc_ca_file is None and self.grpc_cert_file is None:
            return None
        return ClientTls(self.grpc_ca_file, self.grpc_cert_file, self.grpc_key_file)

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
        return f"{'https' if self.server_tls else 'http'}://{host}:{port}"
