"""The renderer contract: its default renders clean, its validation refuses what its channel can't take, and it never raises.

``check_renderer(renderer, default, rejects=…)`` takes the template output the channel's
default template renders to (part name → text), and outputs the channel would refuse. The
default must give a payload with no errors; each reject must give errors. Then every part
is replaced by hostile text (hypothesis: huge, empty, NUL, lone surrogates, and for a part
that holds JSON the document with a hostile value in one of its fields) or dropped: the
renderer must answer each with a ``RenderedPayload`` for its channel, never an exception,
and a payload it reports no errors for must be JSON the core can store (it goes to the
outbox as it is).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oncall_hookspecs import RenderedPayload, Renderer

from .. import corpus
from ..alerts import alert_view
from ..registration import ContractViolation, check_shape

HOSTILE_TEXT = [
    "", " ", "\n" * 1000, "\x00", "a\x00b", "\ud800", "x\udc00y", "\ufffd", "\u202e", "<script>alert(1)</script>",
    "x" * 1_000_000, "é" * 100_000, "{{ alert.summary }}", "{", "[" * 10_000, "null", "NaN", "1e999",
]  # fmt: skip


def default_context() -> dict[str, Any]:
    """A render context like the core's: the alert as a mapping, and a few links."""
    view = alert_view()
    alert = {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}
    alert["labels"] = dict(view.labels)
    alert["annotations"] = dict(view.annotations)
    for key in ("created_at", "last_received_at"):
        alert[key] = alert[key].isoformat()
    return {"alert": alert, "links": {"alert": "https://oncall.example.com/alerts/42"},
            "actions": {"acknowledge": "https://oncall.example.com/a/tok1"}}


def rendered(renderer: Renderer, output: Mapping[str, str], context: Mapping[str, Any], case: str) -> RenderedPayload:
    """``renderer.render`` held to the contract: a RenderedPayload for its channel, never an exception."""
    try:
        result = renderer.render(output, context)
    except Exception as exc:
        raise ContractViolation(f"render raised {type(exc).__name__} ({case}): {str(exc)[:300]}") from exc
    if not isinstance(result, RenderedPayload):
        raise ContractViolation(f"render must return a RenderedPayload, got {type(result).__name__} ({case})")
    if result.channel != renderer.channel:
        raise ContractViolation(f"the payload is for channel {result.channel!r}, the renderer's is {renderer.channel!r}")
    for name in ("errors", "warnings"):
        messages = getattr(result, name)
        if not isinstance(messages, list) or not all(isinstance(m, str) and m for m in messages):
            raise ContractViolation(f"{name} must be a list of non-empty strings, got {messages!r:.300} ({case})")
    if not result.errors:
        if result.payload is None:
            raise ContractViolation(f"a payload with no errors must not be None ({case})")
        _storable(result.payload, case)
    return result


def _storable(payload: Any, case: str) -> None:
    """JSON that PostgreSQL's jsonb holds: UTF-8 text (no lone surrogate), no NUL, no NaN."""
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ContractViolation(
            f"the payload has no errors but is not JSON the core can store ({case}): {type(exc).__name__}: {exc}"
        ) from exc
    if _holds_nul(payload):
        raise ContractViolation(f"the payload has no errors but holds a NUL character, which the core cannot store ({case})")


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def check_renderer(
    renderer: Renderer,
    default: Mapping[str, str],
    *,
    rejects: Iterable[Mapping[str, str]] = (),
    context: Mapping[str, Any] | None = None,
    max_examples: int = 150,
) -> None:
    """Run the renderer contract; raises ContractViolation naming the first case that broke it."""
    check_shape("renderers", Renderer, renderer)
    context = default_context() if context is None else context
    result = rendered(renderer, default, context, "the default")
    if result.errors:
        raise ContractViolation(f"the default template output has errors: {result.errors}")
    for i, reject in enumerate(rejects):
        refused = rendered(renderer, reject, context, f"reject {i}")
        if not refused.errors:
            raise ContractViolation(
                f"reject {i} ({_parts(reject)}) rendered with no errors: the channel cannot take it, so "
                "validation must say why"
            )
    rendered(renderer, default, {}, "the default with an empty context")
    rendered(renderer, {}, context, "no parts at all")
    rendered(renderer, {**default, "unknown-part": "x"}, context, "an extra part")
    for part in default:
        rendered(renderer, {k: v for k, v in default.items() if k != part}, context, f"without {part!r}")
        for text in HOSTILE_TEXT:
            rendered(renderer, {**default, part: text}, context, f"{part} = {text!r:.60}")
    _fuzz(renderer, default, context, max_examples)


def _json_variants(text: str) -> st.SearchStrategy[str] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    places = list(corpus.paths(doc))
    if not places:
        return None
    return st.builds(
        lambda place, value: corpus.encode(corpus.replaced(doc, place, value)).decode("utf-8", "replace"),
        st.sampled_from(places),
        st.one_of(corpus.values(), st.just(corpus.DELETE)),
    )


def _fuzz(renderer: Renderer, default: Mapping[str, str], context: Mapping[str, Any], max_examples: int) -> None:
    texts: list[st.SearchStrategy[str]] = [st.text(max_size=200), st.sampled_from(HOSTILE_TEXT)]
    parts = list(default)
    strategies = {part: st.one_of(*texts, *[v for v in [_json_variants(default[part])] if v is not None])
                  for part in parts}
    if not parts:
        return

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def hostile_parts(data: st.DataObject) -> None:
        part = data.draw(st.sampled_from(parts))
        text = data.draw(strategies[part])
        rendered(renderer, {**default, part: text}, context, f"{part} = {text!r:.200}")

    hostile_parts()


def _parts(output: Mapping[str, str]) -> str:
    return ", ".join(f"{k}: {len(v)} characters" for k, v in output.items())
