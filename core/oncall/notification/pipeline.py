"""The one rendering path: template → sandboxed parts → the channel's renderer plugin → payload.

``RenderPreview`` and the delivery worker both call :func:`render_for`, and the bytes a
preview shows are :func:`payload_bytes` of its payload — the same bytes a JSON channel
(the outgoing webhook) sends — so a preview is what a send would deliver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from oncall_hookspecs import RenderedPayload, Renderer
from oncall_hookspecs.payload import canonical_json

from ..errors import NotFound
from .render import RenderError, TemplateRenderer
from .templates import Channel, Template

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
