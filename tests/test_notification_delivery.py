"""The delivery worker against real PostgreSQL and a local HTTP receiver (the webhook channel).

Time is a frozen clock the tests move, so backoff, Retry-After, circuit pauses and rate
limits are checked by what is due, not by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures.alerts import trigger
from oncall_testkit.receiver import Receiver, receiver
from oncall_hookspecs import ChannelMessage, DeliveryResult
from psycopg.types.json import Jsonb

from oncall.alerting import store
from oncall.clock import Clock
from oncall.config import Settings
from oncall.context import Context
from oncall.escalation.engine import render_context
from oncall.notification import outbox
from oncall.notification.outbox import Destination
from oncall.notification.pipeline import payload_bytes, render_for
from oncall.notification.templates import SAMPLE_CONTEXT, Template
from oncall.notification.delivery.worker import Notifier
from oncall.plugins import load_plugins
from oncall.store.database import open_pool

SECRET = "test-signing-secret"


@pytest.fixture
def webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")


def _settings(db_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(database_url=db_url, retry_base_s=1.0, retry_max_s=8.0, max_attempts=5,
                                circuit_threshold=50, circuit_pause_s=30.0)
    base.update(overrides)
    return Settings(**base)


@contextlib.asynccontextmanager
async def _context(db_url: str, **overrides: Any) -> AsyncIterator[Context]:
    from oncall.alerting.ingest import Ingestor

    _, registry = load_plugins(())
    pool = await open_pool(db_url, 1, 6)
    ingestor = Ingestor(pool)
    ingestor.start()
    try:
        yield Context(settings=_settings(db_url, **overrides), pool=pool, registry=registry, ingestor=ingestor,
                      database_url=db_url)
    finally:
        await ingestor.stop()
        await pool.close()


@contextlib.asynccontextmanager
async def _notifier(ctx: Context, clock: Clock) -> AsyncIterator[Notifier]:
    # rows are created at the database's now(): the frozen clock starts just after it
    clock.freeze(datetime.now(UTC) + timedelta(seconds=1))
    n = Notifier(ctx, clock=clock)
    await n.attach()
    try:
        yield n
    finally:
        await n.stop(2)


@pytest.fixture
async def dctx(db_url: str, webhook_env: None) -> AsyncIterator[Context]:
    async with _context(db_url) as ctx:
        yield ctx


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec


async def _send(ctx: Context, url: str, context: dict[str, Any] | None = None, template_id: str | None = None,
                alert_id: int | None = None) -> int:
    return await outbox.create_notification(
        ctx.pool, template_id=template_id, context=context or dict(SAMPLE_CONTEXT),
        destinations=[Destination(channel="webhook", address=url)], alert_id=alert_id,
    )


async def _deliveries(ctx: Context, nid: int | None = None) -> list[dict[str, Any]]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM notification.deliveries" + (" WHERE notification_id = %s" if nid else "") + " ORDER BY id",
            (nid,) if nid else (),
        )
        return await cur.fetchall()


async def _attempts(ctx: Context, delivery_id: int) -> list[dict[str, Any]]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM notification.attempts WHERE delivery_id = %s ORDER BY id", (delivery_id,)
        )
        return await cur.fetchall()


# ------------------------------------------------------------------ preview equals send


async def test_the_receiver_gets_exactly_the_previewed_bytes(dctx: Context, hook: Receiver, clock: Clock) -> None:
    from oncall_webhook import verify_signature

    custom = {"webhook": {"body": '{"text": "{{ alert.summary }} ✓", "n": {{ alert.duplicate_count }}, '
                                  '"labels": {{ alert.labels|tojson }}}'}}
    async with dctx.pool.connection() as conn:
        await conn.execute("INSERT INTO notification.templates (id, name, current_version) VALUES ('t1', 't1', 1)")
        await conn.execute(
            "INSERT INTO notification.template_versions (template_id, version, channels) VALUES ('t1', 1, %s)",
            (Jsonb(custom),),
        )
    context = dict(SAMPLE_CONTEXT)
    nid = await _send(dctx, hook.url + "/in", context, template_id="t1")
    async with _notifier(dctx, clock) as n:
        assert await n.run_once() == 1
    preview = render_for(Template.from_mapping(custom), "webhook", context, dctx.registry.renderers)
    assert not preview.errors
    [got] = hook.requests
    assert got.body == payload_bytes(preview.payload)
    assert verify_signature(SECRET, got.headers["X-OnCall-Timestamp"], got.body, got.headers["X-OnCall-Signature"],
                            now=int(got.headers["X-OnCall-Timestamp"]))
    [d] = await _deliveries(dctx, nid)
    assert d["status"] == "delivered" and d["attempts"] == 1 and d["delivered_at"] is not None
    assert got.headers["Idempotency-Key"] == d["idempotency_key"]
    note = await outbox.get_notification(dctx.pool, nid)
    assert (note.template_id, note.template_version) == ("t1", 1)
    assert [a.outcome for a in note.deliveries[0].timeline] == ["delivered"]


# ------------------------------------------------------------------ retries


async def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    hook.script = [(500, {}), (503, {})]
    nid = await _send(dctx, hook.url)
    async with _notifier(dctx, clock) as n:
        await n.run_once()
        [d] = await _deliveries(dctx, nid)
        assert d["status"] == "retrying" and d["attempts"] == 1
        first_wait = (d["next_attempt_at"] - clock.now()).total_seconds()
        assert 0.5 <= first_wait <= 1.0  # base 1 s, jittered between half and all of it
        assert await n.run_once() == 0  # not due yet: nothing is sent early
        clock.advance(first_wait)
        await n.run_once()
        [d] = await _deliveries(dctx, nid)
        second_wait = (d["next_attempt_at"] - clock.now()).total_seconds()
        assert d["status"] == "retrying" and 1.0 <= second_wait <= 2.0  # doubled
        clock.advance(second_wait)
        await n.run_once()
    [d] = await _deliveries(dctx, nid)
    assert d["status"] == "delivered" and d["attempts"] == 3
    assert len(hook.requests) == 3
    timeline = await _attempts(dctx, d["id"])
    assert [a["outcome"] for a in timeline] == ["retrying", "retrying", "delivered"]
    assert "500" in timeline[0]["response"] and "503" in timeline[1]["response"]
    # every attempt carried the same idempotency key
    assert len({r.headers["Idempotency-Key"] for r in hook.requests}) == 1


async def test_retry_after_is_honoured(dctx: Context, hook: Receiver, clock: Clock) -> None:
    hook.script = [(429, {"Retry-After": "30"})]
    nid = await _send(dctx, hook.url)
    async with _notifier(dctx, clock) as n:
        await n.run_once()
        [d] = await _deliveries(dctx, nid)
        assert d["status"] == "retrying"
        assert (d["next_attempt_at"] - clock.now()).total_seconds() >= 30  # not the 1 s backoff
        clock.advance(29)
        assert await n.run_once() == 0
        clock.advance(1.5)
        assert await n.run_once() == 1
    [d] = await _deliveries(dctx, nid)
    assert d["status"] == "delivered"
    [first, _] = await _attempts(dctx, d["id"])
    assert first["retry_after"] == 30


async def test_a_permanent_error_is_not_retried_and_lands_on_the_alert_timeline(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    alert_id = await trigger(dctx, "perm")
    alert = await store.get_alert(dctx.pool, alert_id)
    hook.script = [(400, {})]
    nid = await _send(dctx, hook.url + "/x", render_context(alert), alert_id=alert_id)
    async with _notifier(dctx, clock) as n:
        await n.run_once()
        clock.advance(3600)
        assert await n.run_once() == 0
    [d] = await _deliveries(dctx, nid)
    assert d["status"] == "failed" and d["attempts"] == 1 and "400" in d["last_error"]
    assert len(hook.requests) == 1
    notes = [e.note for e in await store.timeline(dctx.pool, alert_id) if e.kind == "notification"]
    assert notes == [f"Webhook to {hook.url}/x: failed ({d['last_error']})"]


async def test_giving_up_after_max_attempts_says_so(db_url: str, webhook_env: None, hook: Receiver, clock: Clock) -> None:
    async with _context(db_url, max_attempts=2) as ctx:
        hook.default = (502, {})
        nid = await _send(ctx, hook.url)
        async with _notifier(ctx, clock) as n:
            await n.run_once()
            clock.advance(60)
            await n.run_once()
            clock.advance(60)
            assert await n.run_once() == 0
        [d] = await _deliveries(ctx, nid)
        assert d["status"] == "failed" and d["attempts"] == 2
        assert d["last_error"].startswith("gave up after 2 attempts")


async def test_a_channel_that_keeps_failing_is_paused(db_url: str, webhook_env: None, hook: Receiver, clock: Clock) -> None:
    async with _context(db_url, circuit_threshold=2, circuit_pause_s=30.0, retry_base_s=0.001) as ctx:
        hook.default = (500, {})
        for _ in range(2):
            await _send(ctx, hook.url)
        async with _notifier(ctx, clock) as n:
            await n.run_once()  # two failures: the circuit opens
            assert len(hook.requests) == 2
            later = await _send(ctx, hook.url)
            clock.advance(1)
            assert await n.run_once() == 0  # everything for that receiver waits out the pause
            [d] = await _deliveries(ctx, later)
            assert d["status"] == "queued" and d["attempts"] == 0
            assert (d["next_attempt_at"] - clock.now()).total_seconds() > 25
            hook.default = (200, {})
            clock.advance(30)
            assert await n.run_once() == 1  # the pause is over: one delivery probes the receiver
            assert await n.run_once() == 2  # its success closed the circuit: the rest go at once
        statuses = [d["status"] for d in await _deliveries(ctx)]
        assert statuses == ["delivered"] * 3


async def _circuit(ctx: Context, key: str) -> dict[str, Any]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM notification.circuits WHERE channel = %s", (key,))
        return await cur.fetchone()


async def test_a_burst_of_failures_pauses_for_the_first_pause_then_one_probe_goes_and_failing_doubles_it(
    db_url: str, webhook_env: None, hook: Receiver, clock: Clock,
) -> None:
    async with _context(db_url, circuit_threshold=5, circuit_pause_s=30.0, retry_base_s=0.001) as ctx:
        hook.default = (500, {})
        for _ in range(40):
            await _send(ctx, hook.url)
        async with _notifier(ctx, clock) as n:
            assert await n.run_once() == 40  # all out at once: 35 answers come after the circuit opened
            circuit = await _circuit(ctx, f"webhook:{hook.url}")
            assert (circuit["open_until"] - clock.now()).total_seconds() == 30  # not 600
            clock.advance(29.9)
            assert await n.run_once() == 0
            clock.advance(0.1)
            assert await n.run_once() == 1  # the probe; the other 39 wait for its answer
            assert len(hook.requests) == 41
            assert await n.run_once() == 0
            circuit = await _circuit(ctx, f"webhook:{hook.url}")  # it failed: twice as long
            assert (circuit["open_until"] - clock.now()).total_seconds() == 60
            clock.advance(59.9)
            assert await n.run_once() == 0
            hook.default = (200, {})
            clock.advance(0.1)
            assert await n.run_once() == 1  # the next probe
            assert await n.run_once() == 39  # it succeeded: everything waiting goes at once
        assert [d["status"] for d in await _deliveries(ctx)] == ["delivered"] * 40
        assert len(hook.requests) == 40 + 1 + 1 + 39


async def test_replicas_let_exactly_one_probe_through(db_url: str, webhook_env: None, hook: Receiver,
                                                      clock: Clock) -> None:
    async with _context(db_url, circuit_threshold=2, retry_base_s=0.001) as one, \
            _context(db_url, circuit_threshold=2, retry_base_s=0.001) as two:
        hook.default = (500, {})
        for _ in range(2):
            await _send(one, hook.url)
        async with _notifier(one, clock) as a:
            b = Notifier(two, clock=clock)
            await b.attach()
            try:
                await a.run_once()  # the circuit opens
                for _ in range(20):
                    await _send(one, hook.url)
                clock.advance(30)
                hook.default = (200, {})
                hook.hang = asyncio.Event()
                hook.hang.set()  # the probe stays out while both replicas claim
                started = await asyncio.gather(a.run_once(wait=False), b.run_once(wait=False))
                assert sum(started) == 1
                await hook.wait_for(3)
                assert [d["status"] for d in await _deliveries(one)].count("sending") == 1
                hook.hang.clear()
                hook.release.set()
                for _ in range(400):  # the probe's answer is recorded
                    if [d["status"] for d in await _deliveries(one)].count("delivered") == 1:
                        break
                    await asyncio.sleep(0.01)
                started = await asyncio.gather(a.run_once(), b.run_once())
                assert sum(started) == 21
            finally:
                await b.stop(2)
        assert [d["status"] for d in await _deliveries(one)] == ["delivered"] * 22
        assert len(hook.requests) == 2 + 1 + 21


class GatedPush:
    """A push channel: fails at once, except for destinations whose answer the test holds back."""

    name = "push"

    def __init__(self) -> None:
        self.rate_limits = {"destination": (100, 0.01)}
        self.sent: list[str] = []
        self.held: dict[str, asyncio.Future[DeliveryResult]] = {}
        self.answer = DeliveryResult(ok=False, response="503 from the push service")

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        self.sent.append(message.destination)
        if message.destination in self.held:
            return await self.held[message.destination]
        return self.answer


async def test_answers_to_sends_out_before_the_circuit_opened_do_not_open_it_again(
    db_url: str, webhook_env: None, clock: Clock,
) -> None:
    async with _context(db_url, circuit_threshold=2, retry_base_s=0.001) as ctx:
        push = GatedPush()
        ctx.registry.channels["push"] = push
        loop = asyncio.get_running_loop()
        push.held = {"slow1": loop.create_future(), "slow2": loop.create_future()}
        for dest in ("fast1", "fast2", "slow1", "slow2"):
            await outbox.create_notification(ctx.pool, template_id=None, context=dict(SAMPLE_CONTEXT),
                                             destinations=[Destination(channel="push", address=dest)])
        async with _notifier(ctx, clock) as n:
            assert await n.run_once(wait=False) == 4
            for _ in range(400):  # the two quick failures open the circuit
                if (c := await _circuit(ctx, "push")) and c["open_until"] is not None:
                    break
                await asyncio.sleep(0.01)
            push.answer = DeliveryResult(ok=True, response="ok")
            clock.advance(30)
            assert await n.run_once() == 1  # the probe: the channel works again
            for dest in ("slow1", "slow2"):  # two stragglers from before the pause fail now
                push.held[dest].set_result(DeliveryResult(ok=False, response="503 from the push service"))
            for _ in range(400):
                if [d["status"] for d in await _deliveries(ctx)].count("retrying") == 3:
                    break
                await asyncio.sleep(0.01)
            del push.held["slow1"], push.held["slow2"]
            clock.advance(1)
            assert await n.run_once() == 3  # the circuit stayed closed
        assert [d["status"] for d in await _deliveries(ctx)] == ["sent"] * 4


async def test_one_bad_receiver_does_not_pause_another(db_url: str, webhook_env: None, hook: Receiver,
                                                       clock: Clock) -> None:
    async with _context(db_url, circuit_threshold=2, retry_base_s=0.001) as ctx, receiver() as bad:
        bad.default = (500, {})
        for _ in range(3):
            await _send(ctx, bad.url)
        async with _notifier(ctx, clock) as n:
            await n.run_once()  # the bad receiver's circuit opens
            for i in range(5):
                await _send(ctx, f"{hook.url}/{i}")
                await _send(ctx, bad.url)
            clock.advance(1)
            assert await n.run_once() == 5  # the good receiver's pages all go; the bad one's wait
            assert len(hook.requests) == 5 and len(bad.requests) == 3


# ------------------------------------------------------------------ rate limits and bundling


async def test_rate_limited_messages_wait_and_none_is_dropped(
    db_url: str, webhook_env: None, hook: Receiver, clock: Clock,
) -> None:
    async with _context(db_url, rate_limits="webhook.destination=2/10") as ctx:
        for _ in range(5):
            await _send(ctx, hook.url)
        async with _notifier(ctx, clock) as n:
            assert await n.run_once() == 2  # the burst
            held = [d for d in await _deliveries(ctx) if d["status"] == "queued"]
            assert len(held) == 3 and all(d["next_attempt_at"] > clock.now() for d in held)
            for _ in range(10):
                clock.advance(10)
                await n.run_once()
        assert [d["status"] for d in await _deliveries(ctx)] == ["delivered"] * 5
        assert len(hook.requests) == 5


class RecordingPush:
    """A push channel whose plugin asks for one message a minute per destination."""

    name = "push"
    rate_limits = {"destination": (1, 60.0)}

    def __init__(self) -> None:
        self.sent: list[ChannelMessage] = []

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(ok=True, delivered=True, provider_id=f"P{len(self.sent)}")


async def test_the_operators_rate_limit_beats_the_plugins_own(db_url: str, webhook_env: None, clock: Clock) -> None:
    for setting, expected in (("", 1), ("push.destination=5/1", 3)):
        async with _context(db_url, rate_limits=setting) as ctx:
            push = RecordingPush()
            ctx.registry.channels["push"] = push
            for _ in range(3):
                await outbox.create_notification(ctx.pool, template_id=None, context=dict(SAMPLE_CONTEXT),
                                                 destinations=[Destination(channel="push", address=f"t{setting}")])
            async with _notifier(ctx, clock) as n:
                await n.run_once()
            assert len(push.sent) == expected, setting


class RecordingSms:
    """An in-process SMS channel standing in for a provider: what the worker hands a channel."""

    name = "sms"
    bundles = True

    def __init__(self) -> None:
        self.sent: list[ChannelMessage] = []

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(ok=True, provider_id=f"SM{len(self.sent)}")


async def test_alerts_pending_for_one_number_go_out_as_one_message(dctx: Context, clock: Clock) -> None:
    sms = RecordingSms()
    dctx.registry.channels["sms"] = sms
    ids = []
    for key in ("a", "b", "c"):
        alert_id = await trigger(dctx, key, labels={"service": "payments-db"})
        alert = await store.get_alert(dctx.pool, alert_id)
        ids.append(await outbox.create_notification(
            dctx.pool, template_id=None, context=render_context(alert), alert_id=alert_id,
            destinations=[Destination(channel="sms", address="+15555550100")],
        ))
    other = await outbox.create_notification(
        dctx.pool, template_id=None, context=render_context(alert), alert_id=alert_id,
        destinations=[Destination(channel="sms", address="+15555550199")],
    )
    async with _notifier(dctx, clock) as n:
        assert await n.run_once() == 2
    bundle = next(m for m in sms.sent if m.destination == "+15555550100")
    assert bundle.bundle_count == 3
    assert "3 alerts for payments-db" in bundle.payload["text"]
    rows = [d for d in await _deliveries(dctx) if d["destination"] == "+15555550100"]
    leader = rows[0]["id"]
    assert [d["status"] for d in rows] == ["sent"] * 3
    assert [d["bundled_into"] for d in rows] == [None, leader, leader]
    assert len({d["provider_id"] for d in rows}) == 1  # one message: every bundled row points at it
    single = next(m for m in sms.sent if m.destination == "+15555550199")
    assert single.bundle_count == 1 and single.reply_code == "1" and "Reply 1a" in single.payload["text"]
    assert len(ids) == 3 and other


# ------------------------------------------------------------------ the engine's requests


async def test_engine_requests_become_deliveries_once(dctx: Context, hook: Receiver, clock: Clock) -> None:
    alert_id = await trigger(dctx, "req")
    alert = await store.get_alert(dctx.pool, alert_id)
    async with dctx.pool.connection() as conn:
        await conn.execute(
            """INSERT INTO alerting.notification_requests (idempotency_key, alert_id, target_kind, target_id, context)
               VALUES ('r1', %s, 'channel', %s, %s), ('r2', %s, 'user', 'u42', %s)""",
            (alert_id, f"webhook:{hook.url}/chan", Jsonb(render_context(alert)), alert_id,
             Jsonb({**render_context(alert), "contact_methods": [{"id": "cm1", "kind": "webhook",
                                                                  "address": f"{hook.url}/u42"}]})),
        )
    async with _notifier(dctx, clock) as n:
        await n.run_once()
        await n.run_once()
    assert sorted(r.path for r in hook.requests) == ["/chan", "/u42"]
    async with dctx.pool.connection() as conn:
        cur = await conn.execute("SELECT status FROM alerting.notification_requests ORDER BY id")
        assert [r["status"] for r in await cur.fetchall()] == ["queued", "queued"]
    notes = sorted(e.note for e in await store.timeline(dctx.pool, alert_id) if e.kind == "notification")
    assert notes == sorted(["Webhook to user u42: delivered", f"Webhook to {hook.url}/chan: delivered"])


async def test_a_page_for_an_alert_acknowledged_before_it_went_is_cancelled(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    alert_id = await trigger(dctx, "acked")
    alert = await store.get_alert(dctx.pool, alert_id)
    async with dctx.pool.connection() as conn:
        await conn.execute(
            """INSERT INTO alerting.notification_requests (idempotency_key, alert_id, target_kind, target_id, user_id,
                                                           context)
               VALUES ('r1', %s, 'user', 'u1', 'u1', %s)""",
            (alert_id, Jsonb({**render_context(alert), "contact_methods": [{"kind": "webhook", "address": hook.url}]})),
        )
    await store.acknowledge(dctx.pool, alert_id, "u1")
    async with _notifier(dctx, clock) as n:
        await n.run_once()
    [d] = await _deliveries(dctx)
    assert d["status"] == "cancelled" and "acknowledged" in d["last_error"]
    assert hook.requests == []


async def test_a_user_without_contact_methods_is_accounted_for(dctx: Context, clock: Clock) -> None:
    alert_id = await trigger(dctx, "nocm")
    alert = await store.get_alert(dctx.pool, alert_id)
    async with dctx.pool.connection() as conn:
        await conn.execute(
            """INSERT INTO alerting.notification_requests (idempotency_key, alert_id, target_kind, target_id, user_id,
                                                           context)
               VALUES ('r1', %s, 'user', 'ghost', 'ghost', %s)""",
            (alert_id, Jsonb(render_context(alert))),
        )
    async with _notifier(dctx, clock) as n:
        await n.run_once()
    [d] = await _deliveries(dctx)
    assert d["status"] == "failed" and "no contact methods" in d["last_error"]


async def test_opted_out_destinations_get_nothing(dctx: Context, hook: Receiver, clock: Clock) -> None:
    from oncall.notification.actions import Host

    host = Host(dctx, lambda: "http://oncall.test")
    await host.set_opt_out("webhook", hook.url, True)
    nid = await _send(dctx, hook.url)
    async with _notifier(dctx, clock) as n:
        await n.run_once()
    [d] = await _deliveries(dctx, nid)
    assert d["status"] == "failed" and "opted out" in d["last_error"] and hook.requests == []


# ------------------------------------------------------------------ crashes and replicas


async def test_a_dead_workers_sending_rows_are_sent_again_but_a_live_ones_are_not(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    dead = await _send(dctx, hook.url + "/dead")
    alive = await _send(dctx, hook.url + "/alive")
    async with _notifier(dctx, clock) as a, _notifier(dctx, clock) as b:
        async with dctx.pool.connection() as conn:
            await conn.execute(
                "UPDATE notification.deliveries SET status = 'sending', claimed_by = 777, attempts = 1 WHERE notification_id = %s",
                (dead,),
            )
            await conn.execute(
                "UPDATE notification.deliveries SET status = 'sending', claimed_by = %s, attempts = 1 WHERE notification_id = %s",
                (b.worker_id, alive),
            )
        assert await a.recover() == 1
        await a.run_once()
    [d] = await _deliveries(dctx, dead)
    assert d["status"] == "delivered" and d["attempts"] == 2
    assert [x["outcome"] for x in await _attempts(dctx, d["id"])] == ["interrupted", "delivered"]
    [live] = await _deliveries(dctx, alive)
    assert live["status"] == "sending"  # its worker still holds its lock: left alone
    assert [r.path for r in hook.requests] == ["/dead"]


async def test_a_row_this_worker_lost_track_of_is_sent_again(dctx: Context, hook: Receiver, clock: Clock) -> None:
    # e.g. its result could not be recorded even after retrying: the row says 'sending' under
    # this (live) worker's id, but nothing in this worker is sending it any more
    nid = await _send(dctx, hook.url)
    async with _notifier(dctx, clock) as n:
        async with dctx.pool.connection() as conn:
            await conn.execute(
                "UPDATE notification.deliveries SET status = 'sending', claimed_by = %s, attempts = 1 WHERE notification_id = %s",
                (n.worker_id, nid),
            )
        assert await n.recover() == 1
        await n.run_once()
    [d] = await _deliveries(dctx, nid)
    assert d["status"] == "delivered" and d["attempts"] == 2 and len(hook.requests) == 1


async def test_two_replicas_deliver_everything_exactly_once(db_url: str, webhook_env: None, hook: Receiver) -> None:
    async with _context(db_url) as one, _context(db_url) as two:
        ids = [await _send(one, f"{hook.url}/{i}") for i in range(60)]
        a, b = Notifier(one), Notifier(two)
        await a.start()
        await b.start()
        try:
            await hook.wait_for(60)
            for _ in range(200):
                if all(d["status"] == "delivered" for d in await _deliveries(one)):
                    break
                await asyncio.sleep(0.05)
        finally:
            await a.stop(5)
            await b.stop(5)
        assert sorted(r.path for r in hook.requests) == sorted(f"/{i}" for i in range(60))
        assert len({r.headers["Idempotency-Key"] for r in hook.requests}) == 60
        rows = await _deliveries(one)
        assert len(rows) == len(ids) and all(d["status"] == "delivered" and d["attempts"] == 1 for d in rows)
        async with one.pool.connection() as conn:
            cur = await conn.execute("SELECT DISTINCT worker FROM notification.attempts")
            workers = {r["worker"] for r in await cur.fetchall()}
        assert workers <= {a.worker_id, b.worker_id}


async def _lock_holder(ctx: Context, worker_id: int) -> int | None:
    """The backend holding the delivery worker lock on ``worker_id``."""
    from oncall.notification.delivery.worker import LOCK_NAMESPACE

    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid AND objid = %s::oid
               AND objsubid = 2 AND granted""",
            (LOCK_NAMESPACE, worker_id),
        )
        row = await cur.fetchone()
    return row["pid"] if row else None


