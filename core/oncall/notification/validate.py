"""Validation of a template on save: syntax, unknown variables, and each channel's rules on a rendered sample.

Errors block the save; warnings are returned with it. Expressions made only of constants
are also evaluated under the render budget wherever they are, so one that always overruns it
(``{% if rare %}{{ 'a' * 10**9 }}{% endif %}``) is refused even when the sample never reaches
it; what depends on the alert is bounded when it renders. The channel rules (Slack's 50 blocks,
an SMS's segments, the email HTML allow-list …) belong to the channel's renderer plugin and
run on what the template renders from the sample context, because limits are properties of
the output, not of the source: validation calls the same renderer a send does. A template
saved without a sample of the caller's is rendered with each default sample (one alert, a
bundle, a grouped incident: ``templates.DEFAULT_SAMPLES``), so one that breaks only when
alerts are grouped is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import meta, nodes
from oncall_hookspecs import RenderedPayload, Renderer

from oncall.notification.render import RenderError, TemplateRenderer
from oncall.notification import channels as catalog
from oncall.notification.templates import DEFAULT_SAMPLES, OPTIONAL_CONTEXT, Template


@dataclass(frozen=True)
class Problem:
    """One finding; ``part`` is empty when it concerns the channel as a whole."""

    channel: str
    part: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.channel}.{self.part}" if self.part else str(self.channel)
        return where + (f" line {self.line}" if self.line else "") + f": {self.message}"


@dataclass
class ValidationResult:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_RENDERER = TemplateRenderer()


def validate(
    template: Template, sample: Mapping[str, Any] | None = None, channels: list[str] | None = None,
    renderer: TemplateRenderer | None = None, *, renderers: Mapping[str, Renderer],
) -> ValidationResult:
    """Check the channels the template sets (or ``channels``) against ``sample``.

    With no ``sample``, against each of ``DEFAULT_SAMPLES`` (one alert, a bundle, a grouped
    incident): what fails on any of them is an error (said with the sample it failed on when
    that is not the first, and only when the ones before it passed); warnings are the
    first's, and a variable is unknown when none of them has it.
    ``renderers`` is the registry's renderer family (channel name → Renderer): a channel's
    rules are whatever its renderer reports for the rendered sample, and a channel without
    one cannot be sent, so that is an error.
    """
    samples = list(DEFAULT_SAMPLES.items()) if sample is None else [("the sample", sample)]
    renderer = renderer or _RENDERER
    result = ValidationResult()
    installed = catalog.current()
    for channel in channels or list(template.channels):
        spec = installed.get(channel)
        if spec is None:
            result.errors.append(Problem(channel, "", str(catalog.UnknownChannel(channel, installed))))
            continue
        plugin = renderers.get(channel)
        if plugin is None:
            result.errors.append(Problem(channel, "", f"no renderer plugin for channel {channel!r} is installed"))
        sources: dict[str, str] = {}
        said: set[tuple[str, str, int | None]] = set()  # (part, message, line) already reported
        for part, escape in spec.parts.items():
            source = template.source(channel, part)
            try:
                ast = renderer.environment(escape).parse(source)
            except jinja2.TemplateSyntaxError as exc:
                result.errors.append(Problem(channel, part, f"syntax error: {exc.message}", exc.lineno))
                continue
            unknown = _unknown_variables(ast, [s for _, s in samples])
            result.warnings += [Problem(channel, part, msg, line) for msg, line in unknown]
            always = renderer.constant_overruns(ast, escape)
            result.errors += [Problem(channel, part, f"{msg} (whatever the alert)", line) for msg, line in always]
            said |= {(part, msg, line) for msg, line in always}
            sources[part] = source
        for i, (name, context) in enumerate(samples):
            if i > 0 and any(e.channel == channel for e in result.errors):
                break  # the others are to find what fails only for them: said once is enough
            on = "" if i == 0 else f" (with {name})"
            rendered: dict[str, str] = {}
            for part, source in sources.items():
                try:
                    rendered[part] = renderer.render_part(channel, part, source, context)
                except RenderError as exc:
                    if (part, exc.message, exc.line) not in said:
                        said.add((part, exc.message, exc.line))
                        result.errors.append(Problem(channel, part, exc.message + on, exc.line))
            if plugin is not None and len(rendered) == len(spec.parts):
                outcome = _run_renderer(plugin, channel, rendered, context)
                result.errors += [_problem(channel, m + on) for m in outcome.errors]
                if i == 0:  # a rule's advice (an SMS of two segments) is about the sample shown
                    result.warnings += [_problem(channel, m) for m in outcome.warnings]
    return result


def _run_renderer(
    plugin: Renderer, channel: str, rendered: Mapping[str, str], sample: Mapping[str, Any],
) -> RenderedPayload:
    try:
        return plugin.render(rendered, sample)
    except Exception as exc:  # noqa: BLE001 - a renderer plugin's failure is this template's error
        return RenderedPayload(channel, None, errors=[f"the {channel} renderer failed: {exc}"])


def _problem(channel: str, message: str) -> Problem:
    """A renderer's message as a Problem: ``"html: …"`` names the part, else the channel's only part."""
    parts = catalog.current().parts(channel)
    name, sep, rest = message.partition(": ")
    if sep and name in parts:
        return Problem(channel, name, rest)
    return Problem(channel, next(iter(parts)) if len(parts) == 1 else "", message)


# ------------------------------------------------------------------------------ unknown variables


_BUILTIN_NAMES = frozenset({"range", "dict", "namespace", "loop", "self", "varargs", "kwargs", "caller", "true",
                            "false", "none", "True", "False", "None"})


def _unknown_variables(ast: nodes.Template, samples: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Paths like ``alert.sumary`` the template reads from its context that no sample has, with lines."""
    roots = meta.find_undeclared_variables(ast) - _BUILTIN_NAMES
    found: dict[str, int] = {}

    def missing(sample: Mapping[str, Any], path: list[Any]) -> int | None:
        """How deep ``path`` goes into ``sample`` before it is missing; None when it is there."""
        value: Any = sample
        for depth, key in enumerate(path):
            if isinstance(value, Mapping) and key in value:
                value = value[key]
            elif isinstance(value, (list, tuple)) and isinstance(key, int) and -len(value) <= key < len(value):
                value = value[key]
            elif depth > 0 and not isinstance(value, (Mapping, list, tuple)):
                return None  # a method or attribute of a plain value (``.upper``): not the sample's business
            elif depth == 0 and key in OPTIONAL_CONTEXT:
                return None  # set only for some sends (``bundle``, ``reply_code``): a sample may leave it out
            else:
                return depth
        return None

    def check(path: list[Any], line: int) -> None:
        depths = [missing(sample, path) for sample in samples]
        if all(d is not None for d in depths):
            deepest = max(d for d in depths if d is not None)
            found.setdefault(".".join(str(k) for k in path[: deepest + 1]), line)

    def chain(node: nodes.Node) -> list[Any] | None:
        path: list[Any] = []
        while True:
            if isinstance(node, nodes.Getattr):
                path.append(node.attr)
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                path.append(node.arg.value)
            elif isinstance(node, nodes.Name):
                path.append(node.name)
                return path[::-1] if node.name in roots else None
            else:
                return None
            node = node.node

    def visit(node: nodes.Node) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            path = chain(node)
            if path is not None:
                check(path, node.lineno)
                if isinstance(node, nodes.Getitem):
                    visit(node.arg)
                return
        for child in node.iter_child_nodes():
            visit(child)

    visit(ast)
    return [(f"{path!r} is not in the sample context", line) for path, line in found.items()]


__all__ = ["Problem", "ValidationResult", "validate"]
