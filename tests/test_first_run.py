"""What a new user meets first: a taken port is one line, the demo key survives a restart,
and commands don't print warnings that are not about them."""

from __future__ import annotations

import socket
import stat

import pytest
from conftest import run_server, server_settings
from fixtures.processes import oncall_env, run_cli

from oncall.alerting import store
from oncall.alerting.models import Integration
from oncall.server import DEMO_KEY_FILE, CannotListen, _demo


def _taken_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.mark.parametrize("which", ["http", "grpc"])
async def test_a_taken_port_is_refused_naming_the_address_and_the_setting(db_url, which):
    with _taken_port() as taken:
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        settings = server_settings(db_url, **{f"{which}_addr": addr})
        with pytest.raises(CannotListen) as refused:
            async with run_server(settings):
                pass
    message = str(refused.value)
    setting = "ONCALL_HTTP_ADDR" if which == "http" else "ONCALL_GRPC_ADDR"
    assert addr in message and setting in message and "already in use" in message
    assert "\n" not in message


@pytest.mark.slow
def test_oncall_serve_on_a_taken_port_exits_1_with_one_line_and_no_traceback(fresh_database, tmp_path):
    with _taken_port() as taken:
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        env = oncall_env(fresh_database(), ONCALL_HTTP_ADDR=addr, ONCALL_GRPC_ADDR="127.0.0.1:0",
                         ONCALL_SHUTDOWN_GRACE_S="1")
        done = run_cli("serve", env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("oncall:")]
    assert line == (f"oncall: cannot listen for HTTP on {addr}: the address is already in use "
                    "(by another OnCall, or another program); set ONCALL_HTTP_ADDR to another address")


async def test_the_demo_key_is_the_same_after_a_restart_and_new_once_its_file_is_deleted(db_url, tmp_path, capsys):
    data_dir = tmp_path / "data"

    async def start_with_demo() -> str:
        async with run_server(server_settings(db_url, data_dir=data_dir)) as running:
            await _demo(running.ctx)
        out = capsys.readouterr().out
        [key] = [ln.split()[1] for ln in out.splitlines() if ln.strip().startswith("key:")]
        return key

    first = await start_with_demo()
    kept = data_dir / DEMO_KEY_FILE
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # a secret: only its owner reads it

    again = await start_with_demo()
    assert again == first  # a curl command copied yesterday still works

    async with run_server(server_settings(db_url, data_dir=data_dir)) as running:
        integ = await store.find_integration_by_key(running.ctx.pool, first)
        assert integ is not None and integ.name == "demo"

    kept.unlink()
    fresh = await start_with_demo()
    assert fresh != first
    async with run_server(server_settings(db_url, data_dir=data_dir)) as running:
        assert await store.find_integration_by_key(running.ctx.pool, first) is None
        assert (await store.find_integration_by_key(running.ctx.pool, fresh)).name == "demo"
    integs = [i for i in await _integrations(db_url) if i.name == "demo"]
    assert len(integs) == 1  # rotated, never a second demo integration


async def _integrations(db_url: str) -> list[Integration]:
    from oncall.store.database import open_pool

    pool = await open_pool(db_url, 1, 1)
    try:
        return await store.list_integrations(pool)
    finally:
        await pool.close()


@pytest.mark.slow
def test_a_cli_command_logs_no_warning_about_webhook_signing(migrated_url):
    done = run_cli("integrations", "list", env=oncall_env(migrated_url))
    assert done.returncode == 0, done.stderr
    assert "not signed" not in done.stderr
    assert "WARNING" not in done.stderr

