"""The one way a command reaches OnCall: the API, in this process or on a server.

    async def go(api: Api) -> int:
        reply = await api.call("AlertService/ListAlerts", alerting_pb2.ListAlertsRequest(limit=20))
        ...
    return run_api(settings, go)

A command is written once, against the gRPC methods (the protos are the one definition),
and runs either way:

- **local** (the default): the servicers of this process, on the database the settings
  name, reached through the same interceptors a served call goes through
  (``rest.invoke.Invoker``: request validation, the error mapping, the access check and the
  audit log). The command line holds the database, so it is trusted: its one
  authenticator (``CliAuthenticator``) names it ``internal:cli`` with the admin role, and
  each change it makes is in the audit log under that name.
- **remote**: with ``ONCALL_SERVER_URL`` (``https://oncall.example.com``) and
  ``ONCALL_API_KEY`` (or ``ONCALL_API_KEY_FILE``) set, each call is the method's REST route
  (its ``google.api.http`` annotation) on that server, with the key as bearer: no database,
  no plugins needed on the laptop, and the key's role decides what the command may do.
  ``SSL_CERT_FILE`` names the CA bundle to trust for a server with a private CA.

A call that fails raises :class:`ApiError` with the gRPC status and the server's sentence,
whichever way it went; :func:`run_api` prints ``oncall: <sentence>`` and exits 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import grpc
from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from oncall_hookspecs import AuthRequest, Principal

from ..config import Settings
from ..errors import OnCallError

if TYPE_CHECKING:
    from ..rest.routes import Route

M = TypeVar("M", bound=Message)

#: the generated modules whose services a command may call (imported for their descriptors)
_PROTO_MODULES = (
    "oncall.access.v1.access_pb2", "oncall.alerting.v1.alerting_pb2", "oncall.alerting.v1.escalation_pb2",
    "oncall.alerting.v1.grouping_pb2", "oncall.alerting.v1.heartbeats_pb2", "oncall.alerting.v1.incidents_pb2",
    "oncall.alerting.v1.integrations_pb2", "oncall.alerting.v1.routing_pb2", "oncall.alerting.v1.schedules_pb2",
    "oncall.alerting.v1.silences_pb2",
    "oncall.directory.v1.directory_pb2", "oncall.notification.v1.notification_pb2",
)
_PACKAGES = ("oncall.access.v1", "oncall.alerting.v1", "oncall.notification.v1", "oncall.directory.v1")
#: how long a remote call may take before the command gives up (a stream: until it ends)
TIMEOUT_S = 60.0


class ConfigError(ValueError):
    """``ONCALL_SERVER_URL`` / ``ONCALL_API_KEY`` are not usable; the sentence names the variable."""


class ApiError(Exception):
    """A call ended with a status other than OK: its gRPC code and the server's sentence."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Api(Protocol):
    """What a command calls: a unary method, or a server stream, by name."""

    #: "local" or the server's URL, for a command that says where it acted
    where: str

    async def call(self, method: str, request: M, response_type: type[M] | None = None) -> Any:
        """The response of unary ``method`` (``AlertService/ListAlerts``, or the full
        ``/oncall.alerting.v1.AlertService/ListAlerts``) to ``request``; ApiError on failure."""
        ...

    def stream(self, method: str, request: Message) -> AsyncIterator[Any]:
        """The responses of server-streaming ``method``, as they come; ApiError on failure."""
        ...


def method_descriptor(method: str) -> MethodDescriptor:
    """The descriptor of ``Service/Method`` (any of OnCall's packages) or ``/pkg.Service/Method``."""
    import importlib

    for module in _PROTO_MODULES:
        importlib.import_module(module)
    pool = descriptor_pool.Default()
    name = method.strip("/")
    service, _, short = name.rpartition("/")
    candidates = [service] if "." in service else [f"{package}.{service}" for package in _PACKAGES]
    for full in candidates:
        try:
            found: MethodDescriptor = pool.FindServiceByName(full).methods_by_name[short]
            return found
        except KeyError:
            continue
    raise ValueError(f"no method {method!r} in OnCall's services")


