"""GoAlert's generic API: parameters → one AlertEvent, and GoAlert's answer (204, or JSON)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from oncall_hookspecs import (
    Action,
    AlertEvent,
    BadRequest,
    InboundRequest,
    IngestOutcome,
    IngestResult,
    WebhookResponse,
)

from .params import read_params

DEFAULT_SEVERITY = "critical"  # GoAlert pages for every generic alert


def auto_dedup(summary: str, details: str) -> str:
    """GoAlert's key for a call without ``dedup``: a hash of the summary and details.

    The same form as GoAlert's own (``auto:1:`` and the SHA-512 of its description), so
    the same call lands on the same alert here as it did there.
    """
    description = summary if not details else f"{summary}\n{details}"
    # surrogatepass: JSON may carry lone surrogates, and a hash must not be what fails on them
    return "auto:1:" + hashlib.sha512(description.encode("utf-8", "surrogatepass")).hexdigest()


def _wants_json(request: InboundRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";", 1)[0].strip().lower() == "application/json" for part in accept.split(","))


class GenericSource:
    """``POST /api/v1/webhooks/generic``, and GoAlert's ``/api/v2/generic/incoming``."""

    name = "generic"
    paths: Sequence[str] = ("/api/v2/generic/incoming",)

    def key_from(self, request: InboundRequest) -> str | None:
        """GoAlert's ``token`` (or ``integrationKey``) from the query string or the body."""
        values = read_params(request).values
        return values.get("token") or values.get("integrationKey") or None

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        params = read_params(request)
        values = params.values
        # GoAlert's summary is one line; its details keep their formatting (markdown)
        summary = " ".join(values.get("summary", "").split())
        details = values.get("details", "").strip()
        action = values.get("action", "").strip().lower()
        if action not in ("", "trigger", "close"):
            # GoAlert would page for any other action; a typo of "close" must not do that here
            raise BadRequest("invalid_value", f"'action' must be 'close' or absent, got {action!r}")
        dedup = values.get("dedup", "").strip()
        if not summary and not (action == "close" and dedup):
            raise BadRequest(
                "missing_field",
                "'summary' is required" + (" (or 'dedup', to close)" if action == "close" else ""),
            )
        raw: dict[str, object] = {k: v for k, v in values.items() if k not in ("token", "integrationKey")}
        if params.meta:
            raw["meta"] = params.meta
        return [
            AlertEvent(
                action=Action.RESOLVE if action == "close" else Action.TRIGGER,
                dedup_key=dedup or auto_dedup(summary, details),
                summary=summary,
                details=details,
                severity=values.get("severity") or DEFAULT_SEVERITY,
                labels=params.meta,
                raw=raw,
            )
        ]

    def respond(self, request: InboundRequest, results: list[IngestResult]) -> WebhookResponse:
        """204 without a body, as GoAlert; its JSON when the caller asks for JSON."""
        if not _wants_json(request):
            return WebhookResponse(status=204)
        result = results[0]
        return WebhookResponse(
            status=200,
            body={
                "AlertID": result.alert_id,
                "IsNew": result.outcome == IngestOutcome.CREATED,
                "dedup_key": result.dedup_key,
                "outcome": result.outcome.value,
            },
        )
