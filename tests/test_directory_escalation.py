"""Pages carry a snapshot of each user's contact methods, and the directory going down
mid-escalation never stops a step from being recorded."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from oncall_hookspecs import AlertEvent, ContactMethod, RuleActions

from oncall.alerting import store
from oncall.clock import Clock
from oncall.context import Context
from oncall.directory.client import CachedDirectory
from oncall.directory.grpc_client import GrpcDirectory
from oncall.escalation.engine import Engine
from oncall.escalation.policies import PolicyInput, Step, Target, create_policy
from oncall.escalation.state import list_requests
from oncall.routing import rules
from oncall_local_directory.server import start_server
from oncall_local_directory.users_file import UsersFile

USERS_YAML = """\
users:
  - id: alice
    name: Alice
    contact_methods:
      - {id: sms-1, type: sms, address: "+15555550100", priority: 1}
      - {id: slack-1, type: slack, address: U0ALICE, priority: 2}
  - id: bob
    name: Bob
    contact_methods:
      - {id: voice-1, type: voice, address: "+15555550111"}
"""

ALICE = [{"id": "sms-1", "kind": "sms", "address": "+15555550100"},
         {"id": "slack-1", "kind": "slack", "address": "U0ALICE"}]
BOB = [{"id": "voice-1", "kind": "voice", "address": "+15555550111"}]


@pytest.fixture
async def directory_server(tmp_path: Path) -> AsyncIterator[tuple[grpc.aio.Server, str]]:
    path = tmp_path / "users.yaml"
    path.write_text(USERS_YAML)
    server, port = await start_server(UsersFile(path), "127.0.0.1:0", token="engine-test")
    yield server, f"127.0.0.1:{port}"
    await server.stop(grace=None)


@pytest.fixture
async def ctx(ctx: Context, clock: Clock, directory_server: tuple[grpc.aio.Server, str]) -> AsyncIterator[Context]:
    """conftest's Context, with the directory server above and bob on call for schedule "primary"."""
    client = GrpcDirectory("kneutral", directory_server[1], token="engine-test")
    # the cache ages on the engine's clock, so moving it between steps expires the cache
    ctx.directory = CachedDirectory(client, ttl_s=60, clock=lambda: clock.now().timestamp())

    async def on_call(schedule_id: str, at: datetime) -> list[str]:
        return {"primary": ["bob"]}.get(schedule_id, [])

    ctx.schedule_resolver = on_call
    yield ctx
    await client.aclose()


async def start_alert(ctx: Context, steps: list[Step]) -> int:
    # the schedule the policy targets must exist; who is on call comes from the fixture's resolver
    async with ctx.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO alerting.schedules (id, name, time_zone) VALUES ('primary', 'primary', 'UTC')"
            " ON CONFLICT DO NOTHING"
        )
    policy = await create_policy(ctx.pool, PolicyInput(name="primary", steps=steps))
    await rules.set_default(ctx.pool, RuleActions(escalation_policy_id=policy.id))
    integration = await store.manual_integration(ctx.pool)
    [res] = await ctx.ingestor.submit(integration.id, ctx.ingestor.prepare(
        [AlertEvent(action="trigger", dedup_key="db-1", summary="db-1 down")]))
    return res.alert_id


async def test_user_and_schedule_pages_carry_the_users_contact_methods(ctx, clock):
    alert_id = await start_alert(ctx, [Step(0, (Target("user", "alice"), Target("schedule", "primary"),
                                                 Target("channel", "slack:#ops"), Target("user", "ghost")))])
    await Engine(ctx, clock=clock).run_once()
    by_target = {(r.target_kind, r.user_id): r.context for r in await list_requests(ctx.pool, alert_id)}
    assert by_target[("user", "alice")]["contact_methods"] == ALICE
    assert by_target[("user", "alice")]["contact_methods_stale"] is False
    assert by_target[("schedule", "bob")]["contact_methods"] == BOB
    assert "contact_methods" not in by_target[("channel", None)]  # a channel is not a person
    assert by_target[("user", "ghost")]["contact_methods"] == []
    assert by_target[("user", "ghost")]["contact_methods_note"] == "the directory lists no contact methods for ghost"
    [escalated] = [e for e in await store.timeline(ctx.pool, alert_id) if e.kind == "escalated"]
    assert escalated.note.endswith("; no contact methods known for ghost")


