"""Builders for the requests plugins see: ``InboundRequest`` (a source, a channel callback) and ``AuthRequest`` (an authenticator).

Headers are case-insensitive (as aiohttp's are), ``query`` holds the first value of each
parameter and ``query_all`` every value, and ``url`` is the public URL the caller
addressed, so signature schemes that sign the URL (Twilio) can be tested.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from multidict import CIMultiDict
from oncall_hookspecs import AuthRequest, InboundRequest

PUBLIC_URL = "https://oncall.example.com"

Query = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


def _pairs(query: Query | None) -> list[tuple[str, str]]:
    if not query:
        return []
    if isinstance(query, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in query.items():
            values = [value] if isinstance(value, str) else list(value)
            pairs.extend((key, v) for v in values)
        return pairs
    return list(query)


def inbound_request(
    body: bytes | str = b"",
    *,
    method: str = "POST",
    path: str = "/",
    query: Query | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    content_type: str = "",
    public_url: str = PUBLIC_URL,
) -> InboundRequest:
    """An ``InboundRequest`` with ``body`` (text is sent as UTF-8) and a ``Content-Type`` header when given."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    pairs = _pairs(query)
    all_values: dict[str, list[str]] = {}
    for key, value in pairs:
        all_values.setdefault(key, []).append(value)
    sent: CIMultiDict[str] = CIMultiDict(headers or {})
    if content_type and "Content-Type" not in sent:
        sent["Content-Type"] = content_type
    query_string = urlencode(pairs)
    return InboundRequest(
        method=method,
        path=path,
        query={k: v[0] for k, v in all_values.items()},
        query_all=all_values,
        headers=sent,
        body=raw,
        content_type=sent.get("Content-Type", ""),
        url=f"{public_url.rstrip('/')}{path}" + (f"?{query_string}" if query_string else ""),
    )


def json_request(doc: Any, **kwargs: Any) -> InboundRequest:
    """A request whose body is ``doc`` as JSON (``Content-Type: application/json`` unless given)."""
    kwargs.setdefault("content_type", "application/json")
    return inbound_request(json.dumps(doc).encode(), **kwargs)


def form_request(fields: Query, **kwargs: Any) -> InboundRequest:
    """A request whose body is ``fields`` form-encoded (``application/x-www-form-urlencoded``)."""
    kwargs.setdefault("content_type", "application/x-www-form-urlencoded")
    return inbound_request(urlencode(_pairs(fields)).encode(), **kwargs)


def with_body(request: InboundRequest, body: bytes, content_type: str | None = None) -> InboundRequest:
    """``request`` with another body (and content type), its path, query and other headers kept."""
    headers: CIMultiDict[str] = CIMultiDict(request.headers)
    if content_type is not None:
        headers.popall("Content-Type", None)
        if content_type:
            headers["Content-Type"] = content_type
    return InboundRequest(
        method=request.method,
        path=request.path,
        query=request.query,
        query_all=request.query_all,
        headers=headers,
        body=body,
        content_type=headers.get("Content-Type", ""),
        url=request.url,
    )


def auth_request(
    headers: Mapping[str, str] | None = None, peer: str = "127.0.0.1", transport: str = "grpc",
    target: str = "/oncall.alerting.v1.AlertService/ListAlerts",
) -> AuthRequest:
    """A request as an authenticator sees it (header names lower-cased, as the core gives them)."""
    return AuthRequest(transport=transport, headers={k.lower(): v for k, v in (headers or {}).items()}, peer=peer,
                       target=target)
