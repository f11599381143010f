"""Lifecycle listeners hear every committed timeline event, in order, at least once, from durable cursors.

Listeners are registered into the dispatcher directly (the end-to-end test at the bottom
installs one as a plugin distribution of its own); events are committed through the real
ingestor and alert store; everything runs against the real PostgreSQL, and what a listener
heard is compared with the rows of ``alerting.alert_events`` and ``lifecycle.*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fixtures.alerts import trigger
from oncall.alerting import store
from oncall.config import Settings
from oncall.events import EventHub
from oncall.store.listen import Listener as LISTENConnection
from oncall.lifecycle import Dispatcher
from oncall_hookspecs import AlertLifecycleEvent

# bounds a wait for something that must happen; the fix takes milliseconds
DEADLINE_S = 15.0


async def until(what: Callable[[], Any], timeout: float = DEADLINE_S, message: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not what():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(message or "condition not met in time")
        await asyncio.sleep(0.02)


class Listener:
    """Records what it hears in ``heard``; ``behave`` (awaited first) may raise or hang."""

    def __init__(self, name: str, heard: list[AlertLifecycleEvent] | None = None,
                 behave: Callable[[AlertLifecycleEvent], Any] | None = None, **optional: Any) -> None:
        self.name = name
        self.heard: list[AlertLifecycleEvent] = [] if heard is None else heard
        self.calls: list[int] = []
        self._behave = behave
        for attr, value in optional.items():  # alert_kinds, start_from
            setattr(self, attr, value)

    async def on_alert_event(self, event: AlertLifecycleEvent) -> None:
        self.calls.append(event.id)
        if self._behave is not None:
            await self._behave(event)
        self.heard.append(event)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.heard]

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.heard]


def lifecycle_settings(db_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": db_url, "lifecycle_poll_s": 30.0, "lifecycle_timeout_s": 2.0,
        "lifecycle_retry_base_s": 0.05, "lifecycle_retry_max_s": 0.2,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
async def hub(db_url: str, pool: Any) -> AsyncIterator[EventHub]:
    listener = LISTENConnection(db_url)
    events = EventHub(listener, pool)
    await events.start()
    yield events
    await events.stop()
    await listener.close()


@pytest.fixture
async def dispatch(db_url: str, hub: EventHub) -> AsyncIterator[Callable[..., Any]]:
    """Start a dispatcher for some listeners (settings overridable); all are stopped afterwards."""
    started: list[Dispatcher] = []

    async def start(*listeners: Listener, **settings: Any) -> Dispatcher:
        d = Dispatcher(db_url, {li.name: li for li in listeners}, lifecycle_settings(db_url, **settings), hub)
        await d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        await d.stop(0.1)


def events_of(db_url: str, kinds: tuple[str, ...] | None = None) -> list[tuple[int, str]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT id, kind FROM alerting.alert_events ORDER BY id").fetchall()
    return [(i, k) for i, k in rows if kinds is None or k in kinds]


def cursors_past(db_url: str, listeners: list[str], event_id: int) -> bool:
    """Whether every one of ``listeners`` has committed its cursor at or past ``event_id``."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT last_id FROM lifecycle.cursors WHERE listener = ANY(%s)", (listeners,)).fetchall()
    return len(rows) >= len(listeners) and all(last_id >= event_id for (last_id,) in rows)


def cursor_row(db_url: str, listener: str) -> dict[str, Any]:
    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute(
            "SELECT * FROM lifecycle.cursors WHERE listener = %s AND stream = 'alert_events'", (listener,)
        ).fetchone()
    assert row is not None, f"{listener} has no cursor"
    return row


# --------------------------------------------------------------------------- what a listener hears


