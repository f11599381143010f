"""The one rendering path: template → sandboxed parts → the channel's renderer plugin → payload.

``RenderPreview`` and the delivery worker both render with :func:`render_for` (a send through
:func:`render_send`), and the bytes a preview shows are :func:`payload_bytes` of its payload —
the same bytes a JSON channel (the outgoing webhook) sends — so a preview is what a send
would deliver.

A send always has something to send: when the notification's template fails for a channel,
the channel's default renders instead, and when that fails too, a minimal message made
without Jinja (``templates.minimal_parts``); the result says what failed on the way, for
the alert's timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from oncall_hookspecs import RenderedPayload, Renderer
from oncall_hookspecs.payload import canonical_json

from ..errors import NotFound
from .render import RenderError, TemplateRenderer
from .templates import Channel, Template, minimal_parts

_RENDERER = TemplateRenderer()

# (template id, version) → Template: versions are immutable, so the cache never goes stale
_VERSIONS: dict[tuple[str, int], Template] = {}
_DEFAULT = Template()


def render_for(
    template: Template, channel: str, context: Mapping[str, Any], renderers: Mapping[str, Renderer],
    *, renderer: TemplateRenderer | None = None,
) -> RenderedPayload:
    """Render one channel; failures come back as ``errors`` (payload None), never raised."""
    try:
        ch = Channel(channel)
    except ValueError:
        return RenderedPayload(channel, None, errors=[f"no template channel named {channel!r}"])
    plugin = renderers.get(channel)
    if plugin is None:
        return RenderedPayload(channel, None, errors=[f"no renderer plugin for channel {channel!r} is installed"])
    try:
        parts = (renderer or _RENDERER).render(template, ch, context).parts
    except RenderError as exc:
        return RenderedPayload(channel, None, errors=[str(exc)])
    try:
        return plugin.render(parts, context)
    except Exception as exc:  # noqa: BLE001 - a renderer plugin's failure is this render's error
        return RenderedPayload(channel, None, errors=[f"the {channel} renderer failed: {exc}"])


def payload_bytes(payload: Any) -> bytes:
    """The canonical bytes of a payload: what a preview shows and a JSON channel sends."""
    return canonical_json(payload)


# ------------------------------------------------------------------------------ sends


@dataclass(frozen=True, slots=True)
class SendJob:
    """One message to render for sending: the notification's template, the channel, the context."""

    template: Template
    channel: str
    context: Mapping[str, Any]

    @property
    def custom(self) -> bool:
        """Whether the template sets any part of this channel (else the default renders it)."""
        return any(c.value == self.channel for c in self.template.channels)


#: which template made a send's payload
USED_TEMPLATE, USED_DEFAULT, USED_MINIMAL = "template", "default", "minimal"


@dataclass(frozen=True, slots=True)
class SendRender:
    """What a send renders: the payload, which template made it, and what failed on the way.

    ``failures`` are ``(stage, why)`` in order: ``("template", …)`` when the notification's
    own template failed, ``("default", …)`` when the channel's default did.
    """

    rendered: RenderedPayload
    used: str = USED_TEMPLATE
    failures: tuple[tuple[str, str], ...] = field(default=())


def render_minimal(channel: str, context: Mapping[str, Any], renderers: Mapping[str, Renderer]) -> RenderedPayload:
    """The last resort: ``templates.minimal_parts`` through the channel's renderer plugin."""
    try:
        ch = Channel(channel)
    except ValueError:
        return RenderedPayload(channel, None, errors=[f"no template channel named {channel!r}"])
    plugin = renderers.get(channel)
    if plugin is None:
        return RenderedPayload(channel, None, errors=[f"no renderer plugin for channel {channel!r} is installed"])
    try:
        return plugin.render(minimal_parts(ch, context), context)
    except Exception as exc:  # noqa: BLE001 - even then: say why, and the delivery fails
        return RenderedPayload(channel, None, errors=[f"the minimal {channel} message failed: {exc}"])


def render_send(
    job: SendJob, renderers: Mapping[str, Renderer], *, renderer: TemplateRenderer | None = None,
) -> SendRender:
    """The message to send for ``job``: its template's, else the channel's default, else the minimal one."""
    failures: list[tuple[str, str]] = []
    if job.custom:
        rendered = render_for(job.template, job.channel, job.context, renderers, renderer=renderer)
        if not rendered.errors:
            return SendRender(rendered, USED_TEMPLATE)
        failures.append((USED_TEMPLATE, "; ".join(rendered.errors)))
    rendered = render_for(_DEFAULT, job.channel, job.context, renderers, renderer=renderer)
    if not rendered.errors:
        return SendRender(rendered, USED_DEFAULT if failures else USED_TEMPLATE, tuple(failures))
    failures.append((USED_DEFAULT, "; ".join(rendered.errors)))
    return SendRender(render_minimal(job.channel, job.context, renderers), USED_MINIMAL, tuple(failures))


_NOTE_ERROR = 300  # characters of one error in a timeline note


def fallback_note(result: SendRender, channel: str, template_id: str | None, version: int | None) -> str | None:
    """The alert timeline's line for a send that did not go out as its template meant, else None."""
    if not result.failures:
        return None
    why = {stage: (text if len(text) <= _NOTE_ERROR else text[: _NOTE_ERROR - 1] + "…")
           for stage, text in result.failures}
    sent = f"the default {channel} message was sent" if result.used == USED_DEFAULT else \
        "a minimal message was sent instead"
    if USED_TEMPLATE in why:
        name = f"template {template_id} v{version}" if template_id else "the template"
        note = f"{name} failed for {channel}: {why[USED_TEMPLATE]}"
        if USED_DEFAULT in why:
            note += f"; the default {channel} template failed too: {why[USED_DEFAULT]}"
        return f"{note}; {sent}"
    return f"the default {channel} template failed: {why[USED_DEFAULT]}; {sent}"


# ------------------------------------------------------------------------------ templates


async def load_template(conn: psycopg.AsyncConnection, template_id: str | None, version: int | None) -> Template:
    """A stored template version (the defaults when ``template_id`` is None)."""
    if not template_id:
        return _DEFAULT
    if version is None:
        cur = await conn.execute(
            "SELECT current_version FROM notification.templates WHERE id = %s AND deleted_at IS NULL", (template_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"template {template_id!r} not found")
        version = int(row["current_version"])
    hit = _VERSIONS.get((template_id, version))
    if hit is not None:
        return hit
    cur = await conn.execute(
        "SELECT channels FROM notification.template_versions WHERE template_id = %s AND version = %s",
        (template_id, version),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"template {template_id!r} has no version {version}")
    template = Template.from_mapping(row["channels"])
    if len(_VERSIONS) > 4096:
        _VERSIONS.clear()
    _VERSIONS[(template_id, version)] = template
    return template


__all__ = [
    "SendJob", "SendRender", "fallback_note", "load_template", "payload_bytes", "render_for", "render_minimal",
    "render_send",
]
