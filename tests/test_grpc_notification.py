"""oncall.notification.v1.NotificationService through a real gRPC channel to a running server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from fixtures.rpc import HANG_GUARD_S, failure_of, reflection_client
from google.protobuf.struct_pb2 import Struct
from grpc_health.v1 import health_pb2, health_pb2_grpc
from oncall_hookspecs import ContactMethod, User

from oncall.alerting.incident_context import sample_incident
from oncall.directory.client import CachedDirectory
from oncall.notification import outbox
from oncall.notification.pipeline import payload_bytes, render_for
from oncall.notification.templates import SAMPLE_CONTEXT, Template
from oncall.notification.v1 import notification_pb2 as pb
from oncall.notification.v1 import notification_pb2_grpc

SERVICE = "oncall.notification.v1.NotificationService"
ALL_CHANNELS = ["slack", "teams", "email", "sms", "voice", "push", "webhook"]
# Destinations that can reach nothing beyond this machine, whatever channels are installed.
OPS = pb.Destination(channel=pb.ChannelDestination(channel="slack", address="#ops"))
HOOK = pb.Destination(channel=pb.ChannelDestination(channel="webhook", address="http://127.0.0.1:9/hook"))


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> notification_pb2_grpc.NotificationServiceStub:
    return notification_pb2_grpc.NotificationServiceStub(grpc_channel)


def channels(**by_channel: dict[str, str]) -> dict[str, pb.ChannelTemplate]:
    return {name: pb.ChannelTemplate(parts=parts) for name, parts in by_channel.items()}


def struct(value: dict[str, Any]) -> Struct:
    s = Struct()
    s.update(value)
    return s


async def create(stub: Any, id: str, **by_channel: dict[str, str]) -> pb.CreateTemplateResponse:
    return await stub.CreateTemplate(pb.CreateTemplateRequest(id=id, name=id.title(), channels=channels(**by_channel)))


async def rows(server: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


def by_channel(response: pb.RenderPreviewResponse) -> dict[str, pb.ChannelPreview]:
    return {p.channel: p for p in response.previews}


# --------------------------------------------------------------------------- templates


async def test_updating_a_template_adds_a_version_and_the_old_one_stays_readable(stub):
    created = await create(stub, "payments", sms={"text": "v1: {{ alert.summary }}"})
    assert (created.template.id, created.template.version) == ("payments", 1)

    updated = await stub.UpdateTemplate(pb.UpdateTemplateRequest(
        id="payments", channels=channels(sms={"text": "v2: {{ alert.summary }}"}), created_by="ana",
        description="pages for payments",
    ))

    assert (updated.template.version, updated.template.current_version) == (2, 2)
    current = (await stub.GetTemplate(pb.GetTemplateRequest(id="payments"))).template
    assert current.channels["sms"].parts["text"] == "v2: {{ alert.summary }}"
    assert (current.name, current.description, current.created_by) == ("Payments", "pages for payments", "ana")
    v1 = (await stub.GetTemplate(pb.GetTemplateRequest(id="payments", version=1))).template
    assert (v1.version, v1.current_version) == (1, 2)
    assert v1.channels["sms"].parts["text"] == "v1: {{ alert.summary }}"
    versions = (await stub.ListTemplateVersions(pb.ListTemplateVersionsRequest(id="payments"))).versions
    assert [v.version for v in versions] == [1, 2]
    listed = (await stub.ListTemplates(pb.ListTemplatesRequest())).templates
    assert [(t.id, t.version) for t in listed] == [("payments", 2)]


async def test_concurrent_updates_get_distinct_versions(stub, server):
    await create(stub, "busy", sms={"text": "start"})

    saved = await asyncio.gather(*(
        stub.UpdateTemplate(pb.UpdateTemplateRequest(id="busy", channels=channels(sms={"text": f"edit {i}"})))
        for i in range(5)
    ))

    assert sorted(s.template.version for s in saved) == [2, 3, 4, 5, 6]
    assert await rows(server, "SELECT current_version FROM notification.templates") == [{"current_version": 6}]


async def test_a_stale_expected_version_is_aborted(stub):
    await create(stub, "t", sms={"text": "a"})
    await stub.UpdateTemplate(pb.UpdateTemplateRequest(id="t", channels=channels(sms={"text": "b"}), expected_version=1))

    failure = await failure_of(stub.UpdateTemplate(
        pb.UpdateTemplateRequest(id="t", channels=channels(sms={"text": "c"}), expected_version=1)
    ))
    assert failure.code() == grpc.StatusCode.ABORTED


async def test_a_syntax_error_blocks_the_save_with_its_line_and_nothing_is_stored(stub, server):
    failure = await failure_of(create(stub, "broken", email={"subject": "ok", "text": "fine\n{% if alert.id %}open"}))

    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "email.text line 2: syntax error" in failure.details()
    assert await rows(server, "SELECT id FROM notification.templates") == []


async def test_a_template_breaking_only_for_a_grouped_incident_is_refused_by_the_render_processes(stub, server):
    every_summary_in_the_header = (
        '{"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": '
        '"{% for a in incident.alerts %}{{ a.summary }} {% endfor %}"}}]}')
    failure = await failure_of(create(stub, "headers", slack={"body": every_summary_in_the_header}))

    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 150 (with the grouped-incident sample)" in failure.details()
    assert await rows(server, "SELECT id FROM notification.templates") == []


async def test_an_unknown_variable_is_returned_as_a_warning_with_the_saved_template(stub):
    created = await create(stub, "typo", sms={"text": "Alert: {{ alert.sumary }}"})

    assert created.template.version == 1
    assert [(w.channel, w.part, w.line) for w in created.warnings if "sumary" in w.message] == [("sms", "text", 1)]


async def test_an_unknown_channel_or_part_is_invalid_argument(stub):
    for body in ({"fax": {"text": "x"}}, {"email": {"body": "x"}}):
        failure = await failure_of(create(stub, "bad", **body))
        assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown part 'body'" in failure.details()


async def test_a_deleted_template_keeps_its_versions_readable(stub):
    await create(stub, "gone", sms={"text": "a"})

    await stub.DeleteTemplate(pb.DeleteTemplateRequest(id="gone"))

    assert (await failure_of(stub.GetTemplate(pb.GetTemplateRequest(id="gone")))).code() == grpc.StatusCode.NOT_FOUND
    old = (await stub.GetTemplate(pb.GetTemplateRequest(id="gone", version=1))).template
    assert old.HasField("deleted_at") and old.channels["sms"].parts["text"] == "a"
    assert list((await stub.ListTemplates(pb.ListTemplatesRequest())).templates) == []
    failure = await failure_of(stub.SendNotification(pb.SendNotificationRequest(template_id="gone", destinations=[OPS])))
    assert failure.code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------- preview


async def test_previewing_the_defaults_renders_every_channel_as_a_send_would(stub, server):
    response = await stub.RenderPreview(pb.RenderPreviewRequest())

    previews = by_channel(response)
    assert list(previews) == ALL_CHANNELS
    renderers = server.ctx.registry.renderers
    for name, p in previews.items():
        assert list(p.errors) == [], (name, p.errors)
        # the same bytes the send path's render gives for the same inputs
        sent = render_for(Template(), name, SAMPLE_CONTEXT, renderers)
        assert p.payload_json.encode() == payload_bytes(sent.payload)
    assert json.loads(previews["sms"].payload_json)["text"].startswith("TRIGGERED #4217:")


async def test_the_preview_sample_carries_the_incident_incident_dict_makes(stub):
    response = await stub.RenderPreview(pb.RenderPreviewRequest(channels=["webhook", "slack"]))
    previews = by_channel(response)
    hook = json.loads(previews["webhook"].payload_json)
    assert hook["incident"] == sample_incident(SAMPLE_CONTEXT["alert"])  # incident_dict, as a page's
    assert (hook["incident"]["alert_count"], hook["incident"]["grouped"]) == (1, False)
    # a template reading it previews with the sample's values
    response = await stub.RenderPreview(pb.RenderPreviewRequest(
        template=pb.TemplateBody(channels=channels(sms={"text": "{{ incident.status }} {{ incident.alert_count }}"})),
        channels=["sms"]))
    [p] = response.previews
    assert list(p.warnings) == [] and json.loads(p.payload_json)["text"] == "triggered 1"


async def test_a_preview_renders_the_context_given_with_whole_numbers_as_integers(stub):
    context = {"alert": {"id": 42, "summary": "disk full", "status": "triggered", "ratio": 0.5}}
    response = await stub.RenderPreview(pb.RenderPreviewRequest(
        template=pb.TemplateBody(channels=channels(sms={"text": "#{{ alert.id }} {{ alert.summary }} {{ alert.ratio }}"})),
        sample_context=struct(context), channels=["sms"],
    ))

    [p] = response.previews
    assert json.loads(p.payload_json)["text"] == "#42 disk full 0.5"


async def test_a_broken_template_comes_back_as_errors_with_line_numbers_not_a_failure(stub):
    response = await stub.RenderPreview(pb.RenderPreviewRequest(
        template=pb.TemplateBody(channels=channels(
            sms={"text": "first line\n{% for x in alert.labels %}{{ x }}"},
            email={"subject": "fine", "html": "<p>{{ alert.summary }}</p>", "text": "ok"},
        )),
        channels=["sms", "email"],
    ))

    previews = by_channel(response)
    sms = previews["sms"]
    assert sms.payload_json == ""
    assert any("syntax error" in e.message and e.line == 2 and e.part == "text" for e in sms.errors), sms.errors
    assert list(previews["email"].errors) == []
    assert json.loads(previews["email"].payload_json)["subject"] == "fine"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ ''.__class__.__mro__ }}", "not allowed"),
        ("{{ alert.__class__.__init__.__globals__ }}", "not allowed"),
        ("{% for i in range(10**9) %}x{% endfor %}", "range"),
        ("{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}", "too much work"),
        ("{{ 'x' * 10**9 }}", "longer than"),
    ],
)
async def test_a_hostile_template_fails_safely_with_a_clear_error(stub, source, expected):
    response = await stub.RenderPreview(pb.RenderPreviewRequest(
        template=pb.TemplateBody(channels=channels(voice={"text": source})), channels=["voice"],
    ))

    [p] = response.previews
    assert p.payload_json == ""
    assert p.errors, "a hostile template must be reported"
    assert any(expected in e.message for e in p.errors), [e.message for e in p.errors]


async def test_a_hostile_template_is_refused_on_save(stub, server):
    failure = await failure_of(create(stub, "evil", sms={"text": "{{ ''.__class__.__mro__ }}"}))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sms.text line 1" in failure.details()
    assert await rows(server, "SELECT id FROM notification.templates") == []


async def test_an_unknown_channel_in_a_preview_is_reported_not_raised(stub):
    response = await stub.RenderPreview(pb.RenderPreviewRequest(
        template=pb.TemplateBody(channels=channels(fax={"text": "x"})), channels=["sms", "pager"],
    ))

    previews = by_channel(response)
    assert list(previews) == ["sms", "pager", "fax"]
    assert previews["sms"].payload_json and not previews["sms"].errors
    assert previews["pager"].errors and not previews["pager"].payload_json
    assert "unknown channel 'fax'" in previews["fax"].errors[0].message


async def test_a_stored_version_is_previewed_by_reference(stub):
    await create(stub, "ref", sms={"text": "first {{ alert.id }}"})
    await stub.UpdateTemplate(pb.UpdateTemplateRequest(id="ref", channels=channels(sms={"text": "second {{ alert.id }}"})))

    old = await stub.RenderPreview(pb.RenderPreviewRequest(ref=pb.TemplateRef(id="ref", version=1), channels=["sms"]))
    current = await stub.RenderPreview(pb.RenderPreviewRequest(ref=pb.TemplateRef(id="ref"), channels=["sms"]))

    assert (old.template_id, old.template_version) == ("ref", 1)
    assert json.loads(old.previews[0].payload_json)["text"] == "first 4217"
    assert current.template_version == 2
    assert json.loads(current.previews[0].payload_json)["text"] == "second 4217"
    missing = await failure_of(stub.RenderPreview(pb.RenderPreviewRequest(ref=pb.TemplateRef(id="ref", version=9))))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------- notifications


class Users:
    """A user directory with one user: the shape kneutral-api and the local directory answer in."""

    name = "test"

    async def get_user(self, user_id: str) -> User | None:
        return User("42", "Ana") if user_id == "42" else None

    async def get_users(self, user_ids: Any) -> list[User]:
        return [u for u in [await self.get_user(i) for i in user_ids] if u]

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        if user_id != "42":
            return []
        return [ContactMethod("sms-1", "sms", "+15555550100"), ContactMethod("mail-1", "email", "ana@example.com")]


async def test_send_creates_a_delivery_per_destination_and_get_returns_them(stub, server):
    server.ctx.directory = CachedDirectory(Users())
    await create(stub, "pages", sms={"text": "{{ alert.summary }}"})

    sent = await stub.SendNotification(pb.SendNotificationRequest(
        template_id="pages", render_context=struct({"alert": {"id": 7, "summary": "db down"}}),
        destinations=[OPS, pb.Destination(user_id="42"), HOOK], alert_id=7,
    ))

    nid = sent.notification_id
    stored = await rows(
        server, "SELECT template_id, template_version, alert_id, context FROM notification.notifications WHERE id = %s", nid
    )
    assert stored == [{"template_id": "pages", "template_version": 1, "alert_id": 7,
                       "context": {"alert": {"id": 7, "summary": "db down"}}}]
    deliveries = await rows(
        server, "SELECT channel, destination, user_id FROM notification.deliveries WHERE notification_id = %s ORDER BY id",
        nid,
    )
    assert deliveries == [
        {"channel": "slack", "destination": "#ops", "user_id": None},
        {"channel": "sms", "destination": "+15555550100", "user_id": "42"},
        {"channel": "email", "destination": "ana@example.com", "user_id": "42"},
        {"channel": "webhook", "destination": "http://127.0.0.1:9/hook", "user_id": None},
    ]

    got = (await stub.GetNotification(pb.GetNotificationRequest(id=nid))).notification
    assert (got.id, got.template_id, got.template_version, got.alert_id) == (nid, "pages", 1, 7)
    assert [(d.channel, d.destination, d.user_id) for d in got.deliveries] == [
        (r["channel"], r["destination"], r["user_id"] or "") for r in deliveries
    ]
    assert all(d.status != pb.DELIVERY_STATUS_UNSPECIFIED for d in got.deliveries)
    listed = (await stub.ListNotifications(pb.ListNotificationsRequest(alert_id=7))).notifications
    assert [n.id for n in listed] == [nid]


async def test_a_reused_idempotency_key_returns_the_same_notification(stub, server):
    first = await stub.SendNotification(pb.SendNotificationRequest(destinations=[OPS], idempotency_key="deploy-1234"))
    again = await stub.SendNotification(pb.SendNotificationRequest(destinations=[OPS, HOOK], idempotency_key="deploy-1234"))
    other = await stub.SendNotification(pb.SendNotificationRequest(destinations=[OPS], idempotency_key="deploy-1235"))

    assert again.notification_id == first.notification_id != other.notification_id
    assert len(await rows(server, "SELECT id FROM notification.notifications")) == 2
    assert len(await rows(server, "SELECT id FROM notification.deliveries")) == 2


async def test_malformed_sends_are_refused_and_store_nothing(stub, server):
    bad = [
        pb.SendNotificationRequest(),
        pb.SendNotificationRequest(destinations=[pb.Destination()]),
        pb.SendNotificationRequest(destinations=[pb.Destination(channel=pb.ChannelDestination(channel="fax", address="1"))]),
        pb.SendNotificationRequest(destinations=[pb.Destination(channel=pb.ChannelDestination(channel="slack"))]),
    ]
    for request in bad:
        assert (await failure_of(stub.SendNotification(request))).code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = await failure_of(stub.SendNotification(pb.SendNotificationRequest(template_id="nope", destinations=[OPS])))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert await rows(server, "SELECT id FROM notification.notifications") == []
    assert (await failure_of(stub.GetNotification(pb.GetNotificationRequest(id=999)))).code() == grpc.StatusCode.NOT_FOUND


async def make_waiting_notification(server: Any) -> tuple[int, list[int]]:
    """A notification with two deliveries no worker will touch (not due for a day): the test moves them."""
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO notification.notifications (idempotency_key, context) VALUES ('watch-test', '{}') RETURNING id"
        )
        nid = (await cur.fetchone())["id"]
        cur = await conn.execute(
            """INSERT INTO notification.deliveries (notification_id, idempotency_key, channel, destination, next_attempt_at)
               VALUES (%s, 'w1', 'slack', '#ops', now() + interval '1 day'),
                      (%s, 'w2', 'sms', '+15555550100', now() + interval '1 day')
               RETURNING id""",
            (nid, nid),
        )
        return nid, [r["id"] for r in await cur.fetchall()]


async def move(server: Any, nid: int, delivery_id: int, status: str) -> None:
    async with server.ctx.pool.connection() as conn:
        await conn.execute("UPDATE notification.deliveries SET status = %s WHERE id = %s", (status, delivery_id))
        await conn.execute("SELECT pg_notify(%s, %s)", (outbox.STATUS_CHANNEL, str(nid)))


async def test_watch_streams_each_change_and_ends_when_every_delivery_is_final(stub, server):
    nid, (d1, d2) = await make_waiting_notification(server)
    stream = stub.WatchNotification(pb.WatchNotificationRequest(id=nid), timeout=HANG_GUARD_S)
    updates = aiter(stream)

    first = (await anext(updates)).notification
    assert [d.status for d in first.deliveries] == [pb.DELIVERY_STATUS_QUEUED, pb.DELIVERY_STATUS_QUEUED]
    assert not first.done

    await move(server, nid, d1, "sent")
    second = (await anext(updates)).notification
    assert [d.status for d in second.deliveries] == [pb.DELIVERY_STATUS_SENT, pb.DELIVERY_STATUS_QUEUED]
    assert not second.done

    await move(server, nid, d2, "failed")
    last = (await anext(updates)).notification
    assert [d.status for d in last.deliveries] == [pb.DELIVERY_STATUS_SENT, pb.DELIVERY_STATUS_FAILED]
    assert last.done
    with pytest.raises(StopAsyncIteration):
        await anext(updates)
    assert await stream.code() == grpc.StatusCode.OK


async def test_watchers_of_other_notifications_are_not_woken_and_one_connection_serves_all(stub, server):
    nid, (d1, d2) = await make_waiting_notification(server)
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO notification.notifications (idempotency_key, context) VALUES ('other', '{}') RETURNING id"
        )
        other = (await cur.fetchone())["id"]
        await conn.execute(
            """INSERT INTO notification.deliveries (notification_id, idempotency_key, channel, destination, next_attempt_at)
               VALUES (%s, 'o1', 'slack', '#other', now() + interval '1 day')""",
            (other,),
        )
    mine = aiter(stub.WatchNotification(pb.WatchNotificationRequest(id=nid), timeout=HANG_GUARD_S))
    theirs = aiter(stub.WatchNotification(pb.WatchNotificationRequest(id=other), timeout=HANG_GUARD_S))
    await anext(mine)
    await anext(theirs)
    # both watches are heard on the process's one LISTEN connection
    listeners = await rows(
        server, "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'oncall-listen'"
    )
    assert listeners == [{"n": 1}]

    await move(server, nid, d1, "delivered")  # a change of mine only
    await move(server, other, 0, "sent")  # a wake-up for theirs that changed nothing
    await move(server, nid, d2, "delivered")

    # one snapshot per change, or fewer when changes land together: the last is done, and the stream ends
    seen = [r.notification async for r in mine]
    assert seen and seen[-1].done and not any(n.done for n in seen[:-1])
    assert [d.status for d in seen[-1].deliveries] == [pb.DELIVERY_STATUS_DELIVERED] * 2
    # theirs heard a wake-up, re-read, found nothing new and sent nothing: it is still waiting
    pending = asyncio.ensure_future(anext(theirs))
    async with server.ctx.pool.connection() as conn:
        await conn.execute("UPDATE notification.deliveries SET status = 'cancelled' WHERE notification_id = %s", (other,))
        await conn.execute("SELECT pg_notify(%s, %s)", (outbox.STATUS_CHANNEL, str(other)))
    final = (await pending).notification
    assert final.done and final.deliveries[0].status == pb.DELIVERY_STATUS_CANCELLED


async def test_watching_a_notification_that_does_not_exist_is_not_found(stub):
    stream = stub.WatchNotification(pb.WatchNotificationRequest(id=12345), timeout=HANG_GUARD_S)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await anext(aiter(stream))
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------- reflection


def preview_by_reflection(target: str, token: str) -> tuple[list[str], dict[str, Any]]:
    with reflection_client(target, token) as client:
        created = client.method(SERVICE, "CreateTemplate")(
            id="reflected", name="Reflected", channels={"sms": {"parts": {"text": "R {{ alert.id }}"}}}
        )
        assert created.template.version == 1
        previewed = client.method(SERVICE, "RenderPreview")(ref={"id": "reflected"}, channels=["sms", "voice"])
        return client.services, {p.channel: (p.payload_json, [e.message for e in p.errors]) for p in previewed.previews}


async def test_a_client_knowing_only_reflection_saves_and_previews_a_template(server, grpc_channel):
    services, previews = await asyncio.to_thread(preview_by_reflection, server.grpc_target, server.admin_key)

    assert SERVICE in services
    health = await health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest(service=SERVICE))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert json.loads(previews["sms"][0])["text"] == "R 4217"
    assert previews["voice"][1] == [] and json.loads(previews["voice"][0])["text"].startswith("This is On Call.")
