"""Ingestion benchmark: webhooks over real HTTP at an OnCall server, beside a bare aiohttp ceiling.

Run from the repository root with the project's venv::

    .venv/bin/python bench/ingest.py                      # starts a server on a throwaway database
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8080 --key KEY   # a running server

Each scenario is measured twice in the same run: against OnCall, and against a bare aiohttp
handler (same HTTP stack, same payloads) that parses the JSON and answers without storing
anything. The bare figure is the ceiling this machine allows for that payload, load
generator included. Every alert carries a fresh fingerprint, so each one is a real insert.

The load generator is its own set of processes (``--client-procs``), each on uvloop with
keep-alive connections and a minimal HTTP/1.1 client, so that on a small machine it costs
little of the CPU the server needs; its CPU use is reported beside the server's. Every loop
is bounded by a request count and a deadline; the script stops by itself, stops what it
started and drops the database it created. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REQUEST_TIMEOUT_S = 30.0
ALERTMANAGER = "alertmanager"
GENERIC = "generic"
#: alerts that share a ``cluster`` label, in the order they are sent: the grouping rule the
#: benchmark turns on (key ``[labels.alertname, labels.cluster]``) makes one incident of each
GROUP_SIZE = 50
GROUPING_RULE_KEY = "[labels.alertname, labels.cluster]"
GROUPING_WINDOW_S = 900


@dataclass(frozen=True)
class BenchRule:
    """A grouping rule the benchmark can turn on: (condition, key, window, resolve_on)."""

    condition: str
    key: str
    window_seconds: int | None
    resolve_on: str


#: the typical rules: the alertname-and-cluster key (condition ``true``, 15 minute window:
#: one incident per GROUP_SIZE alerts), and the ``alertmanager-group`` preset (every alert
#: of a scenario has the same groupKey: one incident in all, resolved when all its alerts are)
BENCH_RULES = {
    "alertname-cluster": BenchRule("true", GROUPING_RULE_KEY, GROUPING_WINDOW_S, "all"),
    "alertmanager-group": BenchRule("has(annotations.groupKey)", "annotations.groupKey", None, "all"),
}


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class Scenario:
    """One shape of traffic: a source, its payload builder, and alerts per request."""

    name: str
    source: str
    alerts_per_request: int

    def body(self, tag: str, seq: int) -> bytes:
        """The webhook body for request ``seq``; every alert in it has a new fingerprint."""
        if self.source == ALERTMANAGER:
            return alertmanager_body(tag, seq, self.alerts_per_request)
        return generic_body(tag, seq)


def _fingerprint(tag: str, n: int) -> str:
    # 16 hex digits like Alertmanager's own fingerprints: 8 for the sender, 8 for the alert
    return f"{tag}{n:08x}"


def _cluster(tag: str, n: int) -> str:
    # the group of alert n; in a body it follows a label holding that alert's fingerprint
    return f"g-{tag}{n // GROUP_SIZE:08x}"


def alertmanager_body(tag: str, seq: int, n_alerts: int) -> bytes:
    """An Alertmanager v4 webhook, as Alertmanager 0.27 sends it, firing ``n_alerts`` alerts."""
    alerts = []
    for j in range(n_alerts):
        fp = _fingerprint(tag, seq * n_alerts + j)
        alerts.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighRequestLatency",
                    "instance": f"api-{fp}:9100",
                    "job": "api",
                    "namespace": "payments",
                    "severity": "critical",
                    "cluster": _cluster(tag, seq * n_alerts + j),
                },
                "annotations": {
                    "summary": f"p99 latency above 2s on api-{fp}",
                    "description": "The 99th percentile of request latency has been above 2s for 5 minutes.",
                    "runbook_url": "https://runbooks.example.com/api/high-latency",
                },
                "startsAt": "2025-01-15T03:12:45.123Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=histogram_quantile%280.99%29&g0.tab=1",
                "fingerprint": fp,
            }
        )
    doc = {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighRequestLatency"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "oncall",
        "groupLabels": {"alertname": "HighRequestLatency"},
        "commonLabels": {"alertname": "HighRequestLatency", "job": "api", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
    return orjson.dumps(doc)


def generic_body(tag: str, seq: int) -> bytes:
    """A GoAlert generic-API webhook for one alert."""
    fp = _fingerprint(tag, seq)
    return orjson.dumps(
        {
            "summary": f"p99 latency above 2s on api-{fp}",
            "details": "The 99th percentile of request latency has been above 2s for 5 minutes.",
            "dedup": fp,
            "meta": {"job": "api", "namespace": "payments", "instance": f"api-{fp}:9100",
                     "cluster": _cluster(tag, seq)},
        }
    )


class _Bodies:
    """Request bodies cut from one serialised template, in which only fingerprints change.

    Serialising a fresh document per request would cost the load generator more CPU than
    the server's own JSON parsing; splicing fingerprints into the template costs little.
    """

    _MARK = "ZZZZZZZZ"  # in place of the sender's tag: not hex, so found nowhere else

    def __init__(self, scenario: Scenario, tag: str) -> None:
        # a slot is a fingerprint (its alert's number j in the request), or a cluster ("g-"),
        # which is the group of the alert whose fingerprint came last
        parts = re.split(rb"(g-)?ZZZZZZZZ([0-9a-f]{8})", scenario.body(self._MARK, 0))
        self._literals = parts[0::3]
        self._slots: list[tuple[bool, int]] = []
        j = 0
        for group, digits in zip(parts[1::3], parts[2::3], strict=True):
            if not group:
                j = int(digits, 16)
            self._slots.append((bool(group), j))
        self._per_request = scenario.alerts_per_request
        self._tag = tag.encode()
        if self(1) != scenario.body(tag, 1):
            raise AssertionError("the body template does not reproduce the scenario's body")

    def __call__(self, seq: int) -> bytes:
        pieces = [self._literals[0]]
        base = seq * self._per_request
        for (group, j), literal in zip(self._slots, self._literals[1:], strict=True):
            if group:
                pieces.append(b"g-%s%08x" % (self._tag, (base + j) // GROUP_SIZE))
            else:
                pieces.append(b"%s%08x" % (self._tag, base + j))
            pieces.append(literal)
        return b"".join(pieces)


# --------------------------------------------------------------------------- HTTP client


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight.

    Deliberately minimal (Content-Length and chunked responses, nothing else) so that the
    load generator costs a fraction of what a full client would.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        w = self._waiter
        if w is not None and not w.done():
            try:
                status = self._take_response()
            except ValueError as exc:
                w.set_exception(exc)
                return
            if status is not None:
                w.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        w = self._waiter
        if w is not None and not w.done():
            w.set_exception(exc or ConnectionResetError("the server closed the connection"))

    def _take_response(self) -> int | None:
        """Remove one complete response from the buffer and return its status, if there is one."""
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(buf[:end]).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        pos = end + 4
        if chunked:
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
                pos = eol + 2 + size + 2
                if pos > len(buf):
                    return None
                if size == 0:
                    break
        else:
            pos += length
            if pos > len(buf):
                return None
        del buf[:pos]
        return status

    async def request(self, data: bytes, timeout: float) -> int:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        w = self._waiter = loop.create_future()
        # a timer rather than asyncio.wait_for, which costs a task per request on 3.11
        timer = loop.call_later(timeout, _expire, w)
        self.transport.write(data)
        try:
            return await w
        finally:
            timer.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _expire(w: asyncio.Future[int]) -> None:
    if not w.done():
        w.set_exception(TimeoutError("no response in time"))


@dataclass(frozen=True)
class Target:
    """Where a run sends its requests."""

    label: str  # "oncall", "oncall+<rule>" (a grouping rule on) or "bare"
    host: str
    port: int
    path: str
    key: str

    def request(self, body: bytes) -> bytes:
        """The whole request, as sent."""
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"User-Agent: oncall-bench\r\nAuthorization: Bearer {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body


@dataclass
class WorkerResult:
    started: float
    finished: float
    ok: int
    failures: dict[str, int]
    latencies: bytes  # array('d') of seconds, measured requests only
    cpu_s: float


async def _worker_main(
    target: Target,
    scenario: Scenario,
    connections: int,
    warmup_s: float,
    duration_s: float,
    max_requests: int,
    barrier: Any,
    tag: str,
) -> WorkerResult:
    loop = asyncio.get_running_loop()
    seq = 0
    failures: Counter[str] = Counter()
    latencies = array.array("d")

    async def connect() -> _HttpConnection:
        _, proto = await loop.create_connection(_HttpConnection, target.host, target.port)
        return proto

    bodies = _Bodies(scenario, tag)

    def next_request() -> bytes:
        nonlocal seq
        body = bodies(seq)
        seq += 1
        return target.request(body)

    async def drive(conn: _HttpConnection, deadline: float, budget: list[int], record: bool) -> _HttpConnection:
        while budget[0] > 0 and time.monotonic() < deadline:
            budget[0] -= 1
            data = next_request()
            t0 = time.perf_counter()
            try:
                if conn.closed:
                    conn = await connect()
                status = await conn.request(data, REQUEST_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                if record:
                    failures[type(exc).__name__] += 1
                conn.close()
                conn.closed = True
                continue
            if record:
                if 200 <= status < 300:
                    latencies.append(time.perf_counter() - t0)
                else:
                    failures[f"HTTP {status}"] += 1
        return conn

    conns = [await connect() for _ in range(connections)]
    # Warm-up: fills the server's pools and caches; its requests are not counted.
    warm_budget = [max(connections * 20, max_requests // 10)]
    conns = list(await asyncio.gather(*(drive(c, time.monotonic() + warmup_s, warm_budget, False) for c in conns)))
    barrier.wait()  # every client process starts measuring together
    cpu0 = time.process_time()
    started = time.monotonic()
    budget = [max_requests]
    conns = list(await asyncio.gather(*(drive(c, started + duration_s, budget, True) for c in conns)))
    finished = time.monotonic()
    cpu = time.process_time() - cpu0
    for c in conns:
        c.close()
    return WorkerResult(started, finished, len(latencies), dict(failures), latencies.tobytes(), cpu)


def _worker(args: tuple[Any, ...], results: Any) -> None:
    """Entry point of one client process."""
    try:
        import uvloop

        run: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        run = asyncio.run
    try:
        results.put(run(_worker_main(*args)))
    except BaseException as exc:  # the parent must hear of it rather than wait
        results.put(exc)
        raise


# --------------------------------------------------------------------------- measuring


def _proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


@dataclass
class Measurement:
    scenario: str
    target: str
    alerts_per_request: int
    clients: int
    requests: int
    failures: dict[str, int]
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu: float  # cores used by the load generator
    server_cpu: float | None  # cores used by the server process
    pg_cpu: float | None  # cores used by the server's PostgreSQL backends
    machine_cpu: float  # cores busy on the whole machine (others' work included)
    alerts_per_commit: float | None  # group commit at work (measured run and its warm-up)

    @property
    def alerts_per_s(self) -> float:
        return self.requests * self.alerts_per_request / self.seconds if self.seconds else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def cpu_us_per_alert(self, cores: float | None) -> float | None:
        """CPU time per alert: unlike throughput, barely moved by what else the machine runs."""
        if cores is None or not self.alerts_per_s:
            return None
        return cores / self.alerts_per_s * 1e6


def _quantile(sorted_values: array.array, q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class DatabaseProbe:
    """What the benchmark reads from the server's database: its backends, and its batching."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    def backend_pids(self) -> list[int]:
        return [r[0] for r in self._query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )]  # fmt: skip

    def grouped(self) -> tuple[int, int]:
        """(incidents a grouping rule made, alerts in them)."""
        [(incidents, alerts)] = self._query(
            "SELECT count(*), coalesce(sum(alert_count), 0) FROM alerting.incidents WHERE rule_id IS NOT NULL"
        )
        return incidents, alerts

    def set_grouping_rule(self, rule: BenchRule | None) -> None:
        """Store (or drop) the benchmark's grouping rule and tell the server, as the grouping service does."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn, conn.transaction():
            conn.execute("DELETE FROM alerting.grouping_rules WHERE name = 'bench'")
            if rule is not None:
                conn.execute(
                    """INSERT INTO alerting.grouping_rules (name, condition, key, window_seconds, resolve_on, position)
                       VALUES ('bench', %s, %s, %s, %s, 0)""",
                    (rule.condition, rule.key, rule.window_seconds, rule.resolve_on),
                )
            conn.execute(
                """INSERT INTO alerting.routing_config AS c (grouping_version) VALUES (1)
                   ON CONFLICT (singleton) DO UPDATE SET grouping_version = c.grouping_version + 1"""
            )
            conn.execute("SELECT pg_notify('oncall_grouping', '')")
        time.sleep(1.0)  # the server reloads its rules when notified; the warm-up covers the rest

    def commits(self) -> tuple[int, int]:
        """(alerts, transactions that created them): alerts of one transaction share created_at."""
        [(alerts, commits)] = self._query("SELECT count(*), count(DISTINCT created_at) FROM alerting.alerts")
        return alerts, commits


def measure(
    target: Target,
    scenario: Scenario,
    args: argparse.Namespace,
    server_pid: int | None,
    probe: DatabaseProbe | None,
) -> Measurement:
    procs_n = max(1, min(args.client_procs, args.clients))
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs_n + 1)
    results = ctx.Queue()
    per_proc = [args.clients // procs_n + (1 if i < args.clients % procs_n else 0) for i in range(procs_n)]
    procs = []
    for i, conns in enumerate(per_proc):
        tag = secrets.token_hex(4)  # fresh fingerprints in every process of every run
        budget = args.max_requests * conns // args.clients
        wargs = (target, scenario, conns, args.warmup, args.duration, budget, barrier, tag)
        p = ctx.Process(target=_worker, args=(wargs, results), name=f"bench-client-{i}", daemon=True)
        p.start()
        procs.append(p)
    try:
        barrier.wait(timeout=args.warmup + 120)
    except Exception:
        for p in procs:
            p.terminate()
        raise RuntimeError("the client processes did not get through warm-up; is the server answering?") from None
    pids = probe.backend_pids() if probe else []
    before = probe.commits() if probe else (0, 0)
    profiler = None
    if args.py_spy and server_pid and target.label != "bare":
        out_file = f"{args.py_spy}-{target.label}-{scenario.name.replace(' ', '-')}.txt"
        py_spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or "py-spy"
        profiler = subprocess.Popen(
            [py_spy, "record", "--pid", str(server_pid), "--duration", str(int(args.duration)), "--rate", "250",
             "--nonblocking", "--format", "raw", "--output", out_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    m0 = _machine_cpu()
    s0 = _proc_cpu_s(server_pid) if server_pid else None
    pg0 = {pid: _proc_cpu_s(pid) for pid in pids}
    out: list[WorkerResult] = []
    deadline = time.monotonic() + args.duration + REQUEST_TIMEOUT_S + 30
    while len(out) < procs_n:
        try:
            r = results.get(timeout=max(1.0, deadline - time.monotonic()))
        except Exception:
            for p in procs:
                p.terminate()
            raise RuntimeError("a client process did not report in time") from None
        if isinstance(r, BaseException):
            for p in procs:
                p.terminate()
            raise RuntimeError(f"a client process failed: {r!r}")
        out.append(r)
    m1 = _machine_cpu()
    s1 = _proc_cpu_s(server_pid) if server_pid else None
    pg_used = sum((c1 - c0) for pid, c0 in pg0.items() if c0 is not None and (c1 := _proc_cpu_s(pid)) is not None)
    for p in procs:
        p.join(10)
    after = probe.commits() if probe else (0, 0)
    if profiler is not None:
        profiler.wait(60)
    seconds = max(r.finished for r in out) - min(r.started for r in out)
    lat = array.array("d")
    for r in out:
        lat.frombytes(r.latencies)
    lat = array.array("d", sorted(lat))
    failures: Counter[str] = Counter()
    for r in out:
        failures.update(r.failures)
    ncores = os.cpu_count() or 1
    return Measurement(
        scenario=scenario.name,
        target=target.label,
        alerts_per_request=scenario.alerts_per_request,
        clients=args.clients,
        requests=len(lat),
        failures=dict(failures),
        seconds=seconds,
        p50_ms=_quantile(lat, 0.50) * 1000,
        p99_ms=_quantile(lat, 0.99) * 1000,
        max_ms=(lat[-1] * 1000) if lat else float("nan"),
        client_cpu=sum(r.cpu_s for r in out) / seconds,
        server_cpu=((s1 - s0) / seconds) if s0 is not None and s1 is not None else None,
        pg_cpu=(pg_used / seconds) if pids else None,
        machine_cpu=(m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * ncores,
        alerts_per_commit=(after[0] - before[0]) / (after[1] - before[1]) if after[1] > before[1] else None,
    )


# --------------------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, proc: subprocess.Popen[bytes] | None, timeout: float, path: str = "/healthz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout:.0f}s")


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped with SIGTERM (then SIGKILL) however the block ends."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _bare_server(port: int) -> None:
    """The ceiling: aiohttp on uvloop, reading and parsing the JSON body, storing nothing."""
    import uvloop
    from aiohttp import web

    async def webhook(request: web.Request) -> web.Response:
        orjson.loads(await request.read())
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/webhooks/{source}", webhook)
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    uvloop.run(main())


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped afterwards."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"oncall_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _oncall(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "oncall.cli", *argv], env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"oncall {' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def installed_sources(env: dict[str, str]) -> set[str]:
    out = _oncall(env, "plugins")
    return {m.group(1) for m in re.finditer(r"^(\S+)\s+\S+\s+ok\s", out, re.MULTILINE)}


def create_integration(env: dict[str, str], source: str) -> str:
    out = _oncall(env, "integrations", "create", "--source", source, "--name", f"bench-{secrets.token_hex(3)}")
    m = re.search(r"^key:\s+(\S+)", out, re.MULTILINE)
    if not m:
        raise RuntimeError(f"no key in the output of 'oncall integrations create': {out!r}")
    return m.group(1)


def _probe_source(host: str, port: int, source: str) -> bool:
    """Whether a running server has ``source``: an unauthenticated POST gets 401, not 404."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(
            f"POST /api/v1/webhooks/{source} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n\r\n{}".encode()
        )
        head = s.recv(64)
    return not head.startswith(b"HTTP/1.1 404")


