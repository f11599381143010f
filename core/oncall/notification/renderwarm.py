"""Imported once by the render processes' forkserver: the installed channels' default templates compiled before any fork.

Each render process is a fork of that server, so each starts with the defaults compiled
in the shared renderer (``pipeline.shared_renderer``) and renders its first page at full speed.
"""

from __future__ import annotations

from . import channels
from .pipeline import shared_renderer
from .render import RenderError
from .templates import DEFAULT_SAMPLES, Template

for _context in DEFAULT_SAMPLES.values():
    for _channel in channels.current():
        try:
            shared_renderer().render(Template(), _channel, _context)
        except RenderError:  # a plugin's broken default: its sends say so, each with the minimal message
            pass
