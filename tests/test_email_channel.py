"""The email channel against a real SMTP server on 127.0.0.1: content, TLS, AUTH, reply classification, settings."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixtures.processes import free_port
from oncall_testkit.smtp_server import SmtpServer, silent_server, smtp_server
from oncall.plugins import load_plugins
from oncall_email import EmailChannel, load_settings, message_id
from oncall_hookspecs import ChannelMessage

SENDER = "OnCall <oncall@example.com>"
ACK_URL = "https://oncall.example.com/a/ack-7Qx"
RESOLVE_URL = "https://oncall.example.com/a/res-9Zp"
ESCALATE_URL = "https://oncall.example.com/a/esc-3Kd"
WRONG_PASSWORD = "not-the-relay-pw-41b"

MakeChannel = Callable[..., EmailChannel]


def alert_message(destination: str = "alice@example.com", **overrides: object) -> ChannelMessage:
    fields: dict[str, object] = {
        "delivery_id": "d-1",
        "idempotency_key": "delivery-1",
        "destination": destination,
        "payload": {
            "subject": "[CRITICAL] Disk full on db-1",
            "text": "Disk full on db-1\n/var is 99% full.",
            "html": "<h1>Disk full on db-1</h1><p>/var is 99% full.</p>",
        },
        "alert_id": 42,
        "channel": "email",
        "actions": {"acknowledge": ACK_URL, "resolve": RESOLVE_URL},
    }
    fields.update(overrides)
    return ChannelMessage(**fields)  # type: ignore[arg-type]


def channel_for(server: SmtpServer, **env: str | None) -> EmailChannel:
    """A channel built through the real settings path, pointed at ``server``."""
    values: dict[str, str | None] = {
        "ONCALL_EMAIL_SMTP_HOST": server.host,
        "ONCALL_EMAIL_SMTP_PORT": str(server.port),
        "ONCALL_EMAIL_FROM": SENDER,
        "ONCALL_EMAIL_USERNAME": server.username,
        "ONCALL_EMAIL_PASSWORD": server.password,
        "ONCALL_EMAIL_CA_FILE": str(server.ca_file),
        "ONCALL_EMAIL_SECURITY": {"plain": "none"}.get(server.mode, server.mode),
        "ONCALL_EMAIL_TIMEOUT_S": "30",
    }
    values.update(env)
    settings, unknown = load_settings({k: v for k, v in values.items() if v is not None})
    assert settings is not None and unknown == []
    return EmailChannel(settings)


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[SmtpServer]:
    """A relay that wants STARTTLS and then AUTH, like a provider's submission port."""
    async with smtp_server(tmp_path) as server:
        yield server


