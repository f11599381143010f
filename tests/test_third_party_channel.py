"""A third-party channel works end to end with no core change (issue 11, item 1).

``tests/fixtures/third_party/oncall-discord`` is a channel written outside the project: one
distribution with its spec, renderer and channel, depending on ``oncall-hookspecs`` alone.
The test copies it to a temporary directory, builds and pip-installs it into this venv
(``fixtures.installed``; uninstalled afterwards), and runs the real server, which finds it by its entry point: its
default template renders in the preview RPC and in the page, its rate limit holds the next
page back, its label and destination description are on the timeline, and its one-click
link acknowledges the alert. The fake Discord is the kit's receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from fixtures.installed import install
from fixtures.paging import (
    USER,
    alert_row,
    assert_escalation_stopped,
    open_link,
    page,
    paging_server,
    post_alert,
    timeline_notes,
)
from oncall_hookspecs import RuleActions
from oncall_testkit import check_channel_spec
from oncall_testkit.receiver import Receiver, receiver

from oncall.errors import InvalidArgument
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.notification import channels
from oncall.notification.v1 import notification_pb2 as pb
from oncall.notification.v1 import notification_pb2_grpc
from oncall.routing import rules

HOOK = "1234567890/s3cr3t-webhook-token"  # Discord's "<webhook id>/<token>"


@pytest.fixture(scope="module")
def discord_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """oncall-discord built from a copy in a temporary directory and installed; uninstalled after."""
    with install("oncall-discord", "oncall_discord", tmp_path_factory.mktemp("third-party")):
        yield


@pytest.fixture
async def discord() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        rec.default = (204, {})  # what Discord answers an accepted webhook message
        yield rec


@pytest.fixture
async def server(discord_installed: None, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 discord: Receiver) -> AsyncIterator[Any]:
    async with paging_server(db_url, tmp_path, monkeypatch, ("sms", "+15555550100"),
                             ONCALL_DISCORD_URL=discord.url) as running:
        yield running


@pytest.fixture
async def user_on_discord(discord_installed: None, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          discord: Receiver) -> AsyncIterator[Any]:
    """The server with alice's only contact method a discord one, in the local directory's file."""
    async with paging_server(db_url, tmp_path, monkeypatch, ("discord", HOOK),
                             ONCALL_DISCORD_URL=discord.url) as running:
        yield running


async def _delivery(server: Any, alert_id: int) -> dict[str, Any]:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT *, next_attempt_at - now() AS wait FROM notification.deliveries
               WHERE alert_id = %s ORDER BY id LIMIT 1""", (alert_id,))
        row = await cur.fetchone()
        assert row is not None, f"no delivery for alert {alert_id}"
        return row