# --------------------------------------------------------------------------- report


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[Measurement]) -> str:
    """A Markdown table of the measurements, ready for bench/README.md."""
    head = (
        "| scenario | target | alerts/s | requests/s | p50 ms | p99 ms | failed | server CPU | server µs/alert "
        "| PG CPU | PG µs/alert | client CPU | machine CPU |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for m in rows:
        lines.append(
            f"| {m.scenario} | {m.target} | {m.alerts_per_s:,.0f} | {m.requests_per_s:,.0f} | "
            f"{m.p50_ms:.1f} | {m.p99_ms:.1f} | {sum(m.failures.values())} | "
            f"{_fmt(m.server_cpu, '.2f')} | {_fmt(m.cpu_us_per_alert(m.server_cpu), '.0f')} | "
            f"{_fmt(m.pg_cpu, '.2f')} | {_fmt(m.cpu_us_per_alert(m.pg_cpu), '.0f')} | "
            f"{m.client_cpu:.2f} | {m.machine_cpu:.2f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


@dataclass
class Plan:
    scenarios: list[Scenario] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan(sources: set[str], wanted: str) -> Plan:
    p = Plan()
    use_am = ALERTMANAGER in sources if wanted == "auto" else wanted == ALERTMANAGER
    if use_am:
        p.scenarios = [Scenario("alertmanager x1", ALERTMANAGER, 1), Scenario("alertmanager x10", ALERTMANAGER, 10)]
    else:
        p.scenarios = [Scenario("generic x1", GENERIC, 1)]
        p.notes.append(
            "the alertmanager source is not installed: one alert per request goes through the generic "
            "source, and the ten-per-request scenario is skipped"
        )
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server's base URL (127.0.0.1 only); needs --key")
    ap.add_argument("--key", help="integration key for --url, of the source the scenarios use")
    ap.add_argument(
        "--database-url",
        default=os.environ.get("ONCALL_DATABASE_URL") or DEFAULT_ADMIN_URL,
        help="PostgreSQL server on which a throwaway database is created (default: $ONCALL_DATABASE_URL or %(default)s)",
    )
    ap.add_argument("--source", choices=("auto", ALERTMANAGER, GENERIC), default="auto",
                    help="auto: alertmanager when installed, else generic (one alert per request only)")
    ap.add_argument("--only", choices=("x1", "x10"), help="run one scenario only")
    ap.add_argument("--clients", type=int, default=32, help="concurrent connections (default %(default)s)")
    ap.add_argument("--client-procs", type=int, default=2, help="load-generator processes (default %(default)s)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per run (default %(default)s)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured warm-up per run (default %(default)s)")
    ap.add_argument("--max-requests", type=int, default=200_000, help="request cap per run (default %(default)s)")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare-handler ceiling")
    ap.add_argument("--grouping", choices=("compare", "off", "on"), default="compare",
                    help="compare (default): each scenario without any grouping rule, then with each --rule "
                         "on, and the overhead; off or on: only without, or only with (needs the server this "
                         "script starts)")
    ap.add_argument("--rule", action="append", choices=tuple(BENCH_RULES), dest="rules",
                    help="the grouping rule to turn on (repeatable; default: all of them): alertname-cluster "
                         f"(condition true, key {GROUPING_RULE_KEY}, window {GROUPING_WINDOW_S} s, {GROUP_SIZE} "
                         "alerts a key) or alertmanager-group (the preset: key annotations.groupKey)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure without and with the rules this many times, interleaved; the overhead is "
                         "the median over the rounds (default %(default)s)")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the started server, e.g. ONCALL_DB_POOL_MAX=4 (repeatable)")
    ap.add_argument("--setup-sql", action="append", default=[], metavar="SQL",
                    help="run on the throwaway database once it is migrated, before the server starts, "
                         "e.g. to measure what an index costs (repeatable)")
    ap.add_argument("--py-spy", metavar="PREFIX",
                    help="record the server with py-spy (pip install py-spy) during each measured run, "
                         "to PREFIX-SCENARIO.txt (collapsed stacks)")
    ap.add_argument("--json", type=Path, help="also write the measurements to this file")
    ap.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)  # internal: run the ceiling server
    args = ap.parse_args(argv)
    if args.url and not args.key:
        ap.error("--url needs --key")
    if args.url:
        host = urllib.parse.urlsplit(args.url).hostname
        if host not in ("127.0.0.1", "localhost"):
            ap.error("the benchmark only sends traffic to this machine (127.0.0.1)")
    if args.clients < 1 or args.duration <= 0 or args.max_requests < 1 or args.rounds < 1:
        ap.error("--clients, --duration, --max-requests and --rounds must be positive")
    args.rules = args.rules or list(BENCH_RULES)
    return args


def _change(without: float | None, with_: float | None) -> str:
    if without is None or with_ is None or not without:
        return "-"
    return f"{(with_ - without) / without * 100:+.1f} %"


def _cpu(m: Measurement) -> float | None:
    """Server and PostgreSQL CPU per alert, µs (the steadiest figure)."""
    parts = [m.cpu_us_per_alert(m.server_cpu), m.cpu_us_per_alert(m.pg_cpu)]
    return None if None in parts else sum(p for p in parts if p is not None)


def _median_change(pairs: list[tuple[float | None, float | None]]) -> str:
    changes = sorted((b - a) / a * 100 for a, b in pairs if a and b is not None)
    if not changes:
        return "-"
    return f"{statistics.median(changes):+.1f} %" + (
        f" (rounds: {', '.join(f'{c:+.1f}' for c in changes)})" if len(changes) > 1 else "")


def grouping_overhead(offs: list[Measurement], ons: list[Measurement]) -> str:
    """How much more one alert costs with a grouping rule active: CPU per alert (server and
    PostgreSQL, the steadiest figure; the median over interleaved rounds), latency and throughput."""
    pairs = list(zip(offs, ons, strict=True))

    def us(ms: list[Measurement], f: Callable[[Measurement], float | None]) -> str:
        values = [v for v in map(f, ms) if v is not None]
        return f"{statistics.median(values):.0f}" if values else "-"

    def server(m: Measurement) -> float | None:
        return m.cpu_us_per_alert(m.server_cpu)

    def pg(m: Measurement) -> float | None:
        return m.cpu_us_per_alert(m.pg_cpu)

    return (
        f"server+PG CPU/alert {us(offs, _cpu)} → {us(ons, _cpu)} µs, "
        f"{_median_change([(_cpu(a), _cpu(b)) for a, b in pairs])} "
        f"(server {us(offs, server)} → {us(ons, server)} µs, {_median_change([(server(a), server(b)) for a, b in pairs])}; "
        f"PG {us(offs, pg)} → {us(ons, pg)} µs, {_median_change([(pg(a), pg(b)) for a, b in pairs])}); "
        f"p50 {_median_change([(a.p50_ms, b.p50_ms) for a, b in pairs])}, "
        f"p99 {_median_change([(a.p99_ms, b.p99_ms) for a, b in pairs])}, "
        f"alerts/s {_median_change([(a.alerts_per_s, b.alerts_per_s) for a, b in pairs])}"
    )


def _describe(m: Measurement) -> str:
    failed = f", FAILED {m.failures}" if m.failures else ""
    return (
        f"{m.scenario:<17} {m.target:<26} {m.alerts_per_s:>9,.0f} alerts/s  {m.requests_per_s:>7,.0f} req/s  "
        f"p50 {m.p50_ms:6.1f} ms  p99 {m.p99_ms:6.1f} ms  cores: server {_fmt(m.server_cpu, '.2f')} "
        f"({_fmt(m.cpu_us_per_alert(m.server_cpu), '.0f')} µs/alert), PG {_fmt(m.pg_cpu, '.2f')} "
        f"({_fmt(m.cpu_us_per_alert(m.pg_cpu), '.0f')} µs/alert), client {m.client_cpu:.2f}, "
        f"machine {m.machine_cpu:.2f}; {_fmt(m.alerts_per_commit, '.0f')} alerts/commit{failed}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare_server:
        _bare_server(args.bare_server)
        return 0

    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    rows: list[Measurement] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oncall-bench-")))
        server_pid: int | None = None
        probe: DatabaseProbe | None = None
        if args.url:
            u = urllib.parse.urlsplit(args.url)
            host, port = "127.0.0.1" if u.hostname == "localhost" else u.hostname, u.port or 80
            sources = {s for s in (ALERTMANAGER, GENERIC) if _probe_source(host, port, s)}
            p = plan(sources, args.source)
            keys = {s.source: args.key for s in p.scenarios}
        else:
            db_url = stack.enter_context(throwaway_database(args.database_url))
            host, port = "127.0.0.1", _free_port()
            env.update(
                ONCALL_DATABASE_URL=db_url,
                ONCALL_HTTP_ADDR=f"127.0.0.1:{port}",
                ONCALL_GRPC_ADDR=f"127.0.0.1:{_free_port()}",
                ONCALL_DATA_DIR=str(tmp / "data"),
                ONCALL_LOG_LEVEL="WARNING",
            )
            for item in args.server_env:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    raise SystemExit(f"--server-env takes NAME=VALUE, got {item!r}")
                env[name] = value
            p = plan(installed_sources(env), args.source)
            if args.setup_sql:
                # migrate first, so that the statements can change what the migrations made
                _oncall(env, "migrate")
                import psycopg

                with psycopg.connect(db_url, autocommit=True) as conn:
                    for statement in args.setup_sql:
                        conn.execute(statement)
            log_path = tmp / "server.log"
            try:
                server = stack.enter_context(_process([sys.executable, "-m", "oncall.cli", "serve"], env, log_path))
                _wait_http(port, server, 60, "/readyz")
            except Exception:
                sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
                raise
            server_pid = server.pid
            keys = {s.source: create_integration(env, s.source) for s in p.scenarios}

            probe = DatabaseProbe(db_url)

        bare: Target | None = None
        bare_pid: int | None = None
        if not args.no_bare:
            bare_port = _free_port()
            bare_proc = stack.enter_context(
                _process([sys.executable, os.path.abspath(__file__), "--bare-server", str(bare_port)], env, tmp / "bare.log")
            )
            _wait_http(bare_port, bare_proc, 30)
            bare_pid = bare_proc.pid
            bare = Target("bare", "127.0.0.1", bare_port, "/api/v1/webhooks/bare", "none")

        scenarios = [s for s in p.scenarios if not args.only or s.name.endswith(args.only)]
        for note in p.notes:
            print(f"note: {note}", flush=True)
        print(
            f"{args.clients} clients in {min(args.client_procs, args.clients)} processes, "
            f"{args.warmup:g}s warm-up + up to {args.duration:g}s or {args.max_requests} requests per run",
            flush=True,
        )
        rules: list[str | None] = {"compare": [None, *args.rules], "off": [None], "on": list(args.rules)}[
            args.grouping]
        if probe is None and rules != [None]:
            print("note: grouping rules are compared only on a server this script starts; measured without",
                  flush=True)
            rules = [None]
        overheads: list[str] = []
        for sc in scenarios:
            measured: dict[str | None, list[Measurement]] = {name: [] for name in rules}
            for _ in range(args.rounds):
                for name in rules:
                    if probe is not None:
                        probe.set_grouping_rule(None if name is None else BENCH_RULES[name])
                    label = "oncall" if name is None else f"oncall+{name}"
                    oncall = Target(label, host, port, f"/api/v1/webhooks/{sc.source}", keys[sc.source])
                    before = probe.grouped() if probe is not None and name else (0, 0)
                    m = measure(oncall, sc, args, server_pid, probe)
                    rows.append(m)
                    measured[name].append(m)
                    print(_describe(m), flush=True)
                    if probe is not None and name:
                        incidents, alerts = (a - b for a, b in zip(probe.grouped(), before, strict=True))
                        print(f"  grouped: {alerts:,} alerts into {incidents:,} incidents"
                              f" ({alerts / incidents if incidents else 0:.1f} a incident)", flush=True)
            if probe is not None and None in measured and len(measured) > 1:
                probe.set_grouping_rule(None)
                for name, ms in measured.items():
                    if name is not None:
                        overheads.append(f"{sc.name}, {name}: " + grouping_overhead(measured[None], ms))
            if bare:
                m = measure(bare, sc, args, bare_pid, None)
                rows.append(m)
                print(_describe(m), flush=True)

    print()
    print(f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, {args.clients} concurrent clients")
    print(table(rows))
    if overheads:
        print()
        print("Grouping overhead per alert (one rule active vs none; target at most +15 %):")
        for line in overheads:
            print(f"- {line}")
    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {
                    "date": dt.datetime.now(dt.UTC).isoformat(),
                    "cores": os.cpu_count(),
                    "clients": args.clients,
                    "client_procs": args.client_procs,
                    "notes": p.notes,
                    "runs": [dict(m.__dict__, alerts_per_s=m.alerts_per_s, requests_per_s=m.requests_per_s) for m in rows],
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    return 1 if any(m.failures for m in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
