"""Templates render in child processes with a hard wall clock and a memory cap, off the event loop.

A send rendered on the server's loop used to stall everything behind it: the health check
waited 14.4 s while three pages rendered (issue 10, item 9). Now the server renders in its
render processes: a render that overruns the wall clock gets its process killed and replaced,
one that allocates past the cap loses only its process, and in both cases the page still goes
out, with the channel's default (or the minimal message) and a note on the alert's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fixtures.auth import keyed_channel, make_key
from fixtures.processes import ServeProcess, oncall_env
from oncall_testkit.receiver import Receiver, receiver
from google.protobuf.struct_pb2 import Struct
from psycopg.types.json import Jsonb

from oncall.alerting.store import create_integration
from oncall.config import Settings
from fixtures.channels import Channel
from oncall.notification import SAMPLE_CONTEXT, ChannelTemplate, RenderLimits, Template
from oncall.notification.pipeline import SendJob, preview
from oncall.notification.renderpool import RenderPool
from oncall.notification.v1 import notification_pb2 as pb
from oncall.notification.v1 import notification_pb2_grpc
from oncall.plugins import Registry, load_plugins
from oncall.store.database import open_pool

pytestmark = pytest.mark.slow

# spends its whole time budget: ~0.05-0.2 ms a step, a million steps (minutes) where the budget has seconds;
# nested because the sandbox's range() stops at 100,000
BURNER = ("{% for i in range(1000) %}{% for j in range(1000) %}{% set x = ('a' * 50000)|replace('a', 'b') %}"
          "{% endfor %}{% endfor %}{}")
# within every per-value bound, but 400 KB a line: a thousand lines is 400 MB
HOG = "".join(f"{{% set v{i} = '\U0001F6A8' * 99990 ~ {i} %}}" for i in range(1000)) + '{"n": {{ v1|length }}}'


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_plugins(())[1]


@contextlib.asynccontextmanager
async def render_pool(registry: Registry, **settings: Any) -> AsyncIterator[RenderPool]:
    limits = settings.pop("limits", RenderLimits())
    pool = RenderPool.for_server(Settings(**settings), registry, limits)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


def webhook(source: str) -> Template:
    return Template({Channel.WEBHOOK: ChannelTemplate({"body": source})})


async def test_a_render_over_the_wall_clock_loses_its_process_and_the_page_falls_back(registry: Registry) -> None:
    # a budget far past the wall clock: only the kill can stop this render
    async with render_pool(registry, render_processes=1, render_timeout_s=0.5,
                           limits=RenderLimits(time_budget_s=60, max_steps=10**9)) as pool:
        jobs = [SendJob(Template(), "sms", SAMPLE_CONTEXT), SendJob(webhook(BURNER), "webhook", SAMPLE_CONTEXT),
                SendJob(Template(), "sms", SAMPLE_CONTEXT)]
        started = time.monotonic()
        first, burnt, last = await pool.send(jobs)
        assert time.monotonic() - started < 20  # generous: 0.5 s and a new process
        assert first.used == last.used == "template" and first.rendered.payload["text"].startswith("TRIGGERED #4217")
        assert burnt.used == "default" and burnt.rendered.payload["alert"]["id"] == 4217
        assert burnt.failures == (("template", "the render took longer than 0.5 s and was stopped"),)
        assert pool.started_children == 2  # the one killed, and its replacement
        # and a preview that overruns the same way is an answer, not a hang
        [shown] = await pool.preview(webhook(BURNER), ["webhook"], SAMPLE_CONTEXT)
        assert shown.payload is None and shown.errors == [
            "the preview was stopped: the render took longer than 0.5 s and was stopped"]


async def test_a_render_past_the_memory_cap_loses_only_its_process(registry: Registry) -> None:
    async with render_pool(registry, render_processes=1, render_memory_mb=64) as pool:
        hog, fine = await pool.send([SendJob(webhook(HOG), "webhook", SAMPLE_CONTEXT),
                                     SendJob(Template(), "sms", SAMPLE_CONTEXT)])
        assert hog.used == "default" and hog.rendered.payload["alert"]["summary"].startswith("High error rate")
        [(stage, why)] = hog.failures
        assert stage == "template" and why == "webhook.body: template ran out of memory"
        assert fine.used == "template" and fine.rendered.errors == []
        [after] = await pool.send([SendJob(Template(), "slack", SAMPLE_CONTEXT)])
        assert after.used == "template"
        assert pool.started_children == 2  # the one that hit the cap left after its batch


async def test_a_process_killed_from_outside_costs_no_page(registry: Registry) -> None:
    async with render_pool(registry, render_processes=1) as pool:
        await pool.send([SendJob(Template(), "sms", SAMPLE_CONTEXT)])
        [child] = list(pool._children)
        os.kill(child.process.pid, signal.SIGKILL)
        results = await pool.send([SendJob(Template(), c.value, SAMPLE_CONTEXT) for c in Channel])
        assert [r.used for r in results] == ["template"] * len(Channel)
        assert all(r.rendered.errors == [] for r in results)
        assert pool.started_children == 2


async def test_previews_and_checks_in_the_render_processes_are_what_this_process_renders(registry: Registry) -> None:
    template = Template.from_mapping({"sms": "{{ alert.summary }} {{ alert.sumary }}",
                                      "webhook": '{"a": {{ alert.labels|tojson }}}'})
    channels = [c.value for c in Channel]
    async with render_pool(registry, render_processes=2) as pool:
        there = await pool.preview(template, channels, SAMPLE_CONTEXT)
        checked = await pool.validate(Template.from_mapping({"sms": "{{ 'a' * 10**9 }}"}), None)
    here = preview(template, channels, SAMPLE_CONTEXT, registry.renderers)
    assert [(p.channel, p.payload, [str(w) for w in p.warnings]) for p in there] == \
        [(p.channel, p.payload, [str(w) for w in p.warnings]) for p in here]
    assert [str(e) for e in checked.errors] == [
        "sms.text line 1: template built a value longer than 100000 items (whatever the alert)"]


# ------------------------------------------------------------------------------ the whole server


@pytest.fixture
def served(fresh_database: Any, tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    url = fresh_database()
    env = oncall_env(url, ONCALL_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", ONCALL_RENDER_PROCESSES="2",
                     ONCALL_RENDER_MEMORY_MB="64", ONCALL_LOG_LEVEL="WARNING")
    server = ServeProcess.start(env, tmp_path / "serve.log")
    try:
        server.wait_until_serving("/readyz")
        yield server, url
    finally:
        server.kill()


def peak_memory_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


async def test_while_pages_render_the_server_answers_and_a_hog_loses_only_its_process(
    served: tuple[ServeProcess, str],
) -> None:
    server, url = served
    db = await open_pool(url, 1, 2)
    try:
        async with db.connection() as conn:
            # saved before the budget refused them, as they were in the attack
            for name, body in (("slow", "{{ (['a' * 99999] * 99999)|max|length }}"), ("burner", BURNER),
                               ("hog", HOG)):
                await conn.execute("INSERT INTO notification.templates (id, name, current_version) VALUES (%s, %s, 1)",
                                   (name, name))
                await conn.execute("INSERT INTO notification.template_versions (template_id, version, channels) "
                                   "VALUES (%s, 1, %s)", (name, Jsonb({"webhook": {"body": body}})))
        _, key = await create_integration(db, "alertmanager", "am")
        async with receiver() as hook:
            await _pages_while_answering(server, db, key, hook)
    finally:
        await db.close()


async def _alertmanager(http: aiohttp.ClientSession, server: ServeProcess, key: str, name: str) -> float:
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "fingerprint": name,
                                                           "labels": {"alertname": name},
                                                           "annotations": {"summary": f"{name} is down"}}]}
    started = time.monotonic()
    async with http.post(f"{server.http_url}/api/v1/webhooks/alertmanager", json=body,
                         headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200, await r.text()
    return time.monotonic() - started


async def _pages_while_answering(server: ServeProcess, db: Any, key: str, hook: Receiver) -> None:
    async with aiohttp.ClientSession() as http:
        for name in ("A", "B", "C", "D", "E", "F"):
            await _alertmanager(http, server, key, name)
        async with db.connection() as conn:
            cur = await conn.execute("SELECT dedup_key, id FROM alerting.alerts")
            ids = {r["dedup_key"]: r["id"] for r in await cur.fetchall()}
        before = peak_memory_mb(server.proc.pid)
        pages = [("A", "slow"), ("B", "slow"), ("C", "burner"), ("D", "burner"), ("E", "burner"), ("F", "hog")]
        slowest = {"health": 0.0, "webhook": 0.0}

        async def answering() -> None:
            """The health check and an alert webhook, again and again, while the pages render."""
            n = 0
            while len(hook.requests) < len(pages):
                started = time.monotonic()
                async with http.get(f"{server.http_url}/healthz") as r:
                    assert r.status == 200
                slowest["health"] = max(slowest["health"], time.monotonic() - started)
                n += 1
                slowest["webhook"] = max(slowest["webhook"], await _alertmanager(http, server, key, f"more-{n}"))
                await asyncio.sleep(0.05)

        poller = asyncio.create_task(answering())
        _, api_key = await make_key(db, "admin")
        async with keyed_channel(f"127.0.0.1:{server.grpc_port}", api_key) as channel:
            stub = notification_pb2_grpc.NotificationServiceStub(channel)
            for name, template in pages:
                context = Struct()
                context.update({"alert": {"id": ids[name], "summary": f"{name} is down", "status": "triggered"}})
                await stub.SendNotification(pb.SendNotificationRequest(
                    template_id=template, render_context=context, alert_id=ids[name], destinations=[
                        pb.Destination(channel=pb.ChannelDestination(channel="webhook", address=f"{hook.url}/{name}"))]))
        try:
            await asyncio.wait_for(poller, 60)  # a bound on the wait, not a measurement
        except TimeoutError:
            raise AssertionError(f"{len(hook.requests)} pages arrived:\n{server.output()}") from None
    slowest_health, slowest_webhook = slowest["health"], slowest["webhook"]
    # generous on a busy 2-core box: rendered on the server's loop, these waited many seconds
    assert slowest_health < 2.0, slowest_health
    assert slowest_webhook < 3.0, slowest_webhook
    received = {r.path.strip("/"): json.loads(r.body) for r in hook.requests}
    assert set(received) == {name for name, _ in pages}
    for name, _ in pages:  # every page went out, with the default webhook message
        assert received[name]["event"] == "alert.triggered" and received[name]["alert"]["summary"] == f"{name} is down"
    assert peak_memory_mb(server.proc.pid) - before < 150  # the hog's memory was never the server's
    notes, burnt = await _notes(db, ids["F"]), await _notes(db, ids["C"])
    assert "template hog v1 failed for webhook: webhook.body: template ran out of memory; " \
           "the default webhook message was sent" in notes
    assert any(n.startswith("template burner v1 failed for webhook: webhook.body") and "took longer than 0.25s" in n
               for n in burnt), burnt


async def _notes(db: Any, alert_id: int) -> list[str]:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT note FROM alerting.alert_events WHERE alert_id = %s AND kind = 'notification' ORDER BY id",
            (alert_id,))
        return [r["note"] for r in await cur.fetchall()]
