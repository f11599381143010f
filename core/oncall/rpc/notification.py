"""The notification service's gRPC servicer (oncall.notification.v1.NotificationService).

Thin delegates: templates to ``notification.store``, sends and reads to
``notification.outbox``, watches to ``notification.watch``, previews to ``pipeline.preview``
(run where sends render, in the render processes): it validates with ``validate`` and renders
with ``pipeline.render_for`` — the function the delivery worker renders with — and shows
``payload_bytes`` of the payload, so what a preview shows is what a send delivers. Template
problems are answers, never failures.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

import grpc
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from oncall_hookspecs import Renderer

from ..auth.principal import acting_user
from ..context import Context
from ..errors import InvalidArgument
from ..notification import channels as catalog
from ..notification import outbox, pipeline, store
from ..notification.pipeline import ChannelPreview
from ..notification.templates import SAMPLE_CONTEXT, Template, TemplateShapeError
from ..notification.v1 import notification_pb2 as pb
from ..notification.v1 import notification_pb2_grpc
from ..notification.validate import Problem
from ..notification.watch import watcher_for
from . import teams

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["NotificationService"].full_name

_Call: TypeAlias = grpc.aio.ServicerContext

MAX_KEY = 200
_SAFE_INT = 2**53

_STATUS_TO_PROTO: dict[str, pb.DeliveryStatus] = {
    "queued": pb.DELIVERY_STATUS_QUEUED,
    "sending": pb.DELIVERY_STATUS_SENDING,
    "sent": pb.DELIVERY_STATUS_SENT,
    "delivered": pb.DELIVERY_STATUS_DELIVERED,
    "failed": pb.DELIVERY_STATUS_FAILED,
    "retrying": pb.DELIVERY_STATUS_RETRYING,
    "cancelled": pb.DELIVERY_STATUS_CANCELLED,
}


# --------------------------------------------------------------------------- preview


def inline_template(channels: Mapping[str, Mapping[str, str]]) -> tuple[Template, dict[str, str]]:
    """An unsaved template, leaving out (and reporting by channel) what names no channel or part."""
    good: dict[str, Mapping[str, str]] = {}
    bad: dict[str, str] = {}
    for name, parts in channels.items():
        try:
            Template.from_mapping({name: parts})
        except TemplateShapeError as exc:
            bad[name] = str(exc)
        else:
            good[name] = parts
    return Template.from_mapping(good), bad


# --------------------------------------------------------------------------- conversions


def plain(value: Any) -> Any:
    """A Struct's JSON as the JSON it came from: whole numbers back to ints (Struct has only doubles)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _SAFE_INT:
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def struct_dict(value: Struct) -> dict[str, Any]:
    out: dict[str, Any] = plain(json_format.MessageToDict(value))  # a Struct's JSON is an object
    return out


