"""The sms and voice channels keep the channel contract (oncall-plugin-testkit), the REST API stood in by a receiver
that the twilio SDK talks to."""

import pytest
from oncall_hookspecs import Channel
from oncall_testkit import channel_message, check_channel, registered

SID = "AC" + "0" * 32
TOKEN = "twilio-contract-auth-token-0123456789"
CREATED = (201, {"Content-Type": "application/json"},
           '{"sid": "SM' + "1" * 32 + '", "status": "queued", "account_sid": "' + SID + '"}')


@pytest.mark.parametrize("channel", ["sms", "voice"])
async def test_the_twilio_channel_keeps_the_contract(channel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def make(url: str, timeout_s: float) -> Channel:
        monkeypatch.setenv("ONCALL_TWILIO_ACCOUNT_SID", SID)
        monkeypatch.setenv("ONCALL_TWILIO_AUTH_TOKEN", TOKEN)
        monkeypatch.setenv("ONCALL_TWILIO_FROM_NUMBER", "+15005550006")
        monkeypatch.setenv("ONCALL_TWILIO_API_URL", url)
        monkeypatch.setenv("ONCALL_TWILIO_TIMEOUT_S", str(timeout_s))
        made: Channel = registered("twilio").one("channels", channel)
        return made

    await check_channel(make, lambda url: channel_message("+14155550100", {"text": "Disk full on db-1"}, channel),
                        accepted=CREATED, secrets=[TOKEN])
