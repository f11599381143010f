"""OIDC login (authorization code + PKCE, state, nonce) against the test kit's fake provider on 127.0.0.1.

The relying party talks to the fake through a real aiohttp session; the fake checks client
authentication and the PKCE verifier and signs ID tokens with keys made per test. No
database is involved: pending logins are in memory here (sessions will keep them in
PostgreSQL), and the group mapping is a pure function.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from fixtures.processes import free_port
from oncall_testkit.oidc_provider import FakeOidcProvider, consent, running_oidc_provider

from oncall.auth.group_roles import (
    GroupGrant,
    GroupMapping,
    Grants,
    MappingError,
    NotAllowed,
    Role,
    evaluate,
    parse_grants,
)
from oncall.auth.oidc import (
    LoginOutcome,
    MemoryPendingLogins,
    OidcClient,
    OidcError,
    OidcLogin,
    OidcProviderError,
    pkce_challenge,
)
from oncall.auth.oidc_settings import OidcSettings
from oncall.clock import Clock

REDIRECT = "http://127.0.0.1:8080/auth/oidc/callback"
MAPPING = GroupMapping(grants=(
    GroupGrant("sre", Role.RESPONDER),
    GroupGrant("oncall-admins", Role.ADMIN),
    GroupGrant("payments-leads", Role.EDITOR, team="payments"),
))


@pytest_asyncio.fixture
async def provider(clock: Clock) -> AsyncIterator[FakeOidcProvider]:
    async with running_oidc_provider(now=lambda: clock.now().timestamp()) as p:
        p.user.groups = ["sre"]
        yield p


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def settings_for(provider: FakeOidcProvider, **changes: Any) -> OidcSettings:
    base = OidcSettings(issuer=provider.url, client_id=provider.client_id, client_secret=provider.client_secret,
                        mapping=MAPPING)
    return dataclasses.replace(base, **changes)


def login_for(provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock, **changes: Any) -> OidcLogin:
    client = OidcClient(settings_for(provider, **changes), http, clock)
    return OidcLogin(client, MemoryPendingLogins(clock), clock)


async def sign_in(login: OidcLogin, provider: FakeOidcProvider) -> LoginOutcome:
    start = await login.start(REDIRECT)
    callback = await consent(provider, start.authorize_url)
    return await login.complete(callback.get("state"), callback.get("code"), callback.get("error"),
                                iss=callback.get("iss"))


async def refused(login: OidcLogin, provider: FakeOidcProvider) -> str:
    """Sign in expecting a refusal; its message, checked to hold no token, code or secret."""
    start = await login.start(REDIRECT)
    callback = await consent(provider, start.authorize_url)
    with pytest.raises(OidcError) as info:
        await login.complete(callback["state"], callback["code"])
    message = info.value.detail
    for secret in (*provider.issued, callback["code"], provider.client_secret, start.code_verifier, start.nonce):
        assert secret not in message
    return message


async def test_a_full_login_yields_the_identity_and_what_its_groups_grant(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    outcome = await sign_in(login, provider)

    assert outcome.identity.subject == "u-1001"
    assert outcome.identity.issuer == provider.url
    assert (outcome.identity.email, outcome.identity.name) == ("ada@example.com", "Ada Lovelace")
    assert outcome.identity.email_verified is True
    assert outcome.identity.groups == ("sre",)
    assert outcome.identity.claims["preferred_username"] == "ada"
    assert outcome.grants.role is Role.RESPONDER
    # the authorize request carried PKCE S256, state and nonce; the token request the
    # verifier of that challenge and the client's credentials in a Basic header
    authorize = next(r for r in provider.requests if r.path == "/authorize")
    token = next(r for r in provider.requests if r.path == "/token")
    assert authorize.query["code_challenge_method"] == "S256"
    assert pkce_challenge(token.form["code_verifier"]) == authorize.query["code_challenge"]
    assert authorize.query["scope"].split() == ["openid", "email", "profile"]
    assert authorize.query["state"] and authorize.query["nonce"]
    user, _, password = base64.b64decode(token.headers["Authorization"].removeprefix("Basic ")).decode().partition(":")
    assert (user, password) == (provider.client_id, provider.client_secret)
    assert "client_secret" not in token.form
    assert token.form["redirect_uri"] == REDIRECT
    assert provider.token_errors == []


async def test_discovery_and_the_jwks_are_fetched_once_for_many_logins(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    for _ in range(3):
        await sign_in(login, provider)
    assert provider.count("/.well-known/openid-configuration") == 1
    assert provider.count("/jwks") == 1
    assert provider.count("/token") == 3

    clock.advance(3601)  # both caches last an hour by default
    await sign_in(login, provider)
    assert provider.count("/.well-known/openid-configuration") == 2
    assert provider.count("/jwks") == 2


async def test_client_secret_post_sends_the_secret_in_the_form_and_no_authorization_header(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    await sign_in(login_for(provider, http, clock, auth_method="client_secret_post"), provider)
    token = next(r for r in provider.requests if r.path == "/token")
    assert "Authorization" not in token.headers
    assert (token.form["client_id"], token.form["client_secret"]) == (provider.client_id, provider.client_secret)


async def test_a_public_client_sends_its_client_id_alone_and_still_proves_pkce(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock, auth_method="none", client_secret=None)
    assert "invalid_client" in await refused(login, provider)  # the provider expects a secret
    provider.public_client = True
    await sign_in(login, provider)
    token = [r for r in provider.requests if r.path == "/token"][-1]
    assert "Authorization" not in token.headers and "client_secret" not in token.form
    assert token.form["client_id"] == provider.client_id and token.form["code_verifier"]


async def test_a_wrong_client_secret_is_refused_by_the_provider_without_echoing_it(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock, client_secret="not-the-secret")
    message = await refused(login, provider)
    assert "invalid_client" in message
    assert "not-the-secret" not in message


async def test_an_id_token_for_another_audience_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    provider.audience = "some-other-app"
    assert "meant for another client" in await refused(login_for(provider, http, clock), provider)


async def test_several_audiences_are_accepted_only_when_azp_names_oncall(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    provider.audience = [provider.client_id, "api-gateway"]
    assert "azp" in await refused(login, provider)
    provider.azp = "api-gateway"
    assert "azp" in await refused(login, provider)
    provider.azp = provider.client_id
    assert (await sign_in(login, provider)).identity.subject == "u-1001"


async def test_an_expired_id_token_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    provider.expired = True
    assert "expired" in await refused(login_for(provider, http, clock), provider)


async def test_clock_skew_within_the_leeway_is_accepted_and_beyond_it_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)  # leeway 60 s, tokens live 300 s
    provider.now = lambda: clock.now().timestamp() - 330  # exp 30 s ago by OnCall's clock
    assert (await sign_in(login, provider)).identity.subject == "u-1001"
    provider.now = lambda: clock.now().timestamp() - 400  # exp 100 s ago
    assert "expired" in await refused(login, provider)
    provider.now = lambda: clock.now().timestamp() + 90  # issued 90 s in OnCall's future
    assert "in the future" in await refused(login, provider)


async def test_an_id_token_from_another_issuer_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    provider.issuer_claim = "https://evil.example.com"
    assert "issued by https://evil.example.com" in await refused(login_for(provider, http, clock), provider)


async def test_a_discovery_document_naming_another_issuer_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock, issuer=provider.url + "/")
    with pytest.raises(OidcProviderError, match="must match it exactly"):
        await login.start(REDIRECT)
    assert provider.count("/authorize") == 0


async def test_a_replayed_callback_is_refused_and_its_code_not_redeemed_again(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    start = await login.start(REDIRECT)
    callback = await consent(provider, start.authorize_url)
    await login.complete(callback["state"], callback["code"])

    with pytest.raises(OidcError, match="unknown or was already used"):
        await login.complete(callback["state"], callback["code"])
    assert provider.count("/token") == 1


async def test_a_callback_in_another_browser_or_from_another_issuer_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    start = await login.start(REDIRECT, binding="hash-of-the-starting-browsers-cookie")
    callback = await consent(provider, start.authorize_url)
    with pytest.raises(OidcError, match="started in another browser"):
        await login.complete(callback["state"], callback["code"], binding="someone-else")

    start = await login.start(REDIRECT)
    callback = await consent(provider, start.authorize_url)
    with pytest.raises(OidcError, match="names another issuer"):
        await login.complete(callback["state"], callback["code"], iss="https://other-idp.example.com")
    assert provider.count("/token") == 0

    start = await login.start(REDIRECT, binding="b")
    callback = await consent(provider, start.authorize_url)
    outcome = await login.complete(callback["state"], callback["code"], iss=callback["iss"], binding="b")
    assert outcome.identity.subject == "u-1001"


async def test_an_id_token_carrying_the_nonce_of_an_earlier_login_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    await sign_in(login, provider)
    provider.nonce_override = provider.nonces_seen[0]  # a token minted for the first login
    assert "nonce does not match" in await refused(login, provider)


async def test_the_provider_refuses_a_code_verifier_that_does_not_match_the_challenge(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    start = await login.start(REDIRECT)
    callback = await consent(provider, start.authorize_url)
    taken = await login.pending.take(callback["state"])
    assert taken is not None
    tampered = dataclasses.replace(taken, code_verifier="x" * 64)

    with pytest.raises(OidcError, match="PKCE verification failed") as info:
        await login.client.finish_login(tampered, callback["code"])
    assert provider.token_errors == ["invalid_grant: PKCE verification failed"]
    assert callback["code"] not in info.value.detail and "x" * 64 not in info.value.detail


async def test_a_rotated_signing_key_is_fetched_once(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    await sign_in(login, provider)
    assert provider.count("/jwks") == 1

    provider.rotate_key()  # a new kid; the old key leaves the JWKS
    assert (await sign_in(login, provider)).identity.subject == "u-1001"
    assert provider.count("/jwks") == 2
    await sign_in(login, provider)
    assert provider.count("/jwks") == 2


async def test_an_unknown_kid_is_refused_after_one_refetch_and_refetches_are_rate_limited(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)  # at most one forced refetch a minute
    await sign_in(login, provider)
    provider.unpublished_key = True

    assert "does not publish" in await refused(login, provider)
    assert provider.count("/jwks") == 2
    for _ in range(5):
        assert "does not publish" in await refused(login, provider)
    assert provider.count("/jwks") == 2

    clock.advance(61)
    assert "does not publish" in await refused(login, provider)
    assert provider.count("/jwks") == 3


async def test_es256_id_tokens_are_accepted(http: aiohttp.ClientSession, clock: Clock) -> None:
    async with running_oidc_provider(alg="ES256", now=lambda: clock.now().timestamp()) as provider:
        outcome = await sign_in(login_for(provider, http, clock), provider)
    assert outcome.identity.subject == "u-1001"
    assert json.loads(base64.urlsafe_b64decode(provider.issued[0].split(".")[0] + "=="))["alg"] == "ES256"


async def test_unsigned_and_hmac_tokens_are_refused_before_any_key_is_fetched(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    client = OidcClient(settings_for(provider), http, clock)

    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = b64({"iss": provider.url, "aud": provider.client_id, "sub": "u-1", "nonce": "n"})
    for alg in ("none", "HS256"):
        with pytest.raises(OidcError, match=f"signed with {alg}"):
            await client.validate_id_token(f"{b64({'alg': alg})}.{claims}.c2ln", nonce="n")
    with pytest.raises(OidcError, match="not a signed JWT"):
        await client.validate_id_token("not-a-jwt", nonce="n")
    assert provider.count("/jwks") == 0


async def test_a_tampered_id_token_fails_its_signature(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    await sign_in(login, provider)
    header, payload, signature = provider.issued[0].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(OidcError, match="signature does not verify"):
        await login.client.validate_id_token(f"{header}.{forged}.{signature}", nonce=claims["nonce"])


async def test_a_group_change_takes_effect_at_the_next_login(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    assert (await sign_in(login, provider)).grants == Grants(Role.RESPONDER, {})

    provider.user.groups = ["sre", "oncall-admins"]
    assert (await sign_in(login, provider)).grants.role is Role.ADMIN

    provider.user.groups = ["payments-leads"]
    grants = (await sign_in(login, provider)).grants
    assert (grants.role, grants.role_in("payments"), grants.role_in("search")) == (None, Role.EDITOR, None)


async def test_a_person_in_none_of_the_allowed_groups_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock, mapping=dataclasses.replace(MAPPING, allowed_groups=frozenset({"staff"})))
    with pytest.raises(NotAllowed, match="not in a group allowed"):
        await sign_in(login, provider)
    provider.user.groups = ["staff", "sre"]
    assert (await sign_in(login, provider)).grants.role is Role.RESPONDER


async def test_the_groups_claim_is_configurable_down_a_dotted_path(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    provider.user.extra = {"realm_access": {"roles": ["oncall-admins", 7]}}
    outcome = await sign_in(login_for(provider, http, clock, groups_claim="realm_access.roles"), provider)
    assert outcome.identity.groups == ("oncall-admins",)
    assert outcome.grants.role is Role.ADMIN


async def test_the_user_claim_names_the_user(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    by_email = await sign_in(login_for(provider, http, clock, user_claim="email"), provider)
    by_username = await sign_in(login_for(provider, http, clock, user_claim="preferred_username"), provider)
    assert (by_email.identity.subject, by_username.identity.subject) == ("ada@example.com", "ada")

    provider.user.email_verified = False
    assert "not verified" in await refused(login_for(provider, http, clock, user_claim="email"), provider)
    provider.user.email_verified = None
    provider.user.extra = {"email_verified": "false"}  # as Cognito sends it
    assert "not verified" in await refused(login_for(provider, http, clock, user_claim="email"), provider)
    provider.user.extra = {"email_verified": ["odd"]}
    assert (await sign_in(login_for(provider, http, clock, user_claim="email"), provider)).identity.email_verified is None
    provider.user.preferred_username = None
    assert "no preferred_username claim" in await refused(
        login_for(provider, http, clock, user_claim="preferred_username"), provider)


async def test_a_provider_error_on_the_callback_is_refused_and_uses_up_the_login(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    start = await login.start(REDIRECT)
    with pytest.raises(OidcError, match=r"did not sign you in \(access_denied\)"):
        await login.complete(start.state, None, "access_denied")
    with pytest.raises(OidcError, match="already used"):
        await login.complete(start.state, "a-code")
    assert provider.count("/token") == 0


async def test_a_login_left_too_long_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    start = await login.start(REDIRECT)
    callback = await consent(provider, start.authorize_url)
    clock.advance(601)
    with pytest.raises(OidcError, match="took too long"):
        await login.complete(callback["state"], callback["code"])
    assert provider.count("/token") == 0


async def test_a_callback_without_state_or_code_is_refused(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock
) -> None:
    login = login_for(provider, http, clock)
    with pytest.raises(OidcError, match="no usable state"):
        await login.complete(None, "code")
    start = await login.start(REDIRECT)
    with pytest.raises(OidcError, match="no usable code"):
        await login.complete(start.state, "")


async def test_an_unreachable_provider_is_unavailable_not_a_refusal(
    http: aiohttp.ClientSession, clock: Clock
) -> None:
    settings = OidcSettings(issuer=f"http://127.0.0.1:{free_port()}", client_id="oncall", client_secret="s")
    login = OidcLogin(OidcClient(settings, http, clock), MemoryPendingLogins(clock), clock)
    with pytest.raises(OidcProviderError, match="cannot reach the provider's discovery document"):
        await login.start(REDIRECT)


async def test_nothing_secret_is_logged_during_a_login(
    provider: FakeOidcProvider, http: aiohttp.ClientSession, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    login = login_for(provider, http, clock)
    await sign_in(login, provider)
    provider.rotate_key()
    await sign_in(login, provider)  # logs the JWKS refetch
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "JWKS again" in text
    codes = list(provider.codes)
    verifiers = [r.form["code_verifier"] for r in provider.requests if r.path == "/token"]
    for secret in (*provider.issued, *codes, *verifiers, provider.client_secret):
        assert secret not in text


async def test_pending_logins_are_bounded_and_expire(clock: Clock) -> None:
    from oncall.auth.oidc import LoginStart

    store = MemoryPendingLogins(clock, ttl_s=600, capacity=3)

    def started(state: str) -> LoginStart:
        return LoginStart(state=state, nonce="n", code_verifier="v", redirect_uri=REDIRECT,
                          authorize_url="u", created_at=clock.now())

    for state in "abcd":
        await store.put(started(state))
    assert len(store) == 3 and await store.take("a") is None  # the oldest gave way
    clock.advance(601)
    await store.put(started("e"))
    assert len(store) == 1 and await store.take("b") is None
    taken = await store.take("e")
    assert taken is not None and taken.state == "e"
    assert await store.take("e") is None


def test_the_highest_role_wins_and_team_grants_count_only_where_higher() -> None:
    mapping = GroupMapping(
        grants=(
            GroupGrant("viewers", Role.VIEWER),
            GroupGrant("editors", Role.EDITOR),
            GroupGrant("pay-oncall", Role.RESPONDER, team="payments"),
            GroupGrant("pay-admins", Role.ADMIN, team="payments"),
            GroupGrant("search-oncall", Role.RESPONDER, team="search"),
        ),
        default_role=Role.VIEWER,
    )
    grants = evaluate(["viewers", "editors", "pay-oncall", "pay-admins", "search-oncall"], mapping)
    assert grants.role is Role.EDITOR
    assert dict(grants.team_roles) == {"payments": Role.ADMIN}  # search's responder is below editor
    assert grants.role_in("search") is Role.EDITOR
    assert evaluate([], mapping) == Grants(Role.VIEWER, {})
    assert evaluate(["SRE"], GroupMapping((GroupGrant("sre", Role.ADMIN),))).is_empty  # names compare exactly


def test_group_role_entries_parse_including_ldap_dns_and_refuse_unknown_roles() -> None:
    grants = parse_grants("X", ["sre=Responder", "cn=admins,ou=groups,dc=example=admin",
                                "pay = editor @ payments", "# a comment", ""])
    assert grants == (
        GroupGrant("sre", Role.RESPONDER),
        GroupGrant("cn=admins,ou=groups,dc=example", Role.ADMIN),
        GroupGrant("pay", Role.EDITOR, "payments"),
    )
    with pytest.raises(MappingError, match="'owner' is not a role"):
        parse_grants("ONCALL_OIDC_GROUP_ROLES", ["sre=owner"])
    with pytest.raises(MappingError, match="is not <group>=<role>"):
        parse_grants("ONCALL_OIDC_GROUP_ROLES", ["sre"])


def test_settings_come_from_the_environment_and_keep_the_secret_out_of_sight(tmp_path: Path) -> None:
    assert OidcSettings.from_env({}) is None
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret-from-file\n")
    roles_file = tmp_path / "roles"
    roles_file.write_text("# one a line\ncn=leads,ou=groups=editor@payments\n")
    settings = OidcSettings.from_env({
        "ONCALL_OIDC_ISSUER": "https://id.example.com/realms/ops",
        "ONCALL_OIDC_CLIENT_ID": "oncall",
        "ONCALL_OIDC_CLIENT_SECRET_FILE": str(secret_file),
        "ONCALL_OIDC_USER_CLAIM": "email",
        "ONCALL_OIDC_GROUPS_CLAIM": "realm_access.roles",
        "ONCALL_OIDC_ALLOWED_GROUPS": "staff, contractors",
        "ONCALL_OIDC_GROUP_ROLES": "sre=responder,oncall-admins=admin",
        "ONCALL_OIDC_GROUP_ROLES_FILE": str(roles_file),
        "ONCALL_OIDC_SCOPES": "email groups",
    })
    assert settings is not None
    assert settings.client_secret == "s3cret-from-file"
    assert "s3cret" not in repr(settings)
    assert settings.scopes == ("openid", "email", "groups")
    assert settings.mapping.allowed_groups == {"staff", "contractors"}
    assert settings.mapping.grants[-1] == GroupGrant("cn=leads,ou=groups", Role.EDITOR, "payments")


@pytest.mark.parametrize(("env", "message"), [
    ({"ONCALL_OIDC_ISSUER": "http://id.example.com"}, "must be an https URL"),
    ({"ONCALL_OIDC_ISSUER": "https://id.example.com"}, "ONCALL_OIDC_CLIENT_ID is required"),
    ({"ONCALL_OIDC_ISSUER": "https://id.example.com", "ONCALL_OIDC_CLIENT_ID": "c"}, "CLIENT_SECRET_FILE is required"),
    ({"ONCALL_OIDC_ISSUER": "https://id.example.com", "ONCALL_OIDC_CLIENT_ID": "c",
      "ONCALL_OIDC_CLIENT_SECRET": "hunter2", "ONCALL_OIDC_CLIENT_SECRET_FILE": "/x"}, "not both"),
    ({"ONCALL_OIDC_ISSUER": "https://id.example.com", "ONCALL_OIDC_CLIENT_ID": "c",
      "ONCALL_OIDC_CLIENT_SECRET": "hunter2", "ONCALL_OIDC_USER_CLAIM": "upn"}, "ONCALL_OIDC_USER_CLAIM must be one of"),
    ({"ONCALL_OIDC_ISSUER": "https://id.example.com", "ONCALL_OIDC_CLIENT_ID": "c",
      "ONCALL_OIDC_CLIENT_SECRET": "hunter2", "ONCALL_OIDC_GROUP_ROLES": "sre=root"}, "'root' is not a role"),
    ({"ONCALL_OIDC_ISSUER": "https://id.example.com", "ONCALL_OIDC_CLIENT_ID": "c",
      "ONCALL_OIDC_CLIENT_SECRET": "hunter2", "ONCALL_OIDC_LEEWAY_S": "-1"}, "non-negative number of seconds"),
])
def test_malformed_settings_stop_the_start_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit) as info:
        OidcSettings.from_env(env)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)
