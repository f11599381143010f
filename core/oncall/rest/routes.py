"""The REST routes, read from the ``google.api.http`` option of every served method's descriptor.

A route is an HTTP verb and a path template (``/api/v1/alerts/{alert_id}/acknowledge``) for
one gRPC method. Path variables name request fields (``{a.b}`` a nested one); ``body: "*"``
means the JSON body is the request (less the path's fields), no body means the query string
carries the other fields (grpc-gateway's rules). Only the shapes the protos use are read:
simple ``{field}`` variables and a body of ``"*"`` or none; anything else fails at startup,
so a proto can't ask for a route this transcoder would serve differently from grpc-gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, MethodDescriptor

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_VERBS = ("get", "put", "post", "delete", "patch")


class RouteError(Exception):
    """A method's http option this transcoder does not serve; the message names the method."""


@dataclass(frozen=True)
class Route:
    """One REST route of one gRPC method."""

    verb: str  # upper case: GET, POST, PUT, PATCH, DELETE
    path: str  # the template, as written in the proto: /api/v1/alerts/{alert_id}
    method: MethodDescriptor
    body: bool  # True: the JSON body is the request ("*"); False: the query string is
    path_fields: tuple[str, ...]  # field paths of the path's variables, in order (a.b for nested)

    @property
    def full_method(self) -> str:
        """The gRPC method's full name, as interceptors see it: ``/pkg.Service/Method``."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def input(self) -> Descriptor:
        return self.method.input_type

    @property
    def output(self) -> Descriptor:
        return self.method.output_type


def http_rule(method: MethodDescriptor) -> http_pb2.HttpRule | None:
    """The method's ``google.api.http`` option, None when it has none."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    return rule


def route_of(method: MethodDescriptor) -> Route | None:
    """The method's route; None without an http option; RouteError for one not served here."""
    rule = http_rule(method)
    if rule is None:
        return None
    where = f"{method.containing_service.full_name}/{method.name}"
    pattern = rule.WhichOneof("pattern")
    if pattern not in _VERBS:
        raise RouteError(f"{where}: the http option's pattern {pattern!r} is not served (use get/put/post/delete/patch)")
    if rule.additional_bindings:
        raise RouteError(f"{where}: additional_bindings are not served")
    if rule.body not in ("", "*"):
        raise RouteError(f"{where}: body must be \"*\" or absent, not {rule.body!r}")
    if method.client_streaming:
        raise RouteError(f"{where}: a client stream has no REST route")
    path: str = getattr(rule, pattern)
    if not path.startswith("/") or "{" in _VARIABLE.sub("", path) or "}" in _VARIABLE.sub("", path):
        raise RouteError(f"{where}: path {path!r} must start with / and use only {{field}} variables")
    fields = tuple(_VARIABLE.findall(path))
    for name in fields:
        _field_path(method.input_type, name, where)
    if rule.body == "*" and pattern == "get":
        raise RouteError(f"{where}: a GET carries no body")
    return Route(verb=pattern.upper(), path=path, method=method, body=rule.body == "*", path_fields=fields)


def _field_path(message: Descriptor, dotted: str, where: str) -> None:
    """Check that ``dotted`` names a singular scalar field of ``message`` (through singular messages)."""
    *parents, leaf = dotted.split(".")
    for name in parents:
        fd = message.fields_by_name.get(name)
        if fd is None or fd.message_type is None or fd.is_repeated:
            raise RouteError(f"{where}: path variable {dotted!r} does not name a field of {message.full_name}")
        message = fd.message_type
    fd = message.fields_by_name.get(leaf)
    if fd is None or fd.message_type is not None or fd.is_repeated:
        raise RouteError(f"{where}: path variable {dotted!r} must name a singular scalar field of {message.full_name}")


def routes_of(services: Iterable[str]) -> list[Route]:
    """Every route of the named services (full names), literal paths before variable ones.

    A literal segment wins over a variable in the same place (``/grouping-rules/reorder``
    before ``/grouping-rules/{rule_id}``), as in grpc-gateway; aiohttp tries routes in the
    order they are added, so they are added in this order.
    """
    pool = descriptor_pool.Default()
    found: list[Route] = []
    for name in services:
        for method in pool.FindServiceByName(name).methods:
            route = route_of(method)
            if route is not None:
                found.append(route)
    return sorted(found, key=_specificity)


def _specificity(route: Route) -> tuple[tuple[int, str], ...]:
    return tuple((1 if _VARIABLE.fullmatch(seg) else 0, seg) for seg in route.path.split("/"))


def unrouted(services: Iterable[str]) -> list[str]:
    """The methods of the named services that have no route: ``pkg.Service/Method``."""
    pool = descriptor_pool.Default()
    return [
        f"{name}/{method.name}"
        for name in services
        for method in pool.FindServiceByName(name).methods
        if http_rule(method) is None
    ]
