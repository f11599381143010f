"""The REST API's reference page (``/api/docs``): the OpenAPI document as plain server-side HTML.

No script, no stylesheet from elsewhere: one page with a section per service, each route's
verb, path, description, parameters, body fields and response message, and the schemas
they refer to, linked by anchor.
"""

from __future__ import annotations

import re

from html import escape
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1b1b1b}
code,pre{font:13px ui-monospace,monospace}h2{border-bottom:1px solid #ccc;margin-top:2em}
.op{border:1px solid #ddd;border-radius:4px;padding:.5em 1em;margin:1em 0}
.verb{display:inline-block;min-width:4.5em;font-weight:bold}.GET{color:#1565c0}.POST{color:#2e7d32}
.PUT{color:#ef6c00}.DELETE{color:#c62828}.PATCH{color:#6a1b9a}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;
vertical-align:top}nav{display:flex;flex-wrap:wrap;gap:.3em 1em}
"""


def _prose(text: str) -> str:
    """A description (CommonMark, as OpenAPI has it) as HTML: escaped, `code` spans as code,
    blank lines as paragraph breaks; nothing else of Markdown is read."""
    escaped = escape(text)
    spans = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped)
    return spans.replace("\n\n", "</p><p>")


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short HTML type name, a referenced schema as a link."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#{escape(name)}">{escape(name.rsplit(".", 1)[-1])}</a>'
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of string → {_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(v)}</code>" for v in schema["enum"])
    text = " or ".join(kind) if isinstance(kind, list) else (kind or "any JSON")
    if "format" in schema:
        text += f" ({schema['format']})"
    return escape(text)


def _fields(schema: dict[str, Any]) -> str:
    props = schema.get("properties", {})
    if not props:
        return "<p><em>no fields</em></p>"
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{_type(s)}</td><td>{_prose(s.get('description', ''))}</td></tr>"
        for name, s in props.items()
    )
    return f"<table><tr><th>field</th><th>type</th><th></th></tr>{rows}</table>"


def _operation(path: str, verb: str, op: dict[str, Any]) -> str:
    parts = [f'<div class="op" id="{escape(op["operationId"])}">',
             f'<div><span class="verb {verb.upper()}">{verb.upper()}</span> <code>{escape(path)}</code></div>',
             f"<p>{_prose(op.get('description', ''))}</p>"]
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td><td>{_type(p['schema'])}</td>"
            f"<td>{_prose(p.get('description', ''))}</td></tr>" for p in params
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>{rows}</table>")
    body = op.get("requestBody")
    if body:
        parts.append("<p>JSON body:</p>" + _fields(body["content"]["application/json"]["schema"]))
    ok = op["responses"]["200"]
    content = ok.get("content", {})
    if "application/json" in content:
        parts.append(f"<p>Answers {_type(content['application/json']['schema'])}.</p>")
    else:
        parts.append(f"<p>{escape(ok['description'])}</p>")
    parts.append("</div>")
    return "".join(parts)


def render(document: dict[str, Any]) -> str:
    """The reference page of an OpenAPI document built by ``rest.openapi``."""
    by_tag: dict[str, list[str]] = {}
    for path, ops in document["paths"].items():
        for verb, op in ops.items():
            by_tag.setdefault(op["tags"][0], []).append(_operation(path, verb, op))
    tags = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
    nav = "".join(f'<a href="#{escape(t)}">{escape(t)}</a>' for t in sorted(by_tag))
    sections = "".join(
        f'<h2 id="{escape(tag)}">{escape(tag)}</h2><p>{escape(tags.get(tag, ""))}</p>{"".join(ops)}'
        for tag, ops in sorted(by_tag.items())
    )
    schemas = "".join(
        f'<div class="op" id="{escape(name)}"><strong>{escape(name)}</strong>'
        f"<p>{_prose(s.get('description', ''))}</p>"
        + (_fields(s) if s.get("type") == "object" else f"<p>{_type(s)}</p>") + "</div>"
        for name, s in document["components"]["schemas"].items()
    )
    info = document["info"]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(info["title"])}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head><body>'
        f'<h1>{escape(info["title"])}</h1><p>{escape(info.get("description", ""))}</p>'
        f'<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> '
        f"(OpenAPI {escape(document['openapi'])}).</p><nav>{nav}</nav>{sections}"
        f"<h2 id=\"schemas\">Schemas</h2>{schemas}</body></html>"
    )
