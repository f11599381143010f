"""The web UI: server-rendered pages (Jinja2) with first-party scripts and one style sheet, served by
``oncall serve`` itself (no build step, no CDN, no third-party JavaScript).

Every page works with JavaScript off (its changes are form POSTs); ``static/live.js`` adds
live updates from the REST door's event stream of WatchIncidents. Pages reach the domain as
the signed-in browser, through the same in-process servicer path as the REST API
(``calls.Caller``), so the access check and the audit log apply to them as they are.
"""

from __future__ import annotations

from aiohttp import web

from ..context import Context
from ..http import csrf
from ..rest.invoke import Invoker
from . import incidents, integrations, render, schedules, site
from .calls import INVOKER
from .site import page_errors

__all__ = ["add_routes", "page_errors"]


async def home(request: web.Request) -> web.StreamResponse:
    return site.redirect("/incidents" + (f"?{request.query_string}" if request.query_string else ""))


def add_routes(app: web.Application, ctx: Context) -> None:
    """Mount the pages, their POST actions (behind the CSRF guard) and the static files on ``app``."""
    app[INVOKER] = Invoker(ctx)
    app.router.add_get("/", home)
    app.router.add_get("/incidents", site.signed_in(incidents.list_page))
    csrf.protect(app, app.router.add_post("/incidents/bulk", site.signed_in(incidents.bulk)))
    app.router.add_get("/incidents/{id}", site.signed_in(incidents.incident_page))
    csrf.protect(app, app.router.add_post("/incidents/{id}/{action}", site.signed_in(incidents.incident_action)))
    app.router.add_get("/schedules", site.signed_in(schedules.list_page))
    app.router.add_get("/schedules/{id}", site.signed_in(schedules.schedule_page))
    csrf.protect(app, app.router.add_post("/schedules/{id}/overrides", site.signed_in(schedules.add_override)))
    csrf.protect(app, app.router.add_post("/schedules/{id}/overrides/{oid}/remove",
                                          site.signed_in(schedules.remove_override)))
    app.router.add_get("/integrations", site.signed_in(integrations.list_page))
    app.router.add_get("/integrations/new", site.signed_in(integrations.new_page))
    csrf.protect(app, app.router.add_post("/integrations/new", site.signed_in(integrations.create)))
    app.router.add_get("/integrations/{id}", site.signed_in(integrations.integration_page))
    csrf.protect(app, app.router.add_post("/integrations/{id}/{action}",
                                          site.signed_in(integrations.integration_action)))
    app.router.add_static(render.STATIC_PATH, render.STATIC_DIR, append_version=False)
