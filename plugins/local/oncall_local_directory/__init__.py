"""OnCall's reference user directory, for standalone use: users and contact methods in a YAML
file, served over the ``oncall.directory.v1`` contract on loopback, so the core speaks to it
exactly as it speaks to kneutral-api. Manage the file with the ``oncall-directory`` command.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from oncall_hookspecs import Directory, hookimpl

__all__ = ["register_directories"]


@hookimpl
def register_directories(register: Callable[[Directory], None]) -> None:
    # imported here so that `oncall-directory list` does not load gRPC
    from .directory import LocalDirectory
    from .settings import LocalSettings
    from .users_file import UsersFile

    # nothing starts here: the server starts on the first lookup, in the server's event loop
    settings = LocalSettings.from_env()
    token = settings.token or secrets.token_urlsafe(32)  # only this process's client knows it
    register(LocalDirectory(UsersFile(settings.file), settings.addr, token, settings.timeout_s))
