"""The pagerduty source (Events API v2) keeps the source contract (oncall-plugin-testkit)."""

from oncall_testkit import check_source, json_request, registered

TRIGGER = {
    "payload": {
        "summary": "DISK at 99% on machine prod-datapipe03", "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "critical", "source": "prod-datapipe03", "component": "mysql", "group": "prod-datapipe",
        "class": "disk", "custom_details": {"free space": "1%", "load avg": 0.75},
    },
    "routing_key": "R0123456789abcdef0123456789abcdef",
    "dedup_key": "prod-datapipe03/disk",
    "images": [{"src": "https://monitoring.example.com/disk.png", "href": "https://monitoring.example.com/h", "alt": "disk"}],
    "links": [{"href": "https://runbooks.example.com/disk-full", "text": "Runbook"}],
    "event_action": "trigger", "client": "Sample Monitoring Service", "client_url": "https://monitoring.example.com",
}  # fmt: skip
RESOLVE = {"routing_key": "R0123456789abcdef0123456789abcdef", "dedup_key": "prod-datapipe03/disk", "event_action": "resolve"}


def test_the_pagerduty_source_keeps_the_contract() -> None:
    source = registered("pagerduty").one("sources")
    path = source.paths[0] if source.paths else "/api/v1/webhooks/pagerduty"
    check_source(source, [json_request(TRIGGER, path=path), json_request(RESOLVE, path=path)])
