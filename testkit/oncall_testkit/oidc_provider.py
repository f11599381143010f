"""A local OpenID Connect provider on 127.0.0.1: discovery, JWKS, authorize (consents at once) and token.

It speaks what a relying party uses of OIDC's authorization code flow: the discovery
document at ``/.well-known/openid-configuration``, a JWKS, ``GET /authorize`` that signs
``user`` in without asking and redirects to the client's ``redirect_uri`` with ``code``,
``state`` and ``iss`` (or ``error``), and ``POST /token`` that authenticates the client
(``client_secret_basic``, ``client_secret_post``, or
``none`` for a ``public_client``), checks the code is unused, was issued to
that client and redirect URI, and that ``code_verifier`` matches the PKCE S256 challenge,
and answers an RS256 (or ES256) ID token. Signing keys are made per provider with
``cryptography`` and signed here, apart from any JOSE library the client uses.

Knobs a test sets between logins: ``user`` (its claims, groups), ``groups_claim``,
``audience``, ``issuer_claim``, ``expired``, ``nonce_override``, ``unpublished_key``,
``alg``; ``rotate_key()`` makes a new signing key with a new kid. Every request is
recorded in ``requests``; ``token_errors`` lists why the token endpoint refused a call.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


@dataclass
class SigningKey:
    """A key the provider signs with; ``jwk`` is its public half as the JWKS shows it."""

    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls, alg: str = "RS256") -> SigningKey:
        kid = secrets.token_hex(8)
        if alg == "RS256":
            return cls(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        if alg == "ES256":
            return cls(kid, alg, ec.generate_private_key(ec.SECP256R1()))
        raise ValueError(f"the fake provider signs with RS256 or ES256, not {alg}")

    @property
    def jwk(self) -> dict[str, str]:
        if isinstance(self.private, rsa.RSAPrivateKey):
            numbers = self.private.public_key().public_numbers()
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": self.alg,
                    "n": _uint(numbers.n), "e": _uint(numbers.e)}
        point = self.private.public_key().public_numbers()
        return {"kty": "EC", "kid": self.kid, "use": "sig", "alg": self.alg, "crv": "P-256",
                "x": _b64url(point.x.to_bytes(32, "big")), "y": _b64url(point.y.to_bytes(32, "big"))}

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims``."""
        signing_input = (_b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())).encode()
        if isinstance(self.private, rsa.RSAPrivateKey):
            signature = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input.decode() + "." + _b64url(signature)


