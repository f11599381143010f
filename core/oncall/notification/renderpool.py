"""Render processes: templates render in a few child processes, never on the server's event loop.

A template can spend its whole budget (a quarter of a second a part), and one call into C
cannot be interrupted; rendered on the event loop, that stalls every webhook, health check
and page behind it. So the server renders in a ``RenderPool``: ``ONCALL_RENDER_PROCESSES``
children, each started by multiprocessing's forkserver (never a fork of this process, which
runs an event loop and threads), each loading the renderer plugins from their entry points
itself, capping its own address space (``ONCALL_RENDER_MEMORY_MB`` more than it starts with,
``RLIMIT_AS``), and keeping its compile cache warm across renders.

Work goes out in batches: a claimed batch of sends is one request to each child it is split
over, answered one frame per message. When a child spends longer than
``ONCALL_RENDER_TIMEOUT_S`` on one message it is killed and replaced, and so is a child that
dies (a crash; one that ran out of memory leaves after answering its batch): that one
message is "lost" to its render — the rest of the batch goes on in the new child — and a
lost send is rendered again with the channel's default, then, if that is lost too, as the
minimal message (``pipeline.render_minimal``), here. A page is never lost to rendering, and
no worker waits on a stuck child.

Frames are a 4-byte length and JSON (orjson) both ways: nothing a child sends back is
unpickled here, whatever a template did in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import math
import multiprocessing
import os
import resource
import signal
import socket
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from oncall_hookspecs import RenderedPayload, Renderer
from oncall_hookspecs.markers import ENTRY_POINT_GROUP

from . import channels
from .pipeline import (
    USED_DEFAULT,
    USED_MINIMAL,
    USED_TEMPLATE,
    ChannelPreview,
    SendJob,
    SendRender,
    preview,
    render_for,
    render_minimal,
    render_send,
    shared_renderer,
)
from .render import RenderLimits, TemplateRenderer
from .templates import DEFAULT_SAMPLES, ChannelTemplate, Template
from .validate import Problem, ValidationResult, validate

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 60.0  # a child importing everything on a busy 2-core machine
ACQUIRE_TIMEOUT_S = 60.0  # waiting for a free child: past this, a send gets the minimal message
MAX_FRAME = 256 * 1024 * 1024
MAX_REQUEST = 64 * 1024 * 1024  # a batch bigger than this goes as several requests
_SMALL_BATCH = 8  # a batch this small goes to one child
_LIMITS = RenderLimits()


@dataclass(frozen=True)
class _ChildConfig:
    """What a child needs to know, sent when it starts (pickled by multiprocessing)."""

    disabled: frozenset[str]
    memory_mb: int
    limits: RenderLimits


@dataclass(frozen=True, slots=True)
class _Lost:
    """A message whose render never came back: why."""

    reason: str


# ------------------------------------------------------------------------------ wire format


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def _template_json(template: Template) -> dict[str, dict[str, str]]:
    return {ch: dict(t.parts) for ch, t in template.channels.items()}


def _problem_json(p: Problem | str) -> Any:
    return p if isinstance(p, str) else {"ch": p.channel, "pt": p.part, "m": p.message, "l": p.line}


def _problem(value: Any) -> Problem | str:
    if isinstance(value, str):
        return value
    return Problem(value["ch"], value["pt"], value["m"], value["l"])


def _send_json(result: SendRender) -> dict[str, Any]:
    r = result.rendered
    return {"ch": r.channel, "p": r.payload, "w": r.warnings, "e": r.errors, "u": result.used,
            "f": [list(f) for f in result.failures]}


def _send_result(value: Mapping[str, Any]) -> SendRender:
    rendered = RenderedPayload(value["ch"], value["p"], list(value["w"]), list(value["e"]))
    return SendRender(rendered, value["u"], tuple((stage, why) for stage, why in value["f"]))


# ------------------------------------------------------------------------------ the child


def _address_space() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _cap_memory(memory_mb: int) -> None:
    """RLIMIT_AS: what this child maps now, and ``memory_mb`` more; past it, allocations fail."""
    now = _address_space()
    if now is None:
        log.warning("render process: cannot read its address space; memory is not capped")
        return
    cap = now + memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _run_job(job: Mapping[str, Any], renderers: Mapping[str, Renderer], renderer: TemplateRenderer) -> Any:
    kind = job["k"]
    if kind == "s":
        parts = job["t"]
        ch = job["ch"]
        template = Template({ch: ChannelTemplate(parts)}) if parts is not None else Template()
        return _send_json(render_send(SendJob(template, ch, job["c"]), renderers, renderer=renderer))
    if kind == "p":
        previews = preview(Template.from_mapping(job["t"], stored=True), job["chs"], job["c"], renderers, job["bad"],
                           renderer=renderer)
        return [{"ch": p.channel, "p": p.payload.decode() if p.payload is not None else None,
                 "w": [_problem_json(w) for w in p.warnings], "e": [_problem_json(e) for e in p.errors]}
                for p in previews]
    if kind == "v":
        result = validate(Template.from_mapping(job["t"], stored=True), job["c"], channels=None, renderer=renderer,
                          renderers=renderers)
        return {"e": [_problem_json(e) for e in result.errors], "w": [_problem_json(w) for w in result.warnings]}
    raise ValueError(f"unknown job kind {kind!r}")


def _write(sock: socket.socket, value: Any) -> None:
    try:
        body = _dumps(value)
    except (TypeError, ValueError) as exc:  # a payload JSON cannot hold (an integer past 64 bits)
        body = _dumps({"x": f"the render's result could not be encoded: {exc}"})
    sock.sendall(len(body).to_bytes(4, "big") + body)


def _child_main(sock: socket.socket, config: _ChildConfig) -> None:
    """A render process: load the renderers, cap memory, warm up, then render until the socket closes."""
    # Ctrl-C reaches the whole process group: the server stops its children itself (closing
    # the socket) after its last render. SIGTERM still ends a child at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.ERROR, format=f"oncall render process {os.getpid()}: %(message)s")
    from ..plugins import load_plugins

    _, registry = load_plugins(config.disabled)  # the server has reported any plugin's problems
    channels.install(channels.ChannelCatalog.from_registry(registry))
    renderers = registry.renderers
    # the shared renderer has the defaults compiled already (renderwarm, in the forkserver)
    renderer = shared_renderer() if config.limits == RenderLimits() else TemplateRenderer(config.limits)
    for context in DEFAULT_SAMPLES.values():  # and each renderer plugin warm
        for ch in channels.current():
            render_for(Template(), ch, context, renderers, renderer=renderer)
    _cap_memory(config.memory_mb)
    with contextlib.suppress(OSError):  # the server went away: nothing to answer
        _serve(sock, renderers, renderer, config)


def _serve(sock: socket.socket, renderers: Mapping[str, Renderer], renderer: TemplateRenderer,
           config: _ChildConfig) -> None:
    _write(sock, {"ready": sorted(renderers)})
    stream = sock.makefile("rb")
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return  # the server closed the socket: done
        request = orjson.loads(stream.read(int.from_bytes(head, "big")))
        for job in request["jobs"]:
            try:
                result: Any = {"r": _run_job(job, renderers, renderer)}
            except MemoryError:
                TemplateRenderer.memory_errors += 1
                result = {"x": f"the render ran out of memory (a render process may use {config.memory_mb} MB more)"}
            except Exception as exc:  # noqa: BLE001 - this message's failure, reported; the next goes on
                result = {"x": f"the render failed: {type(exc).__name__}: {exc}"}
            _write(sock, result)
        if TemplateRenderer.memory_errors:
            # a process that hit its memory cap may be left fragmented: answer the batch, then go;
            # the server starts a fresh one
            return


# ------------------------------------------------------------------------------ the pool


@dataclass(eq=False)
class _Child:
    process: Any  # multiprocessing's Process (its type is per start method)
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    killed: bool = False

    async def read(self) -> Any:
        head = await self.reader.readexactly(4)
        size = int.from_bytes(head, "big")
        if size > MAX_FRAME:
            raise ConnectionError(f"a render process sent a {size}-byte frame")
        return orjson.loads(await self.reader.readexactly(size))

    async def write(self, body: bytes) -> None:
        self.writer.write(len(body).to_bytes(4, "big") + body)
        await self.writer.drain()

    def answers(self, count: int, timeout_s: float) -> Iterator[Awaitable[Any]]:
        """The next ``count`` frames, each due ``timeout_s`` after the one before (TimeoutError if not).

        Reads whatever has arrived in one go: one wait per burst of answers, not per message.
        """
        loop = asyncio.get_running_loop()
        buffer = bytearray()
        deadline = loop.time() + timeout_s

        async def next_frame() -> Any:
            nonlocal deadline
            while True:
                if len(buffer) >= 4:
                    size = int.from_bytes(buffer[:4], "big")
                    if size > MAX_FRAME:
                        raise ConnectionError(f"a render process sent a {size}-byte frame")
                    if len(buffer) >= 4 + size:
                        frame = orjson.loads(bytes(buffer[4:4 + size]))
                        del buffer[:4 + size]
                        deadline = loop.time() + timeout_s
                        return frame
                async with asyncio.timeout_at(deadline):
                    data = await self.reader.read(1 << 20)
                if not data:
                    raise asyncio.IncompleteReadError(bytes(buffer), None)
                buffer.extend(data)

        for _ in range(count):
            yield next_frame()

    def kill(self) -> None:
        self.killed = True
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        with contextlib.suppress(Exception):
            self.process.kill()


_PRELOADED = False


def _forkserver(preload: Iterable[str]) -> Any:
    """The forkserver context; the first call names what it imports once, so each child starts in milliseconds.

    Like every multiprocessing child, a render process runs the program's main module first
    (guarded by ``if __name__ == "__main__"``, as ``oncall``'s are); a main started as a file
    the forkserver runs once, so that each child need not.
    """
    global _PRELOADED
    context = multiprocessing.get_context("forkserver")
    if not _PRELOADED:
        _PRELOADED = True
        context.set_forkserver_preload(["__main__", __name__, f"{__package__}.renderwarm", *preload])
    return context


@dataclass
class _Batch:
    """One batch's progress on the children: results by position; None is not done yet."""

    jobs: list[bytes]
    results: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.jobs)


