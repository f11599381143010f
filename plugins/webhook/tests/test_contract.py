"""The webhook channel keeps the channel contract (oncall-plugin-testkit) against a local receiver."""

import pytest
from oncall_hookspecs import Channel
from oncall_testkit import channel_message, check_channel, registered

SECRET = "whsec-contract-test-secret"


async def test_the_webhook_channel_keeps_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(url: str, timeout_s: float) -> Channel:
        monkeypatch.setenv("ONCALL_WEBHOOK_SIGNING_SECRET", SECRET)
        monkeypatch.setenv("ONCALL_WEBHOOK_TIMEOUT_S", str(timeout_s))
        channel: Channel = registered("webhook").one("channels")
        return channel

    await check_channel(make, lambda url: channel_message(url + "/hook", {"event": "alert.triggered"}, "webhook"),
                        secrets=[SECRET])
