"""Domain errors carry no transport's codes; each door has one table for them, and the two
tables know the same errors (a new domain error forgotten by one door fails here)."""

from __future__ import annotations

import inspect

import grpc
from oncall import errors
from oncall.http import errors as http_errors
from oncall.http.requests import RequestTimeout, UnsupportedMediaType
from oncall.notification.store import VersionConflict
from oncall.rpc import errors as rpc_errors

DOMAIN = [cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.OnCallError)]


def test_every_domain_error_is_in_both_tables_and_neither_table_holds_more() -> None:
    assert set(rpc_errors.STATUS) == set(DOMAIN)
    # HTTP's own: a body that stalls, a body that is not JSON where JSON is read
    assert set(http_errors.STATUS) == set(DOMAIN) | {RequestTimeout, UnsupportedMediaType}


def test_a_domain_error_names_no_status_of_any_door() -> None:
    for cls in DOMAIN:
        assert not {"grpc_status", "http_status", "code"} & set(vars(cls)), cls


def test_a_subclass_takes_its_nearest_listed_ancestors_status() -> None:
    conflict = VersionConflict("template 't' is at version 3, not 2")
    assert rpc_errors.status_of(conflict) is grpc.StatusCode.ABORTED
    assert http_errors.status_of(conflict) == (409, "aborted")

    class NoSuchRoom(errors.NotFound):
        pass

    assert rpc_errors.status_of(NoSuchRoom("x")) is grpc.StatusCode.NOT_FOUND
    assert http_errors.status_of(NoSuchRoom("x")) == (404, "not_found")


async def test_aiohttps_own_413_gets_the_projects_error_body() -> None:
    # aiohttp raises this from request.read()/post() past client_max_size; it keeps no max_size attribute
    from types import SimpleNamespace

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from oncall.config import Settings
    from oncall.http.requests import CONTEXT

    async def reads(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="read")

    app = web.Application(middlewares=[http_errors.errors_middleware], client_max_size=16)
    app[CONTEXT] = SimpleNamespace(settings=Settings())  # type: ignore[assignment]  # the middleware reads settings only
    app.router.add_post("/x", reads)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.post("/x", data=b"y" * 64)
        assert r.status == 413
        assert await r.json() == {"error": "payload_too_large", "detail": "the body is larger than this endpoint accepts"}


async def test_an_unexpected_http_failure_is_a_500_logged_with_its_route_and_type_never_its_text(caplog) -> None:
    import logging
    from types import SimpleNamespace

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from oncall.config import Settings
    from oncall.http.requests import CONTEXT

    class DriverError(Exception):
        pass

    password = "hunter" + "2"  # not on the raising line: a traceback quotes source lines, not values

    async def fails(request: web.Request) -> web.Response:
        message = f"INSERT failed for token {request.match_info['token']}: password={password}"
        raise DriverError(message)

    app = web.Application(middlewares=[http_errors.errors_middleware])
    app[CONTEXT] = SimpleNamespace(settings=Settings())  # type: ignore[assignment]  # the middleware reads settings only
    app.router.add_get("/a/{token}", fails)
    caplog.set_level(logging.ERROR, logger="oncall.http.errors")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.get("/a/SECRET-TOKEN-123")
        assert r.status == 500
        body = await r.text()
    assert "hunter2" not in body and "SECRET-TOKEN-123" not in body
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "GET /a/{token}" in logged and "DriverError" in logged and "fails" in logged  # route, type, frame
    assert "hunter2" not in logged and "SECRET-TOKEN-123" not in logged