class RenderPool:
    """The server's render processes. Start and stop it with the server; see the module docstring."""

    def __init__(
        self, *, processes: int, timeout_s: float, memory_mb: int, renderers: Mapping[str, Renderer],
        disabled: Iterable[str] = (), preload: Iterable[str] = (), limits: RenderLimits = _LIMITS,
    ) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._renderers = renderers  # this process's: for the minimal message when a render is lost
        self._config = _ChildConfig(frozenset(disabled), memory_mb, limits)
        self._preload = tuple(preload)
        self._idle: asyncio.Queue[_Child] | None = None
        self._children: set[_Child] = set()
        self._starting = 0
        self._spawn_lock: asyncio.Lock | None = None
        self._filler: asyncio.Task[None] | None = None
        self._reapers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._ready: asyncio.Event | None = None
        self.started_children = 0  # for tests and the log: how many were ever started

    @classmethod
    def for_server(cls, settings: Any, registry: Any, limits: RenderLimits = _LIMITS) -> RenderPool:
        """The pool ``settings`` ask for; its children load only the plugins that gave ``registry`` renderers
        or channel specs.

        ``limits``: the budget of each render (the default is what the sandbox allows everywhere).
        """
        providers = {p.name for p in registry.plugins if {"renderers", "channel_specs"} & p.provides.keys()}
        modules = [ep.module for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name in providers]
        return cls(processes=settings.render_processes, timeout_s=settings.render_timeout_s,
                   memory_mb=settings.render_memory_mb, renderers=registry.renderers,
                   disabled={p.name for p in registry.plugins} - providers, preload=modules, limits=limits)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Begin starting the children (in the background: the first render waits for one)."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            self._spawn_lock = asyncio.Lock()
            self._ready = asyncio.Event()
        self._stopping = False
        self._refill()

    async def ready(self, timeout_s: float) -> bool:
        """Wait until a render process is up (at most ``timeout_s``); whether one is."""
        if self._ready is None:
            await self.start()
        assert self._ready is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        return self._ready.is_set()

    async def stop(self) -> None:
        """Close every child's socket (each exits when it reads the end), then make sure they are gone."""
        self._stopping = True
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._filler
            self._filler = None
        children, self._children = list(self._children), set()
        for child in children:
            with contextlib.suppress(Exception):
                child.writer.close()
        await asyncio.gather(*(self._reap(c, grace=2.0) for c in children), *self._reapers,
                             return_exceptions=True)

    def _refill(self) -> None:
        if self._stopping or (self._filler is not None and not self._filler.done()):
            return
        if len(self._children) < self.processes:
            self._filler = asyncio.create_task(self._fill(), name="oncall-render-pool-fill")

    async def _fill(self) -> None:
        delay = 0.5
        while not self._stopping and len(self._children) < self.processes:
            try:
                child = await self._spawn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried: sends meanwhile get the minimal message
                log.error("could not start a render process (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 0.5
            self._children.add(child)
            assert self._idle is not None and self._ready is not None
            self._idle.put_nowait(child)
            self._ready.set()

    async def _spawn(self) -> _Child:
        assert self._spawn_lock is not None
        async with self._spawn_lock:  # multiprocessing's bookkeeping is not for threads at once
            ours, theirs = socket.socketpair()
            process = _forkserver(self._preload).Process(target=_child_main, args=(theirs, self._config),
                                                         name="oncall-render", daemon=True)
            starting = asyncio.ensure_future(asyncio.to_thread(process.start))
            try:
                await asyncio.wait_for(asyncio.shield(starting), STARTUP_TIMEOUT_S)
            except BaseException:
                # cancelled (the server is stopping) or slow: the thread is still handing the
                # socket to the forkserver; let it finish, so that neither is left half-way
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(starting, STARTUP_TIMEOUT_S)
                ours.close()
                if process.pid is not None:
                    self._track(self._reap(_Child(process, None, None)))  # type: ignore[arg-type]
                raise
            finally:
                if starting.done():
                    theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        child = _Child(process, reader, writer)
        try:
            await asyncio.wait_for(child.read(), STARTUP_TIMEOUT_S)
        except BaseException:
            child.kill()
            self._track(self._reap(child))
            raise
        self.started_children += 1
        return child

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._reapers.add(task)
        task.add_done_callback(self._reapers.discard)

    async def _reap(self, child: _Child, grace: float = 0.0) -> None:
        process = child.process
        if grace:
            await asyncio.to_thread(process.join, grace)
        if process.exitcode is None:
            child.kill()
        await asyncio.to_thread(process.join, 10)
        with contextlib.suppress(ValueError):
            process.close()

    def _discard(self, child: _Child) -> None:
        """A child that overran, died or is in an unknown state: killed, reaped, replaced."""
        self._children.discard(child)
        child.kill()
        self._track(self._reap(child))
        self._refill()

    async def _acquire(self) -> _Child:
        if self._idle is None:
            await self.start()
        assert self._idle is not None
        while True:
            if self._stopping:
                raise TimeoutError("the render processes are stopping")
            self._refill()
            child = await asyncio.wait_for(self._idle.get(), ACQUIRE_TIMEOUT_S)
            if child in self._children and child.process.exitcode is None:
                return child
            self._discard(child)

    # ------------------------------------------------------------------ running jobs

    async def _run(self, jobs: list[bytes | _Lost]) -> list[Any]:
        """Each job's result, or a ``_Lost``; a batch is split over the children."""
        results: list[Any] = list(jobs)
        ready = [i for i, job in enumerate(jobs) if isinstance(job, bytes)]
        if not ready:
            return results
        chunks = min(self.processes, math.ceil(len(ready) / _SMALL_BATCH))
        size = math.ceil(len(ready) / chunks)
        groups: list[list[int]] = []
        for n in range(0, len(ready), size):
            groups.append([])
            held = 0
            for i in ready[n:n + size]:  # and no request past MAX_REQUEST bytes
                held += len(jobs[i])  # type: ignore[arg-type]
                if groups[-1] and held > MAX_REQUEST:
                    groups.append([])
                    held = len(jobs[i])  # type: ignore[arg-type]
                groups[-1].append(i)
        batches = [_Batch([jobs[i] for i in group]) for group in groups]  # type: ignore[misc]
        await asyncio.gather(*(self._run_batch(b) for b in batches))
        for group, batch in zip(groups, batches, strict=True):
            for i, result in zip(group, batch.results, strict=True):
                results[i] = result
        return results

    async def _run_batch(self, batch: _Batch) -> None:
        pending = list(range(len(batch.jobs)))
        unanswered = 0  # requests a child died on before answering anything: not any message's fault
        while pending:
            try:
                child = await self._acquire()
            except TimeoutError:
                for i in pending:
                    batch.results[i] = _Lost("no render process was free for a minute")
                return
            done = 0
            lost: str | None = None
            try:
                request = b'{"jobs":[' + b",".join(batch.jobs[i] for i in pending) + b"]}"
                try:
                    await asyncio.wait_for(child.write(request), self.timeout_s)
                except TimeoutError:
                    raise ConnectionError("the render process stopped taking work") from None
                for answer in child.answers(len(pending), self.timeout_s):
                    frame = await answer
                    batch.results[pending[done]] = frame["r"] if "r" in frame else \
                        _Lost(frame.get("x", "the render failed"))
                    done += 1
            except TimeoutError:
                lost = f"the render took longer than {self.timeout_s:g} s and was stopped"
            except (ConnectionError, OSError, asyncio.IncompleteReadError, orjson.JSONDecodeError):
                lost = await self._why_it_ended(child)
            except BaseException:
                self._discard(child)  # cancelled mid-request: the child's state is unknown
                raise
            if lost is None:
                assert self._idle is not None
                self._idle.put_nowait(child)
                return
            self._discard(child)
            if done == 0 and not lost.startswith("the render took") and unanswered < 2:
                unanswered += 1  # it was gone before it took this work: the next child takes it all
                continue
            log.warning("render of a message lost: %s", lost)
            batch.results[pending[done]] = _Lost(lost)
            pending = pending[done + 1:]

    async def _why_it_ended(self, child: _Child) -> str:
        await asyncio.to_thread(child.process.join, 2)
        code = child.process.exitcode
        if code is None:
            return "the render process stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (it may have run out of memory)" if -code == signal.SIGKILL else ""
            return f"the render process was killed by {name}{hint}"
        return f"the render process exited with code {code}"

    # ------------------------------------------------------------------ Rendering

    async def send(self, jobs: Sequence[SendJob]) -> list[SendRender]:
        """Each job rendered for sending; a lost render falls back to the default, then the minimal message."""
        results = await self._run([self._send_job(job, job.custom) for job in jobs])
        out: list[SendRender | None] = []
        again: list[int] = []
        for i, (job, result) in enumerate(zip(jobs, results, strict=True)):
            if not isinstance(result, _Lost):
                out.append(_send_result(result))
            elif job.custom:
                out.append(None)
                again.append(i)
            else:
                out.append(self._minimal(job, ((USED_DEFAULT, result.reason),)))
        if again:
            second = await self._run([self._send_job(jobs[i], False) for i in again])
            for i, result in zip(again, second, strict=True):
                first = (USED_TEMPLATE, results[i].reason)
                if isinstance(result, _Lost):
                    out[i] = self._minimal(jobs[i], (first, (USED_DEFAULT, result.reason)))
                else:
                    r = _send_result(result)
                    used = USED_DEFAULT if r.used == USED_TEMPLATE else r.used
                    out[i] = SendRender(r.rendered, used, (first, *r.failures))
        return [r for r in out if r is not None]

    def _send_job(self, job: SendJob, custom: bool) -> bytes | _Lost:
        parts = None
        if custom:
            own = next(t for c, t in job.template.channels.items() if c == job.channel)
            parts = dict(own.parts)
        try:
            return _dumps({"k": "s", "ch": job.channel, "t": parts, "c": job.context})
        except (TypeError, ValueError) as exc:  # a context JSON cannot hold
            return _Lost(f"the message could not be handed to a render process: {exc}")

    @staticmethod
    def _job(job: Mapping[str, Any]) -> bytes | _Lost:
        try:
            return _dumps(job)
        except (TypeError, ValueError) as exc:
            return _Lost(f"the sample could not be handed to a render process: {exc}")

    def _minimal(self, job: SendJob, failures: tuple[tuple[str, str], ...]) -> SendRender:
        return SendRender(render_minimal(job.channel, job.context, self._renderers), USED_MINIMAL, failures)

    async def preview(
        self, template: Template, channels: Sequence[str], context: Mapping[str, Any],
        shape_errors: Mapping[str, str] | None = None,
    ) -> list[ChannelPreview]:
        [result] = await self._run([self._job({"k": "p", "t": _template_json(template), "chs": list(channels),
                                                "c": context, "bad": dict(shape_errors or {})})])
        if isinstance(result, _Lost):
            names = [*dict.fromkeys(channels), *(n for n in (shape_errors or {}) if n not in channels)]
            return [ChannelPreview(name, None, [], [f"the preview was stopped: {result.reason}"]) for name in names]
        return [ChannelPreview(p["ch"], p["p"].encode() if p["p"] is not None else None,
                               [_problem(w) for w in p["w"]], [_problem(e) for e in p["e"]]) for p in result]

    async def validate(self, template: Template, sample: Mapping[str, Any] | None) -> ValidationResult:
        [result] = await self._run([self._job({"k": "v", "t": _template_json(template), "c": sample})])
        if isinstance(result, _Lost):
            return ValidationResult(errors=[Problem(ch, "", f"rendering the sample was stopped: {result.reason}")
                                            for ch in template.channels])
        errors = [_problem(e) for e in result["e"]]
        warnings = [_problem(w) for w in result["w"]]
        return ValidationResult(errors=[e for e in errors if isinstance(e, Problem)],
                                warnings=[w for w in warnings if isinstance(w, Problem)])


__all__ = ["RenderPool"]