async def test_a_listener_hears_created_acknowledged_note_resolved_in_order_exactly_the_events_committed(
    ctx, dispatch, db_url,
):
    audit = Listener("audit")
    await dispatch(audit)  # polls every 30 s: only LISTEN/NOTIFY can wake it in time

    alert_id = await trigger(ctx, "disk")
    await trigger(ctx, "disk")  # a duplicate: on the timeline, not a kind listeners hear by default
    await store.acknowledge(ctx.pool, alert_id, "ada", "looking")
    await store.add_note(ctx.pool, alert_id, "ada", "cleaned /var")
    await store.resolve(ctx.pool, alert_id, "bob")
    with pytest.raises(Exception, match="cannot be acknowledged"):
        await store.acknowledge(ctx.pool, alert_id, "ada")  # refused: nothing committed, nothing heard

    await until(lambda: len(audit.heard) >= 4)
    integration = (await store.manual_integration(ctx.pool)).id
    assert [(e.kind, e.alert.id, e.actor, e.note) for e in audit.heard] == [
        ("created", alert_id, f"integration:{integration}", None),
        ("acknowledged", alert_id, "ada", "looking"),
        ("note", alert_id, "ada", "cleaned /var"),
        ("resolved", alert_id, "bob", None),
    ]
    committed = events_of(db_url, ("created", "acknowledged", "note", "resolved"))
    assert audit.ids == [i for i, _ in committed]
    assert all(e.alert.summary == "alert disk" and e.alert.dedup_key == "disk" for e in audit.heard)
    # the cursor is durable, at the last event (the duplicate before it was passed over)
    await until(lambda: cursor_row(db_url, "audit")["last_id"] == events_of(db_url)[-1][0])
    await asyncio.sleep(0.2)
    assert len(audit.heard) == 4  # and nothing is heard twice


async def test_a_listener_names_the_kinds_it_hears(ctx, dispatch, db_url):
    everything = Listener("everything", alert_kinds=None)
    notes = Listener("notes", alert_kinds=["note"])
    await dispatch(everything, notes)
    alert_id = await trigger(ctx, "k")
    await trigger(ctx, "k")
    await store.add_note(ctx.pool, alert_id, "ada", "hello")

    await until(lambda: len(everything.heard) == 3 and len(notes.heard) == 1)
    assert everything.kinds == ["created", "duplicate", "note"]
    assert [(e.kind, e.note) for e in notes.heard] == [("note", "hello")]


async def test_a_new_listener_starts_from_now_unless_it_asks_for_the_beginning(ctx, dispatch):
    before = await trigger(ctx, "before")  # committed before either listener existed
    fresh, replay = Listener("fresh"), Listener("replay", start_from="beginning")
    await dispatch(fresh, replay)
    after = await trigger(ctx, "after")

    await until(lambda: len(fresh.heard) == 1 and len(replay.heard) == 2)
    assert [e.alert.id for e in fresh.heard] == [after]
    assert [e.alert.id for e in replay.heard] == [before, after]


# --------------------------------------------------------------------------- restarts and replicas


async def test_a_restart_mid_stream_loses_none_and_repeats_at_most_the_event_in_flight(ctx, dispatch, db_url):
    gate = asyncio.Event()
    heard: list[AlertLifecycleEvent] = []

    async def held_at_the_second(event: AlertLifecycleEvent) -> None:
        if len(heard) == 1:
            await gate.wait()

    first = Listener("ticket-sync", heard, held_at_the_second)
    d = await dispatch(first)
    a = await trigger(ctx, "a")
    b = await trigger(ctx, "b")
    await until(lambda: len(first.calls) == 2)  # the second is in flight, held
    await d.stop(0.1)  # a restart: the call in flight is cut off

    c = await trigger(ctx, "c")  # committed while nothing runs
    gate.set()
    second = Listener("ticket-sync", heard)  # the same listener, in the next process
    await dispatch(second)
    await until(lambda: len(heard) >= 3)
    await asyncio.sleep(0.2)
    # a was heard once, b (in flight at the stop) is heard again from the start, c is not lost
    assert [e.alert.id for e in heard] == [a, b, c]
    assert first.calls[1] == second.calls[0] == heard[1].id
    assert cursor_row(db_url, "ticket-sync")["last_id"] == heard[-1].id


