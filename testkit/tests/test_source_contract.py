"""The source contract passes a source that keeps it and names what a broken one does wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from oncall_hookspecs import Action, AlertEvent, BadRequest, InboundRequest
from oncall_testkit import ContractViolation, check_source, json_request


class GoodSource:
    name = "good"
    paths: Sequence[str] = ("/hooks/good",)

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        doc = request.json_object()
        alert_id, title = doc.get("id"), doc.get("title")
        if not isinstance(alert_id, str) or not alert_id or not isinstance(title, str):
            raise BadRequest("missing_field", "'id' and 'title' are required strings")
        return [AlertEvent(action=Action.TRIGGER, dedup_key=alert_id, summary=title, raw=doc)]


SAMPLE = json_request({"id": "a1", "title": "Disk full", "labels": {"team": "db"}})


def test_a_source_that_keeps_the_contract_passes() -> None:
    check_source(GoodSource(), [SAMPLE])


class Indexes(GoodSource):
    """Reads fields without checking their types: a KeyError or TypeError on a hostile body."""

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        doc = request.json_object()
        return [AlertEvent(action=Action.TRIGGER, dedup_key=doc["id"], summary=doc["title"])]


class ParsesByHand(GoodSource):
    """json.loads on the body: NaN and 1e999 are accepted, garbage raises ValueError."""

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        import json

        doc = json.loads(request.body)
        return [AlertEvent(action=Action.TRIGGER, dedup_key=str(doc.get("id")), summary=str(doc.get("title")))]


class Labels(GoodSource):
    """Labels taken as sent: a number where a string belongs reaches the event."""

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        [event] = super().parse(request)
        labels = request.json_object().get("labels")
        event.labels = labels if isinstance(labels, dict) else {}
        return [event]


class ServerError(GoodSource):
    """Refuses with a 5xx: the sender would retry a request that can never succeed."""

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        try:
            return super().parse(request)
        except BadRequest as exc:
            raise BadRequest(exc.error, exc.detail, status=500) from None


class Echoes(GoodSource):
    """Puts the whole body into its error."""

    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        try:
            return super().parse(request)
        except BadRequest:
            raise BadRequest("invalid", f"cannot read {request.body!r}") from None


class AcceptsAnything(GoodSource):
    def parse(self, request: InboundRequest) -> list[AlertEvent]:
        return [AlertEvent(action=Action.TRIGGER, dedup_key="k", summary="anything")]


class BadKeyFrom(GoodSource):
    def key_from(self, request: InboundRequest) -> Any:
        return request.query["token"]  # KeyError when the query has none


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (Indexes(), "parse raised"),
        (ParsesByHand(), "parse raised"),
        (Labels(), "labels must map strings to strings"),
        (ServerError(), "BadRequest status must be a 4xx"),
        (Echoes(), "don't echo the input"),
        (AcceptsAnything(), "is not a JSON document, but the source accepted it"),
        (BadKeyFrom(), "key_from raised KeyError"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_a_source_that_breaks_the_contract_is_named(source: GoodSource, message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        check_source(source, [SAMPLE], max_examples=300)


def test_a_sample_the_source_refuses_is_a_mistake_in_the_test() -> None:
    with pytest.raises(ContractViolation, match="sample 0 was refused"):
        check_source(GoodSource(), [json_request({"title": "no id"})])


def test_paths_must_be_absolute() -> None:
    source = GoodSource()
    source.paths = ("hooks/good",)
    with pytest.raises(ContractViolation, match="paths must be a sequence"):
        check_source(source, [SAMPLE])


def test_a_source_that_takes_any_body_may_say_so() -> None:
    check_source(AcceptsAnything(), [SAMPLE], refuses_non_json=False)
