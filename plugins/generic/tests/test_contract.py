"""The generic source (GoAlert's generic API) keeps the source contract (oncall-plugin-testkit), in JSON and forms."""

from oncall_testkit import (
    check_source,
    form_request,
    inbound_request,
    json_request,
    registered,
)

PATH = "/api/v2/generic/incoming"
ALERT = {"summary": "Disk full on db-1", "details": "/var is 98% used", "dedup": "db-1-disk",
         "meta": {"host": "db-1", "team": "storage"}}


def test_the_generic_source_keeps_the_contract() -> None:
    source = registered("generic").one("sources")
    check_source(source, [
        json_request(ALERT, path=PATH),
        form_request([("summary", "Disk full"), ("meta", "host=db-1"), ("meta", "team=storage")], path=PATH),
        inbound_request(path=PATH, query={"summary": "Disk full", "dedup": "db-1-disk", "action": "close"}),
    ])
