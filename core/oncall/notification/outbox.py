"""The notification outbox: notifications, one delivery row per destination, and their attempts.

A notification is created in one transaction with all of its deliveries, so a send is
either wholly recorded or not at all; the engine's requests become notifications the same
way (``intake``), each at most once (the request id is the notification's idempotency key).
What happens to a delivery afterwards is the worker's (``delivery/``); this module is the
data and its readers. Its statements on deliveries and attempts are ``delivery.store``'s;
the engine's requests come through the alerting port.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ..errors import InvalidArgument, NotFound
from ..store.database import Conn, Pool
from . import channels
from .alerting_port import ALERTING, AlertingPort, Request
from .delivery import store
from .delivery.store import DELIVERIES_CHANNEL, STATUS_CHANNEL, notify_status

__all__ = ["DELIVERIES_CHANNEL", "FINAL", "STATUS_CHANNEL", "Destination", "Notification", "create_notification",
           "get_notification", "intake", "notifications_for_alert", "notify_status"]

FINAL = frozenset({"sent", "delivered", "failed", "cancelled"})



@dataclass(frozen=True, slots=True)
class Destination:
    """Where to send: a directory user (every contact method) or one channel address."""

    user_id: str | None = None
    channel: str | None = None
    address: str | None = None

    @classmethod
    def parse(cls, text: str) -> Destination:
        """``user:42``, or ``<channel>:<address>`` (``slack:#ops``, ``webhook:https://…``)."""
        kind, sep, rest = text.partition(":")
        if not sep or not rest:
            raise InvalidArgument(f"destination {text!r}: expected 'user:<id>' or '<channel>:<address>'")
        if kind == "user":
            return cls(user_id=rest)
        try:
            return cls(channel=channels.current().check(kind), address=rest)
        except channels.UnknownChannel as exc:
            raise InvalidArgument(f"destination {text!r}: {exc}") from None


@dataclass(slots=True)
class Attempt:
    attempt: int
    started_at: datetime
    finished_at: datetime
    outcome: str
    response: str
    retry_after: float | None


@dataclass(slots=True)
class Delivery:
    id: int
    notification_id: int
    channel: str
    destination: str
    user_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    provider_id: str | None
    last_error: str
    bundled_into: int | None
    bundle_size: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    payload: Any = None
    timeline: list[Attempt] = field(default_factory=list)


@dataclass(slots=True)
class Notification:
    id: int
    idempotency_key: str
    template_id: str | None
    template_version: int | None
    context: Mapping[str, Any]
    alert_id: int | None
    created_at: datetime
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(d.status in FINAL for d in self.deliveries)


def delivery_key(notification_key: str, channel: str, destination: str) -> str:
    """The idempotency key a provider sees: stable for a (notification, destination)."""
    raw = f"{notification_key}\x00{channel}\x00{destination}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def channel_of(kind: str) -> str:
    """A contact method's kind as a channel name: kinds are channel names, or their specs' aliases."""
    return channels.current().resolve(kind)


async def current_version(conn: Conn, template_id: str) -> int:
    cur = await conn.execute(
        "SELECT current_version FROM notification.templates WHERE id = %s AND deleted_at IS NULL", (template_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"template {template_id!r} not found")
    return int(row["current_version"])


@dataclass(slots=True)
class _Row:
    channel: str
    destination: str
    user_id: str | None = None
    contact_method_id: str | None = None
    error: str = ""  # a row that is failed from the start (no way to reach the user)


def _user_rows(user_id: str, methods: Sequence[Mapping[str, Any]], note: str = "") -> list[_Row]:
    rows = [
        _Row(channel_of(str(m.get("kind") or m.get("type") or "")), str(m.get("address") or m.get("value") or ""),
             user_id, str(m.get("id") or "") or None)
        for m in methods
    ]
    rows = [r for r in rows if r.channel and r.destination]
    if not rows:
        rows = [_Row("none", user_id, user_id, error=note or f"no contact methods are known for user {user_id}")]
    return rows


@dataclass(slots=True)
class _New:
    """A notification to write, with the rows of its deliveries."""

    key: str
    template_id: str | None
    template_version: int | None
    context: Mapping[str, Any]
    rows: Sequence[_Row]
    alert_id: int | None = None
    request_id: int | None = None
    created_by: str = ""


def _incident_of(context: Mapping[str, Any]) -> int | None:
    """The incident an engine's page is about: its context's (the engine puts it there), if any.
    A caller's own notification is about no incident, whatever its context says."""
    incident = context.get("incident")
    found = incident.get("id") if isinstance(incident, Mapping) else None
    return found if isinstance(found, int) and not isinstance(found, bool) and 0 < found < 2**63 else None


async def _insert(conn: Conn, new: Sequence[_New]) -> dict[str, int]:
    """Notifications and their deliveries, in one statement each; returns key → id of those
    written. A key already used writes nothing (a retried send, a request taken before)."""
    cur = await conn.execute(
        """INSERT INTO notification.notifications
               (idempotency_key, template_id, template_version, context, alert_id, request_id, created_by,
                incident_id)
           SELECT * FROM unnest(%b::text[], %b::text[], %b::integer[], %b::jsonb[], %b::bigint[], %b::bigint[],
                                %b::text[], %b::bigint[])
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id, idempotency_key""",
        ([n.key for n in new], [n.template_id for n in new], [n.template_version for n in new],
         [Jsonb(dict(n.context)) for n in new], [n.alert_id for n in new], [n.request_id for n in new],
         [n.created_by for n in new], [_incident_of(n.context) if n.request_id is not None else None for n in new]),
    )
    created = {row["idempotency_key"]: row["id"] for row in await cur.fetchall()}
    cols: list[list[Any]] = [[] for _ in range(8)]
    for n in new:
        nid = created.get(n.key)
        if nid is None:
            continue
        seen: set[tuple[str, str]] = set()
        for row in n.rows:
            if (row.channel, row.destination) in seen:
                continue
            seen.add((row.channel, row.destination))
            for col, value in zip(cols, (nid, delivery_key(n.key, row.channel, row.destination), row.channel,
                                         row.destination, row.user_id, row.contact_method_id, n.alert_id,
                                         row.error), strict=True):
                col.append(value)
    if cols[0]:
        await store.insert_deliveries(conn, cols)
        await store.wake_workers(conn)
        await notify_status(conn, set(created.values()))
    return created


async def create_notification(
    pool: Pool, *, template_id: str | None, context: Mapping[str, Any],
    destinations: Sequence[Destination], directory: Any = None, idempotency_key: str | None = None,
    alert_id: int | None = None, created_by: str = "",
) -> int:
    """``SendNotification``: users are resolved to contact methods through the directory now.

    With an ``idempotency_key`` already used, the earlier notification's id is returned and
    nothing is sent again.
    """
    if not destinations:
        raise InvalidArgument("a notification needs at least one destination")
    rows: list[_Row] = []
    for dest in destinations:
        if dest.user_id:
            if directory is None:
                rows += _user_rows(dest.user_id, (), "no user directory is configured")
                continue
            lookup = await directory.contact_methods(dest.user_id)
            methods = [{"id": m.id, "kind": m.kind, "address": m.address} for m in lookup.value]
            note = f"directory unreachable: {lookup.error}" if getattr(lookup, "error", None) and not methods else ""
            rows += _user_rows(dest.user_id, methods, note)
        elif dest.channel and dest.address:
            rows.append(_Row(channel_of(dest.channel), dest.address))
        else:
            raise InvalidArgument("each destination needs a user id, or a channel and an address")
    key = f"send:{idempotency_key}" if idempotency_key else f"send:{secrets.token_hex(16)}"
    async with pool.connection() as conn, conn.transaction():
        version = await current_version(conn, template_id) if template_id else None
        created = await _insert(conn, [_New(key, template_id, version, context, rows, alert_id,
                                            created_by=created_by)])
        nid = created.get(key)
        if nid is None:
            cur = await conn.execute("SELECT id FROM notification.notifications WHERE idempotency_key = %s", (key,))
            nid = int((await cur.fetchone())["id"])  # type: ignore[index]
    return nid


# ------------------------------------------------------------------ the engine's requests


def _request_rows(req: Request) -> list[_Row]:
    kind, target, context = req.target_kind, req.target_id, req.context or {}
    if req.user_id or kind == "user":
        user = req.user_id or target
        return _user_rows(user, context.get("contact_methods") or (), context.get("contact_methods_note") or "")
    if kind == "webhook":
        return [_Row("webhook", target)]
    if kind == "channel":
        channel, sep, address = target.partition(":")
        if sep and address:
            return [_Row(channel_of(channel), address)]
        return [_Row("none", target, error=f"channel destination {target!r} is not '<channel>:<address>'")]
    return [_Row("none", target, error=f"cannot deliver to a {kind} target")]


async def intake(conn: Conn, limit: int = 500, *, alerting: AlertingPort = ALERTING) -> int:
    """Turn pending engine requests into notifications; returns how many were taken.

    Runs in the caller's transaction; replicas taking requests at once get different ones,
    and each request's key is its notification's, so none is taken twice.
    """
    requests = await alerting.take_requests(conn, limit)
    if not requests:
        return 0
    versions: dict[str, int | None] = {}
    for tid in {r.template_id for r in requests if r.template_id}:
        try:
            versions[tid] = await current_version(conn, tid)
        except NotFound:
            versions[tid] = None  # deleted since the rule named it: the defaults render it
    # one statement for the notifications, one for their deliveries: intake keeps up with bursts
    await _insert(conn, [
        _New(f"request:{r.idempotency_key}", r.template_id if r.template_id and versions.get(r.template_id) else None,
             versions.get(r.template_id) if r.template_id else None, r.context or {}, _request_rows(r),
             r.alert_id, r.id, "engine")
        for r in requests
    ])
    await alerting.mark_taken(conn, [r.id for r in requests])
    return len(requests)


# ------------------------------------------------------------------ readers


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(**{k: row[k] for k in Delivery.__slots__ if k != "timeline"})


async def get_notification(pool: Pool, notification_id: int, *, with_attempts: bool = True) -> Notification:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT id, idempotency_key, template_id, template_version, context, alert_id, created_at
               FROM notification.notifications WHERE id = %s""",
            (notification_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"notification {notification_id} not found")
        n = Notification(**row)
        n.deliveries = [_delivery(r) for r in await store.deliveries_of(conn, notification_id)]
        if with_attempts and n.deliveries:
            by_id = {d.id: d for d in n.deliveries}
            for a in await store.attempts_of(conn, list(by_id)):
                by_id[a["delivery_id"]].timeline.append(Attempt(
                    a["attempt"], a["started_at"], a["finished_at"], a["outcome"], a["response"], a["retry_after"]))
    return n


async def notifications_for_alert(pool: Pool, alert_id: int) -> list[int]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM notification.notifications WHERE alert_id = %s ORDER BY id", (alert_id,)
        )
        return [r["id"] for r in await cur.fetchall()]
