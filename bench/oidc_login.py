"""OIDC login cost: ID token validation alone, and whole logins against the test kit's fake provider.

    .venv/bin/python bench/oidc_login.py [--tokens N] [--logins N]

Prints tokens validated per second (signature and claims, keys cached) for RS256 and
ES256, and logins per second with the median and p99 of one login (start, the authorize
redirect, the code redeemed at the token endpoint, validation, the group mapping), all on
127.0.0.1 in one process: the fake's signing is in the figures too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from oncall_testkit.oidc_provider import FakeOidcProvider, consent, running_oidc_provider

from oncall.auth.group_roles import GroupGrant, GroupMapping, Role
from oncall.auth.oidc import MemoryPendingLogins, OidcClient, OidcLogin
from oncall.auth.oidc_settings import OidcSettings

REDIRECT = "http://127.0.0.1:8080/auth/oidc/callback"


def _login(provider: FakeOidcProvider, http: aiohttp.ClientSession) -> OidcLogin:
    settings = OidcSettings(issuer=provider.url, client_id=provider.client_id, client_secret=provider.client_secret,
                            mapping=GroupMapping((GroupGrant("sre", Role.RESPONDER),)))
    return OidcLogin(OidcClient(settings, http), MemoryPendingLogins())


async def _validation(alg: str, count: int) -> None:
    async with running_oidc_provider(alg=alg) as provider, aiohttp.ClientSession() as http:
        login = _login(provider, http)
        start = await login.start(REDIRECT)
        callback = await consent(provider, start.authorize_url)
        await login.complete(callback["state"], callback["code"])  # warms the discovery and JWKS caches
        token = provider.issued[-1]
        began = time.perf_counter()
        for _ in range(count):
            await login.client.validate_id_token(token, start.nonce)
        elapsed = time.perf_counter() - began
    print(f"{alg} ID token validation: {count / elapsed:,.0f}/s ({elapsed / count * 1e6:.0f} µs each)")


async def _logins(count: int) -> None:
    async with running_oidc_provider() as provider, aiohttp.ClientSession() as http:
        provider.user.groups = ["sre"]
        login = _login(provider, http)
        took: list[float] = []
        began = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            start = await login.start(REDIRECT)
            callback = await consent(provider, start.authorize_url)
            await login.complete(callback["state"], callback["code"], iss=callback["iss"])
            took.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - began
    took.sort()
    p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
    print(f"whole logins against the fake: {count / elapsed:,.0f}/s, "
          f"p50 {statistics.median(took) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--logins", type=int, default=300)
    args = parser.parse_args()
    await _validation("RS256", args.tokens)
    await _validation("ES256", args.tokens)
    await _logins(args.logins)


if __name__ == "__main__":
    asyncio.run(main())
