"""The delivery store: every statement on deliveries, attempts, circuits and rate buckets, with typed rows.

The worker's rooms (``claim``, ``limits``, ``prepare``, ``record``), the outbox and the
channel host all reach these tables through the functions here; rows come back as frozen
dataclasses and changes go back as new values (``dataclasses.replace``), never as dicts
changed in place. Every function runs on the caller's connection, in the caller's
transaction, so the caller decides what commits together. Columns travel as binary arrays
(``%b``) where a statement writes many rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from ...store.database import Conn

#: NOTIFY channel: a delivery is due (payload empty) — wakes every worker
DELIVERIES_CHANNEL = "oncall_deliveries"
#: NOTIFY channel: a delivery of notification <payload> changed status — wakes watchers
STATUS_CHANNEL = "oncall_delivery_status"

# ------------------------------------------------------------------------------ rows


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery a claim took (queued or retrying, and due), with its notification's template and context."""

    id: int
    notification_id: int
    idempotency_key: str
    channel: str
    destination: str
    user_id: str | None
    alert_id: int | None
    attempts: int
    status: str
    context: Mapping[str, Any]
    template_id: str | None
    template_version: int | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DueDelivery:
        return cls(row["id"], row["notification_id"], row["idempotency_key"], row["channel"], row["destination"],
                   row["user_id"], row["alert_id"], row["attempts"], row["status"], row["context"] or {},
                   row["template_id"], row["template_version"])


@dataclass(frozen=True, slots=True)
class Circuit:
    """One circuit breaker (a channel, or a channel's destination): see ``limits``."""

    channel: str
    state: str = "closed"  # closed, open, half_open
    failures: int = 0
    pauses: int = 0
    generation: int = 0
    probe_id: int | None = None
    open_until: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Circuit:
        return cls(row["channel"], row["state"], row["failures"], row["pauses"], row["generation"], row["probe_id"],
                   row["open_until"])


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket as stored: its level when last drawn from."""

    key: str
    tokens: float
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Sending:
    """A row marked ``sending`` by a claim: its bundle, and the reply code its message carries."""

    id: int
    reply_code: str | None
    bundle_size: int
    bundled_into: int | None


@dataclass(frozen=True, slots=True)
class Settled:
    """A delivery finished without a provider call (no channel, opted out, alert acknowledged)."""

    delivery: DueDelivery
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class Result:
    """One row's share of a provider's answer, as it is recorded."""

    id: int
    status: str
    error: str
    provider_id: str | None
    next_at: datetime | None
    ok: bool
    delivered: bool
    claimed_by: int
    attempt: int
    started_at: datetime
    response: str
    retry_after: float | None
    payload: Any


@dataclass(frozen=True, slots=True)
class Reported:
    """A delivery a provider's later report moved (``report``)."""

    id: int
    notification_id: int
    channel: str
    destination: str
    user_id: str | None
    alert_id: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Requeued:
    id: int
    attempts: int
    notification_id: int


# ------------------------------------------------------------------------------ wakes


async def wake_workers(conn: Conn) -> None:
    """Tell every worker that something is due (delivered at commit)."""
    await conn.execute("SELECT pg_notify(%s, '')", (DELIVERIES_CHANNEL,))


async def notify_status(conn: Conn, notification_ids: Iterable[int]) -> None:
    """Tell watchers these notifications changed: one NOTIFY per id, in one statement."""
    ids = sorted(set(notification_ids))
    if ids:
        await conn.execute("SELECT pg_notify(%s, n::text) FROM unnest(%s::bigint[]) AS n", (STATUS_CHANNEL, ids))


# ------------------------------------------------------------------------------ outbox


