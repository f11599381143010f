"""Preview is send, over gRPC: the bytes ``RenderPreview`` shows for a template are the bytes a
webhook receiver gets when ``SendNotification`` sends that template with the same context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from oncall_testkit.receiver import Receiver, receiver
from google.protobuf.struct_pb2 import Struct

from oncall.notification.v1 import notification_pb2 as pb
from oncall.notification.v1 import notification_pb2_grpc

TEMPLATE = (
    '{"title": "{{ alert.summary }} — ünïcode ✓", "labels": {{ alert.labels|tojson }},'
    ' "n": {{ alert.duplicate_count }}, "quote": "{{ alert.details }}",'
    ' "z": [1, 2.5, true, null], "a": {"nested": "{{ alert.severity|upper }}"}}'
)
CONTEXT = {"alert": {"id": 7, "summary": 'Disk "full" on db-1 <b>', "details": "line1\nline2\ttab \\ back",
                     "severity": "critical", "labels": {"z": "last", "a": "first", "service": "db"},
                     "duplicate_count": 3, "status": "triggered"}}


@pytest.fixture
async def served(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Receiver]]:
    from conftest import run_server, server_settings

    monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    async with receiver() as hook, run_server(server_settings(db_url)) as server:
        yield server, hook


async def test_the_previewed_bytes_are_the_bytes_received(served: tuple[Any, Receiver]) -> None:
    server, hook = served
    context = Struct()
    context.update(CONTEXT)
    async with server.channel() as channel:
        stub = notification_pb2_grpc.NotificationServiceStub(channel)
        await stub.CreateTemplate(pb.CreateTemplateRequest(
            id="wire", name="Wire", channels={"webhook": pb.ChannelTemplate(parts={"body": TEMPLATE})}))
        preview = await stub.RenderPreview(pb.RenderPreviewRequest(
            ref=pb.TemplateRef(id="wire"), sample_context=context, channels=["webhook"]))
        [shown] = preview.previews
        assert not shown.errors and shown.payload_json
        sent = await stub.SendNotification(pb.SendNotificationRequest(
            template_id="wire", render_context=context,
            destinations=[pb.Destination(channel=pb.ChannelDestination(channel="webhook", address=hook.url + "/in"))]))
        await hook.wait_for(1)
        for _ in range(100):
            got = await stub.GetNotification(pb.GetNotificationRequest(id=sent.notification_id))
            if got.notification.done:
                break
            await asyncio.sleep(0.05)
    assert hook.requests[0].body == shown.payload_json.encode("utf-8")
    [delivery] = got.notification.deliveries
    assert delivery.status == pb.DELIVERY_STATUS_DELIVERED
    assert (got.notification.template_id, got.notification.template_version) == ("wire", 1)
