"""The fake OIDC provider speaks the code flow strictly: PKCE required, codes once, tokens that verify.

These talk to it as a bare HTTP client would, with no relying-party library, so a plugin
author can trust that a client passing against the fake did the protocol's work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from oncall_testkit.oidc_provider import FakeOidcProvider, consent, running_oidc_provider

REDIRECT = "http://127.0.0.1:9/callback"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[FakeOidcProvider]:
    async with running_oidc_provider(redirect_uris=[REDIRECT]) as p:
        yield p


async def _authorize(provider: FakeOidcProvider, **params: str) -> tuple[dict[str, str], str]:
    """A code for a fresh PKCE verifier: the callback's query and the verifier."""
    verifier = secrets.token_urlsafe(48)
    query = {"response_type": "code", "client_id": provider.client_id, "redirect_uri": REDIRECT,
             "scope": "openid email", "state": "st", "nonce": "nn", "code_challenge_method": "S256",
             "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()), **params}
    return await consent(provider, f"{provider.url}/authorize?{urlencode(query)}"), verifier


async def _redeem(provider: FakeOidcProvider, code: str, verifier: str, **form: str) -> tuple[int, dict[str, Any]]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_id": provider.client_id, "client_secret": provider.client_secret, **form}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{provider.url}/token", data=data) as response:
            return response.status, await response.json()


async def test_an_issued_id_token_verifies_with_the_published_key_and_carries_the_nonce(
    provider: FakeOidcProvider,
) -> None:
    callback, verifier = await _authorize(provider)
    assert (callback["state"], callback["iss"]) == ("st", provider.issuer)
    status, answer = await _redeem(provider, callback["code"], verifier)
    assert status == 200
    header_b64, claims_b64, signature = answer["id_token"].split(".")
    header = json.loads(_unb64(header_b64))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{provider.url}/jwks") as r:
            jwk = next(k for k in (await r.json())["keys"] if k["kid"] == header["kid"])
    public = rsa.RSAPublicNumbers(int.from_bytes(_unb64(jwk["e"]), "big"),
                                  int.from_bytes(_unb64(jwk["n"]), "big")).public_key()
    public.verify(_unb64(signature), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    claims = json.loads(_unb64(claims_b64))
    assert (claims["iss"], claims["aud"], claims["nonce"]) == (provider.issuer, provider.client_id, "nn")


async def test_the_token_endpoint_refuses_a_wrong_verifier_a_reused_code_and_a_wrong_secret(
    provider: FakeOidcProvider,
) -> None:
    callback, _ = await _authorize(provider)
    assert await _redeem(provider, callback["code"], "w" * 64) == (
        400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
    callback, verifier = await _authorize(provider)
    assert (await _redeem(provider, callback["code"], verifier))[0] == 200
    assert (await _redeem(provider, callback["code"], verifier))[1]["error"] == "invalid_grant"
    callback, verifier = await _authorize(provider)
    assert (await _redeem(provider, callback["code"], verifier, client_secret="nope"))[0] == 401


@pytest.mark.parametrize(("params", "error"), [
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "email"}, "invalid_scope"),
])
async def test_the_authorize_endpoint_redirects_with_an_error_for_a_bad_request(
    provider: FakeOidcProvider, params: dict[str, str], error: str
) -> None:
    callback, _ = await _authorize(provider, **params)
    assert callback["error"] == error and "code" not in callback


async def test_the_authorize_endpoint_never_redirects_to_an_unregistered_uri(provider: FakeOidcProvider) -> None:
    query = urlencode({"response_type": "code", "client_id": provider.client_id, "redirect_uri": "https://evil.example",
                       "scope": "openid", "code_challenge_method": "S256", "code_challenge": "x"})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{provider.url}/authorize?{query}", allow_redirects=False) as response:
            assert response.status == 400
            assert "Location" not in response.headers
    assert provider.codes == {}
