"""Plugin discovery through the ``oncall`` entry-point group, with real distribution metadata.

``tests/fixtures/plugins`` holds two distributions as pip would leave them (a package and
its ``*.dist-info`` with ``METADATA`` and ``entry_points.txt``): ``oncall-fixture-echo``, a
well-behaved source, and ``oncall-fixture-broken``, whose entry points each break the
contract in one way. Each broken plugin is reported and skipped; the rest load and serve.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import run_server, server_settings
from fixtures.processes import PLUGIN_FIXTURES, ServeProcess, oncall_env, run_cli
from oncall_hookspecs import hookimpl

from oncall.config import Settings
from oncall.plugins import PluginInfo, load_plugins

# entry-point name → the message its failure must carry
BROKEN = {
    "fixture-bad-import": "failed to import: ModuleNotFoundError: No module named "
    "'oncall_fixture_dependency_that_is_not_installed'",
    "fixture-bad-signature": "Argument(s) {'settings'} are declared in the hookimpl but can not be found "
    "in the hookspec",
    "fixture-misspelt-hook": "unknown hook 'register_source' (misspelt?)",
    "fixture-no-parse": "NoParseSource registered as source lacks parse",
    "fixture-raises": "failed while registering: RuntimeError: ONCALL_FIXTURE_RAISES_TOKEN is not set",
    "fixture-taken-name": "source 'fixture-echo' is already registered by plugin 'fixture-echo'",
    "fixture-taken-path": "path /hooks/fixture-echo is already served by source 'fixture-echo' (plugin 'fixture-echo')",
}


@pytest.fixture
def fixture_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the fixture distributions for this test (and only this test)."""
    monkeypatch.syspath_prepend(str(PLUGIN_FIXTURES))


def by_name(plugins: list[PluginInfo]) -> dict[str, PluginInfo]:
    return {p.name: p for p in plugins}


def test_an_installed_plugin_is_found_with_its_distribution_version_and_hooks(fixture_plugins):
    _, registry = load_plugins()
    echo = by_name(registry.plugins)["fixture-echo"]
    assert (echo.distribution, echo.version, echo.status, echo.error) == ("oncall-fixture-echo", "1.2.3", "ok", "")
    assert echo.hooks == ["register_lifecycle_listeners", "register_sources"]
    assert echo.provides == {"lifecycle_listeners": ["fixture-echo-listener"], "sources": ["fixture-echo"]}
    assert registry.sources["fixture-echo"].name == "fixture-echo"
    assert registry.source_paths["/hooks/fixture-echo"] == "fixture-echo"
    assert "fixture-echo-listener" in registry.lifecycle_listeners


def test_each_broken_plugin_is_reported_and_skipped_while_the_others_load(fixture_plugins):
    _, registry = load_plugins()
    plugins = by_name(registry.plugins)
    for name, message in BROKEN.items():
        assert plugins[name].status == "failed", name
        assert message in plugins[name].error, plugins[name].error
        assert "\n" not in plugins[name].error  # one line, for `oncall plugins` and the logs
        assert plugins[name].provides == {}
    assert plugins["fixture-echo"].status == "ok"
    assert plugins["generic"].status == "ok"
    # nothing of a failed plugin is kept, not even what it registered before failing
    assert {"fixture-echo", "generic"} <= registry.sources.keys()
    assert not {"fixture-half", "fixture-no-parse", "fixture-path-thief"} & registry.sources.keys()
    assert type(registry.sources["fixture-echo"]).__name__ == "EchoSource"  # not the impostor
    assert registry.source_paths["/hooks/fixture-echo"] == "fixture-echo"


def test_a_source_object_whose_parse_is_not_callable_is_refused():
    class Source:
        name = "not-callable"
        paths = ()
        parse = None

    class Plugin:
        @staticmethod
        @hookimpl
        def register_sources(register: Any) -> None:
            register(Source())

    _, registry = load_plugins(extra=[("not-callable", Plugin)])
    info = by_name(registry.plugins)["not-callable"]
    assert info.status == "failed"
    assert "Source registered as source: parse must be callable" in info.error
    assert "not-callable" not in registry.sources


def test_a_plugin_registering_one_name_twice_is_refused():
    class Channel:
        name = "pager"

        async def send(self, message: Any) -> Any: ...

    class Plugin:
        @staticmethod
        @hookimpl
        def register_channels(register: Any) -> None:
            register(Channel())
            register(Channel())

    _, registry = load_plugins(extra=[("twice", Plugin)])
    info = by_name(registry.plugins)["twice"]
    assert (info.status, info.error) == ("failed", "broke the plugin contract: channel 'pager' is registered twice")
    assert "pager" not in registry.channels


