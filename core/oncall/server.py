"""``oncall serve``: HTTP, gRPC and the engine on one event loop, with graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from oncall_hookspecs import BindableChannel, ClosableChannel

from .grouping.assign import GroupingCache
from .alerting import store
from .alerting.ingest import Ingestor
from .alerting.models import Integration
from .auth import keys as api_keys
from .auth import sessions
from .auth.access import Access
from .auth.principal import CLI
from .auth.retention import AccessPruner
from .clock import Clock
from .config import Settings
from .context import Context
from .directory.client import open_directory
from .directory.login import PasswordLogin
from .escalation.engine import Engine
from .events import EventHub
from .http.app import IN_FLIGHT, build_app
from .rest.transcoder import close_streams
from .http.connections import ConnectionLimits, GuardedSite
from .http.login import provider_name
from .lifecycle import Dispatcher
from .notification import channels as catalog
from .notification.actions import Host
from .notification.renderpool import RenderPool
from .notification.delivery.worker import Notifier
from .plugins import Registry, load_plugins
from .schedules import store as schedule_store
from .rpc.server import start_grpc
from .store.database import open_pool, resolve_database_url
from .store.migrate import apply_migrations
from .tls import check_server, http_ssl_context

log = logging.getLogger(__name__)

DEMO_INTEGRATION = "demo"


DEMO_KEY_FILE = "demo-key"
DEMO_API_KEY_FILE = "demo-api-key"
DEMO_API_KEY_NAME = "demo (viewer)"


def _keep(path: Path, key: str) -> None:
    """Write a demo key to ``path``, readable by its owner only (0600)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
    except OSError as exc:
        log.warning("could not keep the demo key in %s (%s): the next restart issues a new one", path, exc.strerror)


async def _demo_api_key(ctx: Context) -> str:
    """A viewer API key for the demo's grpcurl line, kept like the integration key (``ONCALL_DATA_DIR/demo-api-key``)."""
    path = ctx.settings.data_dir / DEMO_API_KEY_FILE
    assert ctx.access is not None
    now = ctx.access.clock.now()
    with contextlib.suppress(OSError):
        kept = path.read_text().strip()
        found = await api_keys.find(ctx.pool, kept) if kept else None
        if found is not None and found.active(now):
            return kept
    _, key = await api_keys.create(ctx.pool, name=DEMO_API_KEY_NAME, role="viewer", created_by=CLI,
                                   created_by_name="demo", now=now)
    _keep(path, key)
    return key


async def _bootstrap_hint(ctx: Context) -> None:
    """Say how to make the first admin key when no admin key is valid."""
    assert ctx.access is not None
    if not await api_keys.has_active_admin(ctx.pool, ctx.access.clock.now()):
        print(
            "No admin API key exists yet: every gRPC call but health and reflection needs one. Make the first with\n"
            "  oncall keys create --name bootstrap --role admin      (./dev oncall keys create … in a checkout)\n"
            "and send it as 'authorization: Bearer oncall_…'.",
            file=sys.stderr, flush=True,
        )


def login_banner(ctx: Context) -> str:
    """How a person signs in to this server, for the startup banner."""
    app_logins = []
    if ctx.settings.oidc is not None:
        app_logins.append(f"OIDC ({provider_name(ctx.settings.oidc.issuer)})")
    if ctx.directory is not None and PasswordLogin(ctx.directory.directory).available:
        app_logins.append(f"local passwords ({ctx.directory.name} directory)")
    if not app_logins:
        return ("browser login: none configured (ONCALL_OIDC_ISSUER unset, the directory holds no passwords); "
                "only API keys are enabled")
    return f"browser login at {ctx.settings.base_url}/login: {' and '.join(app_logins)}"


async def _demo_key(ctx: Context, source: str) -> tuple[Integration, str, bool]:
    """The demo integration and its key, the same across restarts: the key is kept in
    ``ONCALL_DATA_DIR/demo-key`` (mode 0600, like an SSH key), so a curl command copied once
    keeps working. Returns (integration, key, whether the key is new)."""
    path = ctx.settings.data_dir / DEMO_KEY_FILE
    existing = await store.find_integration_by_name(ctx.pool, source, DEMO_INTEGRATION)
    with contextlib.suppress(OSError):
        kept = path.read_text().strip()
        if kept and existing is not None:
            found = await store.find_integration_by_key(ctx.pool, kept)
            if found is not None and found.id == existing.id:
                return existing, kept, False
    if existing is None:
        integ, key = await store.create_integration(ctx.pool, source, DEMO_INTEGRATION)
    else:
        integ, key = existing, await store.rotate_integration_key(ctx.pool, existing.id)
    _keep(path, key)
    return integ, key, True