async def _until(check: Any, timeout: float = 30.0) -> None:
    """Wait until ``await check()`` is true; a bound on the wait, not a measurement."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


async def test_a_worker_whose_lock_connection_is_killed_stops_sending_and_takes_its_lock_again(
    db_url: str, webhook_env: None, hook: Receiver,
) -> None:
    import collections

    async with _context(db_url) as one, _context(db_url) as two:
        hook.hang = asyncio.Event()
        hook.hang.set()  # sends stay on the wire until the receiver is released
        for i in range(8):
            await _send(one, f"{hook.url}/first/{i}")
        a, b = Notifier(one), Notifier(two)
        await a.attach()
        await b.attach()
        try:
            assert await a.run_once(wait=False) == 8
            await hook.wait_for(8)
            on_the_wire = {r.headers["Idempotency-Key"] for r in hook.requests}
            lost_id, pid = a.worker_id, await _lock_holder(one, a.worker_id)
            async with one.pool.connection() as conn:  # no process dies: only the lock's session ends
                await conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            # B finds A's lock free and requeues what A has on the wire (A may have held its lost
            # id again first, to record those answers itself: then there is nothing to requeue)
            requeued = await b.recover()
            assert requeued in (0, 8)
            for i in range(30):
                await _send(one, f"{hook.url}/later/{i}")
            await a.run_once(wait=False)  # nothing is claimed under the lost lock
            assert await b.recover() == 0  # so there is nothing more to requeue
            await b.run_once(wait=False)
            hook.hang.clear()
            hook.release.set()

            async def all_delivered() -> bool:
                return [d["status"] for d in await _deliveries(one)] == ["delivered"] * 38

            await _until(all_delivered)

            async def relocked() -> bool:  # under a new id, without a pass of its own
                return a.worker_id != lost_id and await _lock_holder(one, a.worker_id) not in (None, pid)

            await _until(relocked, 10)
            for i in range(5):
                await _send(one, f"{hook.url}/after/{i}")
            assert await a.run_once() == 5  # and it delivers again
        finally:
            await a.stop(5)
            await b.stop(5)
        keys = collections.Counter(r.headers["Idempotency-Key"] for r in hook.requests)
        assert len(keys) == 43
        # at most the sends on the wire at the kill went once more each (if B requeued them)
        repeated = on_the_wire if requeued else set()
        assert {k for k, n in keys.items() if n > 1} == repeated and max(keys.values()) <= 2
        for d in await _deliveries(one):
            outcomes = [x["outcome"] for x in await _attempts(one, d["id"])]
            # A's late answers are not recorded over B's claim
            assert outcomes == (["interrupted", "delivered"] if d["idempotency_key"] in repeated else ["delivered"])


async def test_a_worker_that_holds_its_lost_id_again_in_time_records_its_sends_instead_of_repeating_them(
    db_url: str, webhook_env: None, hook: Receiver,
) -> None:
    async with _context(db_url) as one, _context(db_url) as two:
        hook.hang = asyncio.Event()
        hook.hang.set()
        for i in range(8):
            await _send(one, f"{hook.url}/{i}")
        a, b = Notifier(one), Notifier(two)
        await a.attach()
        await b.attach()
        try:
            assert await a.run_once(wait=False) == 8
            await hook.wait_for(8)
            lost_id, pid = a.worker_id, await _lock_holder(one, a.worker_id)
            async with one.pool.connection() as conn:
                await conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))

            async def holds_both() -> bool:  # its new id, and the lost one while its sends are out
                new = await _lock_holder(one, a.worker_id)
                return a.worker_id != lost_id and new is not None and await _lock_holder(one, lost_id) == new

            await _until(holds_both, 10)
            assert await b.recover() == 0  # to B, those sends are alive
            hook.hang.clear()
            hook.release.set()

            async def all_delivered() -> bool:
                return [d["status"] for d in await _deliveries(one)] == ["delivered"] * 8

            await _until(all_delivered)

            async def let_go() -> bool:
                return await _lock_holder(one, lost_id) is None

            await _until(let_go, 10)
        finally:
            await a.stop(5)
            await b.stop(5)
        assert len(hook.requests) == 8  # each once
        for d in await _deliveries(one):
            [attempt] = await _attempts(one, d["id"])
            assert (attempt["outcome"], attempt["worker"]) == ("delivered", lost_id)


async def test_a_worker_delivers_again_after_every_database_connection_is_dropped(
    db_url: str, webhook_env: None, hook: Receiver,
) -> None:
    import collections

    import psycopg

    async with _context(db_url) as ctx:
        n = Notifier(ctx)
        await n.start()
        try:
            await _send(ctx, f"{hook.url}/before")
            await hook.wait_for(1)
            lost_id = n.worker_id
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
                # what a PostgreSQL restart does to this database's sessions, without restarting it
                await admin.execute("""SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                                       WHERE datname = current_database() AND pid <> pg_backend_pid()""")

                async def relocked() -> bool:
                    if n.worker_id == lost_id:
                        return False
                    cur = await admin.execute(
                        """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s::oid
                           AND objsubid = 2 AND granted""", (n.worker_id,))
                    return (await cur.fetchone())[0] == 1

                await _until(relocked)
            for i in range(10):
                for attempt in range(10):  # the pool hands out each killed connection once
                    try:
                        await _send(ctx, f"{hook.url}/after/{i}")
                        break
                    except psycopg.OperationalError:
                        assert attempt < 9
            await hook.wait_for(11)
        finally:
            await n.stop(5)
        keys = collections.Counter(r.headers["Idempotency-Key"] for r in hook.requests)
        assert len(keys) == 11 and set(keys.values()) == {1}


async def test_backoff_bounds() -> None:
    import random

    from oncall.backoff import backoff_delay

    rng = random.Random(7)
    for attempt in range(1, 12):
        d = backoff_delay(attempt, 2.0, 300.0, None, rng)
        ceiling = min(300.0, 2.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= d <= ceiling
    assert backoff_delay(1, 2.0, 300.0, 120.0, rng) >= 120.0
    assert backoff_delay(1, 2.0, 300.0, 10**9, rng) == 3600.0


def test_settings_reject_a_malformed_rate_limit() -> None:
    from oncall.config import parse_rate_limits

    assert parse_rate_limits("sms.destination=1/60, webhook.channel=100/0.01") == {
        "sms": {"destination": (1.0, 60.0)}, "webhook": {"channel": (100.0, 0.01)},
    }
    for bad in ("sms=1", "sms.destination=0/60", "sms.destination=2/0", "sms.destination=2/nan", "sms.weekly=1/1"):
        with pytest.raises(SystemExit, match="ONCALL_NOTIFY_RATE_LIMITS"):
            Settings.from_env({"ONCALL_NOTIFY_RATE_LIMITS": bad})





async def test_pruning_keeps_what_is_still_needed(dctx: Context, hook: Receiver, clock: Clock) -> None:
    old_done = await _send(dctx, hook.url + "/old")
    old_waiting = await _send(dctx, hook.url + "/waiting")
    recent = await _send(dctx, hook.url + "/recent")
    async with dctx.pool.connection() as conn:
        await conn.execute("UPDATE notification.deliveries SET status = 'delivered' WHERE notification_id <> %s",
                           (old_waiting,))
        await conn.execute("UPDATE notification.deliveries SET next_attempt_at = now() + interval '1 day' "
                           "WHERE notification_id = %s", (old_waiting,))
        await conn.execute("UPDATE notification.notifications SET created_at = now() - interval '100 days' "
                           "WHERE id = ANY(%s)", ([old_done, old_waiting],))
        await conn.execute(
            """INSERT INTO notification.action_tokens (token_hash, alert_id, action, channel, expires_at)
               VALUES ('\\x01', 1, 'acknowledge', 'email', now() - interval '2 days'),
                      ('\\x02', 1, 'acknowledge', 'email', now() + interval '1 hour')""")
        await conn.execute(
            """INSERT INTO notification.rate_buckets (key, tokens, updated_at)
               VALUES ('sms:+1', 0, now() - interval '2 days'), ('sms:+2', 0, now())""")
        await conn.execute(
            """INSERT INTO notification.seen_requests (key_hash, expires_at)
               VALUES ('\x01', now() - interval '1 second'), ('\x02', now() + interval '5 minutes')""")
    async with _notifier(dctx, clock) as n:
        deleted = await n.prune()
    assert deleted == {"action_tokens": 1, "reply_codes": 0, "rate_buckets": 1, "seen_requests": 1, "notifications": 1}
    async with dctx.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM notification.notifications ORDER BY id")
        assert [r["id"] for r in await cur.fetchall()] == [old_waiting, recent]  # a waiting delivery is kept
        cur = await conn.execute("SELECT count(*) AS n FROM notification.deliveries WHERE notification_id = %s",
                                 (old_done,))
        assert (await cur.fetchone())["n"] == 0


async def test_delivery_outcomes_reach_alert_watchers_but_do_not_wake_the_engine(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    import psycopg

    from oncall.events import EventHub

    alert_id = await trigger(dctx, "watched")
    alert = await store.get_alert(dctx.pool, alert_id)
    hub = EventHub(dctx.listener, dctx.pool)
    await hub.start()
    sub = hub.subscribe()
    async with await psycopg.AsyncConnection.connect(dctx.database_url, autocommit=True) as listener:
        await listener.execute("LISTEN oncall_alert_events")
        await _send(dctx, hook.url, render_context(alert), alert_id=alert_id)
        async with _notifier(dctx, clock) as n:
            await n.run_once()
        payloads = [note.payload async for note in listener.notifies(timeout=1.0)]
    try:
        async def first_notification() -> Any:
            async for event, _ in sub:
                if event.kind == "notification":
                    return event

        event = await asyncio.wait_for(first_notification(), 10)
        assert event.note == f"Webhook to {hook.url}: delivered"
    finally:
        sub.close()
        await hub.stop()
    assert payloads and all(p.startswith(store.NOT_FOR_ENGINE) for p in payloads)  # the engine sleeps on


# ------------------------------------------------------------------ rendering holds no lock


class _HeldRendering:
    """Renders in this process, but each batch only once the test lets it go (or fails it)."""

    def __init__(self, renderers: Any, fail: bool = False) -> None:
        from oncall.notification.pipeline import InProcess

        self.inner = InProcess(renderers)
        self.fail = fail
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def send(self, jobs: Any) -> Any:
        self.started.set()
        await self.go.wait()
        if self.fail:
            raise RuntimeError("the render processes are gone")
        return await self.inner.send(jobs)


_IDLE_IN_TRANSACTION = """SELECT count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"""


async def test_templates_render_after_the_claim_committed_with_no_row_locked(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    import psycopg

    held = _HeldRendering(dctx.registry.renderers)
    dctx.render_pool = held  # type: ignore[assignment]
    nid = await _send(dctx, hook.url + "/in", alert_id=None)
    async with _notifier(dctx, clock) as n:
        run = asyncio.create_task(n.run_once())
        await asyncio.wait_for(held.started.wait(), 10)
        async with dctx.pool.connection() as conn:
            # mid-render: the claim is committed (the row is leased to this worker) and nothing holds
            # its row lock or a transaction open
            try:
                cur = await conn.execute(
                    "SELECT status, claimed_by FROM notification.deliveries WHERE notification_id = %s "
                    "FOR UPDATE NOWAIT", (nid,),
                )
            except psycopg.errors.LockNotAvailable:
                pytest.fail("the delivery's row is locked while its template renders")
            row = await cur.fetchone()
            assert row is not None and (row["status"], row["claimed_by"]) == ("sending", n.worker_id)
            cur = await conn.execute(_IDLE_IN_TRANSACTION)
            assert (await cur.fetchone())["n"] == 0
            await conn.rollback()
        held.go.set()
        assert await asyncio.wait_for(run, 10) == 1
    assert len(hook.requests) == 1
    [d] = await _deliveries(dctx, nid)
    assert (d["status"], d["attempts"]) == ("delivered", 1)
    assert d["payload"] is not None  # what was sent is kept with the answer


async def test_a_render_that_fails_outright_puts_the_claimed_rows_back_unsent(
    dctx: Context, hook: Receiver, clock: Clock,
) -> None:
    held = _HeldRendering(dctx.registry.renderers, fail=True)
    held.go.set()
    dctx.render_pool = held  # type: ignore[assignment]
    nid = await _send(dctx, hook.url + "/in")
    async with _notifier(dctx, clock) as n:
        assert await n.run_once() == 0
        [d] = await _deliveries(dctx, nid)
        assert (d["status"], d["attempts"], d["claimed_by"]) == ("queued", 0, None)
        assert hook.requests == []
        dctx.render_pool = None  # the render processes are back: it goes out
        assert await n.run_once() == 1
    [d] = await _deliveries(dctx, nid)
    assert (d["status"], d["attempts"]) == ("delivered", 1)
