"""proxy-auth keeps the authentication contract, and trusts its headers only from the proxies it is told of."""

from __future__ import annotations

import pytest
from oncall_proxy_auth import ProxyAuth, SettingsError, load_settings
from oncall_testkit import auth_request, check_authenticator, registered

ENV = {
    "ONCALL_PROXY_AUTH_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16",
    "ONCALL_PROXY_AUTH_ROLES": "sre=responder,platform=admin,everyone=viewer",
}


def proxy(env: dict[str, str] | None = None) -> ProxyAuth:
    settings, unknown = load_settings(env or ENV)
    assert settings is not None and unknown == []
    return ProxyAuth(settings)


async def test_proxy_auth_keeps_the_authentication_contract() -> None:
    trusted = auth_request({"X-Forwarded-User": "ann", "X-Forwarded-Groups": "sre"}, peer="10.0.0.5")
    await check_authenticator(proxy(), recognised=[trusted])


async def test_the_user_and_groups_headers_count_only_from_a_trusted_proxy() -> None:
    auth = proxy()
    headers = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "everyone, sre"}
    ann = await auth.authenticate(auth_request(headers, peer="192.168.4.20"))
    assert ann is not None and (ann.kind, ann.user_id, ann.role) == ("proxy", "ann", "responder")
    # the same headers from anywhere else are nobody's
    assert await auth.authenticate(auth_request(headers, peer="10.0.0.6")) is None
    assert await auth.authenticate(auth_request(headers, peer="127.0.0.1")) is None
    assert await auth.authenticate(auth_request(headers, peer="")) is None
    # an IPv4 proxy seen over an IPv6 socket is still the proxy
    assert await auth.authenticate(auth_request(headers, peer="::ffff:10.0.0.5")) is not None


async def test_the_highest_role_among_the_groups_wins_and_no_mapped_group_is_no_role() -> None:
    auth = proxy()
    ops = await auth.authenticate(auth_request({"X-Forwarded-User": "bo", "X-Forwarded-Groups": "sre,platform"},
                                               peer="10.0.0.5"))
    assert ops is not None and ops.role == "admin"
    stranger = await auth.authenticate(auth_request({"X-Forwarded-User": "cy", "X-Forwarded-Groups": "sales"},
                                                    peer="10.0.0.5"))
    assert stranger is not None and stranger.role == ""
    defaulted = await proxy({**ENV, "ONCALL_PROXY_AUTH_DEFAULT_ROLE": "viewer"}).authenticate(
        auth_request({"X-Forwarded-User": "cy"}, peer="10.0.0.5"))
    assert defaulted is not None and defaulted.role == "viewer"


async def test_other_header_names_are_read_when_configured() -> None:
    auth = proxy({**ENV, "ONCALL_PROXY_AUTH_USER_HEADER": "X-Pomerium-Claim-Email",
                  "ONCALL_PROXY_AUTH_GROUPS_HEADER": "X-Pomerium-Claim-Groups"})
    found = await auth.authenticate(auth_request(
        {"X-Pomerium-Claim-Email": "ann@example.org", "X-Pomerium-Claim-Groups": "platform"}, peer="10.0.0.5"))
    assert found is not None and (found.user_id, found.role) == ("ann@example.org", "admin")
    assert await auth.authenticate(auth_request({"X-Forwarded-User": "ann"}, peer="10.0.0.5")) is None


def test_without_trusted_proxies_the_plugin_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONCALL_PROXY_AUTH_TRUSTED_PROXIES", raising=False)
    assert registered("proxy-auth").family("authenticators") == {}
    monkeypatch.setenv("ONCALL_PROXY_AUTH_TRUSTED_PROXIES", "10.0.0.5")
    assert isinstance(registered("proxy-auth").one("authenticators"), ProxyAuth)


def test_settings_that_cannot_be_used_are_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES: 'proxy.example' is not an address"):
        load_settings({"ONCALL_PROXY_AUTH_TRUSTED_PROXIES": "proxy.example"})
    with pytest.raises(SettingsError, match="ROLES: 'sre=root' is not"):
        load_settings({**ENV, "ONCALL_PROXY_AUTH_ROLES": "sre=root"})


async def test_a_group_may_grant_a_role_in_one_team_only() -> None:
    auth = proxy({**ENV, "ONCALL_PROXY_AUTH_ROLES": "sre=responder,pay=editor@payments,pay-admins=admin@payments"})
    both = await auth.authenticate(auth_request({"X-Forwarded-User": "ann", "X-Forwarded-Groups": "sre,pay"},
                                                peer="10.0.0.5"))
    assert both is not None and (both.role, both.team_roles) == ("responder", (("payments", "editor"),))
    assert (both.role_in("payments"), both.role_in("search"), both.role_in(None)) == ("editor", "responder", "responder")
    # teams only: a viewer everywhere; the highest grant per team wins
    only = await auth.authenticate(auth_request({"X-Forwarded-User": "bo", "X-Forwarded-Groups": "pay,pay-admins"},
                                                peer="10.0.0.5"))
    assert only is not None and (only.role, only.team_roles) == ("viewer", (("payments", "admin"),))
    with pytest.raises(SettingsError, match="role>@<team>"):
        load_settings({**ENV, "ONCALL_PROXY_AUTH_ROLES": "pay=editor@"})
