"""The incident pages: the list (``/incidents``: counts, filters in the URL, pages, bulk actions) and one
incident (``/incidents/{id}``: alerts, timeline, escalation, notifications, actions).

Each read and each change is an IncidentService (or EscalationService, NotificationService)
call made as the browser (``calls.Caller``). A change is a form POST that answers 303 back
to the page with a message chosen from a fixed table (``done=``), so a reload repeats
nothing and no text from the URL is ever shown as a message. Free text and "acknowledged
by me" are not ListIncidents filters: the list reads pages of the other filters' result and
keeps what matches, at most ``SCAN_LIMIT`` incidents per page of the list (the list says
when it stopped short, and its next page goes on from there).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import grpc
from aiohttp import web
from multidict import MultiDict

from ..alerting.v1 import escalation_pb2 as esc_pb
from ..alerting.v1 import incidents_pb2 as pb
from ..notification.v1 import notification_pb2 as notif_pb
from ..rest.status import http_status
from . import site
from .calls import Caller, RpcFailure
from .integrations import integration_names

_SERVICE = "/oncall.alerting.v1.IncidentService/"
LIST = _SERVICE + "ListIncidents"
GET = _SERVICE + "GetIncident"
ALERTS = _SERVICE + "ListIncidentAlerts"
TIMELINE = _SERVICE + "GetIncidentTimeline"
ACKNOWLEDGE = _SERVICE + "AcknowledgeIncident"
RESOLVE = _SERVICE + "ResolveIncident"
ESCALATE = _SERVICE + "EscalateIncident"
NOTE = _SERVICE + "AddIncidentNote"
ESCALATION_STATE = "/oncall.alerting.v1.EscalationService/GetEscalationState"
POLICY = "/oncall.alerting.v1.EscalationService/GetPolicy"
NOTIFICATION_REQUESTS = "/oncall.alerting.v1.EscalationService/ListNotificationRequests"
NOTIFICATIONS = "/oncall.notification.v1.NotificationService/ListNotifications"

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: incidents read per page of the list when free text or "mine" filters them after reading
SCAN_PAGE = 200
SCAN_LIMIT = 1000
#: counts by status are exact up to this, then shown as "100+" (a count RPC would make them exact)
COUNT_CAP = 100
#: a bulk action takes at most this many incidents
MAX_BULK = 200
#: the alerts of an incident whose notifications the page shows
NOTIFIED_ALERTS = 10
MAX_NOTE = 4000

STATUS_FILTERS: dict[str, tuple[pb.IncidentStatus, ...]] = {
    "open": (pb.INCIDENT_STATUS_TRIGGERED, pb.INCIDENT_STATUS_ACKNOWLEDGED),
    "triggered": (pb.INCIDENT_STATUS_TRIGGERED,),
    "acknowledged": (pb.INCIDENT_STATUS_ACKNOWLEDGED,),
    "resolved": (pb.INCIDENT_STATUS_RESOLVED,),
    "all": (),
}

#: what a finished change says, by the ``done`` of its redirect (nothing else is ever shown)
DONE = {
    "acknowledged": "Incident {id} acknowledged.",
    "resolved": "Incident {id} resolved.",
    "escalated": "Incident {id} escalated: its next step fires now.",
    "noted": "Note added to incident {id}.",
    "bulk-acknowledged": "{n} incident(s) acknowledged.",
    "bulk-resolved": "{n} incident(s) resolved.",
}


def done_message(query: MultiDict[str] | Any) -> str:
    """The message of a redirect's ``done`` (with its numbers), or ""."""
    template = DONE.get(query.get("done", ""))
    if template is None:
        return ""
    number = {k: v for k in ("id", "n") if (v := query.get(k, "")).isascii() and v.isdigit() and len(v) < 19}
    try:
        return template.format(id=number.get("id", "?"), n=number.get("n", "?"))
    except (KeyError, IndexError):
        return ""


class BadFilter(Exception):
    """A filter in the URL that is not one: its sentence."""


