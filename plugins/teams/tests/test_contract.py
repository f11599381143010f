"""The Teams channel keeps the channel contract (oncall-plugin-testkit), posting to a receiver as its Workflows URL."""

import pytest
from oncall_hookspecs import Channel
from oncall_testkit import channel_message, check_channel, registered

CARD = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
    "type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "Disk full on db-1"}]}}]}
SIGNATURE = "sig-contract-test-1234567890"


async def test_the_teams_channel_keeps_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def make(url: str, timeout_s: float) -> Channel:
        # a configured webhook by name, its URL carrying the signature (a secret) as Workflows' do
        monkeypatch.setenv("ONCALL_TEAMS_WEBHOOKS", f"ops={url}/workflows/w1/triggers/manual/paths/invoke?sig={SIGNATURE}")
        monkeypatch.setenv("ONCALL_TEAMS_TIMEOUT_S", str(timeout_s))
        channel: Channel = registered("teams").one("channels")
        return channel

    await check_channel(make, lambda url: channel_message("ops", CARD, "teams"), accepted=(202, {}, ""),
                        secrets=[SIGNATURE])