async def insert_deliveries(conn: Conn, cols: Sequence[Sequence[Any]]) -> None:
    """New deliveries, one statement: columns (notification, key, channel, destination, user, contact
    method, alert, error); a row with an error is failed from the start."""
    await conn.execute(
        """INSERT INTO notification.deliveries
               (notification_id, idempotency_key, channel, destination, user_id, contact_method_id, alert_id,
                status, last_error)
           SELECT n, k, c, d, u, m, a, CASE WHEN e = '' THEN 'queued' ELSE 'failed' END, e
           FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[],
                       %b::text[]) AS t(n, k, c, d, u, m, a, e)""",
        [list(c) for c in cols],
    )


DELIVERY_COLUMNS = ("id", "notification_id", "channel", "destination", "user_id", "status", "attempts",
                    "next_attempt_at", "provider_id", "last_error", "bundled_into", "bundle_size", "created_at",
                    "updated_at", "sent_at", "delivered_at", "payload")


async def deliveries_of(conn: Conn, notification_id: int) -> list[dict[str, Any]]:
    """A notification's deliveries (``DELIVERY_COLUMNS``), in order."""
    cur = await conn.execute(
        """SELECT id, notification_id, channel, destination, user_id, status, attempts, next_attempt_at,
                  provider_id, last_error, bundled_into, bundle_size, created_at, updated_at, sent_at,
                  delivered_at, payload
           FROM notification.deliveries WHERE notification_id = %s ORDER BY id""",
        (notification_id,),
    )
    return list(await cur.fetchall())


async def attempts_of(conn: Conn, delivery_ids: Sequence[int]) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """SELECT delivery_id, attempt, started_at, finished_at, outcome, response, retry_after
           FROM notification.attempts WHERE delivery_id = ANY(%s) ORDER BY id""",
        (list(delivery_ids),),
    )
    return list(await cur.fetchall())


# ------------------------------------------------------------------------------ claim


async def lock_due(conn: Conn, now: datetime, limit: int) -> list[DueDelivery]:
    """Due deliveries, oldest first, locked with SKIP LOCKED so replicas share them."""
    cur = await conn.execute(
        """SELECT d.id, d.notification_id, d.idempotency_key, d.channel, d.destination, d.user_id,
                  d.alert_id, d.attempts, d.status, n.context, n.template_id, n.template_version
           FROM notification.deliveries d JOIN notification.notifications n ON n.id = d.notification_id
           WHERE d.status IN ('queued', 'retrying') AND d.next_attempt_at <= %s
           ORDER BY d.next_attempt_at, d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED""",
        (now, limit),
    )
    return [DueDelivery.from_row(r) for r in await cur.fetchall()]


async def opted_out(conn: Conn, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (channel, destination) pairs have opted out (STOP)."""
    pairs = list(set(pairs))
    cur = await conn.execute(
        """SELECT channel, destination FROM notification.opt_outs
           WHERE (channel, destination) IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    )
    return {(r["channel"], r["destination"]) for r in await cur.fetchall()}


async def next_due(conn: Conn) -> datetime | None:
    cur = await conn.execute(
        "SELECT min(next_attempt_at) AS t FROM notification.deliveries WHERE status IN ('queued', 'retrying')"
    )
    row = await cur.fetchone()
    return None if row is None else row["t"]


async def defer(conn: Conn, until: Mapping[int, datetime], now: datetime) -> None:
    """Deliveries that wait (an open circuit, an empty bucket): their next attempt moves, nothing else."""
    if until:
        await conn.execute(
            """UPDATE notification.deliveries d SET next_attempt_at = t.at, updated_at = %s
               FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(id, at) WHERE d.id = t.id""",
            (now, list(until), list(until.values())),
        )


async def mark_sending(conn: Conn, worker_id: int, rows: Sequence[Sending], now: datetime) -> None:
    """Claimed under ``worker_id``: ``sending`` (its lease is that worker's advisory lock), one attempt more."""
    if rows:
        await conn.execute(
            """UPDATE notification.deliveries d
               SET status = 'sending', claimed_by = %s, attempts = d.attempts + 1, updated_at = %s,
                   reply_code = t.code, bundle_size = t.size, bundled_into = t.leader
               FROM unnest(%b::bigint[], %b::text[], %b::integer[], %b::bigint[]) AS t(id, code, size, leader)
               WHERE d.id = t.id""",
            (worker_id, now, [r.id for r in rows], [r.reply_code for r in rows], [r.bundle_size for r in rows],
             [r.bundled_into for r in rows]),
        )


