"""Templates and incidents (issue 12, items 8 and 9): ``incident`` in the render context.

The samples that preview and validation render carry an ``incident`` made by the function
that makes a page's (``incident_dict``), checked here against incidents made in PostgreSQL
by real ingest. The defaults show an incident that several alerts have joined as a summary
(its status, open and resolved counts, its first alerts, "and N more"), take the state they
show from ``incident`` (a page re-rendered later keeps ``alert`` as it was when it paged),
page an incident of one alert as its alert, and still render contexts stored before
incidents. Saving a template renders it with a grouped incident too, so one that breaks
only then is refused. End to end, a grouped incident's page reaches a webhook receiver with
the incident the engine read. Limits with huge grouped incidents: ``test_large_alerts.py``.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures.grouping import add_rule, incidents, rows
from fixtures.webhooks import post_json
from oncall_hookspecs import Action, AlertEvent, Renderer, RuleActions
from oncall_testkit.receiver import Receiver, receiver

from fixtures.channels import Channel
from oncall.alerting import store as alerting_store
from oncall.alerting.incident_context import FIRST_ALERTS, incident_contexts, incident_dict, sample_incident
from oncall.errors import InvalidArgument
from oncall.notification import (
    BUNDLE_SAMPLE_CONTEXT,
    INCIDENT_SAMPLE_CONTEXT,
    SAMPLE_CONTEXT,
    Template,
    render,
    validate,
)
from oncall.notification import store as templates_store
from oncall.notification.pipeline import render_for
from oncall.plugins import load_plugins
from oncall.routing import rules

NOW = datetime(2026, 3, 14, 9, 31, 53, tzinfo=UTC)


@pytest.fixture(scope="module")
def renderers() -> dict[str, Renderer]:
    _, registry = load_plugins(())
    return registry.renderers


def payload(channel: Channel | str, context: Any, renderers: dict[str, Renderer]) -> Any:
    sent = render_for(Template(), str(channel), context, renderers)
    assert sent.errors == [], sent.errors
    return sent.payload


def texts(channel: Channel, context: Any) -> dict[str, str]:
    return dict(render(Template(), channel, context, now=NOW).parts)


def with_incident(context: Any, **changes: Any) -> dict[str, Any]:
    return {**context, "incident": {**context["incident"], **changes}}


def without_incident(context: Any) -> dict[str, Any]:
    return {k: v for k, v in context.items() if k != "incident"}


# ------------------------------------------------------------------------------ the samples


def test_the_grouped_sample_is_a_grouping_rules_incident_of_37_alerts() -> None:
    incident = INCIDENT_SAMPLE_CONTEXT["incident"]
    assert (incident["id"], incident["title"], incident["status"], incident["grouped"]) == (
        12, "payments-db", "triggered", True)
    assert (incident["alert_count"], incident["open_alerts"], incident["triggered_alerts"]) == (37, 30, 26)
    assert [a["id"] for a in incident["alerts"]] == list(range(4301, 4301 + FIRST_ALERTS))
    assert incident["common_labels"] == {"service": "payments-db", "env": "prod"}
    assert incident["severity"] == "critical"
    assert INCIDENT_SAMPLE_CONTEXT["alert"]["id"] == 4301  # the alert that paged: its first


def test_the_preview_samples_incident_is_what_incident_dict_makes_of_the_sample_alert() -> None:
    alert = SAMPLE_CONTEXT["alert"]
    row = {"id": alert["id"], "title": alert["summary"], "status": "triggered", "severity": "critical",
           "alert_count": 1, "open_alerts": 1, "triggered_alerts": 1, "rule_id": None, "group_key": None,
           "integration_name": "prod-alertmanager", "created_at": alert["created_at"]}
    first = {k: alert[k] for k in ("id", "status", "summary", "severity", "labels")}
    assert SAMPLE_CONTEXT["incident"] == incident_dict(row, [first], alert["labels"]) == sample_incident(alert)
    assert BUNDLE_SAMPLE_CONTEXT["incident"] == sample_incident(BUNDLE_SAMPLE_CONTEXT["alert"])


async def test_a_real_incidents_context_is_the_samples_shape(ctx: Any) -> None:
    """What the engine puts in a page (incident_contexts over PostgreSQL) against what the samples hold."""
    sample_alert = SAMPLE_CONTEXT["alert"]
    own, _ = await alerting_store.create_integration(ctx.pool, "alertmanager", "prod-alertmanager")
    await ctx.ingestor.submit(own.id, ctx.ingestor.prepare([AlertEvent(
        action=Action.TRIGGER, dedup_key="HighErrorRate/payments-api", summary=sample_alert["summary"],
        severity="critical", labels=dict(sample_alert["labels"]))], own))
    [single] = await incidents(ctx.pool)
    async with ctx.pool.connection() as conn:
        real = (await incident_contexts(conn, [single["id"]]))[single["id"]]
    [alert] = await rows(ctx.pool, "SELECT id FROM alerting.alerts")
    expected = copy.deepcopy(dict(SAMPLE_CONTEXT["incident"]))
    expected.update(id=single["id"], created_at=real["created_at"])
    expected["alerts"][0]["id"] = alert["id"]
    assert real == expected

    await add_rule(ctx, key="labels.service")
    grouped, _ = await alerting_store.create_integration(ctx.pool, "generic", f"generic-{uuid.uuid4().hex[:6]}")
    events = [AlertEvent(action=Action.TRIGGER, dedup_key=f"db-{i}", summary=f"Disk full on payments-db-{i}",
                         severity="critical" if i == 3 else "warning",
                         labels={"service": "payments-db", "env": "prod", "instance": f"payments-db-{i}"})
              for i in range(12)]
    await ctx.ingestor.submit(grouped.id, ctx.ingestor.prepare(events, grouped))
    await ctx.ingestor.submit(grouped.id, ctx.ingestor.prepare(
        [AlertEvent(action=Action.RESOLVE, dedup_key="db-0"), AlertEvent(action=Action.RESOLVE, dedup_key="db-11")],
        grouped))
    group = next(i for i in await incidents(ctx.pool) if i["rule_id"] is not None)
    async with ctx.pool.connection() as conn:
        real = (await incident_contexts(conn, [group["id"]]))[group["id"]]

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()} if "summary" in value or "alerts" in value else {
                k: type(v).__name__ for k, v in value.items()}
        return type(value).__name__

    sample = INCIDENT_SAMPLE_CONTEXT["incident"]
    assert shape({**real, "alerts": real["alerts"][:1]}) == shape({**sample, "alerts": sample["alerts"][:1]})
    assert (real["alert_count"], real["open_alerts"], real["grouped"], len(real["alerts"])) == (12, 10, True, 10)
    assert real["common_labels"] == {"service": "payments-db", "env": "prod"} and real["severity"] == "critical"
    # and the defaults show it as they show the sample
    context = {"alert": dict(INCIDENT_SAMPLE_CONTEXT["alert"]), "incident": real}
    slack = payload(Channel.SLACK, context, ctx.registry.renderers)
    assert slack["blocks"][0]["text"]["text"] == f"TRIGGERED: Incident #{group['id']} · 12 alerts · {real['title']}"
    assert slack["blocks"][2]["text"]["text"].split("\n")[0] == \
        f"• *#{real['alerts'][0]['id']}* RESOLVED · warning · Disk full on payments-db-0"
    assert slack["blocks"][2]["text"]["text"].endswith("_and 7 more_")  # five shown


# ------------------------------------------------------------------------------ the defaults


def test_every_default_shows_a_grouped_incident_as_its_summary(renderers: dict[str, Renderer]) -> None:
    ctx = INCIDENT_SAMPLE_CONTEXT
    slack = payload(Channel.SLACK, ctx, renderers)
    assert slack["text"] == "TRIGGERED: Incident #12 · 37 alerts · payments-db"
    assert slack["blocks"][0]["text"]["text"] == "TRIGGERED: Incident #12 · 37 alerts · payments-db"
    assert slack["blocks"][1]["fields"][0]["text"] == "*Alerts*\n30 open (26 triggered) · 7 resolved"
    assert slack["blocks"][2]["text"]["text"].split("\n") == [
        "• *#4301* TRIGGERED · critical · Disk full on payments-db-1 (/var/lib/postgresql 97%)",
        "• *#4302* TRIGGERED · warning · Replication lag on payments-db-2 is 45s",
        "• *#4303* RESOLVED · error · Connection pool exhausted on payments-db-3",
        "• *#4304* TRIGGERED · warning · Slow queries on payments-db-1 (p99 2.3s &gt; 500ms)",
        "• *#4305* ACKNOWLEDGED · error · Lock waits piling up on payments-db-2 (214 waiting)",
        "_and 32 more_",
    ]
    assert slack["blocks"][3]["elements"][0]["text"] == "env=prod, service=payments-db"

    card = payload(Channel.TEAMS, ctx, renderers)["attachments"][0]["content"]
    assert card["body"][0]["text"] == "TRIGGERED: Incident #12 · 37 alerts · payments-db"
    assert {"title": "Alerts", "value": "30 open (26 triggered), 7 resolved"} in card["body"][1]["facts"]
    assert [f["title"] for f in card["body"][2]["facts"]] == [
        "#4301 TRIGGERED", "#4302 TRIGGERED", "#4303 RESOLVED", "#4304 TRIGGERED", "#4305 ACKNOWLEDGED"]
    assert card["body"][3]["text"] == "and 32 more"

    email = texts(Channel.EMAIL, ctx)
    assert email["subject"] == "[TRIGGERED] Incident #12 · 37 alerts · payments-db"
    assert "Alerts:      30 open (26 triggered), 7 resolved" in email["text"]
    assert "#4310  TRIGGERED  error  Lock waits piling up on payments-db-1 (214 waiting)\nand 27 more" in email["text"]
    assert "<p>and 27 more</p>" in email["html"] and "<td>30 open (26 triggered), 7 resolved</td>" in email["html"]

    sms = payload(Channel.SMS, {**ctx, "reply_code": "3"}, renderers)
    assert sms["text"].startswith("TRIGGERED incident #12: 37 alerts (30 open) payments-db: #4301 Disk full")
    assert sms["text"].endswith(" Reply 3a to ack, 3c to close.") and sms["segments"] == 1

    assert payload(Channel.VOICE, ctx, renderers)["text"] == (
        "This is On Call. Incident 12, payments-db, has 37 alerts, 30 open. Severity critical. "
        "Alert 4301: Disk full on payments-db-1 (/var/lib/postgresql 97%). Alert 4302: Replication lag on "
        "payments-db-2 is 45s. Alert 4303: Connection pool exhausted on payments-db-3. And 34 more.")

    push = texts(Channel.PUSH, ctx)
    assert push["title"] == "[CRITICAL] Incident #12 · 37 alerts · payments-db"
    assert push["body"].startswith("TRIGGERED · 30 open, 7 resolved · prod-alertmanager · 11 minutes ago\n#4301 ")
    assert push["body"].endswith("\nand 32 more")

    hook = payload(Channel.WEBHOOK, ctx, renderers)
    assert hook["event"] == "incident.triggered" and hook["truncated"] is False
    assert hook["incident"] == ctx["incident"] and hook["alert"] == ctx["alert"]


def test_a_re_rendered_page_shows_the_incidents_state_not_its_alerts(renderers: dict[str, Renderer]) -> None:
    """A Slack edit re-renders with a fresh ``incident``; ``alert`` is still the triggered one that paged."""
    done = with_incident(INCIDENT_SAMPLE_CONTEXT, status="resolved", open_alerts=0, triggered_alerts=0,
                         alerts=[{**a, "status": "resolved"} for a in INCIDENT_SAMPLE_CONTEXT["incident"]["alerts"]])
    assert done["alert"]["status"] == "triggered"
    slack = payload(Channel.SLACK, done, renderers)
    assert slack["blocks"][0]["text"]["text"] == "RESOLVED: Incident #12 · 37 alerts · payments-db"
    assert slack["blocks"][1]["fields"][0]["text"] == "*Alerts*\n0 open (0 triggered) · 37 resolved"
    assert "TRIGGERED" not in json.dumps(slack)
    assert payload(Channel.TEAMS, done, renderers)["attachments"][0]["content"]["body"][0]["color"] == "Good"
    assert texts(Channel.EMAIL, done)["subject"].startswith("[RESOLVED] Incident #12")
    assert "Reply" not in payload(Channel.SMS, {**done, "reply_code": "3"}, renderers)["text"]
    assert ", and is resolved." in payload(Channel.VOICE, done, renderers)["text"]
    assert payload(Channel.WEBHOOK, done, renderers)["event"] == "incident.resolved"

    acked = with_incident(SAMPLE_CONTEXT, status="acknowledged")  # an incident of one alert
    assert payload(Channel.SLACK, acked, renderers)["blocks"][0]["text"]["text"] == \
        "ACKNOWLEDGED: High error rate on payments-api (5.2% > 1%)"
    assert texts(Channel.EMAIL, acked)["subject"] == "[ACKNOWLEDGED] High error rate on payments-api (5.2% > 1%)"
    assert payload(Channel.SMS, acked, renderers)["text"].startswith("ACKNOWLEDGED #4217:")
    assert "is acknowledged." in payload(Channel.VOICE, acked, renderers)["text"]
    assert texts(Channel.PUSH, acked)["body"].startswith("ACKNOWLEDGED · ")
    assert payload(Channel.TEAMS, acked, renderers)["attachments"][0]["content"]["body"][0]["text"].startswith(
        "ACKNOWLEDGED: ")


@pytest.mark.parametrize("channel", list(Channel), ids=[c.value for c in Channel])
def test_an_incident_of_one_alert_pages_as_its_alert_did_before_incidents(channel: Channel) -> None:
    now, before = texts(channel, SAMPLE_CONTEXT), texts(channel, without_incident(SAMPLE_CONTEXT))
    if channel is Channel.WEBHOOK:  # the one difference: the incident goes along
        body, old = json.loads(now["body"]), json.loads(before["body"])
        assert body.pop("incident") == SAMPLE_CONTEXT["incident"] and old.pop("incident") is None
        assert body == old
    else:
        assert now == before
    assert texts(channel, BUNDLE_SAMPLE_CONTEXT) == texts(channel, without_incident(BUNDLE_SAMPLE_CONTEXT))


@pytest.mark.parametrize("incident", ["missing", None, {}], ids=["missing", "null", "empty"])
def test_contexts_stored_before_incidents_still_render(incident: Any, renderers: dict[str, Renderer]) -> None:
    for sample in (SAMPLE_CONTEXT, BUNDLE_SAMPLE_CONTEXT):
        old = without_incident(sample) if incident == "missing" else {**sample, "incident": incident}
        for channel in Channel:
            sent = render_for(Template(), channel.value, old, renderers)
            assert sent.errors == [] and sent.payload, (channel, sent.errors)
    assert payload(Channel.SMS, without_incident(SAMPLE_CONTEXT), renderers)["text"].startswith("TRIGGERED #4217:")


# ------------------------------------------------------------------------------ validation


def test_a_template_reading_the_incident_validates_and_a_typo_in_it_is_a_warning(
    renderers: dict[str, Renderer],
) -> None:
    source = ("{{ incident.alert_count }} alerts, {{ incident.open_alerts }} open, {{ incident.status }}: "
              "{{ incident.alerts[0].summary }} {{ incident.common_labels.service }} {{ incident.alerts[9].id }}")
    result = validate(Template.from_mapping({"sms": source}), renderers=renderers)
    assert result.ok and result.errors == [] and result.warnings == []
    typo = validate(Template.from_mapping({"sms": "{{ incident.alert_cuont }}"}), renderers=renderers)
    assert [w.message for w in typo.warnings] == ["'incident.alert_cuont' is not in the sample context"]
    # a sample of the caller's without incident (one from before incidents) is not warned about it
    assert validate(Template.from_mapping({"sms": source}), {"alert": {}}, renderers=renderers).warnings == []


def test_every_default_passes_validation_against_the_grouped_sample(renderers: dict[str, Renderer]) -> None:
    result = validate(Template(), INCIDENT_SAMPLE_CONTEXT, channels=list(Channel), renderers=renderers)
    assert result.ok and result.errors == [] and result.warnings == [], result
    result = validate(Template(), channels=list(Channel), renderers=renderers)  # every default sample
    assert result.ok and result.errors == [] and result.warnings == [], result


# every alert's summary in the header: fine for one alert, past Slack's 150 characters for ten
ALL_IN_THE_HEADER = ('{"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": '
                     '"{% for a in incident.alerts %}{{ a.summary }} {% endfor %}"}}]}')


async def test_a_template_that_breaks_only_for_a_grouped_incident_is_refused_on_save(pool: Any, renderers: Any) -> None:
    result = validate(Template.from_mapping({"slack": ALL_IN_THE_HEADER}), renderers=renderers)
    assert [(e.channel, e.message) for e in result.errors] == [
        ("slack", "block 1: header text is 474 characters, at most 150 (with the grouped-incident sample)")]
    assert validate(Template.from_mapping({"slack": ALL_IN_THE_HEADER}), SAMPLE_CONTEXT, renderers=renderers).ok

    with pytest.raises(InvalidArgument) as refused:
        await templates_store.create_template(pool, renderers=renderers, id="headers", name="Headers",
                                              channels={"slack": {"body": ALL_IN_THE_HEADER}})
    assert "(with the grouped-incident sample)" in refused.value.detail
    assert await rows(pool, "SELECT id FROM notification.templates") == []
    assert await rows(pool, "SELECT template_id FROM notification.template_versions") == []
    # a template fine for every sample is saved
    fine = '{"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": ' \
           '"{{ incident.alert_count }} alerts"}}]}'
    saved = await templates_store.create_template(pool, renderers=renderers, id="fine", name="Fine",
                                                  channels={"slack": {"body": fine}})
    assert saved.warnings == []
    assert [r["id"] for r in await rows(pool, "SELECT id FROM notification.templates")] == ["fine"]


# ------------------------------------------------------------------------------ end to end


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec


@pytest.fixture
async def webhook_server(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    from conftest import run_server, server_settings

    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    async with run_server(server_settings(db_url)) as running:
        yield running


@pytest.mark.slow
async def test_a_page_for_a_grouped_incident_carries_the_engines_incident_to_the_default_webhook(
    webhook_server: Any, hook: Receiver,
) -> None:
    server = webhook_server
    await add_rule(server.ctx, key="labels.service")
    await rules.set_default(server.ctx.pool, RuleActions(channel_destinations=[f"webhook:{hook.url}/in"]))
    _, key = await server.integration("alertmanager")
    alerts = [{"status": "firing", "fingerprint": f"db-{i}", "startsAt": "2026-03-14T09:26:53Z",
               "labels": {"alertname": "DiskFull", "service": "payments-db", "instance": f"payments-db-{i}"},
               "annotations": {"summary": f"Disk full on payments-db-{i}"}} for i in range(3)]
    status, _ = await post_json(server, "/api/v1/webhooks/alertmanager", {
        "version": "4", "status": "firing", "receiver": "oncall", "groupKey": "db", "alerts": alerts}, key=key)
    assert status == 200
    await hook.wait_for(1)
    [incident] = [i for i in await incidents(server.ctx.pool) if i["rule_id"] is not None]
    async with server.ctx.pool.connection() as conn:
        now = (await incident_contexts(conn, [incident["id"]]))[incident["id"]]
    # the three alerts came in one webhook: the incident routes once, having all three
    [body] = [json.loads(r.body) for r in hook.requests]
    assert body["event"] == "incident.triggered" and body["incident"] == now
    assert (now["alert_count"], now["open_alerts"], now["group_key"]) == (3, 3, "payments-db")
    assert [a["summary"] for a in body["incident"]["alerts"]] == [f"Disk full on payments-db-{i}" for i in range(3)]
    assert body["alert"]["id"] == now["alerts"][0]["id"]  # the alert that paged: the incident's first
