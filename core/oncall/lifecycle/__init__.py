"""Lifecycle listeners: plugins hear the committed timeline from durable cursors of their own.

``dispatcher`` drives the listeners (one server at a time each, retries, timeouts),
``streams`` reads an event stream in id order without skipping an id still being written,
``cursors`` is the lifecycle schema's SQL.
"""

from .dispatcher import Dispatcher

__all__ = ["Dispatcher"]
