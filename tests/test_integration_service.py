"""IntegrationService: integrations made, read, renamed, re-keyed and deleted over gRPC and REST;
the key leaves the server only in the answer that made it, never in a read or the audit log."""

from __future__ import annotations

import aiohttp
import grpc
from fixtures.auth import make_key
from fixtures.grouping import rows
from fixtures.rpc import failure_of

from oncall.alerting.v1 import integrations_pb2 as pb
from oncall.alerting.v1 import integrations_pb2_grpc


async def integration_rows(pool) -> list[dict]:
    return await rows(pool, "SELECT id, name, source, key_hash, version FROM alerting.integrations ORDER BY id")


async def post_alert(server, key: str, dedup: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
        f"{server.http_url}/api/v1/webhooks/generic", json={"summary": "disk full", "dedup": dedup},
        headers={"Authorization": f"Bearer {key}"},
    ) as r:
        return r.status


async def test_create_answers_the_key_once_and_it_opens_the_webhook(server):
    async with server.channel() as channel:
        stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
        made = await stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name="payments"))
        assert made.integration.source == "generic" and made.integration.name == "payments"
        assert made.integration.version == 1 and made.key.startswith(made.integration.key_prefix)
        # the server's public URL (ONCALL_PUBLIC_URL, else its HTTP address) with the source's paths
        assert made.webhook_urls[0] == f"{server.ctx.settings.base_url}/api/v1/webhooks/generic"
        assert made.webhook_urls[1:] == [f"{server.ctx.settings.base_url}/api/v2/generic/incoming"]
        assert await post_alert(server, made.key, "d1") == 204

        got = await stub.GetIntegration(pb.GetIntegrationRequest(integration_id=made.integration.id))
        assert got.integration == made.integration
        unknown = await failure_of(stub.CreateIntegration(pb.CreateIntegrationRequest(source="nagios", name="x")))
        assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert unknown.details().startswith("unknown source 'nagios'; installed sources: ")
        assert "generic" in unknown.details()
        twice = await failure_of(stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name="payments")))
        assert twice.code() == grpc.StatusCode.ALREADY_EXISTS

    # a viewer reads integrations (key prefix only) and may not make one
    _, viewer = await make_key(server.ctx.pool, "viewer")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {viewer}"}) as http:
        async with http.get(f"{server.http_url}/api/v1/integrations") as r:
            assert r.status == 200
            text = await r.text()
            assert "payments" in text and made.key not in text
        async with http.post(f"{server.http_url}/api/v1/integrations", json={"source": "generic", "name": "y"}) as r:
            assert r.status == 403
    # the audit log records the creation, never the key
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM access.audit_events WHERE method LIKE %s", ("%CreateIntegration",))
        audited = await cur.fetchall()
    assert audited and made.key not in repr(audited)


async def test_list_pages_by_id(server):
    async with server.channel() as channel:
        stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
        made = [(await stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name=f"n{i}"))).integration.id
                for i in range(3)]
        first = await stub.ListIntegrations(pb.ListIntegrationsRequest(page_size=2))
        second = await stub.ListIntegrations(pb.ListIntegrationsRequest(page_size=2, page_token=first.next_page_token))
        listed = [i.id for i in [*first.integrations, *second.integrations]]
        assert [i for i in listed if i in made] == made and second.next_page_token == ""
        bad = await failure_of(stub.ListIntegrations(pb.ListIntegrationsRequest(page_token="nope")))
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_stale_rename_is_aborted_and_changes_nothing(server):
    async with server.channel() as channel:
        stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
        made = (await stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name="db"))).integration
        ann = await stub.UpdateIntegration(pb.UpdateIntegrationRequest(
            integration_id=made.id, name="database", expected_version=made.version))
        assert ann.integration.name == "database" and ann.integration.version == made.version + 1
        before = await integration_rows(server.ctx.pool)
        bob = await failure_of(stub.UpdateIntegration(pb.UpdateIntegrationRequest(
            integration_id=made.id, name="postgres", expected_version=made.version)))
        assert bob.code() == grpc.StatusCode.ABORTED
        assert bob.details() == (f"integration 'database' is at version {made.version + 1}, not {made.version}: "
                                 "someone changed it; read it again and redo the change")
        assert await integration_rows(server.ctx.pool) == before
        gone = await failure_of(stub.UpdateIntegration(pb.UpdateIntegrationRequest(integration_id=999999, name="x")))
        assert gone.code() == grpc.StatusCode.NOT_FOUND
        empty = await failure_of(stub.UpdateIntegration(pb.UpdateIntegrationRequest(integration_id=made.id, name=" ")))
        assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT

    # over REST the same refusal is a 409, and nothing changes
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.admin_key}"}) as http, http.patch(
        f"{server.http_url}/api/v1/integrations/{made.id}", json={"name": "pg", "expected_version": made.version},
    ) as r:
        assert r.status == 409 and (await r.json())["detail"].startswith("integration 'database' is at version")
    assert await integration_rows(server.ctx.pool) == before


async def test_rotating_the_key_shuts_the_old_one_out(server):
    async with server.channel() as channel:
        stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
        made = await stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name="rotated"))
        rotated = await stub.RotateIntegrationKey(pb.RotateIntegrationKeyRequest(integration_id=made.integration.id))
    assert rotated.key != made.key and rotated.integration.key_prefix == rotated.key[:6]
    assert await post_alert(server, made.key, "old") == 401
    assert await post_alert(server, rotated.key, "new") == 204


async def test_delete_refuses_an_integration_alerts_came_through(server):
    async with server.channel() as channel:
        stub = integrations_pb2_grpc.IntegrationServiceStub(channel)
        used = await stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name="used"))
        unused = await stub.CreateIntegration(pb.CreateIntegrationRequest(source="generic", name="unused"))
        assert await post_alert(server, used.key, "d") == 204
        before = await integration_rows(server.ctx.pool)
        refused = await failure_of(stub.DeleteIntegration(pb.DeleteIntegrationRequest(
            integration_id=used.integration.id)))
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.details() == (f"integration {used.integration.id} has 1 alert, whose history needs it; "
                                     "rotate its key to shut it instead")
        assert await integration_rows(server.ctx.pool) == before
        await stub.DeleteIntegration(pb.DeleteIntegrationRequest(integration_id=unused.integration.id))
        gone = await failure_of(stub.GetIntegration(pb.GetIntegrationRequest(integration_id=unused.integration.id)))
        assert gone.code() == grpc.StatusCode.NOT_FOUND
