"""Templates and their immutable versions: create, update (version n+1), read, list, soft delete.

Every save validates first (errors block it, warnings come back with the saved version) and
then writes a new ``template_versions`` row; a version row is never updated, so a
notification can always show exactly what it was rendered from. ``templates`` holds the
name, the current version and the deletion mark; its row is locked while a version is
added, so concurrent updates get consecutive versions instead of a conflict.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall_hookspecs import Renderer
from psycopg.types.json import Jsonb

from ..auth import teams
from ..auth.principal import require
from ..errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from ..store.database import Conn, Pool
from ..store.errors import violations
from .pipeline import InProcess, Rendering
from .templates import Template, TemplateShapeError
from .validate import Problem

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_NAME = 200
MAX_DESCRIPTION = 2000


class VersionConflict(Aborted):
    """An update named an expected version that is no longer current (someone saved first)."""


@dataclass(slots=True)
class StoredTemplate:
    """A template at one version (the current one unless a version was asked for)."""

    id: str
    name: str
    description: str
    version: int
    current_version: int
    channels: dict[str, dict[str, str]]
    sample: dict[str, Any] | None
    created_by: str
    version_created_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    #: the team it belongs to (who may edit it); None: no team
    team_id: str | None = None


@dataclass(slots=True)
class TemplateVersion:
    template_id: str
    version: int
    channels: dict[str, dict[str, str]]
    sample: dict[str, Any] | None
    created_by: str
    created_at: datetime


@dataclass(slots=True)
class Saved:
    """What a save returns: the stored version, and the warnings validation found."""

    template: StoredTemplate
    warnings: list[Problem] = field(default_factory=list)


# ------------------------------------------------------------------------------ checks


def parse_channels(channels: Mapping[str, Any]) -> Template:
    """The template a mapping describes; an unknown channel or part is InvalidArgument."""
    try:
        return Template.from_mapping(channels)
    except TemplateShapeError as exc:
        raise InvalidArgument(str(exc)) from None


def _as_json(template: Template) -> dict[str, dict[str, str]]:
    return {str(ch): dict(t.parts) for ch, t in template.channels.items()}


async def check(
    template: Template, sample: Mapping[str, Any] | None, renderers: Mapping[str, Renderer],
    rendering: Rendering | None = None,
) -> list[Problem]:
    """Validate for saving: raise InvalidArgument listing every error, else return the warnings.

    Runs where ``rendering`` renders (the server's render processes; else a thread of this
    one): a hostile template may spend its whole render budget, and the event loop serves
    everyone else meanwhile.
    """
    result = await (rendering or InProcess(renderers)).validate(template, sample)
    if result.errors:
        listed = "; ".join(str(p) for p in result.errors)
        raise InvalidArgument(f"the template has {len(result.errors)} error(s): {listed}")
    return list(result.warnings)


def _check_text(name: str, description: str) -> None:
    if not name.strip():
        raise InvalidArgument("name is required")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"name is {len(name)} characters; the limit is {MAX_NAME}")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidArgument(f"description is {len(description)} characters; the limit is {MAX_DESCRIPTION}")


def slug(name: str) -> str:
    """An id made from a name: ``"Payments pages!"`` → ``"payments-pages"``."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return text or "template"


# ------------------------------------------------------------------------------ writes


