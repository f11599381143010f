"""The alertmanager source keeps the source contract (oncall-plugin-testkit)."""

from oncall_testkit import check_source, json_request, registered

ENTRY = {
    "status": "firing",
    "labels": {"alertname": "ProbeFailure", "instance": "https://shop.example.org", "severity": "critical"},
    "annotations": {"summary": "Blackbox probe failing", "description": "failed for over 5 minutes"},
    "startsAt": "2024-02-06T13:08:45.828Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus.example.org:9090/graph",
    "fingerprint": "1a30ba71cca2921f",
}
GROUP = {
    "version": "4", "groupKey": "{}:{alertname=\"ProbeFailure\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "oncall", "groupLabels": {"alertname": "ProbeFailure"}, "commonLabels": {"alertname": "ProbeFailure"},
    "commonAnnotations": {}, "externalURL": "http://alertmanager.example.org:9093",
    "alerts": [ENTRY, {**ENTRY, "status": "resolved", "fingerprint": None, "endsAt": "2024-02-06T13:20:00Z"}],
}  # fmt: skip


def test_the_alertmanager_source_keeps_the_contract() -> None:
    source = registered("alertmanager").one("sources")
    check_source(source, [json_request(GROUP, path="/api/v1/webhooks/alertmanager"),
                          json_request(GROUP, path="/api/v2/prometheusalertmanager/incoming")])
