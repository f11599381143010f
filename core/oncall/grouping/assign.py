"""Which incident a new alert goes to: the grouping rules in memory, evaluated at ingest.

A grouping rule takes an alert when the router's ``group`` (the routing plugin family's CEL
engine) says so, and gives its key. The ingest statement then joins the open, joinable
incident of (rule, scope, key) or opens one, in the same transaction that stores the alert
(see ``alerting/ingest.py``). Evaluating here, before the batch, keeps the statement
set-based.

The rules live in ``alerting.grouping_rules``; ``routing_config.grouping_version`` moves on
every change, with a NOTIFY on ``oncall_grouping``. Each process keeps the current rules in
a ``GroupingCache``: reloaded when notified, when its LISTEN connection comes back (it may
have missed one), after a change made by this process, and every ``refresh_s`` regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from oncall_hookspecs import AlertEvent, AlertView, Grouper, GroupingMatch, GroupingRule, Router

from ..alerting.models import Integration, bounded_key
from ..store.database import Conn, Pool
from ..store.listen import Listener, Registration

log = logging.getLogger(__name__)

CHANGES_CHANNEL = "oncall_grouping"
RESOLVE_ON = ("all", "first", "manual")
#: assignments kept for reuse (they are small; the memo starts afresh when full)
MAX_ASSIGNMENTS = 10_000
#: how often one grouping failure is warned of, and how many distinct ones are remembered
COMPLAIN_EVERY_S = 60.0
MAX_COMPLAINTS = 1000


@dataclass(frozen=True, slots=True)
class Assignment:
    """A grouping rule's verdict on one new alert, carried into the ingest statement."""

    rule_id: str
    scope: str  # 'all', or 'integration:<id>' for a rule bound to one integration
    key: str
    window_seconds: int | None
    idle_seconds: int | None
    resolve_on: str
    repage_on_new_alert: bool


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A grouping rule as stored: what the router evaluates plus what the incident keeps."""

    id: str
    name: str
    condition: str
    key: str
    integration_id: int | None
    window_seconds: int | None
    idle_seconds: int | None
    resolve_on: str
    title_template: str
    repage_on_new_alert: bool
    position: int
    version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: the team it belongs to (who may edit it); None: no team
    team_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredRule:
        return cls(**{k: row[k] for k in cls.__slots__ if k in row})

    def contract(self) -> GroupingRule:
        return GroupingRule(id=self.id, name=self.name, condition=self.condition, key=self.key,
                            position=self.position, version=self.version)

    @property
    def scope(self) -> str:
        return "all" if self.integration_id is None else f"integration:{self.integration_id}"

    def assignment(self, key: str) -> Assignment:
        return Assignment(self.id, self.scope, stored_key(key), self.window_seconds, self.idle_seconds,
                          self.resolve_on, self.repage_on_new_alert)


def stored_key(key: str) -> str:
    """``key`` as the incident stores it: itself, or its digest when it is very long."""
    return bounded_key(key)


def grouper_of(router: Router | None) -> Grouper | None:
    """The router's grouping capability, when it has one."""
    return router if isinstance(router, Grouper) else None


def event_view(
    ev: AlertEvent, severity: str, integration: Integration, now: datetime, labels: dict[str, str] | None = None
) -> AlertView:
    """What a grouping rule sees of a new alert: the event as it will be stored. ``labels``:
    the event's labels as text, when the caller has made them already (ingest has)."""
    if labels is None:
        labels = {str(k): v if isinstance(v, str) else str(v) for k, v in (ev.labels or {}).items()}
    return AlertView(
        id=0, integration_id=integration.id, integration_name=integration.name, source=integration.source,
        dedup_key=ev.dedup_key, status="triggered", summary=ev.summary if isinstance(ev.summary, str) else "",
        details=ev.details if isinstance(ev.details, str) else "", severity=severity, labels=labels,
        annotations=dict(ev.annotations or {}), created_at=now, last_received_at=now,
    )


async def load_rules(conn: Conn) -> tuple[int, list[StoredRule]]:
    """The grouping version and the rules, in order."""
    cur = await conn.execute("SELECT grouping_version FROM alerting.routing_config")
    row = await cur.fetchone()
    version = int(row["grouping_version"]) if row else 0
    cur = await conn.execute("SELECT * FROM alerting.grouping_rules ORDER BY position, created_at")
    return version, [StoredRule.from_row(r) for r in await cur.fetchall()]


async def announce_change(conn: Conn) -> None:
    """Call in the transaction that changes grouping rules: every replica reloads on commit."""
    await conn.execute(
        """INSERT INTO alerting.routing_config AS c (grouping_version) VALUES (1)
           ON CONFLICT (singleton) DO UPDATE SET grouping_version = c.grouping_version + 1"""
    )
    await conn.execute("SELECT pg_notify(%s, '')", (CHANGES_CHANNEL,))


