"""Who an action is credited to: a person acts as themself, a key for whoever it names, over
real gRPC with real principals (a trusted proxy's user, API keys)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import run_server, server_settings
from fixtures.auth import bearer, make_key
from fixtures.rpc import failure_of

from oncall.alerting import store
from oncall.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from oncall.auth.principal import acting_user, current
from oncall_hookspecs import Principal


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ONCALL_PROXY_AUTH_TRUSTED_PROXIES", "127.0.0.1/32")
    monkeypatch.setenv("ONCALL_PROXY_AUTH_ROLES", "sre=responder")
    yield


async def _alert(stub: Any, admin_key: str, summary: str) -> int:
    made = await stub.CreateAlert(alerting_pb2.CreateAlertRequest(summary=summary, dedup_key=summary),
                                  metadata=bearer(admin_key))
    return int(made.alert.id)


async def test_a_person_acts_as_themself_and_a_key_for_whom_it_names_or_as_itself(db_url: str, proxied: None) -> None:
    ann = (("x-forwarded-user", "ann"), ("x-forwarded-groups", "sre"))
    async with run_server(server_settings(db_url)) as running:
        _, responder_key = await make_key(running.ctx.pool, role="responder", name="chatops")
        async with grpc.aio.insecure_channel(running.grpc_target) as channel:
            stub = alerting_pb2_grpc.AlertServiceStub(channel)
            first, second, third = [await _alert(stub, running.admin_key, f"disk {n}") for n in range(3)]
            # ann, behind the trusted proxy, may not acknowledge as bob: refused, nothing changes
            denied = await failure_of(stub.AcknowledgeAlert(
                alerting_pb2.AcknowledgeAlertRequest(alert_id=first, user_id="bob"), metadata=ann))
            assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and "acts as themself" in denied.details()
            assert (await store.get_alert(running.ctx.pool, first)).status == "triggered"
            # naming no one, or herself, she is credited
            await stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id=first), metadata=ann)
            await stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id=second, user_id="ann"),
                                        metadata=ann)
            # a key acts for the person it names (a chat bot), and must name someone
            await stub.ResolveAlert(alerting_pb2.ResolveAlertRequest(alert_id=second, user_id="carol"),
                                    metadata=bearer(responder_key))
            nobody = await failure_of(stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id=third),
                                                            metadata=bearer(responder_key)))
            assert nobody.code() == grpc.StatusCode.INVALID_ARGUMENT
        pool = running.ctx.pool
        assert (await store.get_alert(pool, first)).acknowledged_by == "ann"
        assert (await store.get_alert(pool, second)).acknowledged_by == "ann"
        assert (await store.get_alert(pool, second)).resolved_by == "carol"
        assert (await store.get_alert(pool, third)).status == "triggered"


def test_outside_a_call_or_from_the_command_line_the_name_given_is_credited() -> None:
    assert acting_user(" alice ") == "alice"
    token = current.set(Principal(kind="internal", user_id="cli", role="admin"))
    try:
        assert acting_user("alice") == "alice" and acting_user("") == ""
    finally:
        current.reset(token)
