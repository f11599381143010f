"""The source contract: garbage gets a BadRequest (a 4xx), never another exception, and what parses is a valid event.

``check_source(source, samples)`` takes the source and a few requests it accepts (what its
sender really sends) and tries, against each: every body in the hostile corpus, the
sample's document with a hostile value in each of its fields (hypothesis picks the field
and the value) or with a field removed, and other content types. Each answer must be
either events that pass the core's event validation or a BadRequest with a 4xx status,
an error code and a short sentence; anything else (a KeyError, a RecursionError, a 5xx
BadRequest) is a violation. ``key_from`` and ``respond``, when the source has them, are
held to the same rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oncall_hookspecs import (
    Action,
    AlertEvent,
    BadRequest,
    InboundRequest,
    IngestOutcome,
    IngestResult,
    Source,
    WebhookResponse,
)

from .. import corpus
from ..registration import ContractViolation, check_shape
from ..requests import inbound_request, with_body

#: the longest ``BadRequest.detail`` a sender should get back: a sentence, not an echo of its body
MAX_DETAIL = 1000
#: the core caps a stored raw payload; this is what the check hands the core's validation
RAW_CAP = 64 * 1024

JSON_TYPES = ("application/json", "application/json; charset=utf-8")
OTHER_TYPES = ("", "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data")


def _core_prepare() -> Callable[[AlertEvent, int], Any] | None:
    """The core's own event validation when the core is installed (it is where a plugin runs)."""
    try:
        from oncall.alerting.ingest import prepare
    except ImportError:
        return None
    return cast("Callable[[AlertEvent, int], Any]", prepare)


def check_event(event: Any) -> None:
    """One parsed event is what the core can store: typed as ``AlertEvent`` says, and accepted by the core."""
    if not isinstance(event, AlertEvent):
        raise ContractViolation(f"parse must return AlertEvent objects, got {type(event).__name__}")
    problems = []
    if not isinstance(event.action, Action):
        problems.append(f"action must be an Action, got {event.action!r}")
    if not isinstance(event.dedup_key, str) or not event.dedup_key:
        problems.append(f"dedup_key must be a non-empty string, got {event.dedup_key!r}")
    for name in ("summary", "details", "severity"):
        if not isinstance(getattr(event, name), str):
            problems.append(f"{name} must be a string, got {type(getattr(event, name)).__name__}")
    if not isinstance(event.labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in event.labels.items()
    ):
        problems.append(f"labels must map strings to strings, got {_short(event.labels)}")
    if not isinstance(event.annotations, Mapping) or not all(isinstance(k, str) for k in event.annotations):
        problems.append(f"annotations must be a mapping with string keys, got {_short(event.annotations)}")
    if event.occurred_at is not None and (
        not isinstance(event.occurred_at, datetime) or event.occurred_at.tzinfo is None
    ):
        problems.append(f"occurred_at must be None or a datetime with a time zone, got {event.occurred_at!r}")
    if problems:
        raise ContractViolation(f"event {_short(event.dedup_key)}: " + "; ".join(problems))
    prepare = _core_prepare()
    if prepare is not None:
        try:
            prepare(event, RAW_CAP)
        except Exception as exc:
            raise ContractViolation(f"the core refuses event {_short(event.dedup_key)}: {type(exc).__name__}: {exc}") from exc


def check_bad_request(exc: BadRequest) -> None:
    """A refusal the sender can act on: a 4xx, a machine-readable code and a short sentence."""
    if not (isinstance(exc.status, int) and 400 <= exc.status < 500):
        raise ContractViolation(f"BadRequest status must be a 4xx, got {exc.status!r} ({exc.error}: {_short(exc.detail)})")
    if not isinstance(exc.error, str) or not exc.error:
        raise ContractViolation(f"BadRequest needs an error code, got {exc.error!r}")
    if not isinstance(exc.detail, str) or not exc.detail.strip():
        raise ContractViolation(f"BadRequest {exc.error!r} needs a detail sentence, got {exc.detail!r}")
    if len(exc.detail) > MAX_DETAIL:
        raise ContractViolation(
            f"BadRequest {exc.error!r}: the detail is {len(exc.detail)} characters, more than {MAX_DETAIL}: "
            f"name the problem, don't echo the input ({_short(exc.detail)})"
        )


@dataclass(frozen=True)
class Outcome:
    """What the source made of one request: events, or the BadRequest it raised."""

    events: list[AlertEvent] | None = None
    refused: BadRequest | None = None


