"""The pluggy markers for the project name ``oncall``."""

import pluggy

PROJECT = "oncall"
ENTRY_POINT_GROUP = "oncall"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