def test_oncall_disable_plugins_blocks_plugins_by_name(fixture_plugins, caplog):
    settings = Settings.from_env({"ONCALL_DISABLE_PLUGINS": "fixture-echo, fixture-raises,fixture-nope"})
    _, registry = load_plugins(settings.disabled_plugins)
    plugins = by_name(registry.plugins)
    assert plugins["fixture-echo"].status == "disabled"
    assert plugins["fixture-raises"].status == "disabled"  # its hook never ran, so it didn't fail
    assert plugins["fixture-raises"].error == ""
    # with fixture-echo out of the way, the plugins that wanted its name and path get them
    assert (plugins["fixture-taken-name"].status, plugins["fixture-taken-path"].status) == ("ok", "ok")
    assert type(registry.sources["fixture-echo"]).__name__ == "Impostor"
    assert registry.source_paths["/hooks/fixture-echo"] == "fixture-path-thief"
    assert "ONCALL_DISABLE_PLUGINS names no installed plugin: fixture-nope" in caplog.text


async def test_the_plugins_source_is_served_next_to_broken_plugins(fixture_plugins, db_url):
    async with run_server(server_settings(db_url)) as server:
        assert {"fixture-echo", "generic"} <= server.ctx.registry.sources.keys()
        _, key = await server.integration("fixture-echo")
        async with aiohttp.ClientSession() as http:
            for path in ("/api/v1/webhooks/fixture-echo", "/hooks/fixture-echo"):
                async with http.post(
                    server.http_url + path, json={"id": path, "title": "from echo"}, params={"token": key}
                ) as r:
                    assert r.status == 200, await r.text()
                    [result] = (await r.json())["alerts"]
                    assert result["outcome"] == "created"
            async with http.post(server.http_url + "/hooks/fixture-echo", json={}, params={"token": key}) as r:
                assert r.status == 400
                assert (await r.json())["error"] == "missing_field"
        async with server.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT a.dedup_key, a.summary, i.source FROM alerting.alerts a
                   JOIN alerting.integrations i ON i.id = a.integration_id ORDER BY a.id"""
            )
            assert await cur.fetchall() == [
                {"dedup_key": "/api/v1/webhooks/fixture-echo", "summary": "from echo", "source": "fixture-echo"},
                {"dedup_key": "/hooks/fixture-echo", "summary": "from echo", "source": "fixture-echo"},
            ]


# --------------------------------------------------------------------------- processes


def test_oncall_plugins_lists_name_version_status_and_hooks():
    env = oncall_env(None, extra_pythonpath=PLUGIN_FIXTURES)
    result = run_cli("plugins", env=env)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split(None, 3) for line in result.stdout.splitlines()[1:]}
    assert lines["fixture-echo"] == ["fixture-echo", "1.2.3", "ok", "register_lifecycle_listeners, register_sources"]
    assert lines["generic"][2:] == ["ok", "register_sources"]
    for name, message in BROKEN.items():
        assert lines[name][1:3] == ["0.0.1", "failed"]
        assert message in lines[name][3]
    assert result.stdout.splitlines()[0].split() == ["NAME", "VERSION", "STATUS", "HOOKS", "/", "PROBLEM"]

    strict = run_cli("plugins", "--strict", env=env)
    assert strict.returncode == 1  # for CI and deploy checks: a plugin failed to load

    env["ONCALL_DISABLE_PLUGINS"] = "fixture-echo"
    disabled = run_cli("plugins", env=env)
    assert [line.split() for line in disabled.stdout.splitlines() if line.startswith("fixture-echo")] == [
        ["fixture-echo", "1.2.3", "disabled"]
    ]


@pytest.mark.slow
def test_oncall_serve_starts_and_serves_with_broken_plugins_installed(fresh_database, tmp_path):
    url = fresh_database()
    env = oncall_env(url, extra_pythonpath=PLUGIN_FIXTURES, ONCALL_SHUTDOWN_GRACE_S="5")
    server = ServeProcess.start(env, tmp_path / "serve.log")
    try:
        server.wait_until_serving("/readyz")
        assert server.get("/healthz")[0] == 200
        # the log names what was skipped, so an operator sees it at startup
        assert "FAILED: " + ", ".join(sorted(BROKEN)) in server.output()
        assert server.terminate() == 0, server.output()
    finally:
        server.kill()


def _integration_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM alerting.integrations").fetchone()[0]


def test_an_integration_for_a_plugin_source_gets_the_sources_own_url_too(db_url):
    env = oncall_env(db_url, extra_pythonpath=PLUGIN_FIXTURES)
    result = run_cli("integrations", "create", "--source", "fixture-echo", "--name", "echo", env=env)
    assert result.returncode == 0, result.stderr
    assert "/hooks/fixture-echo?token=" in result.stdout  # the source's own path is offered too
    assert _integration_count(db_url) == 1
