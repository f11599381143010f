"""An incident's title from its grouping rule's title template, rendered with its first alert.

The template is written in the notification templates' language and runs in the same
sandbox (``notification.render``), on a budget far smaller than a page's: a title is one
line. A title that fails to render, or renders empty, is the alert's summary, so an
incident always has one; the rule's author finds the mistake on save (``check_title_template``)
or in TestGrouping, never by an incident without a title.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from ..clock import SYSTEM_CLOCK
from ..notification.budget import BUDGET, Budget, BudgetExceeded, RenderLimits
from ..notification.render import TemplateRenderer
from ..notification.templates import SAMPLE_CONTEXT, Escape

#: characters of a title kept (the rest is cut, with an ellipsis)
MAX_TITLE = 200
#: characters of a title template
MAX_TEMPLATE = 2000

_LIMITS = RenderLimits(time_budget_s=0.05, max_steps=20_000, max_range=1_000, max_string=10_000,
                       max_output=10_000, max_written=50_000)
_RENDERER = TemplateRenderer(_LIMITS, cache_size=256)


def _render(source: str, context: Mapping[str, Any]) -> str:
    """``source`` rendered with ``context`` in the sandbox; raises what the template did."""
    template = _RENDERER.compile(source, Escape.TEXT)
    token = BUDGET.set(Budget(_LIMITS, SYSTEM_CLOCK.now(), "UTC"))
    try:
        out: list[str] = []
        total = 0
        try:
            for chunk in template.root_render_func(template.new_context(dict(context))):
                total += len(chunk)
                if total > _LIMITS.max_output:
                    raise BudgetExceeded(f"output longer than {_LIMITS.max_output} characters")
                out.append(chunk)
        except Exception:  # noqa: BLE001 - re-raised by Jinja with the template's line numbers
            template.environment.handle_exception()
    finally:
        BUDGET.reset(token)
    return "".join(out)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1].rstrip() + "…"


def _summary(context: Mapping[str, Any]) -> str:
    alert = context.get("alert")
    summary = alert.get("summary") if isinstance(alert, Mapping) else None
    return summary if isinstance(summary, str) else ""


def render_title(template: str, context: Mapping[str, Any]) -> str:
    """The title ``template`` gives for ``context`` (an alert's render context), on one line
    of at most ``MAX_TITLE`` characters; the alert's summary when it fails or is empty."""
    if not template.strip():
        return _summary(context)
    try:
        title = _one_line(_render(template, context))
    except (Exception, RecursionError):  # noqa: BLE001 - any failure of a template gives the summary
        return _summary(context)
    return title or _summary(context)


def check_title_template(template: str) -> str | None:
    """Why ``template`` can't be saved (it does not compile, or fails on the sample alert), or None."""
    if not template.strip():
        return None
    if len(template) > MAX_TEMPLATE:
        return f"title_template is longer than {MAX_TEMPLATE} characters"
    try:
        _render(template, {"alert": dict(SAMPLE_CONTEXT["alert"])})
    except jinja2.TemplateSyntaxError as exc:
        return f"title_template is invalid: {exc.message} at line {exc.lineno}"
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - what the template did is the author's to fix
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        return f"title_template fails on a sample alert: {str(exc) or type(exc).__name__}{where}"
    return None