async def settle(conn: Conn, items: Sequence[Settled], worker_id: int, now: datetime) -> None:
    """Finish deliveries that need no provider call, each with its attempt row."""
    if not items:
        return
    ids = [s.delivery.id for s in items]
    statuses = [s.status for s in items]
    reasons = [s.reason for s in items]
    await conn.execute(
        """UPDATE notification.deliveries d SET status = t.status, last_error = t.reason, updated_at = %s,
                  attempts = d.attempts + 1
           FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS t(id, status, reason) WHERE d.id = t.id""",
        (now, ids, statuses, reasons),
    )
    await conn.execute(
        """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome, response, worker)
           SELECT t.id, t.n, %s, %s, t.status, t.reason, %s
           FROM unnest(%b::bigint[], %b::integer[], %b::text[], %b::text[]) AS t(id, n, status, reason)""",
        (now, now, worker_id, ids, [s.delivery.attempts + 1 for s in items], statuses, reasons),
    )


async def hand_back(conn: Conn, ids: Sequence[int], claimed_by: int, now: datetime) -> list[int]:
    """Claimed rows never sent go back to the queue as they were; returns their notifications."""
    cur = await conn.execute(
        """UPDATE notification.deliveries
           SET status = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END, claimed_by = NULL,
               attempts = attempts - 1, next_attempt_at = %s, updated_at = %s
           WHERE id = ANY(%s) AND status = 'sending' AND claimed_by = %s
           RETURNING notification_id""",
        (now, now, list(ids), claimed_by),
    )
    return [r["notification_id"] for r in await cur.fetchall()]


async def sending_owners(conn: Conn) -> list[int]:
    """The worker ids that ``sending`` rows were claimed under."""
    cur = await conn.execute("SELECT DISTINCT claimed_by FROM notification.deliveries WHERE status = 'sending'")
    return [r["claimed_by"] for r in await cur.fetchall()]


async def requeue_interrupted(conn: Conn, owner: int, keep: Sequence[int], now: datetime) -> list[Requeued]:
    """``sending`` rows of ``owner`` (except ``keep``) go back to ``retrying``, each with an 'interrupted' attempt."""
    cur = await conn.execute(
        """UPDATE notification.deliveries
           SET status = 'retrying', claimed_by = NULL, next_attempt_at = %s, updated_at = %s,
               last_error = 'the worker sending this stopped before recording the answer; sending again'
           WHERE status = 'sending' AND claimed_by = %s AND NOT (id = ANY(%s))
           RETURNING id, attempts, notification_id""",
        (now, now, owner, list(keep)),
    )
    rows = [Requeued(r["id"], r["attempts"], r["notification_id"]) for r in await cur.fetchall()]
    if rows:
        await conn.execute(
            """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome, response,
                                                  worker)
               SELECT unnest(%s::bigint[]), unnest(%s::integer[]), %s, %s, 'interrupted',
                      'the worker stopped mid-send; the provider may or may not have it', %s""",
            ([r.id for r in rows], [r.attempts for r in rows], now, now, owner),
        )
    return rows


# ------------------------------------------------------------------------------ record


