"""TestGrouping: replay stored alerts through one grouping rule, in memory, and say what it would have made.

The replay keeps the ingest statement's semantics (``_GROUPED`` in ``alerting/ingest.py``):
alerts are taken in the order they were created, each evaluated by the router's ``group``
as a new alert is; one with a key joins the open incident of that key if it is still
joinable (``joinable_until`` later than the alert: the window counted from the incident's
first alert, the idle limit from its last) and not resolved, else opens one. An incident is
resolved, and closed to new alerts, when its alerts' own resolution times say so by then:
``all`` when every one of them has resolved, ``first`` when the first of them resolves,
``manual`` never (no person acts in a replay).

It reads in a READ ONLY transaction, so it cannot write a row. What it replays is the
alerts as stored: labels and severity as routing left them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from oncall_hookspecs import AlertView, GroupingRule, Router

from ..alerting.models import Alert
from ..alerting.store import ALERT_COLUMNS, ALERT_FROM
from ..errors import FailedPrecondition, InvalidArgument
from ..escalation.engine import render_context
from ..store.database import Pool
from .assign import grouper_of, stored_key
from .store import RuleSpec
from .titles import render_title

#: the most alerts one replay takes
MAX_ALERTS = 10_000
#: the most errors one replay reports
MAX_ERRORS = 100
#: how long the replay may hold the event loop before letting others run
_SLICE_S = 0.01
_FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass(slots=True)
class ReplayedIncident:
    """An incident the rule would have made."""

    key: str
    alert_ids: list[int]
    first_alert_at: datetime
    last_alert_at: datetime
    title: str
    joinable_until: datetime | None
    resolved_at: datetime | None = None
    #: its alerts' resolution times (None: not resolved), to tell when they resolved it
    resolutions: list[datetime | None] = field(default_factory=list, repr=False)


@dataclass(slots=True)
class Replay:
    incidents: list[ReplayedIncident]
    not_taken: list[int]
    errors: list[str]
    alerts_replayed: int
    truncated: bool


def _view(alert: Alert) -> AlertView:
    """The alert as a grouping rule saw it when it was new."""
    return AlertView(
        id=alert.id, integration_id=alert.integration_id, integration_name=alert.integration_name,
        source=alert.source, dedup_key=alert.dedup_key, status="triggered", summary=alert.summary,
        details=alert.details, severity=alert.severity, labels=alert.labels, annotations=alert.annotations,
        created_at=alert.created_at, last_received_at=alert.created_at,
    )


def _resolved_by(incident: ReplayedIncident, resolve_on: str, at: datetime) -> datetime | None:
    """When the incident's alerts resolved it, if they had by ``at``."""
    if resolve_on == "all":
        if any(r is None for r in incident.resolutions):
            return None
        last = max(r for r in incident.resolutions if r is not None)
        return last if last <= at else None
    if resolve_on == "first":
        done = [r for r in incident.resolutions if r is not None and r <= at]
        return min(done) if done else None
    return None


class Replayer:
    """The replay's state: ``add`` each alert in created_at order, then ``finish``."""

    def __init__(self, router: Router | None, rule: GroupingRule, spec: RuleSpec) -> None:
        grouper = grouper_of(router)
        if grouper is None:
            raise FailedPrecondition("the installed router cannot evaluate grouping rules")
        self._grouper = grouper
        self._rules = [rule]
        self._spec = spec
        self._window = timedelta(seconds=spec.window_seconds) if spec.window_seconds else None
        self._idle = timedelta(seconds=spec.idle_seconds) if spec.idle_seconds else None
        self._open: dict[str, ReplayedIncident] = {}
        self.result = Replay([], [], [], 0, False)

    def add(self, alert: Alert) -> None:
        result = self.result
        result.alerts_replayed += 1
        found = self._grouper.group(_view(alert), self._rules)
        for error in found.errors:
            if len(result.errors) < MAX_ERRORS:
                result.errors.append(f"alert #{alert.id}: {error}")
        if found.rule_id is None or not found.key:
            result.not_taken.append(alert.id)
            return
        key = stored_key(found.key)
        at = alert.created_at
        incident = self._open.get(key)
        if incident is not None:
            resolved = _resolved_by(incident, self._spec.resolve_on, at)
            if resolved is not None:
                incident.resolved_at = resolved
                incident = None
            elif incident.joinable_until is not None and incident.joinable_until <= at:
                incident = None
        if incident is None:
            limit = self._window or self._idle
            incident = ReplayedIncident(
                key=key, alert_ids=[], first_alert_at=at, last_alert_at=at,
                title=render_title(self._spec.title_template, render_context(alert)),
                joinable_until=at + limit if limit is not None else None,
            )
            self._open[key] = incident
            result.incidents.append(incident)
        elif self._idle is not None:
            incident.joinable_until = at + self._idle
        incident.alert_ids.append(alert.id)
        incident.resolutions.append(alert.resolved_at)
        incident.last_alert_at = at

    def finish(self) -> Replay:
        """The result; incidents not resolved during the replay say when their alerts resolved them since."""
        for incident in self.result.incidents:
            if incident.resolved_at is None:
                incident.resolved_at = _resolved_by(incident, self._spec.resolve_on, _FOREVER)
        return self.result


