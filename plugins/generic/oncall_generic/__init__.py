"""GoAlert's generic API as an OnCall source.

Parameters come from the query string, a form body or a JSON body (the body wins):
``summary`` (required), ``details``, ``action=close``, ``dedup`` and ``meta``. Without
``dedup`` the key is a hash of summary and details, as GoAlert does. GoAlert answers 204
with no body, or a JSON description of the alert when the caller asks for JSON.
"""

from __future__ import annotations

import hashlib
from typing import Any

from oncall_hookspecs import (
    Action,
    AlertEvent,
    BadRequest,
    InboundRequest,
    IngestOutcome,
    IngestResult,
    WebhookResponse,
    hookimpl,
)

_FIELDS = ("summary", "details", "action", "dedup", "token", "integrationKey")


def _str_field(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("invalid_type", f"field '{name}' must be a string, got {type(value).__name__}")
    return value


def _meta(params: dict[str, Any], doc: dict[str, Any]) -> dict[str, str]:
    """``meta`` as a JSON object, or ``meta.KEY=value`` / ``meta=KEY=value`` parameters."""
    meta: dict[str, str] = {}
    for source in (params, doc):
        raw = source.get("meta")
        if isinstance(raw, dict):
            for k, v in raw.items():
                meta[str(k)] = v if isinstance(v, str) else str(v)
        elif isinstance(raw, str) and "=" in raw:
            k, _, v = raw.partition("=")
            meta[k] = v
        elif raw is not None and not isinstance(raw, str):
            raise BadRequest("invalid_type", "field 'meta' must be an object of strings")
        for k, v in source.items():
            if isinstance(k, str) and k.startswith("meta.") and len(k) > 5:
                meta[k[5:]] = v if isinstance(v, str) else str(v)
    return meta


class GenericSource:
    name = "generic"
    paths = ("/api/v2/generic/incoming",)

    def _params(self, request: InboundRequest) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        media = request.media_type
        if request.body.strip():
            if media == "application/json" or (not media and request.body.lstrip()[:1] == b"{"):
                params.update(request.json_object())
            elif media in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
                params.update(request.form())
            elif media == "text/plain":
                pass  # GoAlert ignores a plain body; parameters are in the query
            else:
                raise BadRequest(
                    "unsupported_media_type",
                    f"content type {media!r} is not accepted; send JSON, a form, or query parameters",
                    status=415,
                )
        return params

    def key_from(self, request: InboundRequest) -> str | None:
        params = self._params(request)
        for name in ("token", "integrationKey"):
            value = params.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        params = self._params(request)
        summary = _str_field(params, "summary")
        details = _str_field(params, "details") or ""
        action = (_str_field(params, "action") or "").strip().lower()
        dedup = _str_field(params, "dedup")
        if action not in ("", "close", "trigger"):
            raise BadRequest("invalid_value", f"action must be 'close' or absent, got {action!r}")
        if action != "close" and not (summary and summary.strip()):
            raise BadRequest("missing_field", "'summary' is required")
        summary = (summary or "").strip()
        if not dedup:
            # GoAlert's default: the same summary and details are the same alert
            dedup = "auto:" + hashlib.sha256(f"{summary}\n{details}".encode()).hexdigest()
        meta = _meta(dict(request.query), params)
        return [
            AlertEvent(
                action=Action.RESOLVE if action == "close" else Action.TRIGGER,
                dedup_key=dedup,
                summary=summary,
                details=details,
                severity=str(params.get("severity") or "critical"),
                labels=meta,
                raw={k: v for k, v in params.items() if k not in ("token", "integrationKey")},
            )
        ]

    def respond(self, request: InboundRequest, results: list[IngestResult]) -> WebhookResponse:
        if "application/json" not in request.headers.get("Accept", ""):
            return WebhookResponse(status=204)
        r = results[0]
        return WebhookResponse(
            status=200,
            body={
                "AlertID": r.alert_id,
                "IsNew": r.outcome == IngestOutcome.CREATED,
                "dedup_key": r.dedup_key,
                "outcome": r.outcome.value,
            },
        )


@hookimpl
def register_sources(register):
    register(GenericSource())