def struct(value: Mapping[str, Any] | None) -> Struct | None:
    if value is None:
        return None
    s = Struct()
    s.update(value)
    return s


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def required(value: str, name: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument(f"{name} is required")
    return value


def positive(value: int, name: str) -> int:
    if value <= 0:
        raise InvalidArgument(f"{name} is required (a positive id)")
    return value


def channels_from_proto(channels: Mapping[str, pb.ChannelTemplate]) -> dict[str, dict[str, str]]:
    return {name: dict(ct.parts) for name, ct in channels.items()}


def _channels_to_proto(channels: Mapping[str, Mapping[str, str]]) -> dict[str, pb.ChannelTemplate]:
    return {name: pb.ChannelTemplate(parts=dict(parts)) for name, parts in channels.items()}


def template_to_proto(t: store.StoredTemplate) -> pb.Template:
    return pb.Template(
        id=t.id, name=t.name, description=t.description, version=t.version, current_version=t.current_version,
        channels=_channels_to_proto(t.channels), sample=struct(t.sample), created_by=t.created_by,
        version_created_at=timestamp(t.version_created_at), created_at=timestamp(t.created_at),
        updated_at=timestamp(t.updated_at), deleted_at=timestamp(t.deleted_at), team_id=t.team_id or "",
    )


def version_to_proto(v: store.TemplateVersion) -> pb.TemplateVersion:
    return pb.TemplateVersion(
        template_id=v.template_id, version=v.version, channels=_channels_to_proto(v.channels),
        sample=struct(v.sample), created_by=v.created_by, created_at=timestamp(v.created_at),
    )


# what render errors and renderer plugins say: "sms.text, line 2: …", "html: …"
_WHERE = re.compile(r"^(?:(?P<channel>[a-z][a-z0-9_-]*)\.)?(?P<part>[a-z]+)(?:,? line (?P<line>\d+))?: (?P<message>.+)$", re.DOTALL)


def problem_to_proto(p: Problem | str, channel: str = "") -> pb.Problem:
    if isinstance(p, Problem):
        return pb.Problem(channel=str(p.channel), part=p.part, line=p.line or 0, message=p.message)
    m = _WHERE.match(p)
    spec = catalog.current().get(channel)
    parts = spec.parts if spec is not None else {}
    if m and m["part"] in parts and m["channel"] in (None, channel):
        return pb.Problem(channel=channel, part=m["part"], line=int(m["line"] or 0), message=m["message"])
    return pb.Problem(channel=channel, message=p)


def preview_to_proto(p: ChannelPreview) -> pb.ChannelPreview:
    return pb.ChannelPreview(
        channel=p.channel,
        payload_json=p.payload.decode() if p.payload is not None else "",
        warnings=[problem_to_proto(w, p.channel) for w in p.warnings],
        errors=[problem_to_proto(e, p.channel) for e in p.errors],
    )


def destinations_from_proto(destinations: Iterable[pb.Destination]) -> list[outbox.Destination]:
    out = []
    for i, d in enumerate(destinations):
        which = d.WhichOneof("target")
        if which == "user_id":
            out.append(outbox.Destination(user_id=required(d.user_id, f"destinations[{i}].user_id")))
        elif which == "channel":
            try:
                channel = catalog.current().check(required(d.channel.channel, f"destinations[{i}].channel.channel"))
            except catalog.UnknownChannel as exc:
                raise InvalidArgument(f"destinations[{i}].channel.channel: {exc}") from None
            address = required(d.channel.address, f"destinations[{i}].channel.address")
            out.append(outbox.Destination(channel=channel, address=address))
        else:
            raise InvalidArgument(f"destinations[{i}]: a user_id or a channel destination is required")
    return out


def notification_to_proto(n: outbox.Notification) -> pb.Notification:
    return pb.Notification(
        id=n.id,
        template_id=n.template_id or "",
        template_version=n.template_version or 0,
        alert_id=n.alert_id or 0,
        created_at=timestamp(n.created_at),
        deliveries=[
            pb.Delivery(
                id=d.id,
                channel=d.channel,
                destination=d.destination,
                user_id=d.user_id or "",
                status=_STATUS_TO_PROTO.get(d.status, pb.DELIVERY_STATUS_UNSPECIFIED),
                attempts=d.attempts,
                provider_id=d.provider_id or "",
                last_error=d.last_error,
                next_attempt_at=timestamp(d.next_attempt_at),
                sent_at=timestamp(d.sent_at),
                delivered_at=timestamp(d.delivered_at),
                bundled_into=d.bundled_into or 0,
                bundle_size=d.bundle_size,
                timeline=[
                    pb.Attempt(
                        attempt=a.attempt, started_at=timestamp(a.started_at), finished_at=timestamp(a.finished_at),
                        outcome=a.outcome, response=a.response, retry_after_seconds=a.retry_after or 0.0,
                    )
                    for a in d.timeline
                ],
                payload_json=pipeline.payload_bytes(d.payload).decode() if d.payload is not None else "",
            )
            for d in n.deliveries
        ],
        done=n.done,
    )


# --------------------------------------------------------------------------- the servicer


class NotificationService(notification_pb2_grpc.NotificationServiceServicer):
    """oncall.notification.v1.NotificationService over the notification schema of one server."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def _renderers(self) -> Mapping[str, Renderer]:
        return self._ctx.registry.renderers

    async def CreateTemplate(self, request: pb.CreateTemplateRequest, context: _Call) -> pb.CreateTemplateResponse:
        saved = await store.create_template(
            self._ctx.pool, renderers=self._renderers, rendering=pipeline.rendering_for(self._ctx),
            id=request.id.strip() or None, name=request.name,
            description=request.description, channels=channels_from_proto(request.channels),
            sample=struct_dict(request.sample) if request.HasField("sample") else None,
            created_by=acting_user(request.created_by), team_id=teams.created_in(request.team_id),
        )
        return pb.CreateTemplateResponse(
            template=template_to_proto(saved.template), warnings=[problem_to_proto(w) for w in saved.warnings]
        )

    async def UpdateTemplate(self, request: pb.UpdateTemplateRequest, context: _Call) -> pb.UpdateTemplateResponse:
        if request.expected_version < 0:
            raise InvalidArgument("expected_version must not be negative")
        saved = await store.update_template(
            self._ctx.pool, required(request.id, "id"), renderers=self._renderers,
            rendering=pipeline.rendering_for(self._ctx), channels=channels_from_proto(request.channels),
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            sample=struct_dict(request.sample) if request.HasField("sample") else None,
            created_by=acting_user(request.created_by), expected_version=request.expected_version or None,
            team_id=teams.moved_to(request),
        )
        return pb.UpdateTemplateResponse(
            template=template_to_proto(saved.template), warnings=[problem_to_proto(w) for w in saved.warnings]
        )

    async def GetTemplate(self, request: pb.GetTemplateRequest, context: _Call) -> pb.GetTemplateResponse:
        if request.version < 0:
            raise InvalidArgument("version must not be negative (0 is the current one)")
        t = await store.get_template(self._ctx.pool, required(request.id, "id"), request.version or None)
        return pb.GetTemplateResponse(template=template_to_proto(t))

    async def ListTemplates(self, request: pb.ListTemplatesRequest, context: _Call) -> pb.ListTemplatesResponse:
        listed = await store.list_templates(self._ctx.pool, include_deleted=request.include_deleted,
                                            only_teams=teams.team_filter(request))
        return pb.ListTemplatesResponse(templates=[template_to_proto(t) for t in listed])

    async def ListTemplateVersions(
        self, request: pb.ListTemplateVersionsRequest, context: _Call
    ) -> pb.ListTemplateVersionsResponse:
        versions = await store.list_versions(self._ctx.pool, required(request.id, "id"))
        return pb.ListTemplateVersionsResponse(versions=[version_to_proto(v) for v in versions])

    async def DeleteTemplate(self, request: pb.DeleteTemplateRequest, context: _Call) -> pb.DeleteTemplateResponse:
        await store.delete_template(self._ctx.pool, required(request.id, "id"))
        return pb.DeleteTemplateResponse()

    async def RenderPreview(self, request: pb.RenderPreviewRequest, context: _Call) -> pb.RenderPreviewResponse:
        source = request.WhichOneof("source")
        template_id, version = "", 0
        shape_errors: dict[str, str] = {}
        if source == "ref":
            if request.ref.version < 0:
                raise InvalidArgument("ref.version must not be negative (0 is the current one)")
            template_id = required(request.ref.id, "ref.id")
            async with self._ctx.pool.connection() as conn:
                version = request.ref.version or await outbox.current_version(conn, template_id)
                template = await pipeline.load_template(conn, template_id, version)
        elif source == "template":
            template, shape_errors = inline_template(channels_from_proto(request.template.channels))
        else:
            template = Template()
        sample = struct_dict(request.sample_context) if request.sample_context.fields else SAMPLE_CONTEXT
        channels = [c.strip() for c in request.channels] or list(catalog.current())
        # in the render processes, like a send: no template here can stall the server
        previews = await pipeline.rendering_for(self._ctx).preview(template, channels, sample, shape_errors)
        return pb.RenderPreviewResponse(
            previews=[preview_to_proto(p) for p in previews], template_id=template_id, template_version=version
        )

    async def SendNotification(
        self, request: pb.SendNotificationRequest, context: _Call
    ) -> pb.SendNotificationResponse:
        if request.alert_id < 0:
            raise InvalidArgument("alert_id must not be negative (0: none)")
        if len(request.idempotency_key) > MAX_KEY:
            raise InvalidArgument(f"idempotency_key is {len(request.idempotency_key)} characters; the limit is {MAX_KEY}")
        nid = await outbox.create_notification(
            self._ctx.pool,
            template_id=request.template_id.strip() or None,
            context=struct_dict(request.render_context),
            destinations=destinations_from_proto(request.destinations),
            directory=self._ctx.directory,
            idempotency_key=request.idempotency_key or None,
            alert_id=request.alert_id or None,
        )
        return pb.SendNotificationResponse(notification_id=nid)

    async def GetNotification(self, request: pb.GetNotificationRequest, context: _Call) -> pb.GetNotificationResponse:
        n = await outbox.get_notification(self._ctx.pool, positive(request.id, "id"))
        return pb.GetNotificationResponse(notification=notification_to_proto(n))

    async def WatchNotification(
        self, request: pb.WatchNotificationRequest, context: _Call
    ) -> AsyncIterator[pb.WatchNotificationResponse]:
        nid = positive(request.id, "id")
        # listen before the first read, so a change committed in between is still heard
        watch = await watcher_for(self._ctx).subscribe(nid)
        try:
            snapshot = notification_to_proto(await outbox.get_notification(self._ctx.pool, nid))
            yield pb.WatchNotificationResponse(notification=snapshot)
            while not snapshot.done:
                if not await watch.changed():
                    return  # the server is stopping
                latest = notification_to_proto(await outbox.get_notification(self._ctx.pool, nid))
                if latest != snapshot:  # several wake-ups may tell of one change
                    snapshot = latest
                    yield pb.WatchNotificationResponse(notification=snapshot)
        finally:
            watch.close()

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: _Call
    ) -> pb.ListNotificationsResponse:
        ids = await outbox.notifications_for_alert(self._ctx.pool, positive(request.alert_id, "alert_id"))
        found = [await outbox.get_notification(self._ctx.pool, nid) for nid in ids]
        return pb.ListNotificationsResponse(notifications=[notification_to_proto(n) for n in found])


def add_services(server: grpc.aio.Server, ctx: Context) -> list[str]:
    """Add the notification servicer to ``server``; return its full service name."""
    notification_pb2_grpc.add_NotificationServiceServicer_to_server(NotificationService(ctx), server)
    return [SERVICE_NAME]
