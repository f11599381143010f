"""Parses and answers PagerDuty Events API v2 alert events (trigger, acknowledge, resolve)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from oncall_hookspecs import (
    Action,
    AlertEvent,
    BadRequest,
    InboundRequest,
    IngestResult,
    WebhookResponse,
)

from oncall_hookspecs import payload as fields

T = TypeVar("T")

_ACTIONS = {"trigger": Action.TRIGGER, "acknowledge": Action.ACKNOWLEDGE, "resolve": Action.RESOLVE}
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024  # PagerDuty's limits, enforced as PagerDuty enforces them
MAX_DEDUP_KEY = 255
_LABEL_FIELDS = ("source", "component", "group", "class")


class _Problems:
    """Collects every problem in an event, so the sender learns of all of them at once,
    as PagerDuty's own ``errors`` list does."""

    def __init__(self) -> None:
        self.found: list[BadRequest] = []

    def check(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return read(*args, **kwargs)
        except BadRequest as exc:
            self.found.append(exc)
            return None

    def add(self, error: str, detail: str) -> None:
        self.found.append(BadRequest(error, detail))

    def raise_any(self) -> None:
        if self.found:
            first = self.found[0]
            raise BadRequest(first.error, "; ".join(p.detail for p in self.found))


def details_text(custom: Any) -> str:
    """``custom_details`` as text a person reads in a page: ``key: value`` lines for an object."""
    if custom is None:
        return ""
    if isinstance(custom, str):
        return custom
    if isinstance(custom, dict):
        return "\n".join(
            f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in custom.items()
        )
    return json.dumps(custom, ensure_ascii=False)


def _context_list(
    problems: _Problems, doc: dict[str, Any], name: str, required: str, optional: tuple[str, ...]
) -> list[dict[str, Any]]:
    """``links`` or ``images``: objects with one required string and some optional ones."""
    items = problems.check(fields.array, doc, name) or []
    kept: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = fields.at(name, i)
        if not isinstance(item, dict):
            problems.add("invalid_type", f"'{where}' must be an object, got {fields.json_type(item)}")
            continue
        problems.check(fields.string, item, required, where, required=True)
        for opt in optional:
            problems.check(fields.string, item, opt, where)
        kept.append(item)
    return kept


class PagerDutySource:
    """``POST /api/v1/webhooks/pagerduty`` and PagerDuty's own path, ``/v2/enqueue``."""

    name = "pagerduty"
    paths: Sequence[str] = ("/v2/enqueue",)
    #: PagerDuty's own limit on an event (senders written for it stay under it)
    max_body_bytes = 512 * 1024

    def key_from(self, request: InboundRequest) -> str | None:
        """The event's ``routing_key``: PagerDuty senders carry their key in the body."""
        doc = request.json()
        if isinstance(doc, dict):
            key = doc.get("routing_key")
            if isinstance(key, str) and key:
                return key
        return None

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        doc = fields.json_body(request)
        problems = _Problems()
        problems.check(fields.string, doc, "routing_key")
        action_name = problems.check(fields.string, doc, "event_action", required=True)
        if action_name is not None and action_name not in _ACTIONS:
            problems.add(
                "invalid_value",
                f"'event_action' must be one of 'trigger', 'acknowledge', 'resolve', got {action_name!r}",
            )
        dedup_key = problems.check(fields.string, doc, "dedup_key") or ""
        if not dedup_key.strip():
            dedup_key = ""  # a blank key is no key
        if len(dedup_key) > MAX_DEDUP_KEY:
            problems.add(
                "invalid_value", f"'dedup_key' is {len(dedup_key)} characters; the limit is {MAX_DEDUP_KEY}"
            )
        action = _ACTIONS.get(action_name or "")
        event: AlertEvent | None = None
        if action is Action.TRIGGER:
            event = self._trigger(doc, problems, dedup_key)
        elif action is not None:
            if not dedup_key:
                problems.add("missing_field", f"'dedup_key' is required to {action_name}")
            # acknowledge and resolve carry only the key; PagerDuty ignores a payload on them
            event = AlertEvent(action=action, dedup_key=dedup_key, raw=_without_key(doc))
        problems.raise_any()
        assert event is not None  # every reason for having none was recorded as a problem
        return [event]

    def _trigger(self, doc: dict[str, Any], problems: _Problems, dedup_key: str) -> AlertEvent | None:
        payload = problems.check(fields.obj, doc, "payload", required=True)
        links = _context_list(problems, doc, "links", "href", ("text",))
        images = _context_list(problems, doc, "images", "src", ("href", "alt"))
        client = problems.check(fields.string, doc, "client")
        client_url = problems.check(fields.string, doc, "client_url")
        if payload is None:
            return None
        summary = problems.check(fields.string, payload, "summary", "payload", required=True)
        if summary is not None and len(summary) > MAX_SUMMARY:
            problems.add(
                "invalid_value", f"'payload.summary' is {len(summary)} characters; the limit is {MAX_SUMMARY}"
            )
        problems.check(fields.string, payload, "source", "payload", required=True)
        severity = problems.check(fields.string, payload, "severity", "payload", required=True)
        if severity is not None and severity.strip() and severity not in SEVERITIES:
            problems.add(
                "invalid_value",
                f"'payload.severity' must be one of {', '.join(SEVERITIES)}, got {severity!r}",
            )
        occurred_at = problems.check(fields.timestamp, payload, "timestamp", "payload")
        labels = {
            name: value
            for name in _LABEL_FIELDS
            if (value := problems.check(fields.string, payload, name, "payload"))
        }
        custom = payload.get("custom_details")
        annotations: dict[str, Any] = {}
        if custom is not None:
            annotations["custom_details"] = custom
        if links:
            annotations["links"] = links
        if images:
            annotations["images"] = images
        if client:
            annotations["client"] = client
        if client_url:
            annotations["client_url"] = client_url
        return AlertEvent(
            action=Action.TRIGGER,
            # PagerDuty makes up a unique key when the sender gives none: each such trigger
            # is a new alert, and the answer tells the sender the key to resolve it with
            dedup_key=dedup_key or uuid.uuid4().hex,
            summary=summary or "",
            details=details_text(custom),
            severity=severity or "",
            labels=labels,
            annotations=annotations,
            occurred_at=occurred_at,
            raw=_without_key(doc),
        )

    def respond(self, request: InboundRequest, results: list[IngestResult]) -> WebhookResponse:
        """PagerDuty's answer: 202 with the dedup key, whatever became of the event."""
        return WebhookResponse(
            status=202,
            body={
                "status": "success",
                "message": "Event processed",
                "dedup_key": results[0].dedup_key if results else "",
            },
        )


def _without_key(doc: dict[str, Any]) -> dict[str, Any]:
    # the routing key is a credential: it is never stored
    return {k: v for k, v in doc.items() if k != "routing_key"}
