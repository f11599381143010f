"""Inbound endpoints of channel plugins (``/api/v1/channels/<name>/…``) and one-click links (``/a/<token>``).

A channel's handler verifies its provider's signature itself; the core reads the body
under the same size limit as webhooks and tells the handler the public URL the provider
called (URL-signing schemes such as Twilio's sign it).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from oncall_hookspecs import CallbackChannel, CallbackRoute, WebhookResponse

from ..context import Context
from ..errors import Unauthenticated
from .requests import CONTEXT, credential, inbound_request, read_body

log = logging.getLogger(__name__)


def _public_url(ctx: Context) -> str:
    host = ctx.notification_host
    return host.public_url if host is not None else ctx.settings.base_url


def _respond(out: WebhookResponse) -> web.Response:
    if out.text is not None:
        ctype, _, charset = out.content_type.partition("; charset=")
        return web.Response(text=out.text, status=out.status, headers=out.headers, content_type=ctype,
                            charset=charset or "utf-8")
    if out.body is None:
        return web.Response(status=out.status, headers=out.headers)
    return web.Response(body=orjson.dumps(out.body), status=out.status, headers=out.headers,
                        content_type="application/json")


def _callback(ctx: Context, route: CallbackRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await read_body(request, ctx.settings.body_limit(None), ctx.settings)
        inbound = inbound_request(request, body, url=_public_url(ctx) + request.path_qs)
        return _respond(await route.handler(inbound))

    return handler


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title} · OnCall</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} .ok{{color:#1a7f37}} .no{{color:#b42318}}</style></head>
<body><h1 class="{cls}">{title}</h1><p>{message}</p></body></html>
"""


def page(status: int, title: str, message: str) -> web.Response:
    text = _PAGE.format(title=html.escape(title), message=html.escape(message), cls="ok" if status < 400 else "no")
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def one_click(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    host = ctx.notification_host
    if host is None:
        return page(503, "Unavailable", "Actions are not available on this server.")
    try:
        token = credential(request.match_info["token"], "link")
    except Unauthenticated:
        token = None
    if token is None:
        return page(401, "Link not accepted", "This link is not valid.")
    status, message, result = await host.use_link(token)
    if result is None:
        return page(status, "Link not accepted", message)
    if not result.ok:
        return page(status, "Nothing changed", message)
    return page(200, message.split(":", 1)[0], message)


def add_routes(app: web.Application, ctx: Context) -> None:
    app.router.add_get("/a/{token}", one_click, allow_head=False)  # a HEAD must not spend a token
    app.router.add_post("/a/{token}", one_click)
    for name, channel in sorted(ctx.registry.channels.items()):
        for route in channel.routes if isinstance(channel, CallbackChannel) else ():
            if not isinstance(route, CallbackRoute) or not route.path.startswith("/"):
                log.error("channel %s: ignoring a route that is not a CallbackRoute with a '/…' path", name)
                continue
            app.router.add_route(route.method.upper(), f"/api/v1/channels/{name}{route.path}", _callback(ctx, route))
