"""The kneutral directory keeps the directory contract (oncall-plugin-testkit), against a UserDirectory server on
127.0.0.1 (the local plugin's reference server, which serves the same oncall.directory.v1 contract as kneutral-api)."""

from pathlib import Path

import pytest
from oncall_local_directory.server import start_server
from oncall_local_directory.users_file import UsersFile
from oncall_testkit import check_directory, registered

USERS = """\
users:
  - id: alice
    name: Alice Example
    contact_methods:
      - {id: sms-1, type: sms, address: "+15555550100"}
"""


def test_without_an_address_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONCALL_KNEUTRAL_ADDR", raising=False)
    assert registered("kneutral").family("directories") == {}


async def test_the_kneutral_directory_keeps_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(USERS)
    server, port = await start_server(UsersFile(users), "127.0.0.1:0", "kneutral-test-token")
    monkeypatch.setenv("ONCALL_KNEUTRAL_ADDR", f"127.0.0.1:{port}")
    monkeypatch.setenv("ONCALL_KNEUTRAL_TOKEN", "kneutral-test-token")
    directory = registered("kneutral").one("directories")
    try:
        await check_directory(directory, known=["alice"])
    finally:
        await directory.aclose()
        await server.stop(grace=None)
