"""What a request says about teams: the team a resource is created in or moved to, and a list's team filter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..auth import teams
from ..auth.principal import my_teams


class _Listing(Protocol):
    @property
    def team_ids(self) -> Iterable[str]: ...
    @property
    def my_teams(self) -> bool: ...


class _Moving(Protocol):
    @property
    def team_id(self) -> str: ...
    def HasField(self, field_name: str) -> bool: ...  # noqa: N802 - protobuf's name


def created_in(team_id: str) -> str | None:
    """A create request's ``team_id``: None for no team, else the slug (INVALID_ARGUMENT when it is not one)."""
    return teams.team_of(team_id)


def moved_to(request: _Moving) -> str | None | teams.Unchanged:
    """An update request's ``optional team_id``: unset keeps the team; "" is no team."""
    return teams.team_of(request.team_id) if request.HasField("team_id") else teams.UNCHANGED


def team_filter(request: _Listing) -> tuple[str, ...] | None:
    """The teams a list keeps (``team_ids``, and the caller's with ``my_teams``); None: no filter."""
    named = [teams.check_id(t, "team_ids") for t in request.team_ids]
    if not named and not request.my_teams:
        return None
    return tuple(dict.fromkeys([*named, *(my_teams() if request.my_teams else ())]))