async def _demo(ctx: Context) -> None:
    """Make sure the demo integration exists and print a curl command that uses its key."""
    source = "generic" if "generic" in ctx.registry.sources else next(iter(sorted(ctx.registry.sources)), None)
    if source is None:
        print("no source plugins are installed: no demo integration", file=sys.stderr)
        return
    integ, key, new = await _demo_key(ctx, source)
    url = f"{ctx.settings.base_url}/api/v1/webhooks/{source}"
    host, port = ctx.settings.grpc_host_port
    kept = ctx.settings.data_dir / DEMO_KEY_FILE
    lines = [
        "",
        f"OnCall is running. Demo integration {integ.name!r} (source {source}, id {integ.id}).",
        f"  webhook URL: {url}",
        f"  key:         {key}",
        f"               {'a new key' if new else 'the same key as last time'}, kept in {kept} for the next "
        "--demo start; delete that file for a new one",
        "Send a test alert:",
    ]
    if source == "generic":
        lines.append(
            f"  curl -sS -X POST '{url}' -H 'Authorization: Bearer {key}' "
            "-H 'Content-Type: application/json' -H 'Accept: application/json' "
            "-d '{\"summary\": \"Disk full on db-1\", \"details\": \"/var is 98% used\", \"dedup\": \"db-1-disk\"}'"
        )
    else:
        lines.append(f"  curl -sS -X POST '{url}?token={key}' -H 'Content-Type: application/json' -d @alert.json")
    api_key = await _demo_api_key(ctx)
    lines.append(f"List alerts over gRPC (reflection is on; a viewer API key, kept in {kept.parent / DEMO_API_KEY_FILE}):")
    lines.append(f"  grpcurl -plaintext -H 'authorization: Bearer {api_key}' {host}:{port} "
                 "oncall.alerting.v1.AlertService/ListAlerts")
    print("\n".join(lines), flush=True)


