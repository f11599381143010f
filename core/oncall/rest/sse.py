"""A server stream over REST: Server-Sent Events (``text/event-stream``), one event per message.

Each message is an event whose ``data`` is the message's JSON; a message carrying a
timeline event (``event.id``) gives that as the SSE ``id``, so a browser's EventSource (or
any client) reconnecting sends it back as ``Last-Event-ID`` and a stream whose request has
``after_event_id`` resumes just after it. A comment (``: keepalive``) goes out every
``HEARTBEAT_S`` seconds of silence so that proxies keep an idle stream open, and finds a
client that has gone. A failure before the stream starts is an ordinary JSON error with its
status; once started, it is an ``event: error`` with the ``{"error", "detail"}`` data, and
the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import grpc
import orjson
from aiohttp import web

from ..errors import InvalidArgument
from .invoke import RpcFailure
from .jsonmap import response_json
from .routes import Route
from .status import INTERNAL_DETAIL, http_status

#: seconds of silence after which a stream gets a keepalive comment
HEARTBEAT_S = 15.0
#: how long one event may take to be taken by the client before it counts as gone
WRITE_TIMEOUT_S = 30.0
#: the request field a ``Last-Event-ID`` header sets, where the stream's request has it
RESUME_FIELD = "after_event_id"
_DIGITS = re.compile(r"[0-9]{1,20}")

OpenStream = Callable[[Callable[[], Awaitable[None]]], AsyncGenerator[Any, None]]
FailureResponse = Callable[[Route, RpcFailure], web.Response]


class OpenStreams:
    """The event streams a server is answering, so that shutdown can end them at once
    (rather than at the HTTP grace deadline): each ends as if its stream had finished."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False

    def add(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)

    def discard(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)

    def close(self) -> None:
        self.closing = True
        for task in list(self._tasks):
            task.cancel()


def resume_from(request: web.Request, route: Route, message: Any) -> None:
    """Set the request's ``after_event_id`` from ``Last-Event-ID``, which wins over the query's.

    A browser's EventSource reconnects to the URL it was opened with (``?after_event_id=0``
    included) and sends the id of the last event it got: that is where it must go on from,
    not from the query's start again. A stream whose request has no such field starts from
    now whatever the header says (its first comment says so), as it would over gRPC.
    """
    last = request.headers.get("Last-Event-ID")
    if last is None or RESUME_FIELD not in route.input.fields_by_name:
        return
    text = last.strip()
    if not _DIGITS.fullmatch(text):
        raise InvalidArgument(f"Last-Event-ID must be an event id (digits), not {last[:40]!r}")
    value = int(text)
    if value >= 2**63:
        raise InvalidArgument("Last-Event-ID is past the largest event id")
    setattr(message, RESUME_FIELD, value)


def event_id(message: Any) -> str | None:
    """The SSE id of a message: the id of the timeline event it carries, if any."""
    descriptor = message.DESCRIPTOR
    if "event" in descriptor.fields_by_name and message.HasField("event"):
        event = message.event
        if "id" in event.DESCRIPTOR.fields_by_name and event.id:
            return str(event.id)
    return None


def format_event(message: Any) -> bytes:
    data = orjson.dumps(response_json(message)).decode()
    ident = event_id(message)
    return (f"id: {ident}\n" if ident else "").encode() + f"data: {data}\n\n".encode()


def _error_event(failure: RpcFailure) -> bytes:
    status, error = http_status(failure.code)
    detail = INTERNAL_DETAIL if status >= 500 and status != 503 else failure.details
    return b"event: error\ndata: " + orjson.dumps({"error": error, "detail": detail}) + b"\n\n"


async def serve(
    request: web.Request, route: Route, open_stream: OpenStream, heartbeat_s: float, failed: FailureResponse,
    streams: OpenStreams,
) -> web.StreamResponse:
    """Answer ``request`` with the stream ``open_stream`` gives, as Server-Sent Events."""
    if streams.closing:
        return failed(route, RpcFailure(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry"))
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # nginx: pass events on as they come
    })
    lock = asyncio.Lock()
    main = asyncio.current_task()
    gone = False

    async def start() -> None:
        if not resp.prepared:
            await resp.prepare(request)
            note = "" if RESUME_FIELD in route.input.fields_by_name or "Last-Event-ID" not in request.headers \
                else ": this stream can't resume; it starts from now\n"
            await resp.write(f"retry: 3000\n{note}\n".encode())

    async def started() -> None:  # the servicer's initial metadata: the stream is live
        async with lock:
            await start()

    async def send(data: bytes) -> None:
        async with lock:
            await start()
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await resp.write(data)
            except TimeoutError:  # a reader that stopped reading (a full TCP window): gone
                raise ConnectionResetError("the client stopped reading") from None

    async def keepalive() -> None:
        nonlocal gone
        while True:
            await asyncio.sleep(heartbeat_s)
            try:
                await send(b": keepalive\n\n")
            except ConnectionError:  # the client went away
                gone = True
                if main is not None:
                    main.cancel()
                return

    beat = asyncio.create_task(keepalive(), name=f"sse keepalive {route.path}")
    if main is not None:
        streams.add(main)
    stream = open_stream(started)
    try:
        # closed here, in this task, whichever way the loop ends: a generator left to the
        # garbage collector would end in another context, its subscription never released
        async with contextlib.aclosing(stream):
            async for message in stream:
                await send(format_event(message))
    except RpcFailure as failure:
        if not resp.prepared:
            return failed(route, failure)
        with contextlib.suppress(ConnectionError):
            await send(_error_event(failure))
    except ConnectionError:
        return resp  # the client went away while an event was written
    except asyncio.CancelledError:
        if not (gone or streams.closing):
            raise
        if main is not None:
            main.uncancel()
        if gone:
            return resp
    finally:
        if main is not None:
            streams.discard(main)
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    if not resp.prepared:
        await start()
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp
