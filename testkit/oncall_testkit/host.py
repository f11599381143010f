"""A fake ``ChannelHost``: the core's side of two-way channels, answering from small tables.

A channel under test is bound to it (``channel.bind(host)``) as the core binds it to the
real host. It answers the way the core does (acknowledging a resolved alert fails, a
``first_seen`` key is new once, a bad ``ttl_s`` is a ValueError) and records every call in
``calls``, so a test asserts on what the channel asked of the core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from oncall_hookspecs import ActionResult

#: the longest a ``first_seen`` key may be remembered, as the core allows (a year)
SEEN_TTL_MAX_S = 366 * 24 * 3600

ACTIONS = ("acknowledge", "resolve", "escalate")
_PAST = {"acknowledge": "Acknowledged", "resolve": "Resolved", "escalate": "Escalated"}
_REPORTS = ("delivered", "failed", "undelivered")


@dataclass(frozen=True)
class HostCall:
    """One call a channel made: the method's name and its arguments by name."""

    method: str
    args: dict[str, Any]


@dataclass
class FakeAlert:
    """An alert the fake host knows: its status and summary."""

    status: str = "triggered"
    summary: str = ""


class DatabaseDown(ConnectionError):
    """Raised by ``first_seen`` while ``FakeChannelHost.database_down`` is set, as the core raises."""


@dataclass
class FakeChannelHost:
    """A ``ChannelHost`` that records what a channel asked of it.

    The tables a test fills in:

    - ``alerts``: alert id → :class:`FakeAlert` (``add_alert`` adds one);
    - ``users``: ``(kind, address)`` → directory user id, for ``find_user``;
    - ``reply_targets``: ``(channel, destination, code or None)`` → alert id, for ``alert_for_reply``;
    - ``sent``: ``(alert id, channel)`` → ``[(destination, provider id)]``, for ``sent_messages``;
    - ``payloads``: ``(channel, provider id)`` → the rendered payload, for ``sent_payload``;
    - ``deliveries``: ``(channel, provider id)`` of messages awaiting a provider's report.

    What the channel did to it: ``calls`` (every call, in order), ``acts``, ``opt_outs``
    (the opted-out ``(channel, destination)`` pairs now), ``reports`` and ``seen`` (the
    ``first_seen`` keys).
    """

    public_url: str = "https://oncall.example.com"
    alerts: dict[int, FakeAlert] = field(default_factory=dict)
    users: dict[tuple[str, str], str] = field(default_factory=dict)
    reply_targets: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    sent: dict[tuple[int, str], list[tuple[str, str]]] = field(default_factory=dict)
    payloads: dict[tuple[str, str], Any] = field(default_factory=dict)
    deliveries: set[tuple[str, str]] = field(default_factory=set)
    #: while set, ``first_seen`` raises DatabaseDown (the request should then be answered 503)
    database_down: bool = False

    calls: list[HostCall] = field(default_factory=list)
    acts: list[tuple[int, str, str | None, str]] = field(default_factory=list)
    opt_outs: set[tuple[str, str]] = field(default_factory=set)
    reports: list[tuple[str, str, str, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add_alert(self, alert_id: int, summary: str = "", status: str = "triggered") -> None:
        self.alerts[alert_id] = FakeAlert(status=status, summary=summary)

    def record_send(self, alert_id: int, channel: str, destination: str, provider_id: str, payload: Any) -> None:
        """Remember a delivery as the core does after a send: what ``sent_messages`` and ``sent_payload`` read."""
        self.sent.setdefault((alert_id, channel), []).append((destination, provider_id))
        self.payloads[(channel, provider_id)] = payload
        self.deliveries.add((channel, provider_id))

    def called(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call to ``method``, in order."""
        return [c.args for c in self.calls if c.method == method]

    def _record(self, method: str, **args: Any) -> None:
        self.calls.append(HostCall(method, args))

    async def act(self, alert_id: int, action: str, *, user_id: str | None, actor: str) -> ActionResult:
        self._record("act", alert_id=alert_id, action=action, user_id=user_id, actor=actor)
        if action not in ACTIONS:
            return ActionResult(False, alert_id, action, "", f"unknown action {action!r}")
        alert = self.alerts.get(alert_id)
        if alert is None:
            return ActionResult(False, alert_id, action, "", f"alert {alert_id} not found")
        target = {"acknowledge": "acknowledged", "resolve": "resolved"}.get(action)
        if alert.status == "resolved" and action != "resolve":
            return ActionResult(False, alert_id, action, alert.status, f"alert {alert_id} is resolved; it cannot be {target or 'escalated'}")
        self.acts.append((alert_id, action, user_id, actor))
        if target is not None:
            alert.status = target
        return ActionResult(True, alert_id, action, alert.status, f"{_PAST[action]} alert #{alert_id}: {alert.summary}",
                            alert.summary)

    async def find_user(self, kind: str, address: str) -> str | None:
        self._record("find_user", kind=kind, address=address)
        return self.users.get((kind, address))

    async def alert_for_reply(self, channel: str, destination: str, code: str | None) -> int | None:
        self._record("alert_for_reply", channel=channel, destination=destination, code=code)
        return self.reply_targets.get((channel, destination, code))

    async def set_opt_out(self, channel: str, destination: str, opted_out: bool) -> None:
        self._record("set_opt_out", channel=channel, destination=destination, opted_out=opted_out)
        if opted_out:
            self.opt_outs.add((channel, destination))
        else:
            self.opt_outs.discard((channel, destination))

    async def update_delivery(self, channel: str, provider_id: str, status: str, detail: str = "") -> bool:
        self._record("update_delivery", channel=channel, provider_id=provider_id, status=status, detail=detail)
        if status.lower() not in _REPORTS or (channel, provider_id) not in self.deliveries:
            return False
        self.reports.append((channel, provider_id, status, detail))
        return True

    async def sent_messages(self, alert_id: int, channel: str) -> list[tuple[str, str]]:
        self._record("sent_messages", alert_id=alert_id, channel=channel)
        return list(self.sent.get((alert_id, channel), []))

    async def sent_payload(self, channel: str, provider_id: str) -> Any:
        self._record("sent_payload", channel=channel, provider_id=provider_id)
        return self.payloads.get((channel, provider_id))

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        self._record("first_seen", key=key, ttl_s=ttl_s)
        if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and 0 < ttl_s <= SEEN_TTL_MAX_S):
            raise ValueError(f"ttl_s must be more than 0 and at most {SEEN_TTL_MAX_S} seconds, got {ttl_s!r}")
        if self.database_down:
            raise DatabaseDown("the database cannot be reached")
        first = key not in self.seen
        self.seen.add(key)
        return first