class CannotListen(Exception):
    """A listening address is taken or not ours to bind: one line for the operator, no traceback."""

    def __init__(self, what: str, addr: str, setting: str, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "the address is already in use (by another OnCall, or another program)"
        super().__init__(f"cannot listen for {what} on {addr}: {reason}; set {setting} to another address")


_WORKER_ENV = "ONCALL_WORKER_OF"


def _is_worker() -> bool:
    return bool(os.environ.get(_WORKER_ENV))


def _start_workers(settings: Settings, url: str) -> list[subprocess.Popen[bytes]]:
    """Extra server processes on the same ports (the kernel spreads connections among them).

    One Python process serves HTTP on one core; on a machine with more, workers let the
    ingest path use them. Only this process runs the engine (the others could, safely,
    but one per machine is plenty); each worker shares the database, never state.
    """
    if settings.workers <= 1 or _is_worker():
        return []
    env = dict(os.environ, ONCALL_DATABASE_URL=url, ONCALL_WORKERS="1", ONCALL_ENGINE="off", ONCALL_NOTIFIER="off",
               **{_WORKER_ENV: str(os.getpid())})
    procs = [
        subprocess.Popen([sys.executable, "-m", "oncall.cli", "serve"], env=env, stdin=subprocess.DEVNULL)
        for _ in range(settings.workers - 1)
    ]
    log.info("started %d worker process(es): %s", len(procs), ", ".join(str(p.pid) for p in procs))
    return procs


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass


@contextlib.asynccontextmanager
async def _running_core(settings: Settings, url: str, start_engine: bool) -> AsyncIterator[Context]:
    """What every role shares: plugins, the pool, the render processes, the ingestor, the
    directory, schedules, the alert event hub, the channels' host, and the engine, delivery
    worker and lifecycle listeners (started only when ``start_engine``); torn down in reverse."""
    _, registry = load_plugins(settings.disabled_plugins)
    for problem in catalog.installation_problems(registry):
        log.warning("%s", problem)
    previous_catalog = catalog.install(catalog.ChannelCatalog.from_registry(registry))
    pool = await open_pool(url, settings.pool_min, settings.pool_max)
    ingestor = Ingestor(pool, raw_cap=settings.raw_payload_max_bytes)
    ingestor.start()
    ctx = Context(settings=settings, pool=pool, registry=registry, ingestor=ingestor, database_url=url)
    secret = await sessions.load_secret(pool, settings.session_secret)  # never logged
    session_auth = sessions.SessionAuthenticator(sessions.SessionStore(
        pool, sessions.Signer(secret), sessions.Lifetimes(settings.session_idle_s, settings.session_lifetime_s)))
    # the clock of logins, keys and sessions: the process's own, which a test may freeze
    ctx.access = Access(pool, registry.authenticators.values(), registry.permission_rules.values(), clock=Clock(),
                        sessions=session_auth)
    # audit events past their retention and expired sessions, hourly, on the access clock
    pruner = AccessPruner(pool, settings.audit_retention_days, ctx.access.clock, session_auth.store)
    ctx.render_pool = render_pool = RenderPool.for_server(settings, registry)
    await render_pool.start()  # the children start in the background; the first render waits for one
    directory = open_directory(registry.directories)  # ONCALL_DIRECTORY, default "local"
    ctx.directory = directory
    if directory is not None:
        session_auth.directory = directory  # a password login's person is checked there once a minute
    schedule_cache = schedule_store.cache_for(ctx)
    await schedule_cache.start(ctx.listener)
    ctx.schedule_resolver = schedule_store.resolver(ctx)
    ctx.events = hub = EventHub(ctx.listener, pool, settings.event_queue_size)
    await hub.start()
    engine = Engine(ctx)
    ctx.routing = engine.routing  # the RPC services route through it even where the engine doesn't run
    ingestor.grouping = grouping = GroupingCache(pool, engine.routing.router)
    await grouping.start(ctx.listener)
    notifier = Notifier(ctx)
    ctx.notification_host = host = Host(ctx, lambda: notifier.public_url)
    _bind_channels(registry, host)
    lifecycle = Dispatcher(url, registry.lifecycle_listeners, settings, hub)
    if start_engine:
        pruner.start()
        await engine.start()
        await lifecycle.start()
        if settings.notifier:
            await notifier.start()
    if await render_pool.ready(30):  # a page that comes at once renders at once
        log.info("templates render in %d processes (each message at most %g s, each process %d MB more)",
                 settings.render_processes, settings.render_timeout_s, settings.render_memory_mb)
    else:
        log.warning("no render process is up yet; pages wait for one")
    try:
        yield ctx
    finally:
        # each step is bounded, so one that hangs can't keep the process from exiting; a
        # step that overruns is named in the log
        grace = settings.shutdown_grace_s
        await _bounded("the engine", engine.stop(), 10)
        await _bounded("the access retention", pruner.stop(), 10)
        patience = min(grace, settings.lifecycle_timeout_s)
        await _bounded("the lifecycle listeners", lifecycle.stop(patience), patience + 10)
        await _bounded("the delivery worker", notifier.stop(grace), grace + 10)
        await _bounded("the render processes", render_pool.stop(), 20)
        await _bounded("the channels", _close_channels(registry), 10)
        await _bounded("the alert event hub", hub.stop(), 10)
        await _bounded("the grouping rules", grouping.stop(), 10)
        await _bounded("the schedule cache", schedule_cache.stop(), 10)
        await _bounded("the LISTEN connection", ctx.listener.close(), 20)
        if directory is not None:
            await _bounded("the user directory", directory.aclose(), 10)
        await _bounded("the ingestor", ingestor.stop(), grace + 10)
        await _bounded("the database pool", pool.close(), 10)
        catalog.install(previous_catalog)


async def _bounded(what: str, work: Coroutine[Any, Any, Any], timeout_s: float) -> None:
    """Run one shutdown step for at most ``timeout_s`` (unlike wait_for, never waiting on a
    step that ignores its cancellation)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
        log.error("shutdown: stopping %s took longer than %.0f s; going on without it", what, timeout_s)
    elif not task.cancelled() and task.exception() is not None:
        log.error("shutdown: stopping %s failed: %r", what, task.exception())


def _bind_channels(registry: Registry, host: Host) -> None:
    for name, channel in registry.channels.items():
        if isinstance(channel, BindableChannel):
            try:
                channel.bind(host)
            except Exception:  # noqa: BLE001 - one channel's failure is its own
                log.exception("channel %s failed to bind; its inbound actions will not work", name)


async def _close_channels(registry: Registry) -> None:
    for name, channel in registry.channels.items():
        if isinstance(channel, ClosableChannel):
            try:
                await channel.aclose()
            except Exception:  # noqa: BLE001 - shutting down regardless
                log.exception("channel %s failed to close", name)


async def run_engine(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """``oncall engine``: only the escalation engine, for servers run with ONCALL_ENGINE=off.

    Any number may run beside any number of servers: work is claimed with SKIP LOCKED.
    """
    url = await asyncio.to_thread(resolve_database_url, settings)
    await apply_migrations(url)
    async with _running_core(settings, url, start_engine=True):
        stop = stop or asyncio.Event()
        _stop_on_signals(stop)
        log.info("oncall engine running")
        await stop.wait()
        log.info("shutting down the engine and the delivery worker")
    log.info("stopped")
    return 0


async def serve(
    settings: Settings,
    *,
    demo: bool = False,
    on_ready: Callable[[Context], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); return the exit code.

    Raises :class:`~oncall.tls.TlsError` before anything starts when the TLS files can't be used.
    """
    if settings.server_tls is not None:
        check_server(settings.server_tls)
    url = await asyncio.to_thread(resolve_database_url, settings)
    await apply_migrations(url)
    workers = _start_workers(settings, url)
    async with _running_core(settings, url, start_engine=settings.engine) as ctx:
        await _serve_http_and_grpc(ctx, workers, demo, on_ready, stop)
    codes = [await asyncio.to_thread(w.wait) for w in workers]
    log.info("stopped")
    return max([0, *codes])


async def _serve_http_and_grpc(
    ctx: Context,
    workers: list[subprocess.Popen[bytes]],
    demo: bool,
    on_ready: Callable[[Context], None] | None,
    stop: asyncio.Event | None,
) -> None:
    settings, registry = ctx.settings, ctx.registry

    stop = stop or asyncio.Event()
    _stop_on_signals(stop)

    app = build_app(ctx)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_grace_s)
    await runner.setup()
    host, port = settings.http_host_port
    # aiohttp's TCPSite with header, write and idle deadlines and a cap per client address
    tls = settings.server_tls
    site = GuardedSite(runner, host, port, ConnectionLimits.from_settings(settings), backlog=1024,
                       reuse_port=settings.workers > 1 or _is_worker(),
                       ssl_context=http_ssl_context(tls) if tls is not None else None)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise CannotListen("HTTP", settings.http_addr, "ONCALL_HTTP_ADDR", exc) from None
    ctx.http_port = runner.addresses[0][1]
    try:
        grpc_server, health_servicer, grpc_port = await start_grpc(ctx, reuse_port=settings.workers > 1 or _is_worker())
    except OSError as exc:
        await runner.cleanup()
        raise CannotListen("gRPC", settings.grpc_addr, "ONCALL_GRPC_ADDR", exc) from None
    ctx.grpc_port = grpc_port
    loaded = [p.name for p in registry.plugins if p.status == "ok"]
    failed = [p.name for p in registry.plugins if p.status == "failed"]
    log.info(
        "oncall serving HTTP%s on %s and gRPC%s on %s:%d; plugins: %s%s",
        "S" if tls else "", settings.http_addr,
        "" if tls is None else " over mutual TLS" if tls.client_ca_file else " over TLS",
        settings.grpc_host_port[0], grpc_port, ", ".join(loaded) or "none",
        f"; FAILED: {', '.join(failed)}" if failed else "",
    )
    if not _is_worker():
        log.info("%s", login_banner(ctx))
        await _bootstrap_hint(ctx)
    if demo:
        await _demo(ctx)
    if on_ready is not None:
        on_ready(ctx)
    # what startup built lives as long as the process: keep it out of the GC's full passes
    gc.collect()
    gc.freeze()

    await stop.wait()
    log.info("shutting down: no new connections, finishing in-flight requests")
    for w in workers:
        w.send_signal(signal.SIGTERM)
    await health_servicer.enter_graceful_shutdown()
    if ctx.events is not None:
        ctx.events.close_subscribers()  # end WatchAlerts streams now rather than at the grace deadline
    if ctx.notification_watcher is not None:
        await ctx.notification_watcher.stop()  # and WatchNotification streams
    close_streams(app)  # and every REST event stream (WatchIncidents' too)
    # Stop listening first, let in-flight webhooks finish (even one still sending its body),
    # and only then close connections: aiohttp's cleanup alone drops bytes still arriving.
    await site.stop()
    idle = app[IN_FLIGHT].wait_idle(settings.shutdown_grace_s)
    _, drained = await asyncio.gather(grpc_server.stop(settings.shutdown_grace_s), idle)
    if not drained:
        log.warning("%d HTTP request(s) still running after %.0fs; closing them", app[IN_FLIGHT].count,
                    settings.shutdown_grace_s)
    await runner.cleanup()
