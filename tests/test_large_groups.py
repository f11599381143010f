"""Large webhooks: a whole Alertmanager group arrives in one POST, and a 413 loses all of it.

Sources declare the largest body their sender really sends (``Source.max_body_bytes``);
operators override it per source (``ONCALL_SOURCE_MAX_BODY_BYTES``) or for every source
(``ONCALL_MAX_BODY_BYTES``). A group is committed through the group-commit writer at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import RunningServer, run_server, server_settings
from oncall.config import Settings


def alertmanager_group(n: int, *, truncated: int = 0, tag: str = "a0") -> dict[str, Any]:
    """An Alertmanager v4 webhook of one group of ``n`` firing alerts, as Alertmanager sends it."""
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubePodCrashLooping", "namespace": "payments", "pod": f"api-{tag}-{i}",
                "container": "api", "job": "kube-state-metrics", "severity": "critical", "cluster": "eu-west-1",
            },
            "annotations": {
                "summary": f"Pod payments/api-{tag}-{i} is crash looping",
                "description": f"Pod payments/api-{tag}-{i} (api) is in waiting state (reason: CrashLoopBackOff).",
                "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
            },
            "startsAt": "2026-12-01T03:12:45.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=kube_pod_container_status_waiting_reason&g0.tab=1",
            "fingerprint": f"{tag}{i:014x}",
        }
        for i in range(n)
    ]  # fmt: skip
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="KubePodCrashLooping"}',
        "truncatedAlerts": truncated,
        "status": "firing",
        "receiver": "oncall",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


async def post(server: RunningServer, path: str, key: str, body: bytes) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(server.http_url + path, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None) if r.content_length != 0 else None


async def stored(server: RunningServer) -> int:
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM alerting.alerts")
        row = await cur.fetchone()
        assert row is not None
        return int(row["n"])


@pytest.mark.slow
async def test_a_3000_alert_alertmanager_group_is_accepted_whole_in_one_commit(server):
    _, key = await server.integration("alertmanager")
    body = orjson.dumps(alertmanager_group(3000))
    assert len(body) > 1024 * 1024  # what was refused with 413 when every source had 1 MiB
    batches = server.ctx.ingestor.batches
    status, answer = await post(server, "/api/v1/webhooks/alertmanager", key, body)
    assert status == 200, answer
    assert len(answer["alerts"]) == 3000
    assert {a["outcome"] for a in answer["alerts"]} == {"created"}
    assert await stored(server) == 3000
    assert server.ctx.ingestor.batches == batches + 1  # the group-commit writer took it in one go


async def test_alerts_of_a_truncated_group_say_how_many_were_cut(server):
    _, key = await server.integration("alertmanager")
    status, answer = await post(server, "/api/v2/prometheusalertmanager/incoming", key,
                                orjson.dumps(alertmanager_group(3, truncated=1200)))
    assert status == 200, answer
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT annotations FROM alerting.alerts ORDER BY id")
        rows = await cur.fetchall()
    assert [r["annotations"]["truncatedAlerts"] for r in rows] == [1200, 1200, 1200]


async def test_an_untruncated_group_carries_no_truncation_note(server):
    _, key = await server.integration("alertmanager")
    status, _ = await post(server, "/api/v1/webhooks/alertmanager", key, orjson.dumps(alertmanager_group(2)))
    assert status == 200
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT annotations FROM alerting.alerts")
        assert all("truncatedAlerts" not in r["annotations"] for r in await cur.fetchall())


@pytest.fixture
async def limited_server(db_url: str) -> AsyncIterator[RunningServer]:
    settings = server_settings(db_url, body_limits={"alertmanager": 4096, "generic": 3 * 1024 * 1024})
    async with run_server(settings) as running:
        yield running


async def test_an_operator_sets_a_source_limit_below_or_above_its_default(limited_server):
    _, am_key = await limited_server.integration("alertmanager")
    _, generic_key = await limited_server.integration("generic")
    status, answer = await post(limited_server, "/api/v1/webhooks/alertmanager", am_key,
                                orjson.dumps(alertmanager_group(20)))
    assert status == 413, answer
    assert answer["error"] == "payload_too_large" and "4096" in answer["detail"]
    # the generic source declares nothing (1 MiB); this operator allows it 3 MiB
    big = orjson.dumps({"summary": "a big one", "dedup": "big", "details": "x" * (2 * 1024 * 1024)})
    status, _ = await post(limited_server, "/api/v1/webhooks/generic", generic_key, big)
    assert status == 204
    assert await stored(limited_server) == 1


async def test_the_default_limits_are_each_sources_own(server):
    _, generic_key = await server.integration("generic")
    _, pd_key = await server.integration("pagerduty")
    big = orjson.dumps({"summary": "a big one", "details": "x" * (1024 * 1024)})
    status, answer = await post(server, "/api/v1/webhooks/generic", generic_key, big)
    assert status == 413 and str(1024 * 1024) in answer["detail"]
    # PagerDuty's own limit on an event is 512 KB
    event = {"event_action": "trigger", "routing_key": pd_key,
             "payload": {"summary": "s", "source": "x", "severity": "info", "custom_details": "x" * 600_000}}
    status, answer = await post(server, "/v2/enqueue", pd_key, orjson.dumps(event))
    assert status == 413 and str(512 * 1024) in answer["detail"]
    assert await stored(server) == 0


def test_a_global_limit_overrides_every_sources_declaration_and_a_per_source_one_overrides_it():
    settings = Settings.from_env({"ONCALL_MAX_BODY_BYTES": "2000000", "ONCALL_SOURCE_MAX_BODY_BYTES": "generic=5000"})
    assert settings.body_limit("alertmanager", 16 * 1024 * 1024) == 2_000_000
    assert settings.body_limit("generic", None) == 5000
    assert settings.body_limit(None) == 2_000_000  # channel callbacks
    default = Settings.from_env({})
    assert default.body_limit("alertmanager", 16 * 1024 * 1024) == 16 * 1024 * 1024
    assert default.body_limit("generic", None) == 1024 * 1024


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("alertmanager", "'alertmanager' is not <source>=<bytes>"),
        ("alertmanager=16MiB", "'alertmanager=16MiB' is not <source>=<bytes>"),
        ("alertmanager=0", "'alertmanager=0' is not <source>=<bytes>"),
        ("=100", "'=100' is not <source>=<bytes>"),
    ],
)
def test_a_malformed_source_limit_is_refused_at_startup_naming_the_setting(value, message):
    with pytest.raises(SystemExit, match="ONCALL_SOURCE_MAX_BODY_BYTES") as exc:
        Settings.from_env({"ONCALL_SOURCE_MAX_BODY_BYTES": value})
    assert message in str(exc.value)