async def create_template(
    pool: Pool, *, renderers: Mapping[str, Renderer], name: str, channels: Mapping[str, Any],
    id: str | None = None, description: str = "", sample: Mapping[str, Any] | None = None, created_by: str = "",
    rendering: Rendering | None = None, team_id: str | None = None,
) -> Saved:
    """Save version 1 of a new template, of team ``team_id`` (None: no team). ``id`` empty: one is made from the name."""
    require("templates:write", "templates", team_id)
    name = name.strip() or (id or "").strip()
    _check_text(name, description)
    if id:
        id = id.strip()
        if not _ID.match(id):
            raise InvalidArgument(
                f"template id {id!r} must be 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            )
    template = parse_channels(channels)
    warnings = await check(template, sample, renderers, rendering)
    sample_json = Jsonb(dict(sample)) if sample is not None else None
    async with pool.connection() as conn:
        for attempt in range(5):
            candidate = id or (slug(name) if attempt == 0 else f"{slug(name)}-{secrets.token_hex(3)}")
            async with conn.transaction():
                with violations(foreign_key=teams.UNKNOWN_TEAM):
                    cur = await conn.execute(
                        """INSERT INTO notification.templates (id, name, description, current_version, team_id)
                           VALUES (%s, %s, %s, 1, %s) ON CONFLICT (id) DO NOTHING RETURNING id""",
                        (candidate, name, description, team_id),
                    )
                if await cur.fetchone() is None:
                    if id:
                        raise AlreadyExists(f"a template with id {id!r} already exists (deleted templates keep theirs)")
                    continue
                await conn.execute(
                    """INSERT INTO notification.template_versions (template_id, version, channels, sample, created_by)
                       VALUES (%s, 1, %s, %s, %s)""",
                    (candidate, Jsonb(_as_json(template)), sample_json, created_by),
                )
                return Saved(await _read(conn, candidate, 1), warnings)
    raise AlreadyExists(f"no free id could be made from the name {name!r}; choose an id")


async def update_template(
    pool: Pool, template_id: str, *, renderers: Mapping[str, Renderer], channels: Mapping[str, Any],
    name: str | None = None, description: str | None = None, sample: Mapping[str, Any] | None = None,
    keep_sample: bool = True, created_by: str = "", expected_version: int | None = None,
    rendering: Rendering | None = None, team_id: str | None | teams.Unchanged = teams.UNCHANGED,
) -> Saved:
    """Save version n+1 with ``channels`` (the whole new version, not a patch).

    ``sample`` None with ``keep_sample``: the previous version's sample. ``name`` or
    ``description`` None, ``team_id`` UNCHANGED: unchanged.
    """
    template = parse_channels(channels)
    previous = await get_template(pool, template_id)
    # refused before rendering anything; asked again below, of the row locked
    require("templates:write", f"templates/{template_id}", previous.team_id, teams.after(previous.team_id, team_id))
    if sample is None and keep_sample:
        sample = previous.sample
    new_name = previous.name if name is None else name.strip()
    new_description = previous.description if description is None else description
    _check_text(new_name, new_description)
    warnings = await check(template, sample, renderers, rendering)  # no connection held meanwhile
    async with pool.connection() as conn:
        async with conn.transaction():
            # the lock orders concurrent saves: the second waits, then sees n+1 and writes n+2
            cur = await conn.execute(
                """SELECT current_version, team_id FROM notification.templates
                   WHERE id = %s AND deleted_at IS NULL FOR UPDATE""",
                (template_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"template {template_id!r} not found")
            team = teams.after(row["team_id"], team_id)
            require("templates:write", f"templates/{template_id}", row["team_id"], team)
            current = int(row["current_version"])
            if expected_version and expected_version != current:
                raise VersionConflict(
                    f"template {template_id!r} is at version {current}, not {expected_version}: "
                    "someone saved it meanwhile; read it again and reapply your change"
                )
            version = current + 1
            await conn.execute(
                """INSERT INTO notification.template_versions (template_id, version, channels, sample, created_by)
                   VALUES (%s, %s, %s, %s, %s)""",
                (template_id, version, Jsonb(_as_json(template)),
                 Jsonb(dict(sample)) if sample is not None else None, created_by),
            )
            with violations(foreign_key=teams.UNKNOWN_TEAM):
                await conn.execute(
                    """UPDATE notification.templates
                       SET current_version = %s, name = %s, description = %s, team_id = %s, updated_at = now()
                       WHERE id = %s""",
                    (version, new_name, new_description, team, template_id),
                )
            return Saved(await _read(conn, template_id, version), warnings)


async def delete_template(pool: Pool, template_id: str) -> None:
    """Mark deleted: gone from lists and new sends; its versions stay readable by number."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT team_id FROM notification.templates WHERE id = %s AND deleted_at IS NULL FOR UPDATE",
            (template_id,))
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"template {template_id!r} not found")
        require("templates:write", f"templates/{template_id}", found["team_id"])
        cur = await conn.execute(
            """UPDATE notification.templates SET deleted_at = now(), updated_at = now()
               WHERE id = %s AND deleted_at IS NULL RETURNING id""",
            (template_id,),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"template {template_id!r} not found")


# ------------------------------------------------------------------------------ reads

_SELECT = """SELECT t.id, t.name, t.description, v.version, t.current_version, v.channels, v.sample,
                    v.created_by, v.created_at AS version_created_at, t.created_at, t.updated_at, t.deleted_at,
                    t.team_id
             FROM notification.templates t
             JOIN notification.template_versions v ON v.template_id = t.id"""


async def _read(conn: Conn, template_id: str, version: int | None) -> StoredTemplate:
    if version is None:
        cur = await conn.execute(
            _SELECT + " WHERE t.id = %s AND v.version = t.current_version AND t.deleted_at IS NULL", (template_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"template {template_id!r} not found")
    else:
        cur = await conn.execute(_SELECT + " WHERE t.id = %s AND v.version = %s", (template_id, version))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"template {template_id!r} has no version {version}")
    return StoredTemplate(**row)


async def get_template(pool: Pool, template_id: str, version: int | None = None) -> StoredTemplate:
    """A template at ``version`` (None: the current one). Old versions, even of a deleted
    template, stay readable by number; a deleted template has no current version."""
    if version is not None and version <= 0:
        raise InvalidArgument("version must be positive (or unset for the current one)")
    async with pool.connection() as conn:
        return await _read(conn, template_id, version)


async def list_templates(
    pool: Pool, *, include_deleted: bool = False, only_teams: tuple[str, ...] | None = None,
) -> list[StoredTemplate]:
    """Every template (or only those of ``only_teams``) at its current version, by id."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            _SELECT + """ WHERE v.version = t.current_version AND (%s OR t.deleted_at IS NULL)
                            AND (%s::text[] IS NULL OR t.team_id = ANY(%s::text[])) ORDER BY t.id""",
            (include_deleted, teams.param(only_teams), teams.param(only_teams)),
        )
        return [StoredTemplate(**row) for row in await cur.fetchall()]


async def list_versions(pool: Pool, template_id: str) -> list[TemplateVersion]:
    """Every version of a template (also a deleted one), oldest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT template_id, version, channels, sample, created_by, created_at
               FROM notification.template_versions WHERE template_id = %s ORDER BY version""",
            (template_id,),
        )
        rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"template {template_id!r} not found")
    return [TemplateVersion(**row) for row in rows]

