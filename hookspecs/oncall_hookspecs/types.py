"""The typed data that crosses the plugin boundary, and the protocols of registered objects.

Plugins hand the core objects through registration hooks (``register_sources(register)``
and friends). Those objects satisfy the protocols below; their I/O methods are ``async``
and run on the server's event loop, while pluggy's hook dispatch stays synchronous.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import ModuleType
from typing import Any, Protocol, runtime_checkable


def plugin_settings(plugin: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Settings for ``plugin`` from ``ONCALL_<PLUGIN>_*`` environment variables.

    Keys come back lower-cased without the prefix: ``ONCALL_SLACK_BOT_TOKEN`` → ``bot_token``.
    """
    env = os.environ if environ is None else environ
    prefix = "ONCALL_" + plugin.upper().replace("-", "_") + "_"
    return {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- sources


class BadRequest(Exception):
    """Raised by a source when an inbound request is malformed; the client gets a 4xx.

    ``error`` is a short machine-readable code (``invalid_json``, ``missing_field`` …),
    ``detail`` a sentence naming the problem for a human.
    """

    def __init__(self, error: str, detail: str, status: int = 400) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.status = status


_NO_JSON = object()

# ----------------------------------------------------------------------- the JSON parser
# One parser for every inbound body, strict and bounded. It accepts RFC 8259 JSON in UTF-8
# whose numbers fit a double, nested at most MAX_JSON_DEPTH containers deep; everything
# else is a BadRequest naming the problem: NaN and Infinity (not JSON), 1e999 (no double
# holds it), lone UTF-16 surrogate escapes (not text), other encodings, a byte-order mark,
# deeper nesting. Depth is refused here, once, so nothing downstream (a plugin turning
# ``custom_details`` into text, templates, the store) recurses over a sender's depth.
#
# A NUL character (\u0000) is valid JSON but text PostgreSQL can't hold: it becomes U+FFFD,
# the replacement character, in strings and keys alike, as the core does with every other
# string it stores. A sender isn't refused for it: a refused alert group is lost.

#: the deepest nesting of objects and arrays a body may have (``{"a": [1]}`` is 2 deep)
MAX_JSON_DEPTH = 64

_orjson: ModuleType | None
try:  # the fast parser when the core's dependencies are installed; the contract needs only pluggy
    import orjson as _orjson
except ImportError:  # pragma: no cover - the contract's own tests run without it
    _orjson = None

# In JSON text a NUL can only be the escape \u0000 inside a string, found where its
# backslash isn't itself escaped ("\\u0000" is a backslash and the text "u0000").
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
_NOT_NUMBERS = (b"NaN", b"Infinity", b"-Infinity")
_SURROGATE_DETAIL = "the body contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not text"
_UTF8_DETAIL = "the body is not valid UTF-8 (JSON is UTF-8)"
_HUGE_DETAIL = "a number is too large: beyond the range of a double (about 1.8e308)"


def parse_json(body: bytes) -> Any:
    """``body`` parsed; BadRequest ("invalid_json") for anything but plain, bounded JSON."""
    if b"\\u0000" in body:
        body = _NUL_ESCAPE.sub(rb"\1\\ufffd", body)
    doc = _parse_orjson(body) if _orjson is not None else _parse_stdlib(body)
    if _deeper_than(doc, MAX_JSON_DEPTH):
        raise _too_deep()
    return doc


def _too_deep() -> BadRequest:
    return BadRequest("invalid_json", f"the body is nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays")


def _parse_orjson(body: bytes) -> Any:
    assert _orjson is not None
    try:
        return _orjson.loads(body)
    except _orjson.JSONDecodeError as exc:
        raise BadRequest("invalid_json", _explain(exc.msg, exc.pos, body)) from None


def _explain(msg: str, pos: int, body: bytes) -> str:
    """A sentence for the sender from orjson's message and where it stopped."""
    near = body[max(pos - 1, 0) : pos + 9]
    if any(c in near for c in _NOT_NUMBERS):
        return f"NaN and Infinity are not JSON numbers (at byte {pos})"
    if "infinity" in msg:
        return f"{_HUGE_DETAIL} (at byte {pos})"
    if "byte order mark" in msg:
        return "the body starts with a byte order mark (BOM); JSON is sent without one"
    if "UTF-8" in msg:
        return _UTF8_DETAIL
    if "surrogate" in msg:
        return _SURROGATE_DETAIL
    if "depth" in msg or "recursion" in msg:
        return _too_deep().detail
    return f"the body is not valid JSON: {msg} (at byte {pos})"


def _deeper_than(doc: Any, limit: int) -> bool:
    """Whether ``doc`` nests more than ``limit`` containers; iterative, so any depth is safe to ask about."""
    if not isinstance(doc, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


# The same rules with the standard parser, for plugins tested against the contract alone.


def _not_a_number(name: str) -> Any:
    raise ValueError(f"NaN and Infinity are not JSON numbers ({name})")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(_HUGE_DETAIL)
    return value


def _integer(text: str) -> int | float:
    # as orjson reads them: integers beyond 64 bits become doubles
    value = int(text) if len(text) <= 21 else None
    if value is not None and -(2**63) <= value < 2**64:
        return value
    return _finite(text)


def _parse_stdlib(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("invalid_json", _UTF8_DETAIL) from None
    try:
        doc = json.loads(text, parse_constant=_not_a_number, parse_float=_finite, parse_int=_integer)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # a BOM too: loads refuses one in a str
        raise BadRequest("invalid_json", f"the body is not valid JSON: {exc}") from None
    if _has_lone_surrogate(doc):
        raise BadRequest("invalid_json", _SURROGATE_DETAIL)
    return doc


def _has_lone_surrogate(doc: Any) -> bool:
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


@dataclass(eq=False)
class InboundRequest:
    """An HTTP request as a source sees it: the body is already read and size-checked."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    content_type: str = ""
    #: every value of each query parameter, for protocols that repeat one (GoAlert's ``meta``)
    query_all: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: the full URL as the caller addressed it (``ONCALL_PUBLIC_URL`` + path + query string),
    #: for signature schemes that sign the URL (Twilio)
    url: str = ""
    _json: Any = field(default=_NO_JSON, repr=False)
    _form: dict[str, str] | None = field(default=None, repr=False)

    def json(self) -> Any:
        """The body parsed as JSON (cached). Raises BadRequest when it is not JSON."""
        if self._json is _NO_JSON:
            if not self.body.strip():
                raise BadRequest("empty_body", "the request body is empty; a JSON document was expected")
            self._json = parse_json(self.body)
        return self._json

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or BadRequest naming what it was instead."""
        doc = self.json()
        if not isinstance(doc, dict):
            raise BadRequest(
                "invalid_type", f"the body must be a JSON object, got {type(doc).__name__}"
            )
        return doc

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (first value of each key)."""
        if self._form is None:
            from urllib.parse import parse_qsl

            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("invalid_encoding", "the form body is not UTF-8") from None
            form: dict[str, str] = {}
            for k, v in parse_qsl(text, keep_blank_values=True):
                form.setdefault(k, v)
            self._form = form
        return self._form

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()


class Action(str, Enum):
    """What an inbound event asks for."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


SEVERITIES = ("critical", "error", "warning", "info", "unknown")


@dataclass(slots=True)
class AlertEvent:
    """One alert occurrence parsed from a source's payload.

    ``dedup_key`` identifies the alert within its integration: a trigger with the key of an
    open alert is a duplicate; a resolve closes the open alert with that key. ``raw`` is the
    part of the payload this event came from (stored, size-capped, for reference).
    """

    action: Action
    dedup_key: str
    summary: str = ""
    details: str = ""
    severity: str = "unknown"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    raw: Any = None


class IngestOutcome(str, Enum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    IGNORED = "ignored"  # e.g. a resolve for a key with no open alert


@dataclass(slots=True, frozen=True)
class IngestResult:
    """What became of one AlertEvent once it was committed."""

    dedup_key: str
    outcome: IngestOutcome
    alert_id: int | None


@dataclass(slots=True)
class WebhookResponse:
    """What a source answers, when its protocol demands a particular response."""

    status: int = 200
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    #: a non-JSON body (TwiML, an HTML page); sent as is with ``content_type``
    text: str | None = None
    content_type: str = "application/json"


@runtime_checkable
class Source(Protocol):
    """An ingestion source, served at ``POST /api/v1/webhooks/{name}`` and at ``paths``.

    ``parse`` is pure and synchronous (it runs for every webhook, so it must be cheap):
    it turns the request into events or raises BadRequest. The core authenticates the
    integration key (``Authorization: Bearer``, ``?token=``, or ``key_from``), commits the
    events, then answers with ``respond`` (or a default JSON body).
    """

    name: str
    paths: Sequence[str]

    def parse(self, request: InboundRequest) -> list[AlertEvent]: ...


# Optional Source methods and attributes (looked up with getattr):
#   key_from(request) -> str | None     a key carried by the protocol itself
#   respond(request, results: list[IngestResult]) -> WebhookResponse   the protocol's answer
#   max_body_bytes: int                 the largest body the sender really sends, in bytes
#                                       (default 1 MiB). The core refuses a larger one with
#                                       413 before reading it; operators override it with
#                                       ONCALL_SOURCE_MAX_BODY_BYTES or ONCALL_MAX_BODY_BYTES.
#                                       Size it for the sender's worst case: a sender that
#                                       batches (Alertmanager's groups) loses the whole batch
#                                       to a 413.


# --------------------------------------------------------------------------- alerts seen by plugins


@dataclass(slots=True, frozen=True)
class AlertView:
    """A read-only snapshot of a stored alert, as routers, renderers and listeners see it."""

    id: int
    integration_id: int
    integration_name: str
    source: str
    dedup_key: str
    status: str
    summary: str
    details: str
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, Any]
    created_at: datetime
    last_received_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    duplicate_count: int = 0


# --------------------------------------------------------------------------- routing


@dataclass(slots=True)
class RuleActions:
    """What a matching routing rule does to an alert."""

    escalation_policy_id: str | None = None
    template_id: str | None = None
    channel_destinations: list[str] = field(default_factory=list)
    ticket_provider: str | None = None
    set_severity: str | None = None
    set_labels: dict[str, str] = field(default_factory=dict)
    suppress: bool = False


@dataclass(slots=True)
class RoutingRule:
    """One ordered routing rule: a condition (e.g. CEL) and actions.

    Evaluation stops at the first match unless the rule says ``continue_``. ``version``
    changes whenever the rule is edited, so routers may cache compiled forms by
    ``(id, version)``. ``team_id`` is the team the rule belongs to (None: no team); it
    decides who may edit the rule, not which alerts it sees.
    """

    id: str
    name: str
    condition: str
    actions: RuleActions = field(default_factory=RuleActions)
    continue_: bool = False
    position: int = 0
    version: int = 1
    team_id: str | None = None


@dataclass(slots=True)
class RuleProblem:
    """A validation problem in a rule's condition.

    ``position`` is a 0-based character offset; ``line`` and ``column`` are 1-based and
    counted in characters; any of them is None when the engine cannot tell.
    """

    message: str
    position: int | None = None
    line: int | None = None
    column: int | None = None


@dataclass(slots=True)
class RuleTrace:
    """How one rule fared for one alert (for TestRoute and the timeline)."""

    rule_id: str
    rule_name: str
    matched: bool
    error: str | None = None


@dataclass(slots=True)
class RoutingDecision:
    """Where an alert goes: the policy that escalates it and what else happens to it.

    ``matched_rules`` lists rule names in evaluation order; ``default_route`` is true when
    none matched and ``default`` actions applied; ``trace`` has every rule evaluated.
    """

    matched_rules: list[str] = field(default_factory=list)
    escalation_policy_id: str | None = None
    template_id: str | None = None
    channel_destinations: list[str] = field(default_factory=list)
    ticket_provider: str | None = None
    severity: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    suppress: bool = False
    default_route: bool = False
    trace: list[RuleTrace] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@runtime_checkable
class Router(Protocol):
    """Decides where an alert goes. The core uses the router named by ``ONCALL_ROUTER``.

    ``validate`` checks a condition when a rule is saved (no problems: it will compile);
    ``route`` evaluates the ordered rules against an alert, applying ``default`` when none
    matches. Neither has side effects. A router that also evaluates grouping rules is a
    :class:`Grouper` (the core checks with ``isinstance``).
    """

    name: str

    def validate(self, condition: str) -> list[RuleProblem]: ...

    async def route(
        self, alert: AlertView, rules: Sequence[RoutingRule], default: RuleActions
    ) -> RoutingDecision: ...


# --------------------------------------------------------------------------- grouping


@dataclass(slots=True)
class GroupingRule:
    """One ordered grouping rule as a router sees it: which alerts it takes and the key that groups them.

    ``condition`` is written like a routing rule's (a boolean expression); ``key`` is an
    expression giving a string or a list (``[labels.alertname, labels.cluster]``). The core
    keeps the rule's window, scope and resolve settings; the router only evaluates.
    ``version`` changes whenever the rule is edited, so routers may cache compiled forms
    by ``(id, version)``.
    """

    id: str
    name: str
    condition: str
    key: str
    position: int = 0
    version: int = 1


@dataclass(slots=True)
class GroupingMatch:
    """Which grouping rule took an alert and the key it gave (``rule_id`` None: no rule took it).

    ``key`` is canonical text: a string key as it is, a list as compact JSON array text of
    its items' strings (``["HighCPU","eu-1"]``), so equal keys are equal strings. ``trace``
    has one entry per rule walked, in order, and ends at the rule that took the alert (the
    only one ``matched``); a failing condition or key has its ``error``. ``errors`` has one
    ``rule '<name>': the key …`` line per rule whose condition held but whose key was
    unusable (and a line without a rule when the alert itself could not be evaluated).
    """

    rule_id: str | None = None
    rule_name: str | None = None
    key: str | None = None  # canonical text: a string key as is; a list as compact JSON array text
    trace: list[RuleTrace] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@runtime_checkable
class Grouper(Protocol):
    """An optional Router capability: evaluates grouping rules (which alerts share an incident).

    ``validate_key`` checks a key expression when a rule is saved, as ``validate`` checks a
    condition: problems with their positions when it is empty, does not compile, or (where
    the engine type-checks) can never be a key (a bool, a number, a map …); empty when it
    will do. Conditions are checked with the router's ``validate``.

    ``group`` walks ``rules`` by ``position`` (rules sharing one keep the order given). The
    first rule whose condition holds *and* whose key evaluates to a usable key takes the
    alert. A condition that fails is a trace entry with the error, and the walk goes on. A
    key that fails (a missing label, a wrong type), is empty (``""``), is an empty list, or
    is a list holding anything but strings, integers and booleans (which become their
    string form: ``1`` → ``"1"``, ``true`` → ``"true"``; a nested list or map is an error)
    is an error in ``errors`` naming the rule, and the walk goes on with the next rule.
    The canonical key is the string itself, or for a list
    ``json.dumps(items, ensure_ascii=False, separators=(",", ":"))``.

    ``group`` is synchronous and must be fast: it runs on the ingest path for every new
    alert, on the event loop. It never raises, and has no side effects.
    """

    def validate_key(self, expression: str) -> list[RuleProblem]:
        """The problems that keep key ``expression`` from being saved; empty when it will do."""
        ...

    def group(self, alert: AlertView, rules: Sequence[GroupingRule]) -> GroupingMatch:
        """The rule that takes ``alert`` and its key, or a match with ``rule_id`` None."""
        ...


# --------------------------------------------------------------------------- rendering and channels


@dataclass(slots=True)
class RenderedPayload:
    """A channel payload made by a renderer, with what its validation found."""

    channel: str
    payload: Any
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@runtime_checkable
class Renderer(Protocol):
    """Turns template output into a channel's payload (``channel`` names the channel)."""

    channel: str

    def render(self, template_output: Mapping[str, str], context: Mapping[str, Any]) -> RenderedPayload: ...


class Escape(str, Enum):
    """How a value printed with ``{{ }}`` in a template part is escaped for the text around it."""

    TEXT = "text"  #: plain text: nothing to escape
    HTML = "html"  #: HTML autoescape
    JSON = "json"  #: the inside of a JSON string, so ``"{{ x }}"`` stays valid JSON
    HEADER = "header"  #: one line: newlines folded, so a value cannot add a mail header


#: how a message for one destination is made when a channel's template and its default both fail:
#: the render context → the channel's parts (the same shape the channel's renderer takes)
MinimalMessage = Callable[[Mapping[str, Any]], Mapping[str, str]]


_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class ChannelSpec:
    """Everything the core knows about a channel: its template, its label and its capabilities.

    Registered through ``register_channel_specs`` by the plugin that renders the channel (its
    renderer: it defines the message). The core knows no channel by name; a template, a
    policy target or a contact method naming a channel with no spec is refused when saved.

    :param name: the channel's name: a template's key, a destination's prefix (``discord:#ops``),
        a contact method's kind. Lower case.
    :param parts: the template's parts, in order, and how each escapes its values
        (``{"subject": Escape.HEADER, "html": Escape.HTML, "text": Escape.TEXT}``).
    :param defaults: the default template, one Jinja2 source per part (every part of ``parts``).
    :param label: what the timeline calls it ("SMS to user 42: delivered"); default the name capitalised.
    :param aliases: other contact method kinds that mean this channel (``phone``, ``call`` for voice).
    :param describe_destination: how a destination is written on the timeline (None: as it is);
        a destination that carries a secret (a webhook URL with its signature) must not be.
    :param addresses_ignore_case: two addresses differing only in case are one (email).
    :param minimal: the last-resort message (no Jinja) when the template and its default both
        fail: the render context → parts; None derives a plain one from ``parts``' escaping.
    :param action_links: the core puts one-click acknowledge/resolve/escalate URLs in
        ``ChannelMessage.actions`` (for channels without native buttons or replies).
    :param reply_codes: the core gives each alert a short ``reply_code`` for text replies
        (``3a`` acknowledges alert code 3) in the render context and the message.
    :param bundles: queued messages for one destination may go out as one (``bundle`` in the
        context); a channel object's own ``bundles`` (:class:`BundlingChannel`) overrides it.
    :param circuit: ``"channel"``: one circuit breaker for the whole channel (one provider), or
        ``"destination"``: one per destination (independent receivers: webhooks).
    :param rate_limits: default token buckets, ``{"destination": (burst, per_seconds),
        "channel": (burst, per_seconds)}``; a channel object's own ``rate_limits`` and the
        operator's ``ONCALL_RATE_LIMITS`` override them, in that order (:class:`RateLimitedChannel`).
    :param updates: the channel keeps what it posted current: its channel object is an
        :class:`EditingChannel` (the core re-renders the message as its incident changes and
        hands it over, at most once per ``edit_interval_s`` per message, from one replica)
        or an :class:`UpdatingChannel` (it hears each change of the alert); the core calls
        either only then.
    :param edit_interval_s: the least time between two edits of one message (an
        :class:`EditingChannel`'s): changes in between are shown by the next edit.
    """

    name: str
    parts: Mapping[str, Escape]
    defaults: Mapping[str, str]
    label: str = ""
    aliases: tuple[str, ...] = ()
    describe_destination: Callable[[str], str] | None = None
    addresses_ignore_case: bool = False
    minimal: MinimalMessage | None = None
    action_links: bool = False
    reply_codes: bool = False
    bundles: bool = False
    circuit: str = "channel"
    rate_limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    updates: bool = False
    edit_interval_s: float = 3.0

    def __post_init__(self) -> None:
        if not _CHANNEL_NAME.fullmatch(self.name):
            raise ValueError(f"channel spec name {self.name!r}: lower case letters, digits, '-' and '_', "
                             "starting with a letter (it is a URL path segment and a destination prefix)")
        if not self.parts:
            raise ValueError(f"channel spec {self.name!r}: at least one template part")
        object.__setattr__(self, "parts", {k: Escape(v) for k, v in self.parts.items()})
        missing = [p for p in self.parts if not isinstance(self.defaults.get(p), str)]
        extra = [p for p in self.defaults if p not in self.parts]
        if missing or extra:
            raise ValueError(f"channel spec {self.name!r}: defaults must give each part a source "
                             f"(missing {missing}, unknown {extra})")
        if self.circuit not in ("channel", "destination"):
            raise ValueError(f"channel spec {self.name!r}: circuit is 'channel' or 'destination'")
        for scope, limit in self.rate_limits.items():
            if scope not in ("destination", "channel") or len(limit) != 2 or limit[0] < 1 or limit[1] <= 0:
                raise ValueError(f"channel spec {self.name!r}: rate_limits[{scope!r}] must be (burst >= 1, seconds > 0)")
        object.__setattr__(self, "aliases", tuple(a.strip().lower() for a in self.aliases))
        if not (0 < self.edit_interval_s <= 3600):
            raise ValueError(f"channel spec {self.name!r}: edit_interval_s must be more than 0 and at most 3600")
        if not self.label:
            object.__setattr__(self, "label", self.name.capitalize())


@dataclass(slots=True, frozen=True)
class ContactMethod:
    """How to reach a user: ``kind`` is the name of the channel that delivers to it: sms, voice,
    email, slack, teams, push, webhook, or any other installed channel's (``discord``).

    A directory returns a user's methods in the order to try them.
    """

    id: str
    kind: str
    address: str


#: the roles, from least to most: each may do all the one before it may, and more (a
#: directory's ``User.role``, an API key's, a session's)
ROLES: tuple[str, ...] = ("viewer", "responder", "editor", "admin")


@dataclass(slots=True, frozen=True)
class User:
    """A person, as a directory gives them. ``role`` is one of :data:`ROLES`, or empty
    when the directory gives none; ``groups`` are the groups (teams) the user belongs to."""

    id: str
    name: str
    email: str = ""
    time_zone: str = "UTC"
    contact_methods: tuple[ContactMethod, ...] = ()
    role: str = ""
    groups: tuple[str, ...] = ()


@dataclass(slots=True)
class ChannelMessage:
    """One delivery for a channel: the rendered payload for one destination.

    ``payload`` is exactly what the channel's renderer produced (what ``RenderPreview``
    shows). ``actions`` maps ``acknowledge``/``resolve``/``escalate`` to one-click URLs the
    core made for this delivery (single-use, expiring; empty when there is no alert or no
    public URL): channels without native buttons put them in the message. ``reply_code`` is
    the short code a text reply names the alert by (``"3"`` → ``3a`` acknowledges).
    ``bundle_count`` > 1 means the payload summarises that many alerts for this destination.
    """

    delivery_id: str
    idempotency_key: str
    destination: str
    payload: Any
    alert_id: int | None = None
    user_id: str | None = None
    channel: str = ""
    actions: Mapping[str, str] = field(default_factory=dict)
    reply_code: str | None = None
    bundle_count: int = 1
    alert: Mapping[str, Any] = field(default_factory=dict)  # the render context's ``alert``


@dataclass(slots=True)
class DeliveryResult:
    """What a channel reports. ``retry_after`` (seconds) honours the provider's wish.

    ``ok`` with ``delivered`` means the destination has it (a 2xx from a webhook, Slack's
    ``ok``); ``ok`` alone means the provider accepted it and may report delivery later
    through ``ChannelHost.update_delivery`` (Twilio's status callbacks). ``provider_id`` is
    the provider's handle for the message (Slack ``"C123:1700000000.0001"``, a Twilio SID).
    """

    ok: bool
    provider_id: str | None = None
    permanent: bool = False
    retry_after: float | None = None
    response: str = ""
    delivered: bool = False


@dataclass(slots=True, frozen=True)
class CallbackRoute:
    """An inbound HTTP endpoint of a channel (button clicks, SMS replies, status callbacks).

    Mounted at ``/api/v1/channels/<channel name><path>``. The handler must verify the
    provider's signature itself and answer 401 to a forged, stale or unsigned request.
    """

    method: str
    path: str
    handler: Callable[[InboundRequest], Awaitable[WebhookResponse]]


@dataclass(slots=True, frozen=True)
class ActionResult:
    """What ``ChannelHost.act`` did: ``ok`` False with ``message`` when it could not.

    An action acts on the alert's incident (the unit that pages): ``status`` is the
    incident's after it, ``incident_id`` names it, ``summary`` is its title.
    """

    ok: bool
    alert_id: int
    action: str
    status: str  # the incident's status after the action
    message: str
    summary: str = ""
    incident_id: int | None = None


@dataclass(slots=True, frozen=True)
class MessageEdit:
    """A message the channel posted, re-rendered because its incident changed (:class:`EditingChannel`).

    ``payload`` is what the channel's renderer made of the notification's template with the
    incident as it is now (the shape ``send`` was given); ``provider_id`` is what the channel
    reported for the post (Slack ``"C123:1700000000.0001"``); ``alert_id`` is the alert the
    post was about (its buttons name it); ``status`` is the incident's (triggered,
    acknowledged, resolved) and ``actor`` who moved it there, when someone did;
    ``incident`` is the render context's ``incident``.
    """

    channel: str
    destination: str
    provider_id: str
    payload: Any
    alert_id: int | None
    incident_id: int
    status: str
    actor: str | None = None
    incident: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChannelHost(Protocol):
    """What the core offers a channel for two-way action; given once through ``bind``."""

    @property
    def public_url(self) -> str:
        """The server's public base URL, for the links a channel sends."""
        ...

    async def act(self, alert_id: int, action: str, *, user_id: str | None, actor: str) -> ActionResult:
        """``action`` is acknowledge, resolve or escalate; ``actor`` names who, for the timeline
        (``"slack:U123"``) when ``user_id`` (a directory user) is unknown."""
        ...

    async def find_user(self, kind: str, address: str) -> str | None:
        """The directory user with a contact method of ``kind`` at ``address``, if any."""
        ...

    async def alert_for_reply(self, channel: str, destination: str, code: str | None) -> int | None:
        """The alert a reply names: by ``reply_code``, or the last one sent there when None."""
        ...

    async def set_opt_out(self, channel: str, destination: str, opted_out: bool) -> None:
        """STOP/START: an opted-out destination gets no deliveries (each fails, recorded)."""
        ...

    async def update_delivery(self, channel: str, provider_id: str, status: str, detail: str = "") -> bool:
        """A provider's later report (``delivered``, ``failed``) for a message it accepted."""
        ...

    async def sent_messages(self, alert_id: int, channel: str) -> list[tuple[str, str]]:
        """``(destination, provider_id)`` of every message this channel sent about the alert."""
        ...

    async def sent_payload(self, channel: str, provider_id: str) -> Any:
        """The rendered payload of the message with this provider id (None when unknown), so a
        channel can rebuild a message it updates (Slack's ``chat.update``)."""
        ...

    async def first_seen(self, key: str, ttl_s: float) -> bool:
        """Remember ``key`` for ``ttl_s`` seconds: True the first time, False when any replica
        (or this one, before a restart) saw it within that time.

        For refusing replays of a signed callback: call it after the signature checks out
        and before acting, with a key naming the request (Slack's ``X-Slack-Signature``),
        prefixed with the channel's name so channels cannot collide, and a ``ttl_s`` at least
        as long as the provider's timestamp is accepted. Concurrent calls with one key get
        exactly one True. Only a hash of the key is stored. ``ttl_s`` must be positive and
        at most a year (ValueError otherwise); when the database cannot be reached it raises,
        and the request should be answered 503 so the provider retries."""
        ...


@runtime_checkable
class Channel(Protocol):
    """Delivers rendered messages to a destination (Slack, email, SMS …).

    What the core knows about the channel (its template, label, capabilities) is its
    :class:`ChannelSpec`, registered under the same name. A channel may also be any of the
    optional protocols below (:class:`CallbackChannel`, :class:`BindableChannel`,
    :class:`UpdatingChannel`, :class:`EditingChannel`, :class:`TestableChannel`, :class:`BundlingChannel`,
    :class:`RateLimitedChannel`, :class:`ClosableChannel`); the core checks them with ``isinstance``.

    A send may be repeated (a crash between the provider's answer and its commit repeats it
    once, with the same ``idempotency_key``): a provider that deduplicates on a key should
    be given it.
    """

    name: str

    async def send(self, message: ChannelMessage) -> DeliveryResult: ...


@runtime_checkable
class CallbackChannel(Protocol):
    """A channel with inbound endpoints (button clicks, SMS replies, status callbacks)."""

    #: mounted at ``/api/v1/channels/<name><path>`` (see :class:`CallbackRoute`)
    routes: Sequence[CallbackRoute]


@runtime_checkable
class BindableChannel(Protocol):
    """A channel that acts back on alerts: given the core's :class:`ChannelHost` once, before the first send."""

    def bind(self, host: ChannelHost) -> None: ...


@runtime_checkable
class UpdatingChannel(Protocol):
    """A channel that updates what it posted when the alert changes (its spec says ``updates``)."""

    name: str

    async def on_alert_change(self, alert: Mapping[str, Any], actor: str | None) -> None:
        """The alert (a render context's ``alert``) changed state; ``actor`` is who changed it."""
        ...


@runtime_checkable
class EditingChannel(Protocol):
    """A channel that edits what it posted as the incident it was about changes (its spec says ``updates``).

    The core decides when (a change of the incident, at most once per the spec's
    ``edit_interval_s`` per message, on one replica) and what (the message re-rendered); the
    channel only rewrites the message. A result that is not ``ok`` is retried with backoff
    unless ``permanent``; a later change makes a new edit in any case.
    """

    name: str

    async def edit(self, edit: MessageEdit) -> DeliveryResult:
        """Rewrite the posted message ``edit.provider_id`` with ``edit.payload``."""
        ...


@runtime_checkable
class TestableChannel(Protocol):
    """A channel that can send a test message (``oncall channels test CHANNEL --to DEST``)."""

    async def test_send(self, destination: str) -> DeliveryResult:
        """Send a short fixed test message to ``destination``, no alert or template involved,
        so an operator can check settings and credentials; the result as ``send`` reports it."""
        ...


@runtime_checkable
class BundlingChannel(Protocol):
    """A channel that decides bundling for its provider, over ``ChannelSpec.bundles``."""

    #: whether queued messages for one destination may go out as one
    bundles: bool


@runtime_checkable
class RateLimitedChannel(Protocol):
    """A channel with its provider's rate limits, over ``ChannelSpec.rate_limits``."""

    #: ``{"destination": (burst, per_seconds), "channel": (burst, per_seconds)}``
    rate_limits: Mapping[str, tuple[float, float]]


@runtime_checkable
class ClosableChannel(Protocol):
    """A channel holding clients to release at shutdown."""

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- tickets and directory


@dataclass(slots=True)
class Ticket:
    provider: str
    external_id: str
    url: str = ""
    status: str = ""


@runtime_checkable
class TicketProvider(Protocol):
    """Creates, updates and syncs tickets for alerts (Jira, ServiceNow, Salesforce …)."""

    name: str

    async def create_ticket(self, alert: AlertView) -> Ticket: ...

    async def update_ticket(self, ticket: Ticket, alert: AlertView) -> Ticket: ...

    async def sync_ticket(self, ticket: Ticket) -> Ticket: ...


@runtime_checkable
class Directory(Protocol):
    """Looks up users and their contact methods. OnCall stores only user ids."""

    name: str

    async def get_user(self, user_id: str) -> User | None: ...

    async def get_users(self, user_ids: Sequence[str]) -> list[User]: ...

    async def get_contact_methods(self, user_id: str) -> list[ContactMethod]: ...


class DirectoryUnsupported(Exception):
    """A directory's answer to an optional call it cannot make (a server too old to have
    ``FindUsers``, a directory that holds no passwords): the core does without it."""


@dataclass(slots=True, frozen=True)
class UserQuery:
    """One criterion to find users by (exactly one is set): their own ``email``; a contact
    method's ``channel`` and ``address``; or an external ``issuer`` and ``subject``
    (OpenID Connect). Build one with :meth:`by_email`, :meth:`by_contact` or :meth:`by_external`."""

    email: str = ""
    channel: str = ""
    address: str = ""
    issuer: str = ""
    subject: str = ""

    @classmethod
    def by_email(cls, email: str) -> UserQuery:
        return cls(email=email)

    @classmethod
    def by_contact(cls, channel: str, address: str) -> UserQuery:
        return cls(channel=channel, address=address)

    @classmethod
    def by_external(cls, issuer: str, subject: str) -> UserQuery:
        return cls(issuer=issuer, subject=subject)

    @property
    def kind(self) -> str:
        """``email``, ``contact`` or ``external``: which criterion is set (ValueError for none or several)."""
        kinds = [k for k, on in (("email", bool(self.email)), ("contact", bool(self.channel or self.address)),
                                 ("external", bool(self.issuer or self.subject))) if on]
        if len(kinds) != 1:
            raise ValueError("a UserQuery needs exactly one criterion: email, contact or external")
        return kinds[0]


@runtime_checkable
class UserFinder(Protocol):
    """An optional Directory capability: finds users by email, contact address or external identity.

    ``find_users`` gives the users matching (usually one), ``[]`` for none; a contact address
    matches disabled methods too. It raises :class:`DirectoryUnsupported` when it cannot
    search after all (a remote server without the call); the core then falls back.
    """

    async def find_users(self, query: UserQuery) -> list[User]: ...


@runtime_checkable
class PasswordDirectory(Protocol):
    """An optional Directory capability: checks passwords it holds.

    ``authenticate`` gives the user when ``password`` is theirs, and None otherwise: for a
    wrong password, an unknown user and a user without a password alike, taking about as
    long for each. ``user`` is a user id, or the email of exactly one user. It raises
    :class:`DirectoryUnsupported` when the directory holds no passwords. Throttling is the
    core's (it counts failures per user and per client address).
    """

    async def authenticate(self, user: str, password: str) -> User | None: ...


# --------------------------------------------------------------------------- lifecycle

#: the alert timeline's kinds a lifecycle listener hears unless it names others (``alert_kinds``):
#: opened, acknowledged, resolved, an escalation step fired, escalated by hand, a note added,
#: held or released by a silence, and suppressed by routing (no one is paged)
ALERT_LIFECYCLE_KINDS: frozenset[str] = frozenset({
    "created", "acknowledged", "resolved", "escalated", "escalate_requested", "note",
    "silenced", "unsilenced", "suppressed",
})


@dataclass(slots=True, frozen=True)
class AlertLifecycleEvent:
    """One committed entry of the alert timeline, as a lifecycle listener hears it.

    :param kind: the timeline's kind: one of :data:`ALERT_LIFECYCLE_KINDS`, or any other
        the timeline records (``duplicate``, ``routed``, ``notified``, ``notification`` for a
        delivery's outcome …) for a listener that names it in ``alert_kinds``.
    :param alert: the alert as it is when the event is dispatched, not as it was when the
        event was written: a listener that falls behind hears ``created`` for an alert whose
        ``status`` is already ``acknowledged``. ``kind``, ``at``, ``actor``, ``note`` and
        ``data`` are the event's own.
    :param at: when the event happened.
    :param actor: who caused it (a user id, ``integration:3``, ``engine``), when known.
    :param note: the timeline's text for it (a note's text, "escalated to step 2" …).
    :param id: the event's id: ids increase along the whole timeline, and a listener hears
        events in id order. Delivery is at least once (an event in flight when a server
        stops is heard again), so a listener with side effects ignores an id it has handled.
    :param data: the event's structured details (the step and targets of ``escalated``,
        the decision of ``routed`` …), empty when it has none.
    """

    kind: str
    alert: AlertView
    at: datetime
    actor: str | None = None
    note: str | None = None
    id: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class LifecycleListener(Protocol):
    """Hears alert lifecycle events after they are committed, in order, at least once.

    Each listener keeps its own durable place on the timeline: a restart loses no event,
    and one server at a time drives it. ``on_alert_event`` is awaited for one event at a
    time; it must not block the event loop. A call that raises or outlives
    ``ONCALL_LIFECYCLE_TIMEOUT_S`` is retried with backoff, and later events wait for it
    (order is kept); after ``ONCALL_LIFECYCLE_MAX_ATTEMPTS`` failures the event is skipped,
    logged with its id and recorded in ``lifecycle.skipped``.

    Optional members the core uses when present:

    - ``alert_kinds: Collection[str] | None`` — the timeline kinds to hear instead of
      :data:`ALERT_LIFECYCLE_KINDS`; None hears every kind, including ones added later;
    - ``start_from: str`` — where a listener seen for the first time starts: ``"now"``
      (the default: events committed from then on) or ``"beginning"`` (the whole stored
      timeline first).
    """

    name: str

    async def on_alert_event(self, event: AlertLifecycleEvent) -> None:
        """Handle one event.

        :param event: the committed event, with the alert as it is at dispatch.
        """
        ...


# --------------------------------------------------------------------------- authentication

@dataclass(slots=True, frozen=True)
class AuthRequest:
    """A request as an authenticator sees it, whichever door it came through.

    :param transport: ``"grpc"`` or ``"http"``.
    :param headers: the request's headers (HTTP) or metadata (gRPC), names lower-cased;
        a header sent twice keeps its first value.
    :param peer: the address of the connection's other end (an IP address, no port), or ""
        when unknown (a Unix socket). A proxy in front is this peer, not the user.
    :param target: the gRPC method (``/oncall.alerting.v1.AlertService/ListAlerts``) or the HTTP path.
    """

    transport: str
    headers: Mapping[str, str]
    peer: str = ""
    target: str = ""

    def header(self, name: str) -> str | None:
        """One header's value by name (any case), or None."""
        return self.headers.get(name.lower())


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling, once an authenticator has said so.

    :param kind: ``"api_key"``, ``"session"``, ``"integration"``, ``"proxy"`` (a trusted
        proxy's header) or ``"internal"`` (the CLI, the server itself).
    :param user_id: the person (a directory user id), or the key's name for a key of no one.
    :param role: one of :data:`ROLES`, held everywhere (every team's resources and those of
        no team); ``""`` grants nothing.
    :param team_roles: ``(team, role)`` pairs: a role held for one team's resources only
        (an API key made for a team is ``role="viewer"``, ``team_roles=(("payments", "editor"),)``:
        it reads what a viewer reads everywhere and edits only payments' resources). Sorted
        by team, one pair per team; a tuple so that a principal stays hashable.
    :param scopes: permissions (``"alerts:ack"``) the principal is narrowed to; empty: all
        its role has.
    :param key_id: the API key's id when ``kind`` is ``"api_key"``.
    :param session_id: the browser session's id when the core's session cookie said so
        (``kind`` ``"session"``), so that what serves it need not look the session up again.
    :param via: the name of the authenticator that said so.
    """

    kind: str
    user_id: str
    role: str
    team_roles: tuple[tuple[str, str], ...] = ()
    scopes: tuple[str, ...] = ()
    key_id: int | None = None
    session_id: int | None = None
    via: str = ""

    @property
    def teams(self) -> tuple[str, ...]:
        """The teams the principal holds a role of its own in ("my teams")."""
        return tuple(team for team, _ in self.team_roles)

    def role_in(self, team: str | None) -> str:
        """The highest of the role everywhere and the role held in ``team`` (None: a resource of no team)."""
        if team is None:
            return self.role
        held = [r for r in (self.role, *(r for t, r in self.team_roles if t == team)) if r in ROLES]
        return max(held, key=ROLES.index) if held else ""


@runtime_checkable
class Authenticator(Protocol):
    """Says who sent a request, or that it can't tell (None), so the next one is asked.

    ``authenticate`` must not raise for a request that is not its kind (no header, an
    untrusted peer): it returns None. It raises only to refuse outright (a malformed
    credential it owns), with :class:`Refused`.
    """

    name: str

    async def authenticate(self, request: AuthRequest) -> Principal | None:
        """The caller, or None when this authenticator can't tell.

        :param request: the headers and peer of the request.
        """
        ...


class Refused(Exception):
    """An authenticator's "no": the credential is its kind and is wrong; no other authenticator is asked.

    The message is shown to the caller, so it never repeats the credential.
    """


@runtime_checkable
class PermissionRule(Protocol):
    """Narrows or widens what a principal may do (per-team rules, a break-glass group …).

    ``permission_allowed`` answers True (allow), False (deny) or None (no opinion: the
    role's permissions decide). The first rule with an opinion wins. It is asked on every
    call, so it must be quick and must not do I/O.
    """

    name: str

    def permission_allowed(self, principal: Principal, action: str, resource: str) -> bool | None:
        """Allow, deny, or no opinion.

        :param principal: who is calling.
        :param action: the permission the call needs (``"policies:write"``).
        :param resource: what it is done to: the resource kind (``"policies"``), with the
            id when the request names one (``"policies/3"``). Asked first at the door, before
            the resource is read (``"policies/3"``: the team is not known yet), then again by
            the service once it knows the team of what is created, changed or acted on:
            ``"teams/<team>/policies/3"`` for a team's resource, ``"policies/3"`` for one of no
            team (a move between teams asks for both). A rule deciding per team reads the
            ``teams/<team>/`` prefix.
        """
        ...
