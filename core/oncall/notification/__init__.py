"""Notification: templates per channel, rendered in a sandbox, validated on save.

``templates`` holds the model and the built-in defaults, ``render`` turns a template and an
alert context into named strings per channel (what a renderer plugin turns into the
channel's payload), and ``validate`` checks a template against a sample before it is saved,
running the channel's rules from its renderer plugin.
"""

from oncall.notification.render import RenderError, RenderLimits, RenderedChannel, TemplateRenderer, render
from oncall.notification.templates import (
    BUNDLE_SAMPLE_CONTEXT,
    DEFAULT_TEMPLATES,
    SAMPLE_CONTEXT,
    Channel,
    ChannelTemplate,
    Template,
)
from oncall.notification.validate import Problem, ValidationResult, validate

__all__ = [
    "BUNDLE_SAMPLE_CONTEXT",
    "DEFAULT_TEMPLATES",
    "SAMPLE_CONTEXT",
    "Channel",
    "ChannelTemplate",
    "Problem",
    "RenderError",
    "RenderLimits",
    "RenderedChannel",
    "Template",
    "TemplateRenderer",
    "ValidationResult",
    "render",
    "validate",
]
