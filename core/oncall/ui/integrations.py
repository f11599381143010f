"""The integration pages: the list (``/integrations``), a new one (``/integrations/new``, its key shown
once), and one integration (``/integrations/{id}``: setup snippets per source, recent alerts, the
heartbeat monitors whose alerts arrive through it, rotate the key, rename, maintenance).

Each read and change is an IntegrationService (AlertService, SilenceService) call made as the
browser (``calls.Caller``), so the permission table decides. A key is shown only in the answer
to the POST that made it (create, rotate): in the page's body, never in a URL or a redirect's
message, with ``Cache-Control: no-store``; every other page writes a placeholder where a
snippet needs the key. The sources offered at creation are the server's installed ones
(``ctx.registry.sources``, read in-process: no RPC lists them; CreateIntegration refuses any
other, naming the installed ones).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import grpc
from aiohttp import web
from google.protobuf.duration_pb2 import Duration

from ..alerting.v1 import alerting_pb2 as alert_pb
from ..alerting.v1 import heartbeats_pb2 as heartbeat_pb
from ..alerting.v1 import integrations_pb2 as pb
from ..alerting.v1 import silences_pb2 as silence_pb
from ..http.requests import CONTEXT
from ..rest.status import http_status
from ..rpc.integrations import MAX_NAME, IntegrationService
from . import site
from .calls import Caller, RpcFailure

_SERVICE = "/oncall.alerting.v1.IntegrationService/"
LIST = _SERVICE + "ListIntegrations"
GET = _SERVICE + "GetIntegration"
CREATE = _SERVICE + "CreateIntegration"
UPDATE = _SERVICE + "UpdateIntegration"
ROTATE = _SERVICE + "RotateIntegrationKey"
ALERTS = "/oncall.alerting.v1.AlertService/ListAlerts"
MAINTENANCE = "/oncall.alerting.v1.SilenceService/SetMaintenance"
HEARTBEATS = "/oncall.alerting.v1.HeartbeatService/ListHeartbeats"
_HEARTBEAT_STATES = {1: "pending", 2: "up", 3: "expired"}

#: the integrations one page of the list (and the names of the incident pages) reads
PAGE_SIZE = 1000
RECENT_ALERTS = 20
#: what a snippet writes where the key goes: the key itself is shown only when it is made
KEY_PLACEHOLDER = "YOUR_INTEGRATION_KEY"
#: maintenance lengths offered, in minutes
MAINTENANCE_MINUTES = (30, 60, 120, 240, 480, 1440)

#: what a finished change says, by the ``done`` of its redirect (nothing else is ever shown)
DONE = {
    "renamed": "Integration renamed.",
    "maintenance": "Maintenance set: alerts through this integration page no one until it ends.",
}


async def integration_names(caller: Caller) -> dict[int, str]:
    """The names of the integrations the caller may read, by id (one ListIntegrations call); {} when they may not."""
    try:
        found = await caller.maybe(LIST, pb.ListIntegrationsRequest(page_size=PAGE_SIZE))
    except RpcFailure as failure:
        if failure.code == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return {}
    return {i.id: i.name for i in found.integrations} if found is not None else {}


def _service(request: web.Request) -> IntegrationService:
    return IntegrationService(request.app[CONTEXT])


def installed_sources(request: web.Request) -> list[str]:
    return sorted(request.app[CONTEXT].registry.sources)


def webhook_urls(request: web.Request, source: str) -> list[str]:
    """Where ``source``'s webhooks arrive on this server (the servicer's own answer); [] for a source gone."""
    if source not in request.app[CONTEXT].registry.sources:
        return []
    return _service(request).webhook_urls(source)


@dataclass(frozen=True)
class Snippet:
    title: str
    language: str
    text: str
    note: str = ""


def snippets(source: str, urls: list[str], key: str = KEY_PLACEHOLDER) -> list[Snippet]:
    """How to point ``source``'s sender at this integration, with ``urls`` and ``key`` filled in."""
    if not urls:
        return []
    url = urls[0]
    if source == "alertmanager":
        return [Snippet("Alertmanager receiver (alertmanager.yml)", "yaml", (
            "receivers:\n"
            "  - name: oncall\n"
            "    webhook_configs:\n"
            f'      - url: "{url}"\n'
            "        send_resolved: true\n"
            "        max_alerts: 1000\n"
            "        http_config:\n"
            "          authorization:\n"
            "            type: Bearer\n"
            f'            credentials: "{key}"\n'),
            "Alertmanager sends a whole alert group in one POST, and a body over 16 MiB is refused "
            "whole (413): max_alerts keeps a group under the limit (the rest are counted as "
            "truncatedAlerts on each alert). 0 is unlimited.")]
    if source == "grafana":
        return [Snippet("Grafana contact point (provisioning YAML)", "yaml", (
            "apiVersion: 1\n"
            "contactPoints:\n"
            "  - orgId: 1\n"
            "    name: oncall\n"
            "    receivers:\n"
            "      - uid: oncall\n"
            "        type: webhook\n"
            "        settings:\n"
            f'          url: "{url}"\n'
            "          httpMethod: POST\n"
            "          authorization_scheme: Bearer\n"
            f'          authorization_credentials: "{key}"\n'
            "          maxAlerts: 1000\n"),
            "Or in Grafana: Alerting › Contact points › New, integration Webhook, this URL, and under "
            "Optional settings the Authorization header with scheme Bearer and the key as credentials.")]
    if source == "pagerduty":
        events = next((u for u in urls if u.endswith("/v2/enqueue")), url)
        return [Snippet("PagerDuty Events API v2 (curl)", "sh", (
            f'curl -X POST "{url}" \\\n'
            "     -H 'Content-Type: application/json' \\\n"
            f'     -d \'{{"routing_key": "{key}", "event_action": "trigger", "dedup_key": "db-1-disk",\n'
            '          "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}}\''
            "\n"),
            f"A tool that speaks Events v2 sends to {events} with this integration's key as its "
            "routing key (integration key); event_action resolve with the same dedup_key resolves.")]
    return [Snippet("Send an alert (curl)", "sh", (
        f'curl -X POST "{url}" \\\n'
        f'     -H "Authorization: Bearer {key}" -H \'Content-Type: application/json\' \\\n'
        '     -d \'{"summary": "Disk full on db-1", "details": "/var is 98% used", "dedup": "db-1-disk"}\'\n'),
        "The key may also go in ?token=KEY.")]


