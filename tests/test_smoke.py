"""The server starts on real PostgreSQL, answers health checks and stores a webhook's alert."""

import aiohttp


async def test_health_and_one_alert(server):
    _, key = await server.integration("generic")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.http_url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{server.http_url}/readyz") as r:
            assert r.status == 200, await r.text()
        async with http.post(
            f"{server.http_url}/api/v1/webhooks/generic",
            json={"summary": "disk full", "dedup": "d1"},
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        ) as r:
            assert r.status == 200
            body = await r.json()
    assert body["IsNew"] is True
    async with server.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT summary, status FROM alerting.alerts")
        assert await cur.fetchall() == [{"summary": "disk full", "status": "triggered"}]
