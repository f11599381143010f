"""The one rendering path: template → sandboxed parts → the channel's renderer plugin → payload.

``RenderPreview``, validation on save and the delivery worker all render here: a preview
with :func:`preview`, a send with :func:`render_send`, both through :func:`render_for`, and
the bytes a preview shows are :func:`payload_bytes` of its payload — the same bytes a JSON
channel (the outgoing webhook) sends — so a preview is what a send would deliver.

A send always has something to send: when the notification's template fails for a channel,
the channel's default renders instead, and when that fails too, a minimal message made
without Jinja (the channel spec's ``minimal``, or one derived from its parts); the result says what failed on the way, for
the alert's timeline.

Where the rendering runs is a ``Rendering``: the render processes (``renderpool.RenderPool``,
what the server uses, so no template can stall the event loop) or this process
(``InProcess``: the CLI and tests that run a notifier without a server).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from oncall_hookspecs import RenderedPayload, Renderer
from oncall_hookspecs.payload import canonical_json

from ..errors import NotFound
from ..store.database import Conn
from .render import RenderError, TemplateRenderer
from . import channels as catalog
from .templates import Template, minimal_parts
from .validate import Problem, ValidationResult, validate

if TYPE_CHECKING:
    from ..context import Context

_RENDERER = TemplateRenderer()

# (template id, version) → Template: versions are immutable, so the cache never goes stale
_VERSIONS: dict[tuple[str, int], Template] = {}
_DEFAULT = Template()


def shared_renderer() -> TemplateRenderer:
    """This process's renderer (default limits), whose compile cache every render here shares."""
    return _RENDERER


def render_for(
    template: Template, channel: str, context: Mapping[str, Any], renderers: Mapping[str, Renderer],
    *, renderer: TemplateRenderer | None = None,
) -> RenderedPayload:
    """Render one channel; failures come back as ``errors`` (payload None), never raised."""
    if channel not in catalog.current():
        return RenderedPayload(channel, None, errors=[str(catalog.UnknownChannel(channel, catalog.current()))])
    plugin = renderers.get(channel)
    if plugin is None:
        return RenderedPayload(channel, None, errors=[f"no renderer plugin for channel {channel!r} is installed"])
    try:
        parts = (renderer or _RENDERER).render(template, channel, context).parts
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
        return self.channel in self.template.channels


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
    if channel not in catalog.current():
        return RenderedPayload(channel, None, errors=[str(catalog.UnknownChannel(channel, catalog.current()))])
    plugin = renderers.get(channel)
    if plugin is None:
        return RenderedPayload(channel, None, errors=[f"no renderer plugin for channel {channel!r} is installed"])
    try:
        return plugin.render(minimal_parts(channel, context), context)
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


# ------------------------------------------------------------------------------ previews


@dataclass(slots=True)
class ChannelPreview:
    """One channel's preview: the canonical payload bytes (None on error) and what was found."""

    channel: str
    payload: bytes | None
    warnings: list[Problem | str] = field(default_factory=list)
    errors: list[Problem | str] = field(default_factory=list)


def _already_said(message: str, problems: Iterable[Problem | str]) -> bool:
    return any((p.message if isinstance(p, Problem) else p) in message for p in problems)


def preview(
    template: Template, channels: Sequence[str], context: Mapping[str, Any], renderers: Mapping[str, Renderer],
    shape_errors: Mapping[str, str] | None = None, *, renderer: TemplateRenderer | None = None,
) -> list[ChannelPreview]:
    """Validate and render each channel exactly as a send would; never raises for the template's faults.

    Synchronous and CPU-bound (a hostile template spends its whole budget): a ``Rendering`` runs it.
    """
    shape_errors = shape_errors or {}
    installed = catalog.current()
    known = [c for c in dict.fromkeys(channels) if c in installed]
    checked = [c for c in known if c not in shape_errors]
    found_errors: dict[str, list[Problem | str]] = {}
    found_warnings: dict[str, list[Problem | str]] = {}
    if checked:
        try:
            result = validate(template, context, channels=checked, renderer=renderer, renderers=renderers)
        except Exception as exc:  # noqa: BLE001 - a preview reports, it does not fail
            for c in checked:
                found_errors.setdefault(c, []).append(f"validation failed: {exc}")
        else:
            for p in result.errors:
                found_errors.setdefault(str(p.channel), []).append(p)
            for p in result.warnings:
                found_warnings.setdefault(str(p.channel), []).append(p)
    out: list[ChannelPreview] = []
    for name in [*dict.fromkeys(channels), *(n for n in shape_errors if n not in channels)]:
        errors = list(found_errors.get(name, []))
        warnings = list(found_warnings.get(name, []))
        if name in shape_errors:
            out.append(ChannelPreview(name, None, warnings, [*errors, shape_errors[name]]))
            continue
        rendered = render_for(template, name, context, renderers, renderer=renderer)
        errors += [e for e in rendered.errors if not _already_said(e, errors)]
        warnings += [w for w in rendered.warnings if not _already_said(w, warnings)]
        if rendered.payload is None and not errors:
            errors.append("the renderer produced no payload")
        payload = None
        if not errors:
            try:
                payload = payload_bytes(rendered.payload)
            except (TypeError, ValueError) as exc:  # NaN, or a value JSON cannot hold
                errors.append(f"the payload is not JSON: {exc}")
        out.append(ChannelPreview(name, payload, warnings, errors))
    return out


# ------------------------------------------------------------------------------ where it runs


class Rendering(Protocol):
    """Where templates render: sends in batches, previews, and the check on save."""

    async def send(self, jobs: Sequence[SendJob]) -> list[SendRender]: ...

    async def preview(
        self, template: Template, channels: Sequence[str], context: Mapping[str, Any],
        shape_errors: Mapping[str, str] | None = None,
    ) -> list[ChannelPreview]: ...

    async def validate(self, template: Template, sample: Mapping[str, Any] | None) -> ValidationResult: ...


class InProcess:
    """Rendering in this process: sends on the event loop, previews and checks in a thread.

    For the CLI and tests without a server; a server renders in its render processes.
    """

    def __init__(self, renderers: Mapping[str, Renderer]) -> None:
        self.renderers = renderers

    async def send(self, jobs: Sequence[SendJob]) -> list[SendRender]:
        return [render_send(job, self.renderers) for job in jobs]

    async def preview(
        self, template: Template, channels: Sequence[str], context: Mapping[str, Any],
        shape_errors: Mapping[str, str] | None = None,
    ) -> list[ChannelPreview]:
        return await asyncio.to_thread(preview, template, channels, context, self.renderers, shape_errors)

    async def validate(self, template: Template, sample: Mapping[str, Any] | None) -> ValidationResult:
        return await asyncio.to_thread(validate, template, sample, channels=None, renderers=self.renderers)


def rendering_for(ctx: Context) -> Rendering:
    """The server's render processes when it has them, else this process."""
    return ctx.render_pool if ctx.render_pool is not None else InProcess(ctx.registry.renderers)


# ------------------------------------------------------------------------------ templates


async def load_template(conn: Conn, template_id: str | None, version: int | None) -> Template:
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
    template = Template.from_mapping(row["channels"], stored=True)
    if len(_VERSIONS) > 4096:
        _VERSIONS.clear()
    _VERSIONS[(template_id, version)] = template
    return template


__all__ = [
    "ChannelPreview", "InProcess", "Rendering", "SendJob", "SendRender",
    "fallback_note", "load_template", "payload_bytes", "preview", "render_for", "render_minimal", "render_send",
    "rendering_for",
]