@dataclass
class OidcUser:
    """The person the provider signs in."""

    sub: str = "u-1001"
    email: str | None = "ada@example.com"
    email_verified: bool | None = True
    name: str | None = "Ada Lovelace"
    preferred_username: str | None = "ada"
    groups: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Grant:
    """A code the authorize endpoint issued, and what the token endpoint checks it against."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    user: OidcUser
    used: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeOidcProvider:
    """An OIDC provider for one client. ``now`` is its clock (give it the test's frozen clock)."""

    client_id: str = "oncall"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    # a public client authenticates with its client_id alone (PKCE still required)
    public_client: bool = False
    # the client's registered redirect URIs; empty: any
    redirect_uris: list[str] = field(default_factory=list)
    now: Callable[[], float] = time.time
    url: str = ""
    user: OidcUser = field(default_factory=OidcUser)
    groups_claim: str = "groups"
    # knobs for the ID tokens issued next: an audience (str or list) other than client_id, an
    # iss other than the issuer, an exp already past, a nonce other than the one asked for,
    # a key that the JWKS does not publish, the signature algorithm, and extra claims
    audience: str | list[str] | None = None
    azp: str | None = None
    issuer_claim: str | None = None
    expired: bool = False
    nonce_override: str | None = None
    unpublished_key: bool = False
    alg: str = "RS256"
    token_lifetime_s: int = 300
    extra_claims: dict[str, Any] = field(default_factory=dict)
    keys: list[SigningKey] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    codes: dict[str, Grant] = field(default_factory=dict)
    nonces_seen: list[str] = field(default_factory=list)
    # every ID token issued, so a test can check none is echoed in an error or a log
    issued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys.append(SigningKey.make(self.alg))

    @property
    def issuer(self) -> str:
        return self.url

    def rotate_key(self, keep_old: bool = False) -> SigningKey:
        """A new signing key with a new kid; the old one leaves the JWKS unless ``keep_old``."""
        key = SigningKey.make(self.alg)
        self.keys = [key, *self.keys] if keep_old else [key]
        return key

    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        return sum(1 for r in self.requests if r.path == path)

    def _record(self, request: web.Request, form: dict[str, str] | None = None) -> None:
        self.requests.append(Recorded(request.method, request.path, dict(request.query), form or {},
                                      dict(request.headers)))

    async def discovery(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "end_session_endpoint": f"{self.url}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "authorization_response_iss_parameter_supported": True,
        })

    async def jwks(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response({"keys": [k.jwk for k in self.keys]})

    async def authorize(self, request: web.Request) -> web.Response:
        self._record(request)
        q = request.query
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != self.client_id or not redirect_uri or (
            self.redirect_uris and redirect_uri not in self.redirect_uris
        ):
            # never redirect to a URI not registered for a known client (RFC 6749 §4.1.2.1)
            return web.Response(status=400, text="unknown client or redirect_uri")
        error = None
        if q.get("response_type") != "code":
            error = "unsupported_response_type"
        elif "openid" not in q.get("scope", "").split():
            error = "invalid_scope"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            error = "invalid_request"
        params: dict[str, str] = {}
        if error:
            params["error"] = error
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = Grant(self.client_id, redirect_uri, q["code_challenge"], q.get("nonce"),
                                     q.get("scope", ""), self.user)
            params["code"] = code
        if "state" in q:
            params["state"] = q["state"]
        params["iss"] = self.issuer  # RFC 9207
        sep = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")

    def _client_authenticated(self, request: web.Request, form: dict[str, str]) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                pair = base64.b64decode(header[6:], validate=True).decode()
            except ValueError:
                return False
            user, _, password = pair.partition(":")
            return unquote_plus(user) == self.client_id and hmac.compare_digest(unquote_plus(password),
                                                                                 self.client_secret)
        if self.public_client and "client_secret" not in form:
            return form.get("client_id") == self.client_id
        return form.get("client_id") == self.client_id and hmac.compare_digest(
            form.get("client_secret", ""), self.client_secret)

    def _token_error(self, status: int, error: str, description: str) -> web.Response:
        self.token_errors.append(f"{error}: {description}")
        return web.json_response({"error": error, "error_description": description}, status=status)

    async def token(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        self._record(request, form)
        if not self._client_authenticated(request, form):
            return self._token_error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            return self._token_error(400, "unsupported_grant_type", "only authorization_code")
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant.used:
            return self._token_error(400, "invalid_grant", "the code is unknown or was already used")
        grant.used = True
        if grant.redirect_uri != form.get("redirect_uri"):
            return self._token_error(400, "invalid_grant", "redirect_uri differs from the authorize request")
        verifier = form.get("code_verifier", "")
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        if not verifier or not hmac.compare_digest(challenge, grant.code_challenge):
            return self._token_error(400, "invalid_grant", "PKCE verification failed")
        return web.json_response({
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_s,
            "id_token": self.id_token(grant),
        }, headers={"Cache-Control": "no-store"})

    def id_token(self, grant: Grant) -> str:
        """The ID token for ``grant``, as the knobs shape it."""
        now = int(self.now())
        user = grant.user
        claims: dict[str, Any] = {
            "iss": self.issuer_claim if self.issuer_claim is not None else self.issuer,
            "sub": user.sub,
            "aud": self.audience if self.audience is not None else self.client_id,
            "iat": now - 7200 if self.expired else now,
            "exp": now - 3600 if self.expired else now + self.token_lifetime_s,
            "auth_time": now,
        }
        if self.azp is not None:
            claims["azp"] = self.azp
        nonce = self.nonce_override if self.nonce_override is not None else grant.nonce
        if nonce is not None:
            claims["nonce"] = nonce
            self.nonces_seen.append(nonce)
        for name in ("email", "email_verified", "name", "preferred_username"):
            if getattr(user, name) is not None:
                claims[name] = getattr(user, name)
        claims[self.groups_claim] = list(user.groups)
        claims.update(user.extra)
        claims.update(self.extra_claims)
        key = SigningKey.make(self.alg) if self.unpublished_key else self.keys[0]
        token = key.sign({"alg": key.alg, "typ": "JWT", "kid": key.kid}, claims)
        self.issued.append(token)
        return token


async def consent(provider: FakeOidcProvider, authorize_url: str) -> dict[str, str]:
    """Follow ``authorize_url`` as a browser would, up to the redirect back to the client: the
    query the client's callback receives (``code`` and ``state``, or ``error``)."""
    assert authorize_url.startswith(provider.url), "the authorize URL is not this provider's"
    async with aiohttp.ClientSession() as http:
        async with http.get(authorize_url, allow_redirects=False) as response:
            if response.status != 302:
                raise AssertionError(f"the authorize endpoint answered {response.status}: {await response.text()}")
            return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


@contextlib.asynccontextmanager
async def running_oidc_provider(**config: Any) -> AsyncIterator[FakeOidcProvider]:
    """A FakeOidcProvider on 127.0.0.1 (an ephemeral port); ``config`` sets its fields."""
    provider = FakeOidcProvider(**config)
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", provider.discovery)
    app.router.add_get("/jwks", provider.jwks)
    app.router.add_get("/authorize", provider.authorize)
    app.router.add_post("/token", provider.token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    provider.url = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        await runner.cleanup()