class _Links(HTMLParser):
    """``(href, text)`` of every ``<a>``, as a mail client would show them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self.links.append((self._href, ""))

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def links_in(html: str) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


# --------------------------------------------------------------------------- the email


async def test_an_alert_email_arrives_as_text_and_html_with_the_action_links(relay):
    result = await channel_for(relay).send(alert_message())

    assert result.ok and not result.delivered and not result.permanent
    assert "250" in result.response
    [mail] = relay.received
    assert mail.mail_from == "oncall@example.com"
    assert mail.rcpt_tos == ["alice@example.com"]
    msg = mail.message
    assert msg["Subject"] == "[CRITICAL] Disk full on db-1"
    assert msg["From"] == SENDER
    assert msg["To"] == "alice@example.com"
    assert msg["X-OnCall-Alert-Id"] == "42"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"]
    assert result.provider_id == msg["Message-ID"] == message_id("delivery-1", "example.com")

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    body = parts(msg)
    text, html = body["text/plain"], body["text/html"]
    assert text.startswith("Disk full on db-1\n/var is 99% full.\n")
    assert f"Acknowledge: {ACK_URL}\n" in text and f"Resolve: {RESOLVE_URL}\n" in text
    assert "Escalate" not in text
    assert "<h1>Disk full on db-1</h1><p>/var is 99% full.</p>" in html
    assert links_in(html) == [(ACK_URL, "Acknowledge"), (RESOLVE_URL, "Resolve")]


async def test_an_escalate_link_is_added_when_the_core_offers_one(relay):
    actions = {"acknowledge": ACK_URL, "resolve": RESOLVE_URL, "escalate": ESCALATE_URL}
    await channel_for(relay).send(alert_message(actions=actions))

    body = parts(relay.received[0].message)
    assert links_in(body["text/html"]) == [(ACK_URL, "Acknowledge"), (RESOLVE_URL, "Resolve"), (ESCALATE_URL, "Escalate")]
    assert f"Escalate: {ESCALATE_URL}\n" in body["text/plain"]


async def test_action_links_are_html_escaped_and_only_http_links_are_shown(relay):
    tricky = 'https://oncall.example.com/a/t?x=1&y="2"><script>alert(1)</script>'
    actions = {"acknowledge": tricky, "resolve": "javascript:alert(document.cookie)"}
    await channel_for(relay).send(alert_message(actions=actions))

    body = parts(relay.received[0].message)
    html, text = body["text/html"], body["text/plain"]
    assert 'href="https://oncall.example.com/a/t?x=1&amp;y=&quot;2&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "<script>" not in html and "javascript:" not in html
    assert links_in(html) == [(tricky, "Acknowledge")]
    assert f"Acknowledge: {tricky}\n" in text
    assert "javascript:" not in text and "Resolve:" not in text


async def test_every_attempt_of_one_delivery_carries_the_same_message_id(relay):
    channel = channel_for(relay)
    first = await channel.send(alert_message(idempotency_key="delivery-77"))
    retry = await channel.send(alert_message(idempotency_key="delivery-77"))
    other = await channel.send(alert_message(idempotency_key="delivery-78"))

    ids = [m.message["Message-ID"] for m in relay.received]
    assert ids[0] == ids[1] == first.provider_id == retry.provider_id
    assert ids[2] == other.provider_id != ids[0]
    assert ids[0].startswith("<oncall.") and ids[0].endswith("@example.com>")


async def test_an_html_only_payload_still_gets_a_text_version(relay):
    payload = {"subject": "Disk full", "html": "<h1>Disk full</h1><p>/var is <b>99%</b> full.</p><style>p{}</style>"}
    await channel_for(relay).send(alert_message(payload=payload))

    text = parts(relay.received[0].message)["text/plain"]
    assert text.startswith("Disk full\n\n/var is 99% full.\n")
    assert f"Acknowledge: {ACK_URL}" in text and "p{}" not in text


async def test_a_text_only_payload_is_sent_as_plain_text_with_the_links(relay):
    payload = {"subject": "Disk full", "text": "Disk full on db-1"}
    await channel_for(relay).send(alert_message(payload=payload))

    msg = relay.received[0].message
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().startswith("Disk full on db-1\n\nAcknowledge: ")


async def test_a_payload_that_is_not_an_email_fails_permanently_without_connecting(relay):
    result = await channel_for(relay).send(alert_message(payload={"text": 3}))

    assert not result.ok and result.permanent
    assert "'text' must be a string" in result.response
    assert relay.connections == 0


async def test_a_subject_with_line_breaks_cannot_add_headers(relay):
    payload = {"subject": "Disk full\r\nBcc: eve@example.com", "text": "x"}
    await channel_for(relay).send(alert_message(payload=payload))

    [mail] = relay.received
    assert mail.message["Subject"] == "Disk full Bcc: eve@example.com"
    assert mail.message["Bcc"] is None and mail.rcpt_tos == ["alice@example.com"]


async def test_the_test_message_is_labelled_and_names_no_alert(relay):
    result = await channel_for(relay).test_send("bob@example.com")

    assert result.ok
    [mail] = relay.received
    assert mail.rcpt_tos == ["bob@example.com"]
    assert mail.message["Subject"] == "[OnCall test] Email channel test message"
    assert mail.message["X-OnCall-Alert-Id"] is None
    assert "This is a test message from OnCall" in parts(mail.message)["text/plain"]


# --------------------------------------------------------------------------- TLS and login


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_starttls_is_negotiated_before_the_login_and_the_message(tmp_path, mechanism):
    async with smtp_server(tmp_path, mechanisms=(mechanism,)) as server:
        result = await channel_for(server).send(alert_message())

    assert result.ok
    [attempt] = server.auth_attempts
    assert (attempt.mechanism, attempt.login, attempt.success) == (mechanism, "oncall", True)
    assert attempt.tls_version is not None and attempt.tls_version.startswith("TLSv1")
    [mail] = server.received
    assert mail.tls_version is not None and mail.tls_version.startswith("TLSv1")
    assert mail.login == "oncall"


async def test_implicit_tls_from_the_first_byte(tmp_path):
    async with smtp_server(tmp_path, mode="tls") as server:
        result = await channel_for(server).send(alert_message())

    assert result.ok
    [mail] = server.received
    assert mail.tls_version is not None and mail.login == "oncall"


async def test_a_certificate_from_an_unknown_ca_is_refused_before_the_password_is_sent(relay):
    result = await channel_for(relay, ONCALL_EMAIL_CA_FILE=None).send(alert_message())

    assert not result.ok and result.permanent
    assert "certificate is not trusted" in result.response and "ONCALL_EMAIL_CA_FILE" in result.response
    assert relay.auth_attempts == [] and relay.received == []


async def test_a_relay_without_starttls_is_refused_rather_than_used_in_plain_text(tmp_path):
    async with smtp_server(tmp_path, mode="plain", username=None, password=None) as server:
        result = await channel_for(server, ONCALL_EMAIL_SECURITY="starttls").send(alert_message())

    assert not result.ok and result.permanent
    assert "STARTTLS" in result.response
    assert server.received == []


async def test_security_none_sends_in_plain_text_to_a_loopback_relay(tmp_path):
    async with smtp_server(tmp_path, mode="plain", username=None, password=None) as server:
        result = await channel_for(server, ONCALL_EMAIL_CA_FILE=None).send(alert_message())

    assert result.ok
    [mail] = server.received
    assert mail.tls_version is None and mail.login is None


async def test_a_wrong_password_fails_permanently_with_code_535(relay):
    result = await channel_for(relay, ONCALL_EMAIL_PASSWORD=WRONG_PASSWORD).send(alert_message())

    assert not result.ok and result.permanent
    assert result.response.startswith("SMTP 535 ")
    assert "(at AUTH)" in result.response
    assert WRONG_PASSWORD not in result.response
    assert relay.received == [] and relay.auth_attempts and not any(a.success for a in relay.auth_attempts)


async def test_the_password_never_appears_in_repr_or_logs(relay, caplog):
    caplog.set_level(logging.DEBUG)
    good = channel_for(relay)
    bad = channel_for(relay, ONCALL_EMAIL_PASSWORD=WRONG_PASSWORD)
    results = [await good.send(alert_message()), await bad.send(alert_message())]

    secrets = [relay.password, WRONG_PASSWORD]
    secrets += [base64.b64encode(s.encode()).decode() for s in list(secrets)]
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    shown = [repr(good), repr(bad), repr(good._settings), str(bad._settings), ours]
    shown += [repr(r) for r in results]
    for secret in secrets:
        assert all(secret not in text for text in shown)
    assert repr(good) == (
        f"EmailChannel(host='127.0.0.1', port={relay.port}, security='starttls', "
        "sender='oncall@example.com', username='oncall')"
    )


# --------------------------------------------------------------------------- the relay's answers


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("RCPT", "451 4.3.0 Mailbox temporarily unavailable, try again later"),
        ("RCPT", "452 4.2.2 Mailbox full"),
        ("DATA", "451 4.3.0 Local error in processing"),
    ],
)
async def test_a_4xx_reply_is_retryable_and_the_retry_goes_through(relay, command, reply):
    channel = channel_for(relay)
    relay.reply_next(command, reply)
    failed = await channel.send(alert_message())
    retried = await channel.send(alert_message())

    assert not failed.ok and not failed.permanent
    assert failed.response == f"SMTP {reply} (at {command})"
    assert retried.ok and len(relay.received) == 1


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("RCPT", "550 5.1.1 Mailbox unavailable"),
        ("RCPT", "553 5.1.3 Bad recipient address syntax"),
        ("DATA", "554 5.7.1 Message rejected as spam"),
    ],
)
async def test_a_5xx_reply_is_permanent_and_keeps_the_code_and_text(relay, command, reply):
    result = await channel_for(relay).send(alert_message())  # warm-up: the relay works
    relay.reply_next(command, reply)
    refused = await channel_for(relay).send(alert_message())

    assert result.ok
    assert not refused.ok and refused.permanent
    assert refused.response == f"SMTP {reply} (at {command})"
    assert len(relay.received) == 1


@pytest.mark.parametrize(
    "destination",
    [
        "",
        "not an address",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "alice@example.com, bob@example.com",
        "Alice <alice@example.com>",
        "alice@example.com\r\nBcc: eve@example.com",
        "alice@exa mple.com",
        "alice@-bad-.example.com",
        "alice..b@example.com",
        "jö@example.com",
        "a" * 65 + "@example.com",
    ],
)
async def test_a_malformed_address_fails_permanently_without_contacting_the_relay(relay, destination):
    result = await channel_for(relay).send(alert_message(destination=destination))

    assert not result.ok and result.permanent
    assert result.response.startswith("invalid destination: ")
    assert relay.connections == 0


async def test_an_internationalised_domain_is_sent_in_its_ascii_form(relay):
    result = await channel_for(relay).send(alert_message(destination="alice@bücher.example"))

    assert result.ok
    assert relay.received[0].rcpt_tos == ["alice@xn--bcher-kva.example"]


async def test_a_refused_connection_is_retryable():
    port = free_port()  # nothing listens there
    settings, _ = load_settings(
        {"ONCALL_EMAIL_SMTP_HOST": "127.0.0.1", "ONCALL_EMAIL_SMTP_PORT": str(port), "ONCALL_EMAIL_FROM": SENDER}
    )
    assert settings is not None
    result = await EmailChannel(settings).send(alert_message())

    assert not result.ok and not result.permanent
    assert f"127.0.0.1:{port}: connection failed at connect" in result.response


async def test_a_relay_that_never_answers_times_out_and_is_retryable():
    async with silent_server() as port:
        settings, _ = load_settings(
            {
                "ONCALL_EMAIL_SMTP_HOST": "127.0.0.1",
                "ONCALL_EMAIL_SMTP_PORT": str(port),
                "ONCALL_EMAIL_FROM": SENDER,
                "ONCALL_EMAIL_TIMEOUT_S": "0.5",
            }
        )
        assert settings is not None
        result = await EmailChannel(settings).send(alert_message())

    assert not result.ok and not result.permanent
    assert "no answer within 0.5 s" in result.response


# --------------------------------------------------------------------------- settings and discovery


def test_the_plugin_registers_its_channel_when_host_and_sender_are_set(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("ONCALL_EMAIL_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("ONCALL_EMAIL_FROM", SENDER)
    monkeypatch.setenv("ONCALL_EMAIL_USERNAME", "oncall@example.com")
    monkeypatch.setenv("ONCALL_EMAIL_PASSWORD", WRONG_PASSWORD)
    caplog.set_level(logging.DEBUG)
    _, registry = load_plugins()

    channel = registry.channels["email"]
    assert isinstance(channel, EmailChannel)
    assert repr(channel) == (
        "EmailChannel(host='smtp.example.com', port=587, security='starttls', "
        "sender='oncall@example.com', username='oncall@example.com')"
    )
    assert channel.bundles and channel.rate_limits == {"destination": (10, 60.0)}
    [info] = [p for p in registry.plugins if p.name == "email"]
    assert info.status == "ok" and info.distribution == "oncall-email"
    assert WRONG_PASSWORD not in caplog.text


def test_implicit_tls_defaults_to_port_465():
    settings, _ = load_settings(
        {"ONCALL_EMAIL_SMTP_HOST": "smtp.example.com", "ONCALL_EMAIL_FROM": SENDER, "ONCALL_EMAIL_SECURITY": "TLS"}
    )
    assert settings is not None and (settings.security, settings.port) == ("tls", 465)


def test_without_a_host_the_plugin_registers_nothing_and_says_why(monkeypatch, caplog):
    monkeypatch.delenv("ONCALL_EMAIL_SMTP_HOST", raising=False)
    monkeypatch.setenv("ONCALL_EMAIL_FROM", SENDER)
    with caplog.at_level(logging.DEBUG):
        _, registry = load_plugins()

    assert "email" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "email"]
    assert info.status == "ok" and info.provides == {}
    lines = [r.getMessage() for r in caplog.records if "ONCALL_EMAIL_SMTP_HOST" in r.getMessage()]
    assert lines == ["email channel not registered: ONCALL_EMAIL_SMTP_HOST is not set"]


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"ONCALL_EMAIL_FROM": None}, "ONCALL_EMAIL_FROM is required with ONCALL_EMAIL_SMTP_HOST"),
        ({"ONCALL_EMAIL_FROM": "oncall at example.com"}, "ONCALL_EMAIL_FROM: 'oncall at example.com' is not"),
        ({"ONCALL_EMAIL_FROM": "a@example.com, b@example.com"}, "is not a single email address"),
        ({"ONCALL_EMAIL_SECURITY": "ssl"}, "ONCALL_EMAIL_SECURITY must be one of starttls, tls, none; got 'ssl'"),
        ({"ONCALL_EMAIL_SECURITY": "none"}, "ONCALL_EMAIL_SECURITY=none sends mail (and any password) unencrypted"),
        ({"ONCALL_EMAIL_SMTP_PORT": "smtp"}, "ONCALL_EMAIL_SMTP_PORT must be a port number (1-65535), got 'smtp'"),
        ({"ONCALL_EMAIL_SMTP_PORT": "70000"}, "ONCALL_EMAIL_SMTP_PORT must be a port number (1-65535), got '70000'"),
        ({"ONCALL_EMAIL_TIMEOUT_S": "0"}, "ONCALL_EMAIL_TIMEOUT_S must be a positive number of seconds, got '0'"),
        ({"ONCALL_EMAIL_CA_FILE": "/nonexistent/ca.pem"}, "ONCALL_EMAIL_CA_FILE: no such file: '/nonexistent/ca.pem'"),
        ({"ONCALL_EMAIL_CA_FILE": __file__}, "is not a readable PEM file of CA certificates"),
        ({"ONCALL_EMAIL_USERNAME": None}, "ONCALL_EMAIL_PASSWORD is set but ONCALL_EMAIL_USERNAME is not"),
        ({"ONCALL_EMAIL_PASSWORD": None}, "ONCALL_EMAIL_USERNAME is set but ONCALL_EMAIL_PASSWORD is not"),
    ],
)
def test_a_missing_or_malformed_setting_fails_the_plugin_naming_the_variable(monkeypatch, caplog, settings, error):
    env = {
        "ONCALL_EMAIL_SMTP_HOST": "smtp.example.com",
        "ONCALL_EMAIL_FROM": SENDER,
        "ONCALL_EMAIL_USERNAME": "oncall@example.com",
        "ONCALL_EMAIL_PASSWORD": WRONG_PASSWORD,
        **settings,
    }
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    _, registry = load_plugins()

    assert "email" not in registry.channels
    [info] = [p for p in registry.plugins if p.name == "email"]
    assert info.status == "failed"
    assert error in info.error
    assert WRONG_PASSWORD not in info.error and WRONG_PASSWORD not in caplog.text
