"""``POST /api/v1/heartbeat/{id}``: a monitored job says it is alive."""

from __future__ import annotations

from aiohttp import web

from ..clock import SYSTEM_CLOCK
from ..errors import PermissionDenied, Unauthenticated
from ..escalation import heartbeats
from ..paths import BEAT_PATH
from .requests import CONTEXT, json_response, request_key


async def beat(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    key = request_key(request)
    if not key:
        raise Unauthenticated("a heartbeat key is required: 'Authorization: Bearer KEY' or '?token=KEY'")
    integration = await ctx.keys.lookup(key)
    if integration is None:
        raise Unauthenticated("the heartbeat key is not valid")
    if integration.source != heartbeats.SOURCE:
        raise PermissionDenied("this key is not a heartbeat key")
    if not integration.enabled:
        raise PermissionDenied("this heartbeat's key is disabled (its monitor was deleted)")
    hb = await heartbeats.beat(ctx, request.match_info["id"], integration.id, SYSTEM_CLOCK.now())
    return json_response({
        "status": "ok",
        "heartbeat": hb.name,
        "expires_at": hb.expires_at.isoformat() if hb.expires_at else None,
    })


def add_routes(app: web.Application) -> None:
    app.router.add_post(BEAT_PATH, beat)
    app.router.add_get(BEAT_PATH, beat)  # for cron jobs that can only GET
