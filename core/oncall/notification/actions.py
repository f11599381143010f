"""Acting on alerts from where a page reached someone: the ChannelHost and one-click links.

Channel plugins get a :class:`Host` through ``bind``: they verify their provider's
signature, then ask the host to act (acknowledge, resolve, escalate), to find the user
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

from oncall_hookspecs import ActionResult

from ..alerting import store as alert_store
from ..clock import SYSTEM_CLOCK, Clock
from ..context import Context
from ..errors import OnCallError
from . import channels, outbox
from .links import hash_token
from .worker import write_timeline

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


# every user id OnCall itself refers to, for reverse lookups the directory contract lacks
_KNOWN_USERS = """
    SELECT DISTINCT u FROM (
        SELECT t->>'id' AS u
        FROM alerting.escalation_policies p, jsonb_array_elements(p.steps) s, jsonb_array_elements(s->'targets') t
        WHERE t->>'kind' = 'user'
        UNION ALL
        SELECT jsonb_array_elements_text(l->'participants')
        FROM alerting.schedules sc, jsonb_array_elements(sc.layers) l
        UNION ALL
        SELECT add_user FROM alerting.schedule_overrides WHERE add_user IS NOT NULL AND ends_at > now()
        UNION ALL
        SELECT user_id FROM notification.deliveries WHERE user_id IS NOT NULL AND created_at > now() - interval '30 days'
    ) known WHERE u IS NOT NULL AND u <> '' ORDER BY u LIMIT 5000"""


def _normal(channel: str, address: str) -> str:
    return channels.current().normal_address(channel, address)


class Host:
    """The core's side of two-way channels (``oncall_hookspecs.ChannelHost``)."""

    def __init__(self, ctx: Context, public_url: Callable[[], str], clock: Clock = SYSTEM_CLOCK) -> None:
        self.ctx = ctx
        self._public_url = public_url
        self.clock = clock

    @property
    def public_url(self) -> str:
        return self._public_url()

    async def act(self, alert_id: int, action: str, *, user_id: str | None, actor: str) -> ActionResult:
        pool = self.ctx.pool
        who = user_id or actor
        note = f"via {actor}" if user_id and actor and actor != user_id else ""
        try:
            if action == "acknowledge":
                alert = await alert_store.acknowledge(pool, alert_id, who, note)
            elif action == "resolve":
                alert = await alert_store.resolve(pool, alert_id, who, note)
            elif action == "escalate":
                from ..escalation.state import escalate_now

                await escalate_now(pool, alert_id, who, self.clock.now(), note or f"escalated by {who}")
                alert = await alert_store.get_alert(pool, alert_id)
            else:
                return ActionResult(False, alert_id, action, "", f"unknown action {action!r}")
        except OnCallError as exc:
            return ActionResult(False, alert_id, action, "", exc.detail)
        log.info("alert %d: %s by %s", alert_id, action, who)
        return ActionResult(True, alert_id, action, alert.status, f"{_PAST[action]} alert #{alert_id}: {alert.summary}",
                            alert.summary)

    async def find_user(self, kind: str, address: str) -> str | None:
        """The directory user reachable at ``address`` on ``kind``.

        The directory contract has no reverse lookup, so: first whoever was paged there most
        recently, then the users OnCall knows (policy targets, schedule participants and
        overrides, anyone paged before) whose contact methods, as the directory gives them
        (cached), include the address.
        """
        channel = outbox.channel_of(kind)
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT user_id FROM notification.deliveries
                   WHERE channel = %s AND destination = %s AND user_id IS NOT NULL ORDER BY id DESC LIMIT 1""",
                (channel, address),
            )
            row = await cur.fetchone()
            if row is not None:
                return row["user_id"]
            directory = self.ctx.directory
            if directory is None:
                return None
            cur = await conn.execute(_KNOWN_USERS)
            candidates = [r["u"] for r in await cur.fetchall()]
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
                cur = await conn.execute(
                    """SELECT alert_id FROM notification.deliveries
                       WHERE channel = %s AND destination = %s AND alert_id IS NOT NULL
                             AND status IN ('sent', 'delivered')
                       ORDER BY coalesce(sent_at, updated_at) DESC, id DESC LIMIT 1""",
                    (channel, destination),
                )
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
            cur = await conn.execute(
                """UPDATE notification.deliveries
                   SET status = %s, updated_at = %s,
                       delivered_at = CASE WHEN %s = 'delivered' THEN %s ELSE delivered_at END,
                       last_error = CASE WHEN %s = 'failed' THEN %s ELSE last_error END
                   WHERE channel = %s AND provider_id = %s AND status = ANY(%s)
                   RETURNING id, notification_id, channel, destination, user_id, alert_id, attempts""",
                (new, now, new, now, new, detail[:1000] or "the provider reported a failure", channel, provider_id,
                 _REPORTABLE_FROM[new]),
            )
            rows = await cur.fetchall()
            if not rows:
                return False
            await conn.execute(
                """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome, response)
                   SELECT unnest(%s::bigint[]), unnest(%s::integer[]), %s, %s, 'report', %s""",
                ([r["id"] for r in rows], [r["attempts"] for r in rows], now, now,
                 f"provider reported {status}" + (f": {detail}" if detail else "")),
            )
            await write_timeline(conn, [(r, new, detail) for r in rows], now)
            for nid in {r["notification_id"] for r in rows}:
                await conn.execute("SELECT pg_notify(%s, %s)", (outbox.STATUS_CHANNEL, str(nid)))
        return True

    async def sent_messages(self, alert_id: int, channel: str) -> list[tuple[str, str]]:
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT DISTINCT destination, provider_id FROM notification.deliveries
                   WHERE alert_id = %s AND channel = %s AND provider_id IS NOT NULL""",
                (alert_id, channel),
            )
            return [(r["destination"], r["provider_id"]) for r in await cur.fetchall()]

    async def sent_payload(self, channel: str, provider_id: str) -> Any:
        async with self.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT payload FROM notification.deliveries
                   WHERE channel = %s AND provider_id = %s AND bundled_into IS NULL ORDER BY id LIMIT 1""",
                (channel, provider_id),
            )
            row = await cur.fetchone()
        return row["payload"] if row else None

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
