"""The Slack channel keeps the channel contract (oncall-plugin-testkit): the Web API stood in by a receiver."""

import pytest
from oncall_hookspecs import Channel
from oncall_testkit import channel_message, check_channel, registered

TOKEN = "xoxb-contract-1111-2222-secret-bot-token"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
POSTED = (200, {"Content-Type": "application/json"}, '{"ok": true, "channel": "C0OPS", "ts": "1700000000.000100"}')


async def test_the_slack_channel_keeps_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def make(url: str, timeout_s: float) -> Channel:
        monkeypatch.setenv("ONCALL_SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("ONCALL_SLACK_SIGNING_SECRET", SIGNING_SECRET)
        monkeypatch.setenv("ONCALL_SLACK_API_URL", url + "/api/")
        monkeypatch.setenv("ONCALL_SLACK_TIMEOUT_S", str(timeout_s))
        channel: Channel = registered("slack").one("channels")
        return channel

    payload = {"text": "[critical] Disk full", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]}
    await check_channel(make, lambda url: channel_message("#ops", payload, "slack"), accepted=POSTED,
                        secrets=[TOKEN, SIGNING_SECRET])