def answer(source: Source, request: InboundRequest, case: str = "") -> Outcome:
    """``source.parse(request)`` held to the contract: valid events or a 4xx BadRequest, nothing else."""
    where = f" ({case})" if case else ""
    key_from = getattr(source, "key_from", None)
    if key_from is not None:
        try:
            key = key_from(request)
        except BadRequest as exc:
            check_bad_request(exc)
        except Exception as exc:
            raise ContractViolation(f"key_from raised {type(exc).__name__}: {exc}{where}") from exc
        else:
            if key is not None and not isinstance(key, str):
                raise ContractViolation(f"key_from must return a string or None, got {type(key).__name__}{where}")
    try:
        events = source.parse(request)
    except BadRequest as exc:
        check_bad_request(exc)
        return Outcome(refused=exc)
    except Exception as exc:
        raise ContractViolation(
            f"parse raised {type(exc).__name__} instead of BadRequest{where}: {_short(str(exc))}"
        ) from exc
    if not isinstance(events, list):
        raise ContractViolation(f"parse must return a list of AlertEvent, got {type(events).__name__}{where}")
    for event in events:
        check_event(event)
    return Outcome(events=events)


def _check_respond(source: Source, request: InboundRequest, events: Sequence[AlertEvent]) -> None:
    respond = getattr(source, "respond", None)
    if respond is None:
        return
    outcomes = [IngestOutcome.CREATED, IngestOutcome.DUPLICATE, IngestOutcome.RESOLVED, IngestOutcome.IGNORED]
    results = [
        IngestResult(e.dedup_key, outcomes[i % len(outcomes)], None if i % 4 == 3 else i + 1)
        for i, e in enumerate(events)
    ]
    try:
        out = respond(request, results)
    except Exception as exc:
        raise ContractViolation(f"respond raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, WebhookResponse) or not isinstance(out.status, int) or not 200 <= out.status < 300:
        raise ContractViolation(f"respond must return a WebhookResponse with a 2xx status, got {out!r}")
    if out.text is None and out.body is not None:
        try:
            json.dumps(out.body, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ContractViolation(f"respond's body must be JSON-serialisable: {exc}") from exc


def _json_sample(request: InboundRequest) -> Any:
    if request.media_type != "application/json" and not request.media_type.endswith("+json"):
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def check_source(
    source: Source,
    samples: Iterable[InboundRequest],
    *,
    max_examples: int = 150,
    refuses_non_json: bool = True,
) -> None:
    """Run the source contract against ``source``, starting from ``samples`` (requests it accepts).

    ``refuses_non_json``: a body that is not a JSON document, sent as ``application/json``,
    must be refused. A source whose protocol takes any body (a heartbeat ping) passes False.
    Raises ContractViolation naming the first case that broke the contract.
    """
    check_shape("sources", Source, source)
    paths = source.paths
    if isinstance(paths, str) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        raise ContractViolation(f"source {source.name!r}: paths must be a sequence of '/…' strings, got {paths!r}")
    samples = list(samples)
    if not samples:
        raise ContractViolation("give check_source at least one request the source accepts")

    accepted = 0
    for i, sample in enumerate(samples):
        outcome = answer(source, sample, f"sample {i}")
        if outcome.refused is not None:
            raise ContractViolation(
                f"sample {i} was refused: {outcome.refused.error}: {outcome.refused.detail} "
                "(samples are requests the source accepts)"
            )
        assert outcome.events is not None
        accepted += len(outcome.events)
        _check_respond(source, sample, outcome.events)
    if not accepted:
        raise ContractViolation("no sample produced an event: give at least one request that raises an alert")

    path = samples[0].path
    for name, body in corpus.NOT_DOCUMENTS.items():
        for content_type in JSON_TYPES:
            outcome = answer(source, inbound_request(body, path=path, content_type=content_type), f"body {name}")
            if refuses_non_json and outcome.refused is None:
                raise ContractViolation(
                    f"body {name!r} ({_short(body)}) sent as {content_type} is not a JSON document, "
                    f"but the source accepted it: {outcome.events!r:.300}"
                )
    for name, body in corpus.ODD_DOCUMENTS.items():
        answer(source, inbound_request(body, path=path, content_type="application/json"), f"document {name}")
    for i, sample in enumerate(samples):
        for content_type in OTHER_TYPES:
            answer(source, with_body(sample, sample.body, content_type), f"sample {i} as {content_type or 'no type'}")
        doc = _json_sample(sample)
        if doc is not None:
            _fuzz_document(source, sample, doc, max_examples)


def _fuzz_document(source: Source, sample: InboundRequest, doc: Any, max_examples: int) -> None:
    places = list(corpus.paths(doc))
    if not places:
        return
    hole = st.one_of(corpus.values(), st.just(corpus.DELETE))

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(place=st.sampled_from(places), value=hole)
    def hostile_field(place: corpus.Path, value: Any) -> None:
        body = corpus.encode(corpus.replaced(doc, place, value))
        answer(source, with_body(sample, body), f"{_dotted(place)} = {value!r:.200}")

    hostile_field()


def _dotted(path: corpus.Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:80] + " … " + text[-30:]