def _done(query: Any) -> str:
    return DONE.get(query.get("done", ""), "")


# --------------------------------------------------------------------------- the list


async def list_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    found = await caller.call(LIST, pb.ListIntegrationsRequest(page_size=PAGE_SIZE))
    return site.show(request, caller, "integrations.html", integrations=list(found.integrations),
                     more=bool(found.next_page_token), can_create=caller.can(CREATE, pb.CreateIntegrationRequest()))


# --------------------------------------------------------------------------- a new one


def _new_form(request: web.Request, caller: Caller, status: int = 200, error: str = "",
              values: dict[str, str] | None = None) -> web.Response:
    return site.show(request, caller, "integration-new.html", status, sources=installed_sources(request),
                     error=error, values=values or {"source": "", "name": "", "team": ""}, max_name=MAX_NAME)


def _not_allowed(request: web.Request, caller: Caller, what: str) -> web.Response:
    return site.show(request, caller, "error.html", 403, title="Not allowed",
                     detail=f"Your role ({caller.principal.role or 'none'}) may not {what}.",
                     back="/integrations")


async def new_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    if not caller.can(CREATE, pb.CreateIntegrationRequest()):
        return _not_allowed(request, caller, "create integrations")
    return _new_form(request, caller)


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def key_page(request: web.Request, caller: Caller, integration: pb.Integration, key: str, urls: list[str],
             *, rotated: bool) -> web.Response:
    """The one page that shows ``key``: its body, never its URL; not kept by any cache."""
    response = site.show(request, caller, "integration-key.html", 201 if not rotated else 200,
                         integration=integration, key=key, urls=urls, rotated=rotated,
                         snippets=snippets(integration.source, urls, key))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


async def create(request: web.Request, caller: Caller) -> web.StreamResponse:
    form = await request.post()
    values = {"source": _field(form, "source"), "name": _field(form, "name"), "team": _field(form, "team")}
    req = pb.CreateIntegrationRequest(source=values["source"], name=values["name"], team_id=values["team"])
    try:
        made = await caller.call(CREATE, req)
    except RpcFailure as failure:
        if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            raise  # the 403 page, or the login
        status, _ = http_status(failure.code)
        return _new_form(request, caller, status, failure.details, values)
    return key_page(request, caller, made.integration, made.key, list(made.webhook_urls), rotated=False)


