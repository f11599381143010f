"""The email channel keeps the channel contract (oncall-plugin-testkit) against a real SMTP relay on 127.0.0.1."""

import pytest
from oncall_hookspecs import Channel
from oncall_testkit import channel_message, check_smtp_channel, registered

PAYLOAD = {"subject": "[critical] Disk full on db-1", "html": "<p>Disk full</p>", "text": "Disk full"}


async def test_the_email_channel_keeps_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(host: str, port: int, timeout_s: float) -> Channel:
        monkeypatch.setenv("ONCALL_EMAIL_SMTP_HOST", host)
        monkeypatch.setenv("ONCALL_EMAIL_SMTP_PORT", str(port))
        monkeypatch.setenv("ONCALL_EMAIL_SECURITY", "none")
        monkeypatch.setenv("ONCALL_EMAIL_FROM", "OnCall <oncall@example.com>")
        monkeypatch.setenv("ONCALL_EMAIL_TIMEOUT_S", str(timeout_s))
        channel: Channel = registered("email").one("channels")
        return channel

    await check_smtp_channel(make, channel_message("ann@example.com", PAYLOAD, "email"))