@dataclass
class Filters:
    """The list's filters, as held in the URL query."""

    status: str = "open"
    integration: int | None = None
    labels: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    mine: bool = False
    page: str = ""
    size: int = PAGE_SIZE

    @classmethod
    def parse(cls, query: MultiDict[str] | Any) -> Filters:
        status = query.get("status", "open") or "open"
        if status not in STATUS_FILTERS:
            raise BadFilter(f"Status must be one of {', '.join(STATUS_FILTERS)}")
        integration = None
        raw = query.get("integration", "").strip()
        if raw:
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) <= 0:
                raise BadFilter("Integration must be an integration's id (a positive number)")
            integration = int(raw)
        labels = []
        for chip in query.getall("label", []):
            chip = chip.strip()
            if not chip:
                continue
            key, eq, value = chip.partition("=")
            if not eq or not key.strip():
                raise BadFilter(f"A label filter is key=value, like service=db; {chip[:60]!r} is not")
            labels.append((key.strip(), value.strip()))
        size = PAGE_SIZE
        raw = query.get("size", "").strip()
        if raw:
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 3 or not 1 <= int(raw) <= MAX_PAGE_SIZE:
                raise BadFilter(f"Size must be a number from 1 to {MAX_PAGE_SIZE}")
            size = int(raw)
        return cls(status=status, integration=integration, labels=labels, text=query.get("q", "").strip()[:200],
                   mine=query.get("mine", "") == "1", page=query.get("page", "")[:512], size=size)

    def query(self, **changes: Any) -> str:
        """This filter's URL query, with ``changes`` (``page`` is dropped unless given)."""
        values: dict[str, Any] = {"status": self.status, "integration": self.integration, "labels": self.labels,
                                  "q": self.text, "mine": self.mine, "page": "", "size": self.size}
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        if values["status"] != "open":
            pairs.append(("status", values["status"]))
        if values["integration"] is not None:
            pairs.append(("integration", str(values["integration"])))
        pairs += [("label", f"{k}={v}") for k, v in values["labels"]]
        if values["q"]:
            pairs.append(("q", values["q"]))
        if values["mine"]:
            pairs.append(("mine", "1"))
        if values["size"] != PAGE_SIZE:
            pairs.append(("size", str(values["size"])))
        if values["page"]:
            pairs.append(("page", values["page"]))
        return urlencode(pairs)

    def request(
        self, statuses: tuple[pb.IncidentStatus, ...], page_size: int, page_token: str = "",
    ) -> pb.ListIncidentsRequest:
        req = pb.ListIncidentsRequest(statuses=statuses, labels=dict(self.labels), page_size=page_size,
                                      page_token=page_token)
        if self.integration is not None:
            req.integration_id = self.integration
        return req

    @property
    def filtered_after_reading(self) -> bool:
        return bool(self.text) or self.mine


@dataclass
class Listing:
    incidents: list[pb.Incident]
    next_page: str
    #: incidents read to find these (free text, "mine"), when the list stopped at SCAN_LIMIT
    stopped_after: int = 0


async def _list(caller: Caller, flt: Filters) -> Listing:
    statuses = STATUS_FILTERS[flt.status]
    if not flt.filtered_after_reading:
        resp = await caller.call(LIST, flt.request(statuses, flt.size, flt.page))
        return Listing(list(resp.incidents), resp.next_page_token)
    needle = flt.text.casefold()
    me = caller.principal.user_id

    def keep(inc: pb.Incident) -> bool:
        if flt.mine and inc.acknowledged_by != me:
            return False
        return not needle or needle in inc.title.casefold() or needle == str(inc.id)

    found: list[pb.Incident] = []
    token, read = flt.page, 0
    while True:
        resp = await caller.call(LIST, flt.request(statuses, SCAN_PAGE, token))
        found += [inc for inc in resp.incidents if keep(inc)]
        read += len(resp.incidents)
        token = resp.next_page_token
        if not token or len(found) >= flt.size:
            return Listing(found, token)
        if read >= SCAN_LIMIT:
            return Listing(found, token, stopped_after=read)


async def _counts(caller: Caller, flt: Filters) -> dict[str, str]:
    """How many incidents of each status the filters (but status, text and "mine") match: "100+" past the cap."""
    names = ("triggered", "acknowledged", "resolved")
    answers = await asyncio.gather(*(caller.call(LIST, flt.request(STATUS_FILTERS[n], COUNT_CAP)) for n in names))
    out = {n: f"{len(a.incidents)}+" if a.next_page_token else str(len(a.incidents))
           for n, a in zip(names, answers, strict=True)}
    open_ = sum(len(a.incidents) for a in answers[:2])
    out["open"] = f"{open_}+" if any(a.next_page_token for a in answers[:2]) else str(open_)
    return out