async def _until(server: Any, alert_id: int, done: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            row = await _delivery(server, alert_id)
        except AssertionError:
            row = None
        if row is not None and done(row):
            return row
        assert asyncio.get_running_loop().time() < deadline, f"alert {alert_id}'s delivery: {row}"
        await asyncio.sleep(0.05)


async def test_a_discord_plugin_installed_from_its_own_directory_pages_end_to_end(
    server: Any, discord: Receiver,
) -> None:
    registry = server.ctx.registry
    [info] = [p for p in registry.plugins if p.name == "discord"]
    assert (info.distribution, info.status) == ("oncall-discord", "ok")
    assert info.provides == {"channel_specs": ["discord"], "channels": ["discord"], "renderers": ["discord"]}
    check_channel_spec(registry.channel_specs["discord"], registry.renderers["discord"])  # the kit's check holds

    # its default template, through the notification service's preview RPC
    async with server.channel() as grpc_channel:
        stub = notification_pb2_grpc.NotificationServiceStub(grpc_channel)
        previews = {p.channel: p for p in (await stub.RenderPreview(pb.RenderPreviewRequest())).previews}
        assert "discord" in previews and list(previews["discord"].errors) == []
        assert json.loads(previews["discord"].payload_json) == {
            "username": "OnCall", "content": "**TRIGGERED** #4217 [critical]: High error rate on payments-api (5.2% > 1%)"}
        # a template for it is checked against its spec's parts and its renderer's rules
        [own] = (await stub.RenderPreview(pb.RenderPreviewRequest(
            template=pb.TemplateBody(channels={"discord": pb.ChannelTemplate(parts={"content": "{{ 'x' * 2001 }}"})}),
            channels=["discord"]))).previews
        assert [e.message for e in own.errors] == ["2001 characters; Discord takes at most 2000"]
        assert [e.part for e in own.errors] == ["content"]

    # a page through it: a policy targets the channel by name
    steps = [Step(0, (Target("channel", f"discord:{HOOK}"),)), Step(1, (Target("channel", f"discord:{HOOK}"),))]
    policy = await create_policy(server.ctx.pool, PolicyInput(name="discord", steps=steps))
    await rules.set_default(server.ctx.pool, RuleActions(escalation_policy_id=policy.id))
    alert_id = await post_alert(server, "Disk full on db-1", "/var is 98% used", "db-1-disk")
    await _until(server, alert_id, lambda r: r["status"] == "delivered")
    [posted] = discord.requests
    assert posted.path == f"/api/webhooks/{HOOK}"
    body = json.loads(posted.body)
    assert body["username"] == "OnCall"
    first_line, links = body["content"].split("\n", 1)
    assert first_line == f"**TRIGGERED** #{alert_id} [critical]: Disk full on db-1"  # a generic alert is critical
    notes = await timeline_notes(server, alert_id, "notification")
    assert "Discord to Discord webhook 1234567890: delivered" in notes  # its label; the token is not written
    assert not any("s3cr3t" in n for n in notes)

    # its two-way action: the one-click link its spec asked for acknowledges the alert
    acknowledge = links.split("[acknowledge](", 1)[1].split(")", 1)[0]
    status, _ = await open_link(acknowledge, "POST")
    assert status == 200
    assert (await alert_row(server, alert_id))["status"] == "acknowledged"
    await assert_escalation_stopped(server, alert_id)
    assert len(discord.requests) == 1

    # its default rate limit (a burst of one, then one an hour per destination) holds the next page
    second = await post_alert(server, "Disk full on db-2", "/var is 99% used", "db-2-disk")
    held = await _until(server, second, lambda r: r["wait"].total_seconds() > 1800)
    assert (held["status"], held["attempts"]) == ("queued", 0)
    assert len(discord.requests) == 1


async def test_a_channel_no_plugin_declares_is_refused_where_it_is_written(server: Any) -> None:
    """A misspelt channel fails on save, naming the installed ones, not when a page is due."""
    async with server.channel() as grpc_channel:
        stub = notification_pb2_grpc.NotificationServiceStub(grpc_channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateTemplate(pb.CreateTemplateRequest(
                id="chat", name="Chat", channels={"discorb": pb.ChannelTemplate(parts={"content": "x"})}))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        said = refused.value.details() or ""
        assert "unknown channel 'discorb'" in said and "discord" in said  # it names the installed ones
        created = await stub.CreateTemplate(pb.CreateTemplateRequest(
            id="chat", name="Chat", channels={"discord": pb.ChannelTemplate(parts={"content": "{{ alert.id }}"})}))
        assert created.template.id == "chat"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendNotification(pb.SendNotificationRequest(destinations=[
                pb.Destination(channel=pb.ChannelDestination(channel="discorb", address="x"))]))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unknown channel 'discorb'" in (refused.value.details() or "")
    with pytest.raises(InvalidArgument, match="unknown channel 'discorb'"):
        await create_policy(server.ctx.pool, PolicyInput(name="typo", steps=[Step(0, (Target("channel", "discorb:x"),))]))
    # an alias its spec declares is the channel itself
    policy = await create_policy(server.ctx.pool, PolicyInput(name="alias", steps=[Step(0, (Target("channel", "disc:x"),))]))
    assert policy.id


async def test_a_user_whose_contact_method_is_the_third_party_channel_is_paged_through_a_policy(
    user_on_discord: Any, discord: Receiver,
) -> None:
    """The directory names the channel (ContactMethod.channel = "discord"); a policy's user target reaches it."""
    server = user_on_discord
    [method] = (await server.ctx.directory.contact_methods(USER)).value
    assert (method.id, method.kind, method.address) == ("cm-1", "discord", HOOK)

    alert_id = await page(server)  # a policy paging user alice, then again a second later
    row = await _until(server, alert_id, lambda r: r["status"] == "delivered")
    assert (row["channel"], row["user_id"], row["contact_method_id"]) == ("discord", USER, "cm-1")
    [posted] = discord.requests
    assert posted.path == f"/api/webhooks/{HOOK}"
    assert json.loads(posted.body)["content"].startswith(f"**TRIGGERED** #{alert_id} [critical]: Disk full on db-1")
    [escalated] = await timeline_notes(server, alert_id, "escalated")
    assert "paged user alice" in escalated and "skipped" not in escalated
    assert "Discord to user alice: delivered" in await timeline_notes(server, alert_id, "notification")

    # acknowledged from the link in the message, the second step never pages
    links = json.loads(posted.body)["content"].split("\n", 1)[1]
    acknowledge = links.split("[acknowledge](", 1)[1].split(")", 1)[0]
    assert (await open_link(acknowledge, "POST"))[0] == 200
    await assert_escalation_stopped(server, alert_id)
    assert len(discord.requests) == 1


def test_the_local_directory_takes_an_installed_third_party_channel_and_refuses_an_unknown_one(
    discord_installed: None,
) -> None:
    from oncall_local_directory.users_file import parse

    channels.install(None)  # read the installed plugins again: oncall-discord is one now
    text = ("users:\n  - id: bob\n    name: Bob\n    contact_methods:\n"
            f"      - {{id: d-1, type: discord, address: \"{HOOK}\"}}\n"
            "      - {id: d-2, type: Disc, address: 1/other}\n"   # its spec's alias, any case
            "  - id: carol\n    name: Carol\n    contact_methods:\n"
            "      - {id: x-1, type: discorb, address: x}\n")
    loaded = parse(text)
    assert [(cm.id, cm.type) for cm in loaded.users["bob"].contact_methods] == [("d-1", "discord"), ("d-2", "discord")]
    assert loaded.users["carol"].contact_methods == []  # the method is left out, the user served
    [problem] = loaded.problems
    assert "type 'discorb' is not one of sms, voice" in problem and "discord" in problem
    assert "no installed channel has that name" in problem