class GroupingCache:
    """The current grouping rules of this process, and ``assign``, which the ingestor calls."""

    def __init__(self, pool: Pool, router: Router | None, refresh_s: float = 30.0) -> None:
        self._pool = pool
        self.grouper = grouper_of(router)
        self.refresh_s = refresh_s
        self.version = -1
        self.rules: list[StoredRule] = []
        self._by_id: dict[str, StoredRule] = {}
        # per integration id: the contract rules that apply to it (rules for all, and its own),
        # the same list object until the rules change, so the router's memo holds
        self._applicable: dict[int, list[GroupingRule]] = {}
        # (rule id, key) → its Assignment: a storm's alerts share a few keys
        self._assignments: dict[tuple[str, str], Assignment] = {}
        self._task: asyncio.Task[None] | None = None
        self._reg: Registration | None = None
        self._wake = asyncio.Event()
        # error text → (monotonic time of its last warning, how many since then went unsaid)
        self._complaints: dict[str, tuple[float, int]] = {}

    @property
    def active(self) -> bool:
        return bool(self.rules) and self.grouper is not None

    def rule(self, rule_id: str) -> StoredRule | None:
        return self._by_id.get(rule_id)

    def install(self, version: int, rules: Sequence[StoredRule]) -> None:
        self.version = version
        self.rules = list(rules)
        self._by_id = {r.id: r for r in self.rules}
        self._applicable = {}
        self._assignments = {}

    async def refresh(self) -> None:
        """Reload the rules if their version moved."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT grouping_version FROM alerting.routing_config")
            row = await cur.fetchone()
            if row is not None and int(row["grouping_version"]) == self.version:
                return
            version, rules = await load_rules(conn)
        self.install(version, rules)

    def applicable(self, integration_id: int) -> list[GroupingRule]:
        found = self._applicable.get(integration_id)
        if found is None:
            found = [r.contract() for r in self.rules if r.integration_id in (None, integration_id)]
            self._applicable[integration_id] = found
        return found

    def match(self, view: AlertView) -> GroupingMatch:
        """The router's verdict for ``view`` over the rules that apply to its integration."""
        if self.grouper is None:
            return GroupingMatch(errors=["the router cannot evaluate grouping rules"])
        return self.grouper.group(view, self.applicable(view.integration_id))

    def assign(
        self, ev: AlertEvent, severity: str, integration: Integration, now: datetime | None = None,
        labels: dict[str, str] | None = None,
    ) -> Assignment | None:
        """The incident assignment of a new alert received at ``now`` (the ingestor's clock),
        or None: it opens its own incident. ``labels``: as for ``event_view``."""
        rules = self.applicable(integration.id)
        if not rules or self.grouper is None:
            return None
        found = self.grouper.group(event_view(ev, severity, integration, now or datetime.now(UTC), labels), rules)
        if found.errors:
            self._complain(found.errors)
        if found.rule_id is None or not found.key:
            return None
        memo = (found.rule_id, found.key)
        assignment = self._assignments.get(memo)
        if assignment is None:
            rule = self._by_id.get(found.rule_id)
            if rule is None:
                return None
            if len(self._assignments) >= MAX_ASSIGNMENTS:
                self._assignments.clear()
            assignment = self._assignments[memo] = rule.assignment(found.key)
        return assignment

    def _complain(self, errors: Sequence[str]) -> None:
        """Warn of a rule that fails on alerts (its key can't be computed): once a minute per
        error, with how many alerts it failed on since, so a storm can't flood the log and
        an operator still learns that a rule groups nothing."""
        now = time.monotonic()
        for error in errors:
            last, unsaid = self._complaints.get(error, (-COMPLAIN_EVERY_S, 0))
            if now - last < COMPLAIN_EVERY_S:
                self._complaints[error] = (last, unsaid + 1)
                continue
            if len(self._complaints) >= MAX_COMPLAINTS:
                self._complaints.clear()
            self._complaints[error] = (now, 0)
            more = f" (and on {unsaid} more alert{'s' if unsaid != 1 else ''} in the last minute)" if unsaid else ""
            log.warning("grouping: %s; the alert opens an incident of its own%s", error, more)

    # ------------------------------------------------------------------ staying current

    async def start(self, listener: Listener) -> None:
        """Load the rules, then keep them current (notified changes, reconnects, every ``refresh_s``)."""
        await self.refresh()
        self._reg = listener.register([CHANGES_CHANNEL], lambda _note: self._wake.set(), self._wake.set,
                                      name="the grouping rules")
        self._task = asyncio.create_task(self._keep_current(), name="oncall-grouping-rules")

    async def stop(self) -> None:
        if self._reg is not None:
            self._reg.close()
            self._reg = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep_current(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_s)
            self._wake.clear()
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep the rules we have; try again later
                log.warning("grouping rules not reloaded (%s); keeping version %d", exc, self.version)
