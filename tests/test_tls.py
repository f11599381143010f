"""TLS: the real server on loopback serves HTTPS and gRPC over TLS from certificate and key
files, requires client certificates on gRPC when a client CA is set, and a PagerDuty Events v2
sender that insists on https works unchanged; clients (``oncall status``, the kneutral
directory) dial with a CA and a client certificate. Certificates are made per test."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from conftest import RunningServer, run_server, server_settings
from fixtures import webhooks
from fixtures.auth import bearer
from fixtures.certs import CertificateAuthority, Issued
from fixtures.webhooks import stored_alerts
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oncall.alerting.v1 import alerting_pb2 as apb
from oncall.alerting.v1 import alerting_pb2_grpc
from oncall.config import Settings
from oncall.directory.errors import DirectoryUnavailable
from oncall.rpc.client import open_channel
from oncall.server import serve
from oncall.tls import ClientTls, TlsError

ONCALL = Path(sys.executable).with_name("oncall")
DIRECTORY_CLI = Path(sys.executable).with_name("oncall-directory")


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def server_cert(ca: CertificateAuthority) -> Issued:
    return ca.server()


def https_url(server: RunningServer) -> str:
    return f"https://127.0.0.1:{server.ctx.http_port}"


def trusting(ca: CertificateAuthority) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.cert_file))


@pytest.fixture
async def tls_server(db_url: str, server_cert: Issued) -> AsyncIterator[RunningServer]:
    settings = server_settings(db_url, tls_cert_file=server_cert.cert_file, tls_key_file=server_cert.key_file)
    async with run_server(settings) as running:
        yield running


@pytest.fixture
async def mtls_server(db_url: str, ca: CertificateAuthority, server_cert: Issued) -> AsyncIterator[RunningServer]:
    settings = server_settings(db_url, tls_cert_file=server_cert.cert_file, tls_key_file=server_cert.key_file,
                               grpc_client_ca_file=ca.cert_file)
    async with run_server(settings) as running:
        yield running


async def health(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return reply.status


def client_settings(**tls: Path) -> Settings:
    return Settings(**{f"grpc_{k}": v for k, v in tls.items()})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- HTTPS


async def test_http_is_served_over_tls_to_a_client_trusting_the_ca(tls_server, ca):
    async with aiohttp.ClientSession() as http:
        async with http.get(https_url(tls_server) + "/readyz", ssl=trusting(ca)) as r:
            assert r.status == 200
            assert r.url.scheme == "https"
    # the URL the server prints for webhooks says https
    assert tls_server.ctx.settings.base_url.startswith("https://")


async def test_a_client_that_does_not_trust_the_ca_and_a_plaintext_client_get_no_answer(tls_server, tmp_path):
    stranger = CertificateAuthority(tmp_path / "other", "Some Other CA")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(https_url(tls_server) + "/healthz", ssl=trusting(stranger)):
                pass
        # plain HTTP to the TLS port: the handshake fails, no HTTP answer comes back
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{tls_server.ctx.http_port}/healthz"):
                pass


async def test_a_client_that_never_finishes_the_tls_handshake_is_closed_at_the_head_deadline(db_url, server_cert, ca):
    settings = server_settings(db_url, tls_cert_file=server_cert.cert_file, tls_key_file=server_cert.key_file,
                               http_header_timeout_s=1.0)
    async with run_server(settings) as running:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", running.ctx.http_port)
        opened = loop.time()
        try:
            # no ClientHello ever comes: the server hangs up by itself after the head's deadline
            assert await asyncio.wait_for(reader.read(), 15) == b""
            assert loop.time() - opened >= 0.9
        finally:
            writer.close()
        # and a real client is still served
        async with aiohttp.ClientSession() as http:
            async with http.get(https_url(running) + "/healthz", ssl=trusting(ca)) as r:
                assert r.status == 200


async def test_a_pagerduty_events_v2_post_over_https_is_stored_as_over_http(tls_server, ca):
    _, key = await tls_server.integration("pagerduty")
    doc = webhooks.payload("pagerduty", "trigger")
    doc["routing_key"] = key
    async with aiohttp.ClientSession() as http:
        async with http.post(https_url(tls_server) + "/v2/enqueue", json=doc, ssl=trusting(ca)) as r:
            assert r.status == 202, await r.text()
            answer = await r.json()
    assert answer["status"] == "success"
    [alert] = await stored_alerts(tls_server)
    assert alert["dedup_key"] == answer["dedup_key"]
    assert alert["status"] == "triggered"


# --------------------------------------------------------------------------- gRPC


async def test_grpc_is_served_over_tls_to_a_secure_channel_trusting_the_ca(tls_server, ca):
    settings = client_settings(ca_file=ca.cert_file)
    async with open_channel(settings, tls_server.grpc_target) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        reply = await alerting_pb2_grpc.AlertServiceStub(channel).ListAlerts(
            apb.ListAlertsRequest(), timeout=10, metadata=bearer(tls_server.admin_key))
        assert list(reply.alerts) == []
    # a plaintext channel to the same port gets no answer
    async with grpc.aio.insecure_channel(tls_server.grpc_target) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health(plain)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_client_without_a_certificate_and_accepts_one_signed_by_the_ca(
    mtls_server, ca, tmp_path,
):
    async with open_channel(client_settings(ca_file=ca.cert_file), mtls_server.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    stranger = CertificateAuthority(tmp_path / "other", "Some Other CA").client("intruder")
    async with open_channel(client_settings(ca_file=ca.cert_file, cert_file=stranger.cert_file,
                                            key_file=stranger.key_file), mtls_server.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    client = ca.client("ops-script")
    async with open_channel(client_settings(ca_file=ca.cert_file, cert_file=client.cert_file,
                                            key_file=client.key_file), mtls_server.grpc_target) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
    # HTTP asks for no client certificate: webhook senders present none
    async with aiohttp.ClientSession() as http:
        async with http.get(https_url(mtls_server) + "/healthz", ssl=trusting(ca)) as r:
            assert r.status == 200


async def test_oncall_status_dials_grpc_with_the_ca_and_client_certificate_from_the_environment(mtls_server, ca):
    client = ca.client("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_GRPC")}
    run = [str(ONCALL), "status", "--target", mtls_server.grpc_target]

    def status(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(run, env={**env, **extra}, capture_output=True, text=True, timeout=60)

    without = await asyncio.to_thread(status, {"ONCALL_GRPC_CA_FILE": str(ca.cert_file)})
    assert without.returncode == 1
    assert "UNAVAILABLE" in without.stderr
    done = await asyncio.to_thread(status, {"ONCALL_GRPC_CA_FILE": str(ca.cert_file),
                                            "ONCALL_GRPC_CERT_FILE": str(client.cert_file),
                                            "ONCALL_GRPC_KEY_FILE": str(client.key_file)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"gRPC at {mtls_server.grpc_target} (TLS): SERVING"


# --------------------------------------------------------------------------- the directory client


async def test_the_kneutral_directory_presents_its_client_certificate_to_a_directory_requiring_one(
    tmp_path, ca, server_cert, monkeypatch,
):
    # the directory: `oncall-directory serve` over mutual TLS, as another OnCall or kneutral-api would be reached
    import oncall_kneutral

    users = tmp_path / "users.yaml"
    users.write_text("users:\n  - id: alice\n    name: Alice\n    role: viewer\n")
    proc = await asyncio.create_subprocess_exec(
        str(DIRECTORY_CLI), "serve", "--addr", "127.0.0.1:0", "--file", str(users),
        "--tls-cert", str(server_cert.cert_file), "--tls-key", str(server_cert.key_file),
        "--client-ca", str(ca.cert_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    client = ca.client("oncall")

    def kneutral(target: str, env: dict[str, str]) -> object:
        for name in [n for n in os.environ if n.startswith("ONCALL_KNEUTRAL_")]:
            monkeypatch.delenv(name)
        for name, value in {"ONCALL_KNEUTRAL_ADDR": target, **env}.items():
            monkeypatch.setenv(name, value)
        got: list[object] = []
        oncall_kneutral.register_directories(got.append)
        return got[0]

    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith(f"serving 1 users from {users} on 127.0.0.1:") and line.endswith("over mutual TLS"), line
        target = line.split(" on ")[1].split()[0]
        with_cert = kneutral(target, {"ONCALL_KNEUTRAL_CA_FILE": str(ca.cert_file),
                                      "ONCALL_KNEUTRAL_CERT_FILE": str(client.cert_file),
                                      "ONCALL_KNEUTRAL_KEY_FILE": str(client.key_file)})
        try:
            user = await with_cert.get_user("alice")  # type: ignore[attr-defined]
            assert user is not None and (user.name, user.role) == ("Alice", "viewer")
        finally:
            await with_cert.aclose()  # type: ignore[attr-defined]
        without = kneutral(target, {"ONCALL_KNEUTRAL_CA_FILE": str(ca.cert_file)})
        try:
            with pytest.raises(DirectoryUnavailable):
                await without.get_user("alice")  # type: ignore[attr-defined]
        finally:
            await without.aclose()  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0


def test_a_kneutral_client_certificate_without_its_key_fails_the_plugin_naming_the_variables(ca, monkeypatch):
    import oncall_kneutral

    from oncall.directory.settings import SettingsError

    client = ca.client("oncall")
    for name in [n for n in os.environ if n.startswith("ONCALL_KNEUTRAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ONCALL_KNEUTRAL_ADDR", "127.0.0.1:7070")
    monkeypatch.setenv("ONCALL_KNEUTRAL_CERT_FILE", str(client.cert_file))
    with pytest.raises(SettingsError, match="ONCALL_KNEUTRAL_CERT_FILE and ONCALL_KNEUTRAL_KEY_FILE go together"):
        oncall_kneutral.register_directories(lambda d: None)
    monkeypatch.setenv("ONCALL_KNEUTRAL_KEY_FILE", str(ca.client("someone-else").key_file))
    with pytest.raises(SettingsError, match="ONCALL_KNEUTRAL_CERT_FILE / ONCALL_KNEUTRAL_KEY_FILE: the certificate"):
        oncall_kneutral.register_directories(lambda d: None)


# --------------------------------------------------------------------------- settings


def test_tls_settings_are_checked_at_startup_naming_the_variable(tmp_path, ca, server_cert):
    with pytest.raises(SystemExit, match="ONCALL_TLS_CERT_FILE and ONCALL_TLS_KEY_FILE go together"):
        Settings.from_env({"ONCALL_TLS_CERT_FILE": str(server_cert.cert_file)})
    with pytest.raises(SystemExit, match="ONCALL_TLS_KEY_FILE: no such file"):
        Settings.from_env({"ONCALL_TLS_CERT_FILE": str(server_cert.cert_file),
                           "ONCALL_TLS_KEY_FILE": str(tmp_path / "missing.key")})
    with pytest.raises(SystemExit, match="ONCALL_GRPC_CLIENT_CA_FILE needs TLS"):
        Settings.from_env({"ONCALL_GRPC_CLIENT_CA_FILE": str(ca.cert_file)})
    settings = Settings.from_env({"ONCALL_TLS_CERT_FILE": str(server_cert.cert_file),
                                  "ONCALL_TLS_KEY_FILE": str(server_cert.key_file),
                                  "ONCALL_GRPC_CLIENT_CA_FILE": str(ca.cert_file),
                                  "ONCALL_GRPC_CA_FILE": str(ca.cert_file)})
    assert settings.server_tls is not None and settings.server_tls.client_ca_file == ca.cert_file
    assert settings.grpc_client_tls == ClientTls(ca.cert_file, None, None)
    assert settings.base_url == "https://127.0.0.1:8080"


async def test_a_certificate_that_does_not_match_its_key_stops_serve_before_it_listens(db_url, ca, tmp_path):
    one, other = ca.server("one"), ca.server("other")
    settings = server_settings(db_url, tls_cert_file=one.cert_file, tls_key_file=other.key_file)
    with pytest.raises(TlsError, match="ONCALL_TLS_CERT_FILE / ONCALL_TLS_KEY_FILE: the certificate and key"):
        await serve(settings, stop=asyncio.Event())
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    settings = server_settings(db_url, tls_cert_file=one.cert_file, tls_key_file=one.key_file,
                               grpc_client_ca_file=not_pem)
    with pytest.raises(TlsError, match="ONCALL_GRPC_CLIENT_CA_FILE: .* holds no PEM certificate"):
        await serve(settings, stop=asyncio.Event())