# --------------------------------------------------------------------------- one integration


def _integration_id(request: web.Request) -> int | None:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) <= 0:
        return None
    return int(raw)


def _no_such(request: web.Request, caller: Caller) -> web.Response:
    return site.show(request, caller, "error.html", 404, title="Not found",
                     detail="An integration's address is /integrations/ and its number.", back="/integrations")


async def integration_view(request: web.Request, caller: Caller, iid: int, *, status: int = 200,
                           error: str = "") -> web.Response:
    integration, alerts, monitors = await asyncio.gather(
        caller.call(GET, pb.GetIntegrationRequest(integration_id=iid)),
        caller.maybe(ALERTS, alert_pb.ListAlertsRequest(integration_id=iid, page_size=RECENT_ALERTS)),
        caller.maybe(HEARTBEATS, heartbeat_pb.ListHeartbeatsRequest()),
    )
    integ = integration.integration
    urls = webhook_urls(request, integ.source)
    base = request.app[CONTEXT].settings.base_url
    heartbeats = [(h, _HEARTBEAT_STATES.get(h.state, "unknown"), base + h.beat_path)
                  for h in (monitors.heartbeats if monitors is not None else ()) if h.integration_id == iid]
    actions = {
        "rotate": caller.can(ROTATE, pb.RotateIntegrationKeyRequest(integration_id=iid)),
        "rename": caller.can(UPDATE, pb.UpdateIntegrationRequest(integration_id=iid)),
        "maintenance": caller.can(MAINTENANCE, silence_pb.SetMaintenanceRequest(integration_id=iid)),
    }
    return site.show(request, caller, "integration.html", status, integration=integ, urls=urls,
                     snippets=snippets(integ.source, urls), alerts=list(alerts.alerts) if alerts else None,
                     heartbeats=heartbeats, actions=actions, minutes=MAINTENANCE_MINUTES, error=error, done=_done(request.query),
                     max_name=MAX_NAME, placeholder=KEY_PLACEHOLDER)


async def integration_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    iid = _integration_id(request)
    if iid is None:
        return _no_such(request, caller)
    return await integration_view(request, caller, iid)


def _version(form: Any) -> int | None:
    raw = _field(form, "version")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


async def integration_action(request: web.Request, caller: Caller) -> web.StreamResponse:
    iid = _integration_id(request)
    action = request.match_info["action"]
    if iid is None or action not in ("rotate", "rename", "maintenance"):
        return _no_such(request, caller)
    form = await request.post()
    try:
        if action == "rotate":
            if _field(form, "sure") != "1":  # the confirmation: the old key stops working at once
                return await integration_view(request, caller, iid, status=400, error=(
                    "Tick the box to confirm: the old key stops working at once."))
            rotated = await caller.call(ROTATE, pb.RotateIntegrationKeyRequest(integration_id=iid))
            integ = rotated.integration
            return key_page(request, caller, integ, rotated.key, webhook_urls(request, integ.source), rotated=True)
        if action == "rename":
            req = pb.UpdateIntegrationRequest(integration_id=iid, name=_field(form, "name"))
            if (version := _version(form)) is not None:
                req.expected_version = version
            if not req.name:
                return await integration_view(request, caller, iid, status=400,
                                              error="Write the new name first: it is empty.")
            await caller.call(UPDATE, req)
            return site.redirect(f"/integrations/{iid}?{urlencode({'done': 'renamed'})}")
        raw = _field(form, "minutes")
        if not (raw.isascii() and raw.isdigit()) or int(raw) not in MAINTENANCE_MINUTES:
            return await integration_view(request, caller, iid, status=400,
                                          error=f"Choose how long: {', '.join(map(str, MAINTENANCE_MINUTES))} minutes.")
        await caller.call(MAINTENANCE, silence_pb.SetMaintenanceRequest(
            integration_id=iid, duration=Duration(seconds=int(raw) * 60), created_by=caller.principal.user_id,
            comment=_field(form, "comment")[:500]))
        return site.redirect(f"/integrations/{iid}?{urlencode({'done': 'maintenance'})}")
    except RpcFailure as failure:
        if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                            grpc.StatusCode.NOT_FOUND):
            raise  # the 403 (or 404) page, or the login
        status, _ = http_status(failure.code)
        return await integration_view(request, caller, iid, status=status, error=failure.details)