async def test_the_directory_going_down_mid_escalation_never_stops_a_page(ctx, clock, directory_server, caplog):
    engine = Engine(ctx, clock=clock)
    alert_id = await start_alert(ctx, [
        Step(0, (Target("user", "alice"), Target("schedule", "primary"))),
        Step(300, (Target("user", "bob"),)),
        Step(600, (Target("user", "alice"), Target("user", "carol"))),
    ])
    await engine.run_once()
    await directory_server[0].stop(grace=None)  # kneutral-api goes away between steps

    with caplog.at_level(logging.WARNING, logger="oncall.directory.client"):
        clock.advance(300)
        assert (await engine.run_once()).fired == 1
        clock.advance(600)
        assert (await engine.run_once()).fired == 1

    reqs = await list_requests(ctx.pool, alert_id)
    assert [(r.step, r.user_id) for r in reqs] == [(0, "alice"), (0, "bob"), (1, "bob"), (2, "alice"), (2, "carol")]
    ctxs = [r.context for r in reqs]
    assert [(c["contact_methods"], c["contact_methods_stale"]) for c in ctxs] == [
        (ALICE, False), (BOB, False),  # step 1: fresh
        (BOB, True),                   # step 2: the last known methods, marked stale
        (ALICE, True), ([], False),    # step 3: stale again; carol was never known
    ]
    assert ctxs[2]["contact_methods_age_s"] == 300 and ctxs[3]["contact_methods_age_s"] == 900
    assert ctxs[2]["contact_methods_note"].startswith("directory unreachable (")
    assert "nothing known about carol" in ctxs[4]["contact_methods_note"]

    notes = [e.note for e in await store.timeline(ctx.pool, alert_id) if e.kind == "escalated"]
    assert notes[1].endswith("; directory unreachable: last known contact methods for bob")
    assert "last known contact methods for alice; no contact methods known for carol" in notes[2]

    per_user = {u: sum(re.search(rf"\buser {u}\b", r.getMessage()) is not None for r in caplog.records)
                for u in ("alice", "bob", "carol")}
    assert per_user == {"alice": 1, "bob": 1, "carol": 1}


class HangingDirectory:
    """A directory that accepts the call and never answers."""

    name = "hanging"

    def __init__(self) -> None:
        self.forever = asyncio.Event()

    async def get_user(self, user_id):
        await self.forever.wait()

    async def get_users(self, user_ids):
        await self.forever.wait()

    async def get_contact_methods(self, user_id):
        await self.forever.wait()


async def test_a_directory_that_never_answers_delays_a_step_by_its_timeout_only(ctx, clock):
    ctx.directory = CachedDirectory(HangingDirectory(), timeout_s=0.05)
    alert_id = await start_alert(ctx, [Step(0, (Target("user", "alice"), Target("user", "bob")))])
    await Engine(ctx, clock=clock).run_once()
    reqs = await list_requests(ctx.pool, alert_id)
    assert [r.user_id for r in reqs] == ["alice", "bob"]
    assert all(r.context["contact_methods"] == [] for r in reqs)
    assert reqs[0].context["contact_methods_note"] == (
        "directory unreachable (no answer within 0.05 s) and nothing known about alice")


class IgnoresItsTimeout:
    """A directory wrapper that promises a timeout and never answers: the engine's backstop holds."""

    timeout_s = 0.05

    async def contact_methods(self, user_id):
        await asyncio.Event().wait()


async def test_the_engine_bounds_a_lookup_that_outlives_the_directorys_own_timeout(ctx, clock, caplog):
    ctx.directory = IgnoresItsTimeout()
    alert_id = await start_alert(ctx, [Step(0, (Target("user", "alice"),))])
    with caplog.at_level(logging.ERROR):
        await Engine(ctx, clock=clock).run_once()
    [req] = await list_requests(ctx.pool, alert_id)
    assert req.user_id == "alice" and req.context["contact_methods"] == []
    assert req.context["contact_methods_note"] == "directory lookup failed: no answer within 0.1 s"
    assert "directory lookup of user alice failed" in caplog.text


