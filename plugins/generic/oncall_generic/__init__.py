"""GoAlert's generic API as an OnCall source, so GoAlert integrations can be repointed unchanged.

Parameters come from the query string, a form (urlencoded or multipart) or a JSON body,
the body winning: ``summary`` (required), ``details``, ``action=close``, ``dedup`` and
``meta``. Without ``dedup`` the key is a hash of summary and details, as GoAlert makes it.
The key may travel as GoAlert's ``token`` (or ``integrationKey``) as well as the usual
ways. Served at ``POST /api/v1/webhooks/generic`` and at GoAlert's
``/api/v2/generic/incoming``; the answer is 204, or JSON when ``Accept`` asks for it.
"""

from __future__ import annotations

from collections.abc import Callable

from oncall_hookspecs import Source, hookimpl

from .source import GenericSource

__all__ = ["GenericSource", "register_sources"]


@hookimpl
def register_sources(register: Callable[[Source], None]) -> None:
    register(GenericSource())