def replay(router: Router | None, rule: GroupingRule, spec: RuleSpec, alerts: Sequence[Alert]) -> Replay:
    """Group ``alerts`` (in created_at order) by ``rule``, as ingest would have."""
    replayer = Replayer(router, rule, spec)
    for alert in alerts:
        replayer.add(alert)
    return replayer.finish()


async def load_alerts(
    pool: Pool, *, since: datetime | None = None, until: datetime | None = None, last: int | None = None,
    integration_id: int | None = None,
) -> tuple[list[Alert], bool]:
    """The alerts to replay, oldest first, and whether there were more than ``MAX_ALERTS``.

    ``last``: the last ``last`` created; else those created in [since, until).
    """
    if last is not None and since is not None:
        raise InvalidArgument("replay a time range (since) or the last N alerts (last), not both")
    if last is not None:
        if not 0 < last <= MAX_ALERTS:
            raise InvalidArgument(f"last must be between 1 and {MAX_ALERTS}, got {last}")
    elif since is None:
        raise InvalidArgument("say which alerts to replay: a time range (since) or the last N alerts (last)")
    elif until is not None and until <= since:
        raise InvalidArgument("until must be later than since")
    where = ["(%(integration)s::bigint IS NULL OR a.integration_id = %(integration)s)"]
    params: dict[str, object] = {"integration": integration_id}
    if last is not None:
        order, limit = "DESC", last
    else:
        where.append("a.created_at >= %(since)s")
        params["since"] = since
        if until is not None:
            where.append("a.created_at < %(until)s")
            params["until"] = until
        order, limit = "ASC", MAX_ALERTS + 1
    params["limit"] = limit
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION READ ONLY")
        cur = await conn.execute(
            f"""SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE {" AND ".join(where)}
                ORDER BY a.created_at {order}, a.id {order} LIMIT %(limit)s""",
            params,
        )
        alerts = [Alert.from_row(r) for r in await cur.fetchall()]
    if last is not None:
        alerts.reverse()
        return alerts, False
    return alerts[:MAX_ALERTS], len(alerts) > MAX_ALERTS


async def dry_run(
    pool: Pool, router: Router | None, rule: GroupingRule, spec: RuleSpec, *,
    since: datetime | None = None, until: datetime | None = None, last: int | None = None,
) -> Replay:
    """Load the alerts and replay them, letting the event loop run every few milliseconds
    (a slow CEL engine takes a millisecond or more per alert)."""
    replayer = Replayer(router, rule, spec)
    alerts, truncated = await load_alerts(pool, since=since, until=until, last=last,
                                          integration_id=spec.integration_id)
    start = time.monotonic()
    for i, alert in enumerate(alerts):
        replayer.add(alert)
        if not i & 15 and time.monotonic() - start > _SLICE_S:
            await asyncio.sleep(0)
            start = time.monotonic()
    result = replayer.finish()
    result.truncated = truncated
    return result


def draft_rule(spec: RuleSpec) -> GroupingRule:
    """A draft's contract rule for the router (its compiled forms are cached by id and text)."""
    return GroupingRule(id="test-grouping-draft", name=spec.name or "draft", condition=spec.condition,
                        key=spec.key, position=0, version=0)
