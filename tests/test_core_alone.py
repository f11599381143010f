"""``pip install oncall`` alone is the core: it serves, and says at startup what is missing;
``oncall[standard]`` is the standard plugin set, every distribution under ``plugins/``."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import aiohttp
import pytest
from conftest import run_server, server_settings

from oncall.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[1]


def test_the_standard_extra_is_every_plugin_in_the_repository() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    plugins = {tomllib.loads(p.read_text())["project"]["name"] for p in (ROOT / "plugins").glob("*/pyproject.toml")}
    assert sorted(extras["standard"]) == sorted(plugins)


async def test_the_core_without_plugins_serves_and_says_none_are_installed(
    db_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    everything = frozenset(p.name for p in load_plugins()[1].plugins)  # as if only `oncall` were installed
    caplog.set_level(logging.WARNING, logger="oncall")
    async with run_server(server_settings(db_url, disabled_plugins=everything)) as server:
        assert not server.ctx.registry.sources and not server.ctx.registry.channel_specs
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.http_url}/healthz") as r:
                assert r.status == 200
            async with http.post(f"{server.http_url}/api/v1/webhooks/generic", json={"summary": "x"}) as r:
                assert r.status == 404  # no such source: a clear 4xx, not a failure
    said = caplog.text
    assert "no source plugins are installed" in said and "no channel plugins are installed" in said
    assert "pip install 'oncall[standard]'" in said