async def test_two_dispatchers_on_one_database_deliver_each_event_once_per_listener(ctx, dispatch, db_url):
    heard: dict[str, list[AlertLifecycleEvent]] = {"webhooks": [], "audit": []}

    def replica() -> list[Listener]:
        return [Listener(name, heard[name]) for name in heard]

    fast = {"lifecycle_poll_s": 0.2}
    one, two = await dispatch(*replica(), **fast), await dispatch(*replica(), **fast)
    ids = [await trigger(ctx, f"k{i}") for i in range(20)]
    await until(lambda: all(len(h) >= 20 for h in heard.values()))
    # a kill between a delivery and its cursor's commit hears that event again (at least once,
    # as promised); killed once every cursor has passed what was heard, each is heard once
    last = max(e.id for h in heard.values() for e in h)
    await until(lambda: cursors_past(db_url, list(heard), last))

    # the replica driving the listeners dies without a word: the other takes over
    with psycopg.connect(db_url, autocommit=True) as conn:
        owners = conn.execute(
            """SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
        ).fetchall()
        assert len(owners) == 1  # one connection drives both listeners
        conn.execute("SELECT pg_terminate_backend(%s)", owners[0])
    ids += [await trigger(ctx, f"after-{i}") for i in range(10)]
    await until(lambda: all(len(h) >= 30 for h in heard.values()))
    await one.stop(0.1)  # and one replica stops cleanly: the other goes on
    ids += [await trigger(ctx, f"late-{i}") for i in range(5)]
    await until(lambda: all(len(h) >= 35 for h in heard.values()))
    await asyncio.sleep(0.5)

    created = [i for i, _ in events_of(db_url, ("created",))]
    for name, events in heard.items():
        assert [e.id for e in events] == created, name  # each once, in order
        assert [e.alert.id for e in events] == ids, name
    assert two is not None


# --------------------------------------------------------------------------- failing listeners


async def test_a_failing_listener_is_retried_with_backoff_and_a_second_listener_is_not_delayed(
    ctx, dispatch, db_url, caplog,
):
    failures = 3
    release = asyncio.Event()

    async def flaky(event: AlertLifecycleEvent) -> None:
        if len(broken.calls) <= failures:
            raise RuntimeError("ticket system down")
        await release.wait()

    broken, healthy = Listener("broken", behave=flaky), Listener("healthy")
    caplog.set_level(logging.WARNING, logger="oncall.lifecycle")
    # a backoff long enough to look at the failure while it is in it
    await dispatch(broken, healthy, lifecycle_retry_base_s=0.1, lifecycle_retry_max_s=0.4)
    ids = [await trigger(ctx, f"k{i}") for i in range(5)]

    await until(lambda: len(healthy.heard) == 5)  # every event, while the broken one is stuck on the first
    assert broken.heard == [] and len(broken.calls) <= failures
    await until(lambda: cursor_row(db_url, "broken")["attempts"] >= 2)
    row = cursor_row(db_url, "broken")
    assert row["failing_id"] == healthy.heard[0].id and row["last_error"] == "RuntimeError: ticket system down"
    assert row["failing_since"] is not None
    assert row["last_id"] < healthy.heard[0].id  # the cursor did not move past the failing event

    release.set()
    await until(lambda: len(broken.heard) == 5)
    assert [e.alert.id for e in broken.heard] == ids  # in order, after the retries
    assert broken.calls[: failures + 1] == [broken.heard[0].id] * (failures + 1)
    row = cursor_row(db_url, "broken")
    assert (row["failing_id"], row["attempts"], row["last_error"]) == (None, 0, None)
    retries = [r.getMessage() for r in caplog.records if "failed on alert_events event" in r.getMessage()]
    assert len(retries) == failures
    assert f"lifecycle listener 'broken' failed on alert_events event {broken.heard[0].id} (attempt 1)" in retries[0]
    delays = [float(m.split("retrying in ")[1].split("s:")[0]) for m in retries]
    assert delays[0] < delays[-1]  # the backoff grows


async def test_a_hanging_listener_times_out_and_is_retried_without_delaying_another(ctx, dispatch):
    test_over = asyncio.Event()

    async def hangs_once_ignoring_cancellation(event: AlertLifecycleEvent) -> None:
        if len(stuck.calls) == 1:
            while not test_over.is_set():  # a badly written call that shrugs off being cancelled
                with contextlib.suppress(asyncio.CancelledError):
                    await test_over.wait()

    stuck, other = Listener("stuck", behave=hangs_once_ignoring_cancellation), Listener("other")
    await dispatch(stuck, other, lifecycle_timeout_s=0.3)
    first = await trigger(ctx, "first")
    await until(lambda: len(other.heard) == 1)
    assert stuck.heard == []
    second = await trigger(ctx, "second")
    await until(lambda: len(other.heard) == 2)

    # timed out, tried again, and the events after it follow in order
    await until(lambda: len(stuck.heard) == 2)
    assert [e.alert.id for e in stuck.heard] == [first, second]
    assert stuck.calls[:2] == [stuck.heard[0].id, stuck.heard[0].id]
    test_over.set()


async def test_an_event_that_fails_every_attempt_is_skipped_logged_and_kept_and_the_next_is_heard(
    ctx, dispatch, db_url, caplog,
):
    async def poisoned(event: AlertLifecycleEvent) -> None:
        if event.alert.dedup_key == "poison":
            raise ValueError("cannot map this alert")

    picky = Listener("picky", behave=poisoned)
    caplog.set_level(logging.ERROR, logger="oncall.lifecycle")
    await dispatch(picky, lifecycle_max_attempts=3)
    await trigger(ctx, "poison")
    fine = await trigger(ctx, "fine")

    await until(lambda: len(picky.heard) == 1)
    assert [e.alert.id for e in picky.heard] == [fine]
    [poison_event] = [i for i, _ in events_of(db_url, ("created",))][:1]
    assert picky.calls == [poison_event] * 3 + [picky.heard[0].id]
    with psycopg.connect(db_url) as conn:
        skipped = conn.execute("SELECT listener, stream, event_id, attempts, last_error FROM lifecycle.skipped").fetchall()
    assert skipped == [("picky", "alert_events", poison_event, 3, "ValueError: cannot map this alert")]
    [logged] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged == (f"lifecycle listener 'picky': alert_events event {poison_event} skipped after 3 attempts; "
                      "last error: ValueError: cannot map this alert")


# --------------------------------------------------------------------------- ids committed out of order


async def test_an_event_still_being_committed_is_waited_for_and_a_rolled_back_one_is_passed_over(
    ctx, dispatch, db_url,
):
    log_ = Listener("log")
    await dispatch(log_)
    alert_id = await trigger(ctx, "k")
    await until(lambda: len(log_.heard) == 1)

    slow = await psycopg.AsyncConnection.connect(db_url)
    try:
        # takes the next event id, and commits only after a later event did
        await slow.execute(
            "INSERT INTO alerting.alert_events (alert_id, kind, actor, note) VALUES (%s, 'note', 'slow', 'first')",
            (alert_id,),
        )
        await store.add_note(ctx.pool, alert_id, "fast", "second")
        await asyncio.sleep(0.3)
        assert log_.kinds == ["created"]  # the later event waits for the one still open
        await slow.execute("SELECT pg_notify(%s, '')", (store.EVENTS_CHANNEL,))
        await slow.commit()
        await until(lambda: len(log_.heard) == 3)
        assert [(e.actor, e.note) for e in log_.heard[1:]] == [("slow", "first"), ("fast", "second")]

        # an id whose transaction rolls back never appears: the listener goes on past it
        await slow.execute(
            "INSERT INTO alerting.alert_events (alert_id, kind, actor, note) VALUES (%s, 'note', 'slow', 'never')",
            (alert_id,),
        )
        await slow.rollback()
        await store.add_note(ctx.pool, alert_id, "fast", "third")
        await until(lambda: len(log_.heard) == 4)
        assert [(e.actor, e.note) for e in log_.heard][3:] == [("fast", "third")]
    finally:
        await slow.close()


# --------------------------------------------------------------------------- in the server


PROBE = '''
"""Two lifecycle listeners from outside the project: one records, one hangs on its first event."""

import asyncio

from oncall_hookspecs import hookimpl

heard = []
hung = []


class Recorder:
    name = "probe-recorder"

    async def on_alert_event(self, event):
        heard.append(event)


class Hangs:
    name = "probe-hangs"

    async def on_alert_event(self, event):
        hung.append(event)
        await asyncio.Event().wait()


@hookimpl
def register_lifecycle_listeners(register):
    register(Recorder())
    register(Hangs())
'''


def install_probe(root: Path) -> None:
    """The probe plugin as pip would leave it: its package and its dist-info."""
    (root / "oncall_lifecycle_probe").mkdir()
    (root / "oncall_lifecycle_probe" / "__init__.py").write_text(textwrap.dedent(PROBE))
    info = root / "oncall_lifecycle_probe-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: oncall-lifecycle-probe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oncall]\nlifecycle-probe = oncall_lifecycle_probe\n")


@pytest.mark.slow
async def test_a_listener_plugin_hears_a_webhook_alert_and_a_hanging_one_does_not_delay_the_first_page(
    db_url, tmp_path, monkeypatch,
):
    from fixtures.paging import page, paging_server, wait_for_delivery
    from oncall_testkit.receiver import receiver

    plugin_dir = tmp_path / "site"
    plugin_dir.mkdir()
    install_probe(plugin_dir)
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    import oncall_lifecycle_probe as probe

    async with receiver() as rec, paging_server(db_url, tmp_path, monkeypatch, ("webhook", f"{rec.url}/page")) as server:
        assert {"probe-recorder", "probe-hangs"} <= set(server.ctx.registry.lifecycle_listeners)
        alert_id = await page(server)
        await wait_for_delivery(server, alert_id)  # alice is paged while the hanging listener hangs
        await rec.wait_for(1)
        await until(lambda: [e.kind for e in probe.heard][:1] == ["created"])
        assert [e.alert.id for e in probe.hung] == [alert_id] and probe.hung[0].kind == "created"
        assert probe.heard[0].alert.summary == "Disk full on db-1"
