"""The grafana source keeps the source contract (oncall-plugin-testkit), for unified and legacy alerting."""

from oncall_testkit import check_source, json_request, registered

UNIFIED = {
    "receiver": "oncall", "status": "firing", "orgId": 1, "version": "1", "state": "alerting", "truncatedAlerts": 0,
    "groupKey": "{}:{alertname=\"High memory usage\"}", "title": "[FIRING:1] High memory usage",
    "message": "High memory usage in zone us-1", "externalURL": "https://grafana.example.org/",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "High memory usage", "team": "blue", "severity": "warning"},
        "annotations": {"summary": "High memory usage in zone us-1", "runbook_url": "https://runbooks.example.org/m"},
        "startsAt": "2024-10-12T09:51:03.157076+02:00", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://grafana.example.org/alerting/grafana/1afz29v7z/view", "fingerprint": "c6eadffa33fcdf37",
        "silenceURL": "https://grafana.example.org/alerting/silence/new", "values": {"B": 44.2, "C": 1},
        "valueString": "[ var='B' value=44.2 ]",
    }],
}  # fmt: skip
LEGACY = {
    "dashboardId": 1, "evalMatches": [{"value": 100, "metric": "High value", "tags": None}],
    "message": "Request rate above 150 req/s", "orgId": 1, "panelId": 2, "ruleId": 42, "ruleName": "Panel Title alert",
    "ruleUrl": "https://grafana.example.org/d/hZ7BuVbWz", "state": "alerting", "tags": {"severity": "critical"},
    "title": "[Alerting] Panel Title alert",
}  # fmt: skip


def test_the_grafana_source_keeps_the_contract() -> None:
    source = registered("grafana").one("sources")
    check_source(source, [json_request(UNIFIED, path="/api/v1/webhooks/grafana"),
                          json_request(LEGACY, path="/api/v1/webhooks/grafana")])
