"""Acting on alerts from where a page reached someone: the ChannelHost and one-click links.

Channel plugins get a :class:`Host` through ``bind``: they verify their provider's
signature, then ask the host to act (acknowledge, resolve, escalate the incident of the
alert a page was about), to find the user
behind an address, to name the alert a reply means, to record a provider's later
report on a delivery, or to remember a request so that a replay of it, at any replica, is
refused. One-click links (email, Teams, push) carry a random token of which
only the hash is stored; a token works once, before it expires.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from oncall_hookspecs import ActionResult, UserQuery

from ..clock import SYSTEM_CLOCK, Clock
from ..context import Context
from ..errors import OnCallError
from . import channels, outbox
from .alerting_port import ALERTING, AlertingPort
from .delivery import store
from .delivery.record import delivery_line
from .delivery.store import hash_token

log = logging.getLogger(__name__)

ACTIONS = ("acknowledge", "resolve", "escalate")
_PAST = {"acknowledge": "Acknowledged", "resolve": "Resolved", "escalate": "Escalated"}
# a provider's report → the delivery's status
# ("sent" is not one: a delivery is sent when the provider accepts it, and reports arrive in any order)
_REPORTS = {"delivered": "delivered", "failed": "failed", "undelivered": "failed"}
# what each report may move a delivery from: a late "failed" never undoes "delivered"
_REPORTABLE_FROM = {"delivered": ["sent", "failed"], "failed": ["sent"]}
#: the longest a ``first_seen`` key is remembered (a year): long enough for any replay window
_SEEN_TTL_MAX_S = 366 * 24 * 3600


#: at most this many users are searched for an address when the directory cannot find users itself
_KNOWN_USERS_MAX = 5000



def _normal(channel: str, address: str) -> str:
    return channels.current().normal_address(channel, address)


class Host:
    """The core's side of two-way channels (``oncall_hookspecs.ChannelHost``)."""

    def __init__(self, ctx: Context, public_url: Callable[[], str], clock: Clock = SYSTEM_CLOCK,
                 alerting: AlertingPort = ALERTING) -> None:
        self.ctx = ctx
        self._public_url = public_url
        self.clock = clock
        self.alerting = alerting

    @property
    def public_url(self) -> str:
        return self._public_url()

    async def act(self, alert_id: int, action: str, *, user_id: str | None, actor: str) -> ActionResult:
        """Act on the incident of ``alert_id``: a page names the alert it was about, and the
        incident is what pages, so a button, a reply or a link acknowledges, resolves or
        escalates the whole incident (every alert of it), credited to the person."""
        if action not in ACTIONS:
            return ActionResult(False, alert_id, action, "", f"unknown action {action!r}")
        who = user_id or actor
        note = f"via {actor}" if user_id and actor and actor != user_id else ""
        if action == "escalate":
            note = note or f"escalated by {who}"
        try:
            done = await self.alerting.act_on_incident(self.ctx.pool, alert_id, action, who, self.clock.now(), note)
        except OnCallError as exc:
            return ActionResult(False, alert_id, action, "", exc.detail)
        log.info("incident %d (alert %d): %s by %s", done.incident_id, alert_id, action, who)
        if done.alert_count > 1:
            message = f"{_PAST[action]} incident #{done.incident_id} ({done.alert_count} alerts): {done.title}"
        else:
            message = f"{_PAST[action]} alert #{alert_id}: {done.title}"
        return ActionResult(True, alert_id, action, done.status, message, done.title, done.incident_id)

    async def find_user(self, kind: str, address: str) -> str | None:
        """The directory user reachable at ``address`` on ``kind``.

        First whoever was paged there most recently; then the directory's own answer, in one
        ``FindUsers`` call, when it can search (a ``UserFinder``); else, or when it cannot
        answer now, the users OnCall knows (policy targets, schedule participants and
        overrides, anyone paged before) whose contact methods, as the directory gives them
        (cached), include the address.
        """
        channel = outbox.channel_of(kind)
        async with self.ctx.pool.connection() as conn:
            last = await store.last_user_at(conn, channel, address)
        if last is not None:
            return last
        directory = self.ctx.directory
        if directory is None:
            return None
        found = await directory.find_users(UserQuery.by_contact(channel, _normal(channel, address)))
        if found is not None:
            return found[0].id if found else None
        async with self.ctx.pool.connection() as conn:
            # every user id OnCall itself refers to: alerting's (policies, schedules) and who was paged lately
            known = set(await self.alerting.known_user_ids(conn, _KNOWN_USERS_MAX))
            known |= set(await store.recent_user_ids(conn, _KNOWN_USERS_MAX))
            candidates = sorted(known)[:_KNOWN_USERS_MAX]
        wanted = _normal(channel, address)
        for start in range(0, len(candidates), 50):
            chunk = candidates[start:start + 50]
            lookups = await asyncio.gather(*(directory.contact_methods(u) for u in chunk), return_exceptions=True)
            for user_id, lookup in zip(chunk, lookups, strict=True):
                if isinstance(lookup, BaseException):
                    continue
                if any(outbox.channel_of(cm.kind) == channel and _normal(channel, cm.address) == wanted
                       for cm in lookup.value):
                    return user_id
        return None

    async def alert_for_reply(self, channel: str, destination: str, code: str | None) -> int | None:
        async with self.ctx.pool.connection() as conn:
            if code is None:
                return await store.last_alert_sent_to(conn, channel, destination)
            else:
                code = code.strip()
                # what int() reads ("٣" is 3, "²" is no number), short enough for the integer
                # column (int() fails on thousands of digits)
                if not (code.isdecimal() and len(code) <= 9):
                    return None
                cur = await conn.execute(
                    """SELECT alert_id FROM notification.reply_codes
                       WHERE channel = %s AND destination = %s AND code = %s""",
                    (channel, destination, int(code)),
                )
            row = await cur.fetchone()
        return row["alert_id"] if row else None

    async def set_opt_out(self, channel: str, destination: str, opted_out: bool) -> None:
        async with self.ctx.pool.connection() as conn:
            if opted_out:
                await conn.execute(
                    "INSERT INTO notification.opt_outs (channel, destination) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (channel, destination),
                )
            else:
                await conn.execute(
                    "DELETE FROM notification.opt_outs WHERE channel = %s AND destination = %s", (channel, destination)
                )
        log.info("%s destination %s opted %s", channel, "…" + destination[-4:], "out" if opted_out else "back in")

    async def update_delivery(self, channel: str, provider_id: str, status: str, detail: str = "") -> bool:
        """A provider's later report: moves sent → delivered or failed, with an attempt row for the record."""
        new = _REPORTS.get(status.lower())
        if new is None:
            return False
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn, conn.transaction():
            rows = await store.report(conn, channel, provider_id, new, _REPORTABLE_FROM[new],
                                      detail[:1000] or "the provider reported a failure",
                                      f"provider reported {status}" + (f": {detail}" if detail else ""), now)
            if not rows:
                return False
            await self.alerting.append_timeline(conn, [
                delivery_line(r.id, r.notification_id, r.channel, r.destination, r.user_id, r.alert_id, new, detail)
                for r in rows if r.alert_id is not None], now)
            await store.notify_status(conn, {r.notification_id for r in rows})
        return True

    async def sent_messages(self, alert_id: int, channel: str) -> list[tuple[str, str]]:
        async with self.ctx.pool.connection() as conn:
            return await store.sent_messages(conn, alert_id, channel)

    async def sent_payload(self, channel: str, provider_id: str) -> Any:
        async with self.ctx.pool.connection() as conn:
            return await store.sent_payload(conn, channel, provider_id)

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        """True the first time ``key`` is seen within ``ttl_s`` seconds, on any replica; False after.

        One statement, so replicas racing with the same key get exactly one True: the insert
        wins, or the conflict re-checks the row another inserted (a row past its expiry is
        taken over, so an old key counts as new). Only the key's SHA-256 is stored.
        """
        if not (math.isfinite(ttl_s) and 0 < ttl_s <= _SEEN_TTL_MAX_S):
            raise ValueError(f"ttl_s must be more than 0 and at most {_SEEN_TTL_MAX_S} seconds, got {ttl_s!r}")
        now = self.clock.now()
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO notification.seen_requests AS s (key_hash, expires_at) VALUES (%s, %s)
                   ON CONFLICT (key_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at
                   WHERE s.expires_at <= %s
                   RETURNING true AS first""",
                (hash_token(key), now + timedelta(seconds=ttl_s), now),
            )
            return await cur.fetchone() is not None

    # ------------------------------------------------------------------ one-click links

    async def use_link(self, token: str) -> tuple[int, str, ActionResult | None]:
        """Spend a one-click token: (HTTP status, message, what was done)."""
        now = self.clock.now()
        h = hash_token(token)
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """UPDATE notification.action_tokens SET used_at = %s
                   WHERE token_hash = %s AND used_at IS NULL AND expires_at > %s
                   RETURNING alert_id, action, user_id, channel""",
                (now, h, now),
            )
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute(
                    "SELECT used_at, expires_at FROM notification.action_tokens WHERE token_hash = %s", (h,)
                )
                old = await cur.fetchone()
        if row is None:
            if old is None:
                return 401, "This link is not valid.", None
            if old["used_at"] is not None:
                return 401, "This link was already used; each link works once.", None
            return 401, "This link has expired.", None
        result = await self.act(
            row["alert_id"], row["action"], user_id=row["user_id"], actor=f"{row['channel']} link",
        )
        return (200 if result.ok else 409), result.message, result


__all__ = ["ACTIONS", "Host", "hash_token"]
