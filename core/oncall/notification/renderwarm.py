"""Imported once by the render processes' forkserver: the built-in templates compiled before any fork.

Each render process is a fork of that server, so each starts with the defaults compiled
in the shared renderer (``pipeline.shared_renderer``) and renders its first page at full speed.
"""

from __future__ import annotations

from .pipeline import shared_renderer
from .templates import BUNDLE_SAMPLE_CONTEXT, CHANNEL_PARTS, SAMPLE_CONTEXT, Template

for _context in (SAMPLE_CONTEXT, BUNDLE_SAMPLE_CONTEXT):
    for _channel in CHANNEL_PARTS:
        shared_renderer().render(Template(), _channel, _context)