async def list_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    try:
        flt = Filters.parse(request.query)
    except BadFilter as exc:
        return site.show(request, caller, "incidents.html", 400, flt=Filters(), error=str(exc), listing=None,
                         counts={}, can_ack=False, can_resolve=False, done="", names={})
    listing, counts, names = await asyncio.gather(_list(caller, flt), _counts(caller, flt), integration_names(caller))
    probe = pb.AcknowledgeIncidentRequest()
    can_ack = caller.can(ACKNOWLEDGE, probe)
    can_resolve = caller.can(RESOLVE, pb.ResolveIncidentRequest())
    return site.show(request, caller, "incidents.html", flt=flt, listing=listing, counts=counts, error="",
                     can_ack=can_ack, can_resolve=can_resolve, done=done_message(request.query), names=names)


def _back(value: str) -> str:
    """Where a bulk action returns: the list with the filters it was given, nothing else."""
    parts = urlsplit(value if isinstance(value, str) else "")
    if parts.scheme or parts.netloc or parts.path not in ("/", "/incidents"):
        return "/incidents?"
    try:
        flt = Filters.parse(MultiDict(_pairs(parts.query)))
    except BadFilter:
        return "/incidents?"
    return f"/incidents?{flt.query(page=flt.page)}"


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)[:100]


def _with(back: str, **params: str) -> str:
    joined = "&" if not back.endswith("?") else ""
    return back + joined + urlencode(params)


async def bulk(request: web.Request, caller: Caller) -> web.StreamResponse:
    form = await request.post()
    action = form.get("action")
    back = _back(str(form.get("back", "")))
    method, done = {"acknowledge": (ACKNOWLEDGE, "bulk-acknowledged"),
                    "resolve": (RESOLVE, "bulk-resolved")}.get(str(action), ("", ""))
    if not method:
        return site.show(request, caller, "error.html", 400, title="That did not work",
                         detail="Choose acknowledge or resolve.", back=back)
    raw_ids = [v for v in form.getall("id", []) if isinstance(v, str)]
    if not raw_ids:
        return site.show(request, caller, "error.html", 400, title="Nothing selected",
                         detail="Select at least one incident, then choose what to do.", back=back)
    if len(raw_ids) > MAX_BULK or not all(v.isascii() and v.isdigit() and len(v) < 19 for v in raw_ids):
        return site.show(request, caller, "error.html", 400, title="That did not work",
                         detail=f"Select at most {MAX_BULK} incidents, by their ids.", back=back)
    ids = list(dict.fromkeys(int(v) for v in raw_ids))
    failures: list[str] = []
    changed = 0
    for iid in ids:
        req: Any = (pb.AcknowledgeIncidentRequest if method == ACKNOWLEDGE else pb.ResolveIncidentRequest)(
            incident_id=iid)
        try:
            await caller.call(method, req)
            changed += 1
        except RpcFailure as failure:
            if failure.code == grpc.StatusCode.UNAUTHENTICATED or (
                    failure.code == grpc.StatusCode.PERMISSION_DENIED and not changed and not failures):
                raise  # refused before anything changed: the 403 page (or the login)
            failures.append(f"Incident {iid}: {failure.details}")
    if failures:
        return site.show(request, caller, "error.html", 409, title=f"{changed} of {len(ids)} done",
                         detail="Some incidents were left as they were:", items=failures, back=back)
    return site.redirect(_with(back, done=done, n=str(changed)))


# --------------------------------------------------------------------------- one incident


def _incident_id(request: web.Request) -> int | None:
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) <= 0:
        return None
    return int(raw)


async def _optional(caller: Caller, method: str, req: Any) -> Any | None:
    """A part of the page the caller may not see, or that failed, is left out (the rest still shows)."""
    try:
        return await caller.maybe(method, req)
    except RpcFailure as failure:
        if failure.code == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return None