async def record_results(conn: Conn, results: Sequence[Result], now: datetime) -> set[tuple[int, int]]:
    """Write answers, each only while its row is still ``sending`` under the id it was claimed under;
    returns the (row id, worker id) pairs written, and writes their attempt rows."""
    if not results:
        return set()
    cur = await conn.execute(
        """UPDATE notification.deliveries d
           SET status = t.status, claimed_by = NULL, updated_at = %s, last_error = t.error,
               provider_id = coalesce(t.provider_id, d.provider_id),
               next_attempt_at = coalesce(t.next_at, d.next_attempt_at),
               sent_at = CASE WHEN t.ok THEN coalesce(d.sent_at, %s) ELSE d.sent_at END,
               delivered_at = CASE WHEN t.delivered THEN %s ELSE d.delivered_at END,
               payload = coalesce(t.payload, d.payload)
           FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::bool[],
                       %b::bool[], %b::integer[], %b::jsonb[]) AS t(id, status, error, provider_id, next_at, ok,
                                                                    delivered, claimed_by, payload)
           WHERE d.id = t.id AND d.status = 'sending' AND d.claimed_by = t.claimed_by
           RETURNING d.id, t.claimed_by""",
        (now, now, now, [r.id for r in results], [r.status for r in results], [r.error for r in results],
         [r.provider_id for r in results], [r.next_at for r in results], [r.ok for r in results],
         [r.delivered for r in results], [r.claimed_by for r in results],
         [None if r.payload is None else Jsonb(r.payload) for r in results]),
    )
    written = {(r["id"], r["claimed_by"]) for r in await cur.fetchall()}
    kept = [r for r in results if (r.id, r.claimed_by) in written]
    if kept:
        await conn.execute(
            """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome,
                                                  response, retry_after, worker)
               SELECT t.id, t.n, t.started, %s, t.status, t.response, t.retry_after, t.worker
               FROM unnest(%b::bigint[], %b::integer[], %b::timestamptz[], %b::text[], %b::text[], %b::float8[],
                           %b::integer[]) AS t(id, n, started, status, response, retry_after, worker)""",
            (now, [r.id for r in kept], [r.attempt for r in kept], [r.started_at for r in kept],
             [r.status for r in kept], [r.response for r in kept], [r.retry_after for r in kept],
             [r.claimed_by for r in kept]),
        )
    return written


async def report(
    conn: Conn, channel: str, provider_id: str, status: str, moves_from: Sequence[str], error: str,
    response: str, now: datetime,
) -> list[Reported]:
    """A provider's later report (delivered, failed) on the deliveries it names, with an attempt row each."""
    cur = await conn.execute(
        """UPDATE notification.deliveries
           SET status = %s, updated_at = %s,
               delivered_at = CASE WHEN %s = 'delivered' THEN %s ELSE delivered_at END,
               last_error = CASE WHEN %s = 'failed' THEN %s ELSE last_error END
           WHERE channel = %s AND provider_id = %s AND status = ANY(%s)
           RETURNING id, notification_id, channel, destination, user_id, alert_id, attempts""",
        (status, now, status, now, status, error, channel, provider_id, list(moves_from)),
    )
    rows = [Reported(**r) for r in await cur.fetchall()]
    if rows:
        await conn.execute(
            """INSERT INTO notification.attempts (delivery_id, attempt, started_at, finished_at, outcome, response)
               SELECT unnest(%s::bigint[]), unnest(%s::integer[]), %s, %s, 'report', %s""",
            ([r.id for r in rows], [r.attempts for r in rows], now, now, response),
        )
    return rows


# ------------------------------------------------------------------------------ circuits


_CIRCUIT = "SELECT channel, state, failures, pauses, generation, probe_id, open_until FROM notification.circuits"


async def circuits(conn: Conn, keys: Sequence[str], *, lock: bool = False) -> dict[str, Circuit]:
    """The circuits that exist among ``keys``; ``lock``: under their row locks, in key order (so two
    transactions never wait on each other in a circle)."""
    sql = _CIRCUIT + " WHERE channel = ANY(%s)" + (" ORDER BY channel FOR UPDATE" if lock else "")
    cur = await conn.execute(sql, (sorted(keys),))
    return {r["channel"]: Circuit.from_row(r) for r in await cur.fetchall()}


