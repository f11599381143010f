"""Notification: templates per channel, rendered in a sandbox, validated on save.

``channels`` is the catalog of installed channels (their plugins' specs: parts, defaults,
capabilities), ``templates`` holds the model, ``render`` turns a template and an
alert context into named strings per channel (what a renderer plugin turns into the
channel's payload), and ``validate`` checks a template against a sample before it is saved,
running the channel's rules from its renderer plugin.
"""

from oncall.notification.channels import ChannelCatalog, UnknownChannel
from oncall.notification.render import RenderError, RenderLimits, RenderedChannel, TemplateRenderer, render
from oncall.notification.templates import (
    BUNDLE_SAMPLE_CONTEXT,
    INCIDENT_SAMPLE_CONTEXT,
    SAMPLE_CONTEXT,
    ChannelTemplate,
    Template,
)
from oncall.notification.validate import Problem, ValidationResult, validate

__all__ = [
    "BUNDLE_SAMPLE_CONTEXT",
    "INCIDENT_SAMPLE_CONTEXT",
    "SAMPLE_CONTEXT",
    "ChannelCatalog",
    "ChannelTemplate",
    "Problem",
    "RenderError",
    "RenderLimits",
    "RenderedChannel",
    "Template",
    "TemplateRenderer",
    "UnknownChannel",
    "ValidationResult",
    "render",
    "validate",
]