async def incident_view(request: web.Request, caller: Caller, iid: int, *, error: str = "",
                        status: int = 200, note: str = "") -> web.StreamResponse:
    incident = (await caller.call(GET, pb.GetIncidentRequest(incident_id=iid))).incident
    alerts, timeline_answer, escalation, names = await asyncio.gather(
        caller.call(ALERTS, pb.ListIncidentAlertsRequest(incident_id=iid, page_size=50)),
        caller.call(TIMELINE, pb.GetIncidentTimelineRequest(incident_id=iid)),
        _optional(caller, ESCALATION_STATE, esc_pb.GetEscalationStateRequest(alert_id=incident.first_alert_id)),
        integration_names(caller),
    )
    timeline = timeline_answer.entries
    policy = None
    if escalation is not None and escalation.escalation.policy_id:
        found_policy = await _optional(caller, POLICY,
                                       esc_pb.GetPolicyRequest(policy_id=escalation.escalation.policy_id))
        policy = found_policy.policy if found_policy is not None else None
    notifications: list[tuple[int, Any]] = []
    requests: list[Any] = []
    may_see_deliveries = caller.can(NOTIFICATIONS, notif_pb.ListNotificationsRequest())
    if may_see_deliveries:
        shown = list(alerts.alerts)[:NOTIFIED_ALERTS]
        answers = await asyncio.gather(*(
            call for alert in shown for call in (
                _optional(caller, NOTIFICATIONS, notif_pb.ListNotificationsRequest(alert_id=alert.id)),
                _optional(caller, NOTIFICATION_REQUESTS,
                          esc_pb.ListNotificationRequestsRequest(alert_id=alert.id, limit=100)))))
        for alert, found, asked in zip(shown, answers[::2], answers[1::2], strict=True):
            if found is not None:
                notifications += [(alert.id, n) for n in found.notifications]
            if asked is not None:
                requests += list(asked.requests)
    open_ = incident.status != pb.INCIDENT_STATUS_RESOLVED
    actions = {
        "acknowledge": incident.status == pb.INCIDENT_STATUS_TRIGGERED
        and caller.can(ACKNOWLEDGE, pb.AcknowledgeIncidentRequest(incident_id=iid)),
        "resolve": open_ and caller.can(RESOLVE, pb.ResolveIncidentRequest(incident_id=iid)),
        "escalate": open_ and caller.can(ESCALATE, pb.EscalateIncidentRequest(incident_id=iid)),
        "note": caller.can(NOTE, pb.AddIncidentNoteRequest(incident_id=iid)),
    }
    return site.show(
        request, caller, "incident.html", status, incident=incident, alerts=list(alerts.alerts),
        more_alerts=bool(alerts.next_page_token), timeline=list(reversed(timeline)), escalation=escalation,
        policy=policy,
        notifications=notifications, requests=requests, may_see_deliveries=may_see_deliveries, actions=actions,
        error=error, note=note, done=done_message(request.query), names=names,
    )


async def incident_page(request: web.Request, caller: Caller) -> web.StreamResponse:
    iid = _incident_id(request)
    if iid is None:
        return site.show(request, caller, "error.html", 404, title="Not found",
                         detail="An incident's address is /incidents/ and its number.")
    return await incident_view(request, caller, iid)


#: each action of the incident page: the method, its request, and the ``done`` of its redirect
ACTIONS = {
    "acknowledge": (ACKNOWLEDGE, pb.AcknowledgeIncidentRequest, "acknowledged"),
    "resolve": (RESOLVE, pb.ResolveIncidentRequest, "resolved"),
    "escalate": (ESCALATE, pb.EscalateIncidentRequest, "escalated"),
    "note": (NOTE, pb.AddIncidentNoteRequest, "noted"),
}


async def incident_action(request: web.Request, caller: Caller) -> web.StreamResponse:
    iid = _incident_id(request)
    action = ACTIONS.get(request.match_info["action"])
    if iid is None or action is None:
        return site.show(request, caller, "error.html", 404, title="Not found", detail="There is no such action.")
    method, message, done = action
    form = await request.post()
    raw_note = form.get("note", "")
    note = raw_note.strip() if isinstance(raw_note, str) else ""
    if len(note) > MAX_NOTE:
        return await incident_view(request, caller, iid, status=400, note=note[:MAX_NOTE],
                                   error=f"A note is at most {MAX_NOTE} characters; this one has {len(note)}.")
    if method == NOTE and not note:
        return await incident_view(request, caller, iid, status=400, error="Write the note first: it is empty.")
    req: Any = message(incident_id=iid, note=note)
    if method == ESCALATE and form.get("restart") == "1":
        req.restart = True
    try:
        await caller.call(method, req)
    except RpcFailure as failure:
        if failure.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                            grpc.StatusCode.NOT_FOUND):
            raise  # the 403 (or 404) page, or the login
        status, _ = http_status(failure.code)
        return await incident_view(request, caller, iid, status=status, error=failure.details,
                                   note=note if method == NOTE else "")
    return site.redirect(f"/incidents/{iid}?{urlencode({'done': done, 'id': str(iid)})}")
