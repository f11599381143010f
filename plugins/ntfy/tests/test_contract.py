"""The ntfy push channel keeps the channel contract (oncall-plugin-testkit) against a receiver as its server."""

import pytest
from oncall_hookspecs import Channel
from oncall_testkit import channel_message, check_channel, registered

TOKEN = "tk_contracttestaccesstoken0000000"
PUBLISHED = (200, {"Content-Type": "application/json"},
             '{"id": "sPs71M8A2T", "time": 1700000000, "event": "message", "topic": "ops-alerts"}')


async def test_the_ntfy_channel_keeps_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)

    def make(url: str, timeout_s: float) -> Channel:
        monkeypatch.setenv("ONCALL_NTFY_URL", url)
        monkeypatch.setenv("ONCALL_NTFY_TOKEN", TOKEN)
        monkeypatch.setenv("ONCALL_NTFY_TIMEOUT_S", str(timeout_s))
        channel: Channel = registered("ntfy").one("channels")
        return channel

    payload = {"title": "Disk full", "message": "db-1 /var 97%", "priority": 5, "tags": ["rotating_light"]}
    await check_channel(make, lambda url: channel_message("ops-alerts", payload, "push"), accepted=PUBLISHED,
                        secrets=[TOKEN])