async def troubled_circuits(conn: Conn, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are not closed or have counted failures (the rest need no update when all went well)."""
    cur = await conn.execute(
        "SELECT channel FROM notification.circuits WHERE channel = ANY(%s) AND (state <> 'closed' OR failures > 0)",
        (list(keys),),
    )
    return {r["channel"] for r in await cur.fetchall()}


async def lock_circuits(conn: Conn, keys: Sequence[str]) -> list[Circuit]:
    """The circuits for ``keys`` (created closed when missing), locked in key order."""
    await conn.execute(
        "INSERT INTO notification.circuits (channel) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
        (sorted(keys),),
    )
    return list((await circuits(conn, keys, lock=True)).values())


async def save_circuits(conn: Conn, changed: Sequence[Circuit]) -> None:
    if changed:
        await conn.execute(
            """UPDATE notification.circuits c
               SET state = t.state, failures = t.failures, pauses = t.pauses, generation = t.generation,
                   probe_id = t.probe_id, open_until = t.open_until
               FROM unnest(%s::text[], %s::text[], %s::integer[], %s::integer[], %s::bigint[], %s::bigint[],
                           %s::timestamptz[]) AS t(channel, state, failures, pauses, generation, probe_id, open_until)
               WHERE c.channel = t.channel""",
            ([c.channel for c in changed], [c.state for c in changed], [c.failures for c in changed],
             [c.pauses for c in changed], [c.generation for c in changed], [c.probe_id for c in changed],
             [c.open_until for c in changed]),
        )


async def start_probe(conn: Conn, key: str, delivery_id: int, until: datetime) -> None:
    await conn.execute(
        "UPDATE notification.circuits SET state = 'half_open', probe_id = %s, open_until = %s WHERE channel = %s",
        (delivery_id, until, key),
    )


async def release_probes(conn: Conn, delivery_ids: Sequence[int], now: datetime) -> None:
    """A probe that will never answer (requeued, or put back unsent) lets the next one go now."""
    await conn.execute(
        "UPDATE notification.circuits SET probe_id = NULL, open_until = %s WHERE state = 'half_open' AND probe_id = ANY(%s)",
        (now, list(delivery_ids)),
    )


async def free_waiting(
    conn: Conn, channel: str, destination: str | None, held_until: datetime | None, free_at: datetime, now: datetime,
) -> None:
    """What waited for a circuit's probe (due after now, at most ``held_until``) is due at ``free_at``;
    rows a claim holds now see the new circuit state instead."""
    await conn.execute(
        """UPDATE notification.deliveries SET next_attempt_at = %s, updated_at = %s
           WHERE id IN (SELECT id FROM notification.deliveries
                        WHERE status IN ('queued', 'retrying') AND next_attempt_at > %s AND next_attempt_at <= %s
                          AND channel = %s AND (%s::text IS NULL OR destination = %s)
                        FOR UPDATE SKIP LOCKED)""",
        (free_at, now, now, held_until, channel, destination, destination),
    )


# ------------------------------------------------------------------------------ rate buckets


async def lock_buckets(conn: Conn, bursts: Mapping[str, float], now: datetime) -> dict[str, Bucket]:
    """The buckets for ``bursts``' keys (created full when missing), locked in key order."""
    keys = sorted(bursts)
    await conn.execute(
        """INSERT INTO notification.rate_buckets (key, tokens, updated_at)
           SELECT k, b, %s FROM unnest(%s::text[], %s::float8[]) AS t(k, b) ORDER BY k
           ON CONFLICT (key) DO NOTHING""",
        (now, keys, [bursts[k] for k in keys]),
    )
    cur = await conn.execute(
        "SELECT key, tokens, updated_at FROM notification.rate_buckets WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
        (keys,),
    )
    return {r["key"]: Bucket(r["key"], r["tokens"], r["updated_at"]) for r in await cur.fetchall()}


async def save_buckets(conn: Conn, levels: Mapping[str, float], now: datetime) -> None:
    await conn.execute(
        """UPDATE notification.rate_buckets b SET tokens = t.tokens, updated_at = %s
           FROM unnest(%s::text[], %s::float8[]) AS t(key, tokens) WHERE b.key = t.key""",
        (now, list(levels), list(levels.values())),
    )


# ------------------------------------------------------------------------------ what a message carries


MAX_REPLY_CODE = 99


async def reply_code(conn: Conn, channel: str, destination: str, alert_id: int, now: datetime) -> str:
    """The short code a reply uses for this alert at this number: kept if it has one, else the
    smallest free one, else the one assigned longest ago."""
    cur = await conn.execute(
        """SELECT code, alert_id, assigned_at FROM notification.reply_codes
           WHERE channel = %s AND destination = %s ORDER BY assigned_at FOR UPDATE""",
        (channel, destination),
    )
    rows = await cur.fetchall()
    for r in rows:
        if r["alert_id"] == alert_id:
            await conn.execute(
                "UPDATE notification.reply_codes SET assigned_at = %s WHERE channel = %s AND destination = %s AND code = %s",
                (now, channel, destination, r["code"]),
            )
            return str(r["code"])
    used = {r["code"] for r in rows}
    code = next((c for c in range(1, MAX_REPLY_CODE + 1) if c not in used), None)
    if code is None:
        code = rows[0]["code"]
        await conn.execute(
            "DELETE FROM notification.reply_codes WHERE channel = %s AND destination = %s AND code = %s",
            (channel, destination, code),
        )
    await conn.execute(
        """INSERT INTO notification.reply_codes (channel, destination, code, alert_id, assigned_at)
           VALUES (%s, %s, %s, %s, %s)""",
        (channel, destination, code, alert_id, now),
    )
    return str(code)


def hash_token(token: str) -> bytes:
    """What is stored of a one-click token or a remembered key: its SHA-256, never the token."""
    # surrogatepass: a key taken from a request may hold a lone surrogate, and must still hash
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def insert_action_tokens(
    conn: Conn, tokens: Mapping[str, str], alert_id: int, user_id: str | None, channel: str, delivery_id: int,
    expires_at: datetime,
) -> None:
    """One-click tokens (action → token) for a delivery; only each token's hash is stored."""
    hashes = {action: hash_token(token) for action, token in tokens.items()}
    await conn.execute(
        """INSERT INTO notification.action_tokens (token_hash, alert_id, action, user_id, channel, delivery_id, expires_at)
           SELECT unnest(%s::bytea[]), %s, unnest(%s::text[]), %s, %s, %s, %s""",
        (list(hashes.values()), alert_id, list(hashes), user_id, channel, delivery_id, expires_at),
    )


# ------------------------------------------------------------------------------ the channel host's questions


async def recent_user_ids(conn: Conn, limit: int) -> list[str]:
    """Users paged in the last 30 days."""
    cur = await conn.execute(
        """SELECT DISTINCT user_id FROM notification.deliveries
           WHERE user_id IS NOT NULL AND user_id <> '' AND created_at > now() - interval '30 days'
           ORDER BY user_id LIMIT %s""",
        (limit,),
    )
    return [r["user_id"] for r in await cur.fetchall()]


async def last_user_at(conn: Conn, channel: str, destination: str) -> str | None:
    """Whoever was paged at this address most recently."""
    cur = await conn.execute(
        """SELECT user_id FROM notification.deliveries
           WHERE channel = %s AND destination = %s AND user_id IS NOT NULL ORDER BY id DESC LIMIT 1""",
        (channel, destination),
    )
    row = await cur.fetchone()
    return None if row is None else row["user_id"]


async def last_alert_sent_to(conn: Conn, channel: str, destination: str) -> int | None:
    """The alert of the newest message sent to this address."""
    cur = await conn.execute(
        """SELECT alert_id FROM notification.deliveries
           WHERE channel = %s AND destination = %s AND alert_id IS NOT NULL AND status IN ('sent', 'delivered')
           ORDER BY coalesce(sent_at, updated_at) DESC, id DESC LIMIT 1""",
        (channel, destination),
    )
    row = await cur.fetchone()
    return None if row is None else row["alert_id"]


async def sent_messages(conn: Conn, alert_id: int, channel: str) -> list[tuple[str, str]]:
    """(destination, provider id) of what this channel posted about an alert."""
    cur = await conn.execute(
        """SELECT DISTINCT destination, provider_id FROM notification.deliveries
           WHERE alert_id = %s AND channel = %s AND provider_id IS NOT NULL""",
        (alert_id, channel),
    )
    return [(r["destination"], r["provider_id"]) for r in await cur.fetchall()]


async def sent_payload(conn: Conn, channel: str, provider_id: str) -> Any:
    cur = await conn.execute(
        """SELECT payload FROM notification.deliveries
           WHERE channel = %s AND provider_id = %s AND bundled_into IS NULL ORDER BY id LIMIT 1""",
        (channel, provider_id),
    )
    row = await cur.fetchone()
    return row["payload"] if row else None


# ------------------------------------------------------------------------------ message edits
# (``edits``: messages posted about an incident, rewritten as it changes)


@dataclass(frozen=True, slots=True)
class DueEdit:
    """A claimed edit: the message, the delivery that posted it, and how to render it again."""

    channel: str
    provider_id: str
    delivery_id: int
    incident_id: int
    destination: str
    alert_id: int | None
    failures: int
    template_id: str | None
    template_version: int | None
    context: Mapping[str, Any]
    shown: Mapping[str, Any] | None = None




async def mark_edits(conn: Conn, incident_ids: Sequence[int], channels: Mapping[str, float], now: datetime) -> int:
    """Mark the messages the editing ``channels`` (name → edit interval, s) posted about these
    incidents as pending; returns how many rows were marked."""
    if not incident_ids or not channels:
        return 0
    names = sorted(channels)
    cur = await conn.execute(
        """WITH posted AS (
               SELECT DISTINCT ON (d.channel, d.provider_id) d.channel, d.provider_id, d.id, n.incident_id,
                      coalesce(d.sent_at, %(now)s) AS sent_at, iv.interval_s
               FROM notification.notifications n
               JOIN notification.deliveries d ON d.notification_id = n.id
               JOIN unnest(%(names)s::text[], %(intervals)s::float8[]) AS iv(channel, interval_s)
                    ON iv.channel = d.channel
               WHERE n.incident_id = ANY(%(ids)s) AND d.provider_id IS NOT NULL AND d.bundled_into IS NULL
                     AND d.bundle_size = 1 AND d.status IN ('sent', 'delivered')
               ORDER BY d.channel, d.provider_id, d.id
           )
           INSERT INTO notification.message_edits AS e
               (channel, provider_id, delivery_id, incident_id, interval_s, due_at)
           SELECT channel, provider_id, id, incident_id, interval_s,
                  greatest(%(now)s, sent_at + make_interval(secs => interval_s))
           FROM posted
           ON CONFLICT (channel, provider_id) DO UPDATE SET
               pending = true, failures = 0, interval_s = EXCLUDED.interval_s,
               -- a pending row keeps its turn (a retry's gives way); else the next edit waits out the interval
               due_at = CASE WHEN e.pending AND e.failures = 0 THEN e.due_at
                             ELSE greatest(%(now)s, coalesce(e.edited_at, %(now)s)
                                           + make_interval(secs => EXCLUDED.interval_s))
                        END""",
        {"ids": sorted(set(incident_ids)), "names": names, "intervals": [channels[n] for n in names], "now": now},
    )
    return cur.rowcount


async def claim_edits(conn: Conn, now: datetime, limit: int) -> list[DueEdit]:
    """Take the due edits (not pending any more, edited now) with what re-rendering them needs."""
    cur = await conn.execute(
        """WITH due AS (
               SELECT channel, provider_id FROM notification.message_edits
               WHERE pending AND due_at <= %(now)s
               ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
           ), taken AS (
               UPDATE notification.message_edits e SET pending = false, edited_at = %(now)s, claims = e.claims + 1
               FROM due WHERE e.channel = due.channel AND e.provider_id = due.provider_id
               RETURNING e.channel, e.provider_id, e.delivery_id, e.incident_id, e.failures
           )
           SELECT t.*, e.shown, d.destination, d.alert_id, n.template_id, n.template_version, n.context
           FROM taken t
           JOIN notification.message_edits e ON e.channel = t.channel AND e.provider_id = t.provider_id
           JOIN notification.deliveries d ON d.id = t.delivery_id
           JOIN notification.notifications n ON n.id = d.notification_id
           ORDER BY t.incident_id, t.channel, t.provider_id""",
        {"now": now, "limit": limit},
    )
    return [DueEdit(r["channel"], r["provider_id"], r["delivery_id"], r["incident_id"], r["destination"],
                    r["alert_id"], r["failures"], r["template_id"], r["template_version"], r["context"] or {},
                    r["shown"])
            for r in await cur.fetchall()]


async def record_shown(conn: Conn, done: Sequence[tuple[DueEdit, Mapping[str, Any]]]) -> None:
    """What the edited messages show now (the next change is compared to it)."""
    if done:
        await conn.execute(
            """UPDATE notification.message_edits e SET shown = t.shown, failures = 0, last_error = ''
               FROM unnest(%s::text[], %s::text[], %s::jsonb[]) AS t(channel, provider_id, shown)
               WHERE e.channel = t.channel AND e.provider_id = t.provider_id""",
            ([e.channel for e, _ in done], [e.provider_id for e, _ in done],
             [Jsonb(dict(shown)) for _, shown in done]),
        )


async def next_edit_due(conn: Conn) -> datetime | None:
    cur = await conn.execute("SELECT min(due_at) AS due FROM notification.message_edits WHERE pending")
    row = await cur.fetchone()
    return row["due"] if row else None


async def edit_failed(conn: Conn, edit: DueEdit, error: str, retry: bool, retry_at: datetime) -> None:
    """A failed edit: pending again at ``retry_at`` when ``retry``; a change made meanwhile keeps
    its own, earlier turn."""
    await conn.execute(
        """UPDATE notification.message_edits SET failures = failures + 1, last_error = %s,
                  pending = pending OR %s,
                  due_at = CASE WHEN pending THEN due_at ELSE %s END
           WHERE channel = %s AND provider_id = %s""",
        (error[:1000], retry, retry_at, edit.channel, edit.provider_id),
    )


# ------------------------------------------------------------------------------ pruning


async def prune(conn: Conn, now: datetime, retention_days: int) -> dict[str, int]:
    """Delete what nothing needs any more; returns rows deleted per table (see ``Notifier.prune``)."""
    statements: dict[str, tuple[str, datetime]] = {
        "action_tokens": ("DELETE FROM notification.action_tokens WHERE expires_at < %s", now - timedelta(days=1)),
        "reply_codes": ("DELETE FROM notification.reply_codes WHERE assigned_at < %s", now - timedelta(days=30)),
        "rate_buckets": ("DELETE FROM notification.rate_buckets WHERE updated_at < %s", now - timedelta(days=1)),
        "seen_requests": ("DELETE FROM notification.seen_requests WHERE expires_at < %s", now),
    }
    if retention_days > 0:
        statements["notifications"] = (
            """DELETE FROM notification.notifications n WHERE n.created_at < %s
               AND NOT EXISTS (SELECT 1 FROM notification.deliveries d WHERE d.notification_id = n.id
                               AND d.status IN ('queued', 'sending', 'retrying'))""",
            now - timedelta(days=retention_days),
        )
    deleted: dict[str, int] = {}
    for table, (sql, before) in statements.items():
        cur = await conn.execute(sql, (before,))
        deleted[table] = cur.rowcount
    return deleted