def full_name(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _response_class(method: MethodDescriptor) -> type[Message]:
    from google.protobuf.message_factory import GetMessageClass

    cls: type[Message] = GetMessageClass(method.output_type)
    return cls


# --- remote: REST ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    """Where the remote API is, and the key it is called with (never printed)."""

    url: str
    key: str

    @property
    def where(self) -> str:
        return self.url


def remote_from_env(environ: Mapping[str, str] = os.environ) -> Remote | None:
    """``ONCALL_SERVER_URL`` with ``ONCALL_API_KEY`` / ``ONCALL_API_KEY_FILE``; None without a URL.

    ConfigError (naming the variable, never the key) when the URL is not http(s), or there is
    a URL and no key.
    """
    url = environ.get("ONCALL_SERVER_URL", "").strip().rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"ONCALL_SERVER_URL must be an http:// or https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError("ONCALL_SERVER_URL must not carry a query or a fragment")
    key = environ.get("ONCALL_API_KEY", "").strip()
    key_file = environ.get("ONCALL_API_KEY_FILE", "").strip()
    if key and key_file:
        raise ConfigError("set ONCALL_API_KEY or ONCALL_API_KEY_FILE, not both")
    if key_file:
        try:
            key = Path(key_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"ONCALL_API_KEY_FILE: cannot read {key_file}: {exc.strerror}") from None
    if not key:
        raise ConfigError("ONCALL_SERVER_URL is set but ONCALL_API_KEY (or ONCALL_API_KEY_FILE) is not: "
                          "make a key with `oncall keys create` on the server")
    return Remote(url, key)


def _pop_path(doc: dict[str, Any], dotted: str) -> Any:
    *parents, leaf = dotted.split(".")
    owner: Any = doc
    for name in parents:
        owner = owner.get(name, {}) if isinstance(owner, dict) else {}
    return owner.pop(leaf, None) if isinstance(owner, dict) else None


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query_pairs(message: Descriptor, doc: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``doc`` (a message's JSON, proto field names) as query parameters, the way the
    server's transcoder reads them back (``rest.jsonmap.query_doc``)."""
    pairs: list[tuple[str, str]] = []
    for name, value in doc.items():
        fd: FieldDescriptor | None = message.fields_by_name.get(name)
        if fd is None:
            continue
        key = f"{prefix}{name}"
        entry = fd.message_type
        if entry is not None and entry.GetOptions().map_entry:
            pairs += [(f"{key}[{k}]", _scalar_text(v)) for k, v in value.items()]
        elif isinstance(value, list):
            pairs += [(key, _scalar_text(v)) for v in value]
        elif isinstance(value, dict) and entry is not None:
            pairs += _query_pairs(entry, value, f"{key}.")
        else:
            pairs.append((key, _scalar_text(value)))
    return pairs


def _route(method: MethodDescriptor) -> Route:
    from ..rest.routes import route_of

    route = route_of(method)
    if route is None:
        raise ApiError(grpc.StatusCode.UNIMPLEMENTED, f"{method.name} has no REST route, so it can't be called remotely")
    return route


def _error_code(name: str, status: int) -> grpc.StatusCode:
    from ..rest.status import HTTP_STATUS

    for code, (_, error) in HTTP_STATUS.items():
        if error == name and code is not grpc.StatusCode.OK:
            return code
    for code, (http, _) in HTTP_STATUS.items():
        if http == status:
            return code
    return grpc.StatusCode.UNKNOWN


class RemoteApi:
    """OnCall's REST API on a server, called with an API key."""

    def __init__(self, remote: Remote, timeout_s: float = TIMEOUT_S) -> None:
        import aiohttp

        self.where = remote.where
        self._remote = remote
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {remote.key}", "User-Agent": "oncall-cli"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None),
        )
        self._timeout_s = timeout_s

    async def aclose(self) -> None:
        await self._session.close()

    def _request(self, method: MethodDescriptor, request: Message) -> tuple[str, str, dict[str, Any]]:
        route = _route(method)
        doc: dict[str, Any] = json_format.MessageToDict(request, preserving_proto_field_name=True)
        path, verb = route.path, route.verb
        for dotted in route.path_fields:  # the route's own reading of its template's variables
            value = _pop_path(doc, dotted)
            if value is None or value == "":
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"{dotted} is required")
            path = path.replace("{" + dotted + "}", quote(_scalar_text(value), safe=""))
        url = self._remote.url + path
        if route.body:
            return verb, url, {"json": doc}
        return verb, url, {"params": _query_pairs(method.input_type, doc)}

    async def _failure(self, resp: Any) -> ApiError:
        try:
            body = await resp.json(content_type=None)
        except Exception:  # noqa: BLE001 - a proxy's HTML page: the status says enough
            body = None
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return ApiError(_error_code(str(body.get("error", "")), resp.status), body["detail"])
        return ApiError(_error_code("", resp.status), f"the server answered HTTP {resp.status} {resp.reason or ''}".strip())

    async def call(self, method: str, request: M, response_type: type[M] | None = None) -> Any:
        import aiohttp

        descriptor = method_descriptor(method)
        verb, url, kwargs = self._request(descriptor, request)
        try:
            async with asyncio.timeout(self._timeout_s), self._session.request(verb, url, **kwargs) as resp:
                if resp.status != 200:
                    raise await self._failure(resp)
                doc = await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, f"cannot reach {self.where}: {exc}") from None
        except TimeoutError:
            raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED,
                           f"{self.where} did not answer in {self._timeout_s:g} s") from None
        out = (response_type or _response_class(descriptor))()
        try:
            json_format.ParseDict(doc, out, ignore_unknown_fields=True)  # a newer server may say more
        except json_format.ParseError as exc:
            raise ApiError(grpc.StatusCode.INTERNAL, f"the server's answer is not a {out.DESCRIPTOR.name}: {exc}") \
                from None
        return out

    async def stream(self, method: str, request: Message) -> AsyncIterator[Any]:
        import aiohttp
        import orjson

        descriptor = method_descriptor(method)
        verb, url, kwargs = self._request(descriptor, request)
        cls = _response_class(descriptor)
        try:
            async with self._session.request(verb, url, headers={"Accept": "text/event-stream"}, **kwargs) as resp:
                if resp.status != 200:
                    raise await self._failure(resp)
                event, data = "message", []
                async for raw in resp.content:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if line:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "event":
                            event = value
                        elif field == "data":
                            data.append(value)
                        continue
                    if not data:
                        event = "message"
                        continue
                    doc = orjson.loads("\n".join(data))
                    if event == "error":
                        raise ApiError(_error_code(str(doc.get("error", "")), 0), str(doc.get("detail", "")))
                    out = cls()
                    json_format.ParseDict(doc, out, ignore_unknown_fields=True)
                    yield out
                    event, data = "message", []
        except aiohttp.ClientError as exc:
            raise ApiError(grpc.StatusCode.UNAVAILABLE, f"lost {self.where}: {exc}") from None


