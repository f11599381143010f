"""The local directory keeps the directory contract (oncall-plugin-testkit), through its own loopback gRPC server."""

from pathlib import Path

import pytest
from oncall_testkit import check_directory, registered

USERS = """\
users:
  - id: alice
    name: Alice Example
    email: alice@example.com
    contact_methods:
      - {id: sms-1, type: sms, address: "+15555550100", priority: 1}
      - {id: voice-1, type: voice, address: "+15555550100", disabled: true}
  - id: bob
    name: Bob
"""


async def test_the_local_directory_keeps_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(USERS)
    monkeypatch.setenv("ONCALL_LOCAL_DIRECTORY_FILE", str(users))
    directory = registered("local").one("directories")
    try:
        await check_directory(directory, known=["alice", "bob"])
    finally:
        await directory.aclose()
