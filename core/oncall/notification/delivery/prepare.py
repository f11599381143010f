"""Preparing: claimed units → the messages their channels send (templates, render, reply codes, links).

The parts that need a row lock run in the claim's transaction (``with_reply_codes``,
``templates``); the render itself runs after that transaction committed, in the render
processes (``rendering_for``) or a thread, so no template holds a lock or stalls the loop
(``render``). A unit whose template failed gets the channel's default, or else a minimal
message, and the failure goes on the alert's timeline: the page always goes out. One-click
links and those timeline lines are written in one short transaction of their own
(``finish``), before the message is sent.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from oncall_hookspecs import ChannelMessage, RenderedPayload

from ...store.database import Conn
from ..alerting_port import AlertingPort, TimelineLine
from ..pipeline import Rendering, SendJob, SendRender, fallback_note, load_template
from ..templates import Template
from . import capabilities, store
from .claim import Unit

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Prepared:
    """A claimed unit with its message: what goes to the channel, and what failed on the way."""

    unit: Unit
    message: ChannelMessage
    rendered: RenderedPayload
    note: str | None = None  # the render's fallback, for the attempt row and the timeline


def _bundle_context(rows: Sequence[store.DueDelivery]) -> dict[str, Any]:
    alerts = [dict((r.context or {}).get("alert") or {}) for r in rows]
    groups = [str((a.get("labels") or {}).get("service") or a.get("integration") or "") for a in alerts]
    group = groups[0] if groups and all(g == groups[0] for g in groups) and groups[0] else "you"
    return {"count": len(rows), "alerts": alerts, "group": group}


def context_of(unit: Unit) -> dict[str, Any]:
    """The unit's render context: its notification's, with the bundle and the reply code."""
    lead = unit.leader
    context: dict[str, Any] = dict(lead.context or {})
    if len(unit.alert_ids) > 1:  # two pages for one alert (a retry and the next step) are one page
        context["bundle"] = _bundle_context(list({r.alert_id: r for r in unit.rows}.values()))
    if unit.reply_code is not None:
        context["reply_code"] = unit.reply_code
    return context


async def with_reply_codes(conn: Conn, units: Sequence[Unit], now: datetime) -> list[Unit]:
    """Units of reply-code channels about one alert get the code a reply names it by."""
    out = []
    for u in units:
        lead = u.leader
        if capabilities.uses_reply_codes(lead.channel) and lead.alert_id is not None and len(u.alert_ids) == 1:
            u = replace(u, reply_code=await store.reply_code(conn, lead.channel, lead.destination, lead.alert_id, now))
        out.append(u)
    return out


async def template_of(conn: Conn, delivery_id: int, template_id: str | None, version: int | None) -> Template:
    """A delivery's template at the version its notification names (immutable, so cached), or
    the defaults when it is gone: a vanished template must not stop a page (or an edit)."""
    try:
        return await load_template(conn, template_id, version)
    except Exception:  # noqa: BLE001 - the defaults render it
        log.warning("delivery %d: template %s v%s unavailable; using the defaults", delivery_id, template_id, version)
        return Template()


async def templates(conn: Conn, units: Sequence[Unit]) -> list[Template]:
    """Each unit's template (``template_of`` its leader)."""
    return [await template_of(conn, u.leader.id, u.leader.template_id, u.leader.template_version) for u in units]


async def render(rendering: Rendering, units: Sequence[Unit], tmpls: Sequence[Template]) -> list[SendRender]:
    """All units' payloads in one batch, holding no transaction."""
    jobs = [SendJob(t, u.leader.channel, context_of(u)) for u, t in zip(units, tmpls, strict=True)]
    return await rendering.send(jobs) if jobs else []


def writes_anything(units: Sequence[Unit], renders: Sequence[SendRender]) -> bool:
    """Whether ``finish`` writes (links to make, failures to note): else it needs no transaction."""
    return any(r.failures for r in renders) or any(
        capabilities.shows_links(u.leader.channel) and u.leader.alert_id is not None for u in units)


async def finish(
    conn: Conn | None, units: Sequence[Unit], renders: Sequence[SendRender], alerting: AlertingPort, public_url: str,
    link_ttl_s: float, now: datetime,
) -> list[Prepared]:
    """The messages: one-click links made (only their hashes stored), template failures on the timeline."""
    out: list[Prepared] = []
    lines: list[TimelineLine] = []
    for unit, result in zip(units, renders, strict=True):
        lead = unit.leader
        name = lead.channel
        note = fallback_note(result, name, lead.template_id, lead.template_version)
        if note is not None:
            log.warning("delivery %d: %s", lead.id, note)
            failures = [{"template": stage, "error": why} for stage, why in result.failures]
            lines += [TimelineLine(r.alert_id, note, {
                "delivery_id": r.id, "notification_id": r.notification_id, "channel": r.channel,
                "template_id": r.template_id, "template_version": r.template_version, "sent": result.used,
                "failures": failures}) for r in {r.alert_id: r for r in unit.rows}.values() if r.alert_id is not None]
        actions: dict[str, str] = {}
        if capabilities.shows_links(name) and lead.alert_id is not None:
            assert conn is not None  # (writes_anything)
            tokens = {action: secrets.token_urlsafe(24) for action in ("acknowledge", "resolve", "escalate")}
            await store.insert_action_tokens(conn, tokens, lead.alert_id,
                                             lead.user_id, name, lead.id, now + timedelta(seconds=link_ttl_s))
            actions = {action: f"{public_url}/a/{token}" for action, token in tokens.items()}
        alert = lead.context.get("alert") if isinstance(lead.context.get("alert"), Mapping) else {}
        message = ChannelMessage(
            delivery_id=str(lead.id), idempotency_key=lead.idempotency_key, destination=lead.destination,
            payload=result.rendered.payload, alert_id=lead.alert_id, user_id=lead.user_id, channel=name,
            actions=actions, reply_code=unit.reply_code, bundle_count=len(unit.alert_ids),
            alert=dict(alert or {}),
        )
        out.append(Prepared(unit, message, result.rendered, note))
    if lines:
        assert conn is not None  # (writes_anything)
        await alerting.append_timeline(conn, lines, now)
    return out