# --- local: the servicers of this process ----------------------------------------------------


class CliAuthenticator:
    """The command line's principal: it holds the database, so it may do what an admin may.

    Only the CLI's own process has this authenticator; a server never does.
    """

    name = "cli"

    def __init__(self, principal: Principal) -> None:
        self._principal = principal

    async def authenticate(self, request: AuthRequest) -> Principal | None:
        return self._principal


class LocalApi:
    """The servicers of this process, on the settings' database, called as ``internal:cli``."""

    where = "local"

    def __init__(self, invoker: Any) -> None:
        self._invoker = invoker

    async def call(self, method: str, request: M, response_type: type[M] | None = None) -> Any:
        from ..rest.invoke import RpcFailure

        name = full_name(method_descriptor(method))
        try:
            return await self._invoker.invoke(name, request, (("user-agent", "oncall-cli"),), "unix:cli")
        except RpcFailure as exc:
            raise ApiError(exc.code, exc.details) from None

    async def stream(self, method: str, request: Message) -> AsyncIterator[Any]:
        from ..rest.invoke import RpcFailure

        name = full_name(method_descriptor(method))
        try:
            async for response in self._invoker.invoke_stream(name, request, (("user-agent", "oncall-cli"),),
                                                               "unix:cli"):
                yield response
        except RpcFailure as exc:
            raise ApiError(exc.code, exc.details) from None