class SlowDirectory:
    """A directory that answers only when the test lets it go."""

    name = "slow"

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()
        self.calls: list[str] = []

    async def get_user(self, user_id):
        return None

    async def get_users(self, user_ids):
        return []

    async def get_contact_methods(self, user_id):
        self.calls.append(user_id)
        self.asked.set()
        await self.answer.wait()
        return [ContactMethod(id="sms-1", kind="sms", address="+15555550100")]


_OPEN_TRANSACTIONS = """SELECT count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND (state LIKE 'idle in transaction%%' OR xact_start IS NOT NULL)"""


@pytest.mark.parametrize("first_delay", [0, 300], ids=["first step at once (routing)", "a later step (fire_due)"])
async def test_a_slow_directory_holds_no_transaction_open(ctx, clock, first_delay):
    slow = SlowDirectory()
    ctx.directory = CachedDirectory(slow, timeout_s=30)
    engine = Engine(ctx, clock=clock)
    if first_delay:
        alert_id = await start_alert(ctx, [Step(first_delay, (Target("user", "alice"),))])
        await engine.run_once()  # routed; the step is due in 300 s
        assert await list_requests(ctx.pool, alert_id) == []
        clock.advance(first_delay)
    else:
        alert_id = await start_alert(ctx, [Step(0, (Target("user", "alice"),))])
    run = asyncio.create_task(engine.run_once())
    await asyncio.wait_for(slow.asked.wait(), 10)
    await asyncio.sleep(0.2)  # the directory is sleeping on it: nothing else is going on
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_OPEN_TRANSACTIONS)
        assert (await cur.fetchone())["n"] == 0, "a transaction is open while the directory is asked"
        await conn.rollback()
    slow.answer.set()
    await asyncio.wait_for(run, 10)
    [req] = await list_requests(ctx.pool, alert_id)
    assert req.user_id == "alice"
    assert req.context["contact_methods"] == [{"id": "sms-1", "kind": "sms", "address": "+15555550100"}]
    assert slow.calls == ["alice"]  # asked once, not once per round


class _NewerDirectory:
    """A directory that knows channels this server has not installed (a newer deployment's)."""

    name = "newer"

    async def get_user(self, user_id: str) -> None:
        return None

    async def get_users(self, user_ids: list[str]) -> list[Any]:
        return []

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]:
        if user_id == "carol":
            return [ContactMethod("fax-1", "fax", "+15555550122")]
        return [ContactMethod("fax-1", "fax", "+15555550100"), ContactMethod("sms-1", "SMS", "+15555550100")]


async def test_a_contact_method_whose_channel_is_not_installed_is_skipped_with_a_timeline_note(ctx, clock):
    ctx.directory = CachedDirectory(_NewerDirectory(), ttl_s=60, clock=lambda: clock.now().timestamp())
    alert_id = await start_alert(ctx, [Step(0, (Target("user", "alice"), Target("user", "carol")))])
    await Engine(ctx, clock=clock).run_once()
    by_user = {r.user_id: r.context for r in await list_requests(ctx.pool, alert_id)}
    # alice is paged on the channel that is installed (its name as the catalog spells it), fax is not queued
    assert by_user["alice"]["contact_methods"] == [{"id": "sms-1", "kind": "sms", "address": "+15555550100"}]
    assert by_user["carol"]["contact_methods"] == []
    assert by_user["carol"]["contact_methods_note"] == (
        "no installed channel reaches carol: skipped carol's contact method fax-1: no channel 'fax' is installed")
    [escalated] = [e for e in await store.timeline(ctx.pool, alert_id) if e.kind == "escalated"]
    assert escalated.note.endswith(
        "; no contact methods known for carol; skipped alice's contact method fax-1: no channel 'fax' is installed;"
        " carol's contact method fax-1: no channel 'fax' is installed")
