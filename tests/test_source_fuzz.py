"""A fuzz pass over every source's parsing, with hypothesis: hostile JSON (deep nesting, NaN,
Infinity, huge numbers, lone surrogates, NUL escapes, raw control bytes) placed anywhere in
an otherwise valid document. A source either returns events or raises BadRequest; what it
returns is always storable (no NUL, valid UTF-8, JSON the store can write).

In-process and without a database: the HTTP corpus (test_hostile_http.py) covers the wiring.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from oncall.alerting.ingest import prepare
from oncall.plugins import load_plugins
from oncall_hookspecs import BadRequest, InboundRequest

RAW_ATOMS = [
    b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" + b"0" * 400, b"9" * 5000, b"-0", b"1e-999",
    b'"\\ud800"', b'"\\udc00x"', b'"\\u0000"', b'"a\\u0000b"', b'"\\\\u0000"', b'"\x00"', b'"\xff\xfe"',
    b'"\xed\xa0\x80"', b"[" * 70 + b"]" * 70, b'{"a":' * 70 + b"1" + b"}" * 70, b"18446744073709551616",
    b"[" * 400 + b"NaN" + b"]" * 400, b"[" * 400 + b'"\\ud800"' + b"]" * 400, b'{"a":' * 999 + b"1" + b"}" * 999,
]  # fmt: skip


class Raw:
    """A token written into the document as is (it need not be valid JSON)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def encode(value: Any) -> bytes:
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, dict):
        return b"{" + b",".join(orjson.dumps(str(k)) + b":" + encode(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    try:
        return orjson.dumps(value)
    except TypeError:  # a float NaN/inf, a lone surrogate in text: as the sender would write it
        return str(value).encode("utf-8", "surrogatepass")


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(RAW_ATOMS).map(Raw),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def documents(source: str, hole: Any, place: int) -> dict[str, Any]:
    """A valid document of ``source`` with ``hole`` at one of a few places."""
    if source in ("alertmanager", "grafana"):
        entry: dict[str, Any] = {"status": "firing", "fingerprint": "f1", "labels": {"alertname": "Disk"},
                                 "annotations": {"summary": "disk"}}
        doc: dict[str, Any] = {"version": "4", "status": "firing", "alerts": [entry]}
        spots = [(entry, "annotations"), (entry["labels"], "severity"), (entry, "startsAt"), (doc, "truncatedAlerts"),
                 (entry, "values"), (doc, "alerts"), (entry["annotations"], "summary"), (entry, "fingerprint")]
    elif source == "pagerduty":
        payload = {"summary": "disk", "source": "db-1", "severity": "critical"}
        doc = {"event_action": "trigger", "dedup_key": "k1", "payload": payload}
        spots = [(payload, "custom_details"), (payload, "summary"), (doc, "dedup_key"), (doc, "links"),
                 (payload, "timestamp"), (doc, "event_action"), (payload, "component"), (doc, "images")]
    else:
        doc = {"summary": "disk full", "dedup": "k1"}
        spots = [(doc, "meta"), (doc, "summary"), (doc, "details"), (doc, "dedup"), (doc, "other"),
                 (doc, "action"), (doc, "severity"), (doc, "Summary")]  # fmt: skip
    target, name = spots[place % len(spots)]
    target[name] = hole
    return doc


@cache
def sources() -> dict[str, Any]:
    return dict(load_plugins()[1].sources)


def storable(text: str) -> bool:
    return "\x00" not in text and text.encode("utf-8") is not None


DEEP_NAN = Raw(b"[" * 600 + b"NaN" + b"]" * 600)
DEEP_DETAILS = Raw(b'{"a":' * 999 + b"1" + b"}" * 999)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(["alertmanager", "grafana", "pagerduty", "generic"]), hole=values,
       place=st.integers(0, 7))
# the cases, always tried: a deep body ending in NaN, PagerDuty custom_details 999 deep
@example(source="generic", hole=DEEP_NAN, place=4)
@example(source="alertmanager", hole=DEEP_NAN, place=0)
@example(source="pagerduty", hole=DEEP_DETAILS, place=0)
def test_a_source_returns_storable_events_or_a_bad_request_for_any_hostile_document(source, hole, place):
    body = encode(documents(source, hole, place))
    request = InboundRequest(method="POST", path="/", query={}, headers={}, body=body,
                             content_type="application/json")
    try:
        events = sources()[source].parse(request)
    except BadRequest as exc:
        assert exc.error and exc.detail and 400 <= exc.status < 500
        return
    for event in events:
        ready = prepare(event, 64 * 1024)
        for text in (ready.dedup_key, ready.summary, ready.details, ready.labels, ready.annotations, ready.raw or ""):
            assert storable(text), text[:200]
        for doc in (ready.labels, ready.annotations, ready.raw):
            if doc is not None:
                orjson.loads(doc)  # JSON the store writes as jsonb
