"""The ``oncall`` command line, run as a real process against the test database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import aiohttp
import psycopg
import pytest
from fixtures.processes import oncall_env, run_cli

from oncall.config import Settings

KEY_LINE = re.compile(r"^key:\s+(\S+)$", re.MULTILINE)
URL_LINE = re.compile(r"^webhook URL:\s+(\S+)$", re.MULTILINE)


def create(env: dict[str, str], source: str, name: str):
    return run_cli("integrations", "create", "--source", source, "--name", name, env=env)


async def test_integrations_create_prints_a_key_and_a_webhook_url_that_work(server, db_url):
    env = oncall_env(db_url, ONCALL_PUBLIC_URL=server.http_url)
    result = create(env, "generic", "Checkout API")
    assert result.returncode == 0, result.stderr

    key = KEY_LINE.search(result.stdout).group(1)
    url = URL_LINE.search(result.stdout).group(1)
    assert url == f"{server.http_url}/api/v1/webhooks/generic?token={key}"
    assert f"{server.http_url}/api/v2/generic/incoming?token={key}" in result.stdout  # GoAlert's path
    assert "shown only now" in result.stdout

    async with aiohttp.ClientSession() as http:
        # exactly as printed: the key rides in the URL
        async with http.post(url, json={"summary": "checkout errors", "dedup": "co-5xx"}) as r:
            assert r.status == 204, await r.text()
        # and the same key as a bearer token
        async with http.post(
            f"{server.http_url}/api/v1/webhooks/generic",
            json={"summary": "checkout slow", "dedup": "co-slow"},
            headers={"Authorization": f"Bearer {key}"},
        ) as r:
            assert r.status == 204, await r.text()
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute(
            """SELECT a.dedup_key, i.name FROM alerting.alerts a
               JOIN alerting.integrations i ON i.id = a.integration_id ORDER BY a.id"""
        )
        assert await cur.fetchall() == [
            {"dedup_key": "co-5xx", "name": "Checkout API"},
            {"dedup_key": "co-slow", "name": "Checkout API"},
        ]


def test_the_webhook_url_follows_the_http_address_when_no_public_url_is_set(db_url):
    # ":8080" is how GoAlert (and Go) spell "every interface, port 8080"
    env = oncall_env(db_url, ONCALL_HTTP_ADDR=":8080")
    result = create(env, "generic", "x")
    assert result.returncode == 0, result.stderr
    assert "webhook URL: http://127.0.0.1:8080/api/v1/webhooks/generic?token=" in result.stdout


def test_integrations_list_shows_integrations_with_a_key_prefix_never_the_key(db_url):
    env = oncall_env(db_url)
    keys = {}
    for source, name in (("generic", "payments"), ("generic", "search")):
        created = create(env, source, name)
        assert created.returncode == 0, created.stderr
        keys[name] = KEY_LINE.search(created.stdout).group(1)

    listed = run_cli("integrations", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["ID", "SOURCE", "NAME", "KEY", "CREATED"]
    by_name = {row[2]: row for row in rows[1:]}
    for name, key in keys.items():
        assert by_name[name][1] == "generic"
        assert by_name[name][3] == key[:6] + "…"
        assert key not in listed.stdout


def test_creating_an_integration_with_a_name_already_used_fails_clearly(db_url):
    env = oncall_env(db_url)
    assert create(env, "generic", "payments").returncode == 0
    again = create(env, "generic", "payments")
    assert again.returncode != 0
    assert "a generic integration named 'payments' already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert "key:" not in again.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alerting.integrations").fetchone()[0] == 1


def test_an_integration_for_a_source_that_is_not_installed_is_refused(db_url):
    result = create(oncall_env(db_url), "nagios", "legacy")
    assert result.returncode == 1  # the API's INVALID_ARGUMENT, as every refused call
    assert "unknown source 'nagios'; installed sources: " in result.stderr
    assert "generic" in result.stderr.split("installed sources: ")[1]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alerting.integrations").fetchone()[0] == 0



def test_a_rule_or_default_route_naming_a_ticket_provider_that_is_not_installed_is_refused(db_url):
    env = oncall_env(db_url)
    for args in (("rules", "create", "--name", "tickets", "--when", "true", "--ticket", "jira"),
                 ("rules", "default", "--ticket", "jira")):
        result = run_cli(*args, env=env)
        assert result.returncode == 1, result.stderr
        assert result.stderr == "error: ticket provider 'jira' is not installed (installed ticket providers: none)\n"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alerting.routing_rules").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM alerting.routing_config").fetchone()[0] == 0

def test_alert_trigger_raises_an_alert_with_its_labels(db_url):
    result = run_cli(
        "alert", "trigger", "--summary", "Manual page: checkout down",
        "--details", "customers report 502s", "--severity", "error",
        "--label", "team=payments", "--label", "env=prod", "--label", "url=https://x/?a=b",
        "--dedup", "checkout-manual",
        env=oncall_env(db_url),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"^alert \d+ created \(dedup key checkout-manual\)$", result.stdout, re.MULTILINE)

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            """SELECT a.summary, a.details, a.severity, a.labels, a.status, i.source
               FROM alerting.alerts a JOIN alerting.integrations i ON i.id = a.integration_id"""
        ).fetchall()
    assert rows == [
        ("Manual page: checkout down", "customers report 502s", "error",
         {"team": "payments", "env": "prod", "url": "https://x/?a=b"}, "triggered", "manual"),
    ]  # fmt: skip


@pytest.mark.parametrize(("when", "span"), [
    (["--start", "+1h", "--end", "+3h"], 7200),
    (["--start", "2031-01-01T00:00:00", "--duration", "30m"], 1800),  # a naive time is UTC
    ([], 3600),  # from now, for the default hour
])
def test_silences_create_reads_start_and_end_as_iso_times_or_offsets(db_url, when, span):
    result = run_cli("silences", "create", "--matcher", "team=ops", "--created-by", "ann", *when,
                     env=oncall_env(db_url))
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        starts, ends = conn.execute(
            "SELECT starts_at, ends_at FROM alerting.silences ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert (ends - starts).total_seconds() == span
    if "2031" in " ".join(when):
        assert starts == datetime(2031, 1, 1, tzinfo=UTC)


def test_alert_trigger_refuses_a_label_that_is_not_key_value(db_url):
    result = run_cli("alert", "trigger", "--summary", "s", "--label", "team", env=oncall_env(db_url))
    assert result.returncode != 0
    assert "--label takes key=value, got 'team'" in result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM alerting.alerts").fetchone()[0] == 0


def test_an_unreachable_database_is_one_clear_line_not_a_traceback():
    env = oncall_env("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=5")
    result = run_cli("integrations", "list", env=env)
    assert result.returncode == 1
    assert "oncall: cannot reach the database: " in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ONCALL_HTTP_ADDR", "localhost:http", "ONCALL_HTTP_ADDR: 'localhost:http' is not host:port"),
        ("ONCALL_GRPC_ADDR", "127.0.0.1:70000", "ONCALL_GRPC_ADDR: '127.0.0.1:70000' is not host:port"),
        ("ONCALL_SHUTDOWN_GRACE_S", "ten", "ONCALL_SHUTDOWN_GRACE_S must be a number, got 'ten'"),
        ("ONCALL_MAX_BODY_BYTES", "1MB", "ONCALL_MAX_BODY_BYTES must be an integer, got '1MB'"),
    ],
)
def test_a_malformed_setting_is_named_at_startup(name, value, message):
    result = run_cli("plugins", env=oncall_env(None, **{name: value}))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("addr", "host", "port"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        (":8080", "0.0.0.0", 8080),
        ("[::1]:9090", "::1", 9090),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("localhost", "localhost", 8080),
    ],
)
def test_listen_addresses_are_read_as_operators_write_them(addr, host, port):
    assert Settings.from_env({"ONCALL_HTTP_ADDR": addr}).http_host_port == (host, port)


def test_templates_preview_shows_the_defaults_for_a_grouped_incident_with_sample_incident(db_url):
    env = oncall_env(db_url)
    grouped = run_cli("templates", "preview", "--sample", "incident", "--channel", "sms", "--channel", "email",
                      "--pretty", env=env)
    assert grouped.returncode == 0, grouped.stderr
    assert "TRIGGERED incident #12: 37 alerts (30 open) payments-db: #4301 Disk full" in grouped.stdout
    assert '"subject": "[TRIGGERED] Incident #12 · 37 alerts · payments-db"' in grouped.stdout
    single = run_cli("templates", "preview", "--channel", "sms", env=env)
    assert single.returncode == 0 and "TRIGGERED #4217: High error rate" in single.stdout
    both = run_cli("templates", "preview", "--sample", "bundle", "--context", "x.json", env=env)
    assert both.returncode != 0 and "not both" in both.stderr