@asynccontextmanager
async def local_api(settings: Settings) -> AsyncIterator[LocalApi]:
    """The servicers on a migrated database, wired as a server wires them, with no background work."""
    from ..alerting.ingest import Ingestor
    from ..auth.access import Access
    from ..auth.principal import CLI
    from ..context import Context
    from ..directory.client import open_directory
    from ..grouping.assign import GroupingCache
    from ..notification import channels as catalog
    from ..plugins import load_plugins
    from ..rest.invoke import Invoker
    from ..routing.route import Routing
    from ..store.database import open_pool, resolve_database_url
    from ..store.migrate import apply_migrations

    url = await asyncio.to_thread(resolve_database_url, settings)
    await apply_migrations(url)
    _, registry = load_plugins(settings.disabled_plugins)
    previous_catalog = catalog.install(catalog.ChannelCatalog.from_registry(registry))
    pool = await open_pool(url, 1, 4)
    ingestor = Ingestor(pool, raw_cap=settings.raw_payload_max_bytes)
    ingestor.start()
    ctx = Context(settings=settings, pool=pool, registry=registry, ingestor=ingestor, database_url=url)
    try:
        ctx.access = Access(pool, [CliAuthenticator(CLI)])
        # SendNotification resolves users through it; which directory it is is a server's news, not each command's
        directory_log = logging.getLogger("oncall.directory.client")
        previous_level = directory_log.level
        directory_log.setLevel(max(logging.WARNING, directory_log.getEffectiveLevel()))
        try:
            ctx.directory = open_directory(registry.directories)
        finally:
            directory_log.setLevel(previous_level)
        ctx.routing = routing = Routing(ctx)
        ingestor.grouping = grouping = GroupingCache(pool, routing.router)
        await grouping.refresh()
        yield LocalApi(Invoker(ctx))
    finally:
        if ctx.directory is not None:
            await ctx.directory.aclose()
        await ctx.listener.close()
        await ingestor.stop()
        await pool.close()
        catalog.install(previous_catalog)


@asynccontextmanager
async def open_api(settings: Settings, environ: Mapping[str, str] = os.environ) -> AsyncIterator[Api]:
    """The remote API when ``ONCALL_SERVER_URL`` is set, else the local one."""
    remote = remote_from_env(environ)
    if remote is not None:
        api = RemoteApi(remote)
        try:
            yield api
        finally:
            await api.aclose()
        return
    async with local_api(settings) as local:
        yield local


async def each(what: str, ids: Sequence[int], act: Callable[[int], Awaitable[str]]) -> int:
    """``act(id)`` for every id (``alerts ack 3 4 5``), printing the line each returns.

    One id that fails is the command's failure (ApiError, printed by :func:`run_api`); with
    several, each failure is printed (``oncall: alert 4 not found``: the server's sentence
    names what it refused), the rest are still tried, and the exit code is 1 when any failed.
    """
    if len(ids) == 1:
        print(await act(ids[0]))
        return 0
    failed = 0
    for one in ids:
        try:
            print(await act(one))
        except ApiError as exc:
            detail = exc.detail if str(one) in exc.detail else f"{what} {one}: {exc.detail}"
            print(f"oncall: {detail}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def run_api(settings: Settings, fn: Callable[[Api], Awaitable[int]], *, refusal: str = "oncall") -> int:
    """Run ``fn(api)`` to its exit code; a failed call prints ``<refusal>: <sentence>`` and exits 1."""
    from .runner import run_loop

    async def go() -> int:
        try:
            async with open_api(settings) as api:
                return await fn(api)
        except ApiError as exc:
            print(f"{refusal}: {exc.detail}", file=sys.stderr)
            return 1
        except OnCallError as exc:
            print(f"{refusal}: {exc.detail}", file=sys.stderr)
            return 1

    try:
        return run_loop(go())
    except ConfigError as exc:
        print(f"{refusal}: {exc}", file=sys.stderr)
        return 2
