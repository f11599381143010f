"""OpenID Connect login, the protocol half: authorization code flow with PKCE (S256), state and nonce.

``OidcClient`` is the relying party: it reads the provider's discovery document and JWKS
(both cached; the JWKS is fetched again once when a token names a key it does not hold,
at most every ``jwks_refresh_min_s``), builds the authorize URL, redeems the code at the
token endpoint and validates the ID token (signature RS256 or ES256, ``iss``, ``aud`` and
``azp``, ``exp``, ``iat``, ``nbf``, ``nonce``) into an ``OidcIdentity``.

``OidcLogin`` puts it together with a ``PendingLogins`` store, where a started login waits
for its callback and which hands each one out once, so a replayed callback (the same state,
hence the same nonce) is refused, and with the group mapping (``group_roles``), evaluated
afresh at every login. The browser routes are ``http/login.py``; the server keeps pending
logins in PostgreSQL (``pending_logins.PgPendingLogins``); ``MemoryPendingLogins`` serves the tests.

No error message holds a token, a code, a verifier or the client secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

import aiohttp
import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import Unauthenticated, Unavailable
from .group_roles import Grants, evaluate
from .oidc_settings import OidcSettings, is_secure_url

log = logging.getLogger(__name__)

#: the ID token signatures accepted, with the key type each needs
ALGORITHMS: Mapping[str, type[RSAKey] | type[ECKey]] = MappingProxyType({"RS256": RSAKey, "ES256": ECKey})
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_TOKEN_CHARS = 64 * 1024
MAX_PARAM_CHARS = 4096


class OidcError(Unauthenticated):
    """A login that cannot go on (bad or replayed callback, an ID token that fails a check);
    ``detail`` is safe to show the person."""


class OidcProviderError(Unavailable):
    """The provider could not be reached or answered something that is not OIDC; retry later."""


@dataclass(frozen=True)
class ProviderMetadata:
    """What OnCall uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None


@dataclass(frozen=True)
class LoginStart:
    """A started login: send the browser to ``authorize_url`` and keep the rest server-side
    (a ``PendingLogins``) until the callback brings ``state`` back."""

    state: str
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str
    authorize_url: str = field(repr=False)
    created_at: datetime
    # where the browser goes after the login (kept for the routes; OIDC does not read it)
    return_to: str | None = None
    # a value tied to the browser that started the login (the hash of a cookie the routes
    # set): the callback must bring the same, so a callback URL sent to someone else (login
    # CSRF: signing a victim in as the attacker) is refused
    binding: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OidcIdentity:
    """Who the provider says signed in. ``subject`` is the value of the configured user claim."""

    issuer: str
    subject: str
    email: str | None
    # the provider's word on ``email`` (None: it said nothing); check it before matching by email
    email_verified: bool | None
    name: str | None
    groups: tuple[str, ...]
    claims: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class LoginOutcome:
    """A finished login: the identity and what its groups grant now."""

    identity: OidcIdentity
    grants: Grants
    return_to: str | None = None


class PendingLogins(Protocol):
    """Where started logins wait for their callback. ``take`` hands a login out once and
    forgets it, which is what refuses a replayed callback. The server keeps these in
    PostgreSQL (``pending_logins.PgPendingLogins``: a row deleted by the ``take``) so that any
    replica can finish a login."""

    async def put(self, login: LoginStart) -> None: ...

    async def take(self, state: str) -> LoginStart | None:
        """The login started with ``state``, removed; None when unknown or already taken."""
        ...


class MemoryPendingLogins:
    """A ``PendingLogins`` in this process's memory: at most ``capacity`` logins, each for
    ``ttl_s`` (the oldest give way, so starting logins in a loop cannot exhaust memory)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, ttl_s: float = 600.0, capacity: int = 10_000) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._capacity = capacity
        self._logins: OrderedDict[str, LoginStart] = OrderedDict()

    async def put(self, login: LoginStart) -> None:
        cutoff = self._clock.now() - self._ttl
        while self._logins and (
            len(self._logins) >= self._capacity or next(iter(self._logins.values())).created_at < cutoff
        ):
            self._logins.popitem(last=False)
        self._logins[login.state] = login

    async def take(self, state: str) -> LoginStart | None:
        return self._logins.pop(state, None)

    def __len__(self) -> int:
        return len(self._logins)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 §4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any, limit: int = 80) -> str:
    """Provider-given text for a message: printable, bounded."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def _param(name: str, value: str | None) -> str:
    if not value or len(value) > MAX_PARAM_CHARS or not value.isascii() or not value.isprintable():
        raise OidcError(f"the login callback has no usable {name}; start the login again")
    return value


class OidcClient:
    """The relying party for one provider. Give it the process's aiohttp session (or let it
    make one, closed by ``close``) and the clock."""

    def __init__(self, settings: OidcSettings, http: aiohttp.ClientSession | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self._http = http
        self._owns_http = http is None
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._forced_refresh_at = -float("inf")
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    def _now(self) -> float:
        return self._clock.now().timestamp()

    # -- fetching

    async def _read_json(self, response: aiohttp.ClientResponse, what: str) -> Any:
        body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
        if len(body) > MAX_DOCUMENT_BYTES:
            raise OidcProviderError(f"the provider's {what} is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise OidcProviderError(f"the provider's {what} is not JSON (HTTP {response.status})") from None

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            # no redirects: the document is at the issuer's own URL, over what was configured
            async with self._client().get(url, headers={"Accept": "application/json"}, timeout=timeout,
                                          allow_redirects=False) as response:
                if response.status != 200:
                    raise OidcProviderError(f"the provider's {what} answered HTTP {response.status}")
                document = await self._read_json(response, what)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OidcProviderError(f"cannot reach the provider's {what} ({type(exc).__name__})") from None
        if not isinstance(document, dict):
            raise OidcProviderError(f"the provider's {what} is not a JSON object")
        return document

    async def metadata(self) -> ProviderMetadata:
        """The discovery document, fetched at most every ``discovery_ttl_s``."""
        now = self._now()
        if self._metadata is not None and now - self._metadata_at < self.settings.discovery_ttl_s:
            return self._metadata
        async with self._lock:
            if self._metadata is None or now - self._metadata_at >= self.settings.discovery_ttl_s:
                url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                self._metadata = _parse_metadata(await self._get_json(url, "discovery document"),
                                                 self.settings.issuer)
                self._metadata_at = self._now()
            return self._metadata

    async def _key_set(self, force: bool) -> tuple[KeySet, bool]:
        """The JWKS, and whether it was fetched just now."""
        metadata = await self.metadata()
        async with self._lock:
            now = self._now()
            fresh = self._keys is not None and now - self._keys_at < self.settings.jwks_ttl_s
            if self._keys is not None and fresh and not force:
                return self._keys, False
            document = await self._get_json(metadata.jwks_uri, "JWKS")
            try:
                keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, KeyError, TypeError, ValueError):
                raise OidcProviderError("the provider's JWKS holds no key OnCall can read") from None
            self._keys, self._keys_at = keys, self._now()
            return keys, True

    async def _signing_key(self, kid: str | None, alg: str) -> RSAKey | ECKey:
        keys, fetched_now = await self._key_set(force=False)
        key = _pick_key(keys, kid, alg)
        if key is None and not fetched_now and self._now() - self._forced_refresh_at >= self.settings.jwks_refresh_min_s:
            # the provider may have rotated its keys: ask once, and not again for a while, so
            # tokens with made-up kids cannot make OnCall hammer the provider
            self._forced_refresh_at = self._now()
            log.info("OIDC: an ID token names a key not in the cached JWKS; fetching the JWKS again")
            keys, _ = await self._key_set(force=True)
            key = _pick_key(keys, kid, alg)
        if key is None:
            raise OidcError("the ID token is signed with a key the provider does not publish")
        return key

    # -- the flow

    async def begin_login(self, redirect_uri: str, return_to: str | None = None,
                          binding: str | None = None) -> LoginStart:
        """A new login: fresh state, nonce and PKCE verifier, and the URL to send the browser to."""
        if not is_secure_url(redirect_uri):
            raise OidcError("the redirect URI must be https (http only to a loopback address)")
        metadata = await self.metadata()
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        query = urlencode({
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        })
        endpoint = metadata.authorization_endpoint
        url = f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
        return LoginStart(state=state, nonce=nonce, code_verifier=verifier, redirect_uri=redirect_uri,
                          authorize_url=url, created_at=self._clock.now(), return_to=return_to, binding=binding)

    async def finish_login(self, login: LoginStart, code: str) -> OidcIdentity:
        """Redeem ``code`` for the login it was issued to and validate the ID token."""
        id_token = await self._redeem(login, _param("code", code))
        claims = await self.validate_id_token(id_token, nonce=login.nonce)
        return self.identity(claims)

    async def _redeem(self, login: LoginStart, code: str) -> str:
        metadata = await self.metadata()
        settings = self.settings
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "code_verifier": login.code_verifier,
        }
        headers = {"Accept": "application/json"}
        if settings.auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: form-encode each half before joining and base64-encoding them
            pair = f"{quote_plus(settings.client_id)}:{quote_plus(settings.client_secret or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form["client_id"] = settings.client_id
            if settings.auth_method == "client_secret_post":
                form["client_secret"] = settings.client_secret or ""
        timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        try:
            # never follow a redirect: it would carry the code and the secret somewhere else
            async with self._client().post(metadata.token_endpoint, data=form, headers=headers,
                                           timeout=timeout, allow_redirects=False) as response:
                answer = await self._read_json(response, "token endpoint")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OidcProviderError(f"cannot reach the provider's token endpoint ({type(exc).__name__})") from None
        if status != 200:
            if isinstance(answer, dict) and isinstance(answer.get("error"), str):
                description = answer.get("error_description")
                more = f": {_short(description, 200)}" if isinstance(description, str) and description else ""
                if status in (400, 401):
                    raise OidcError(f"the provider refused the login ({_short(answer['error'], 64)}{more})")
            raise OidcProviderError(f"the provider's token endpoint answered HTTP {status}")
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str) or not id_token:
            raise OidcProviderError("the provider's token endpoint answered with no ID token")
        return id_token

    async def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature and claims check out (OIDC Core §3.1.3.7)."""
        if len(id_token) > MAX_TOKEN_CHARS or id_token.count(".") != 2:
            raise OidcError("the ID token is not a signed JWT")
        try:
            header = jws.extract_compact(id_token.encode("ascii")).headers()
        except (JoseError, UnicodeError, ValueError, TypeError):
            raise OidcError("the ID token is not a signed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise OidcError(f"the ID token is signed with {_short(alg, 16)}; OnCall accepts {', '.join(ALGORITHMS)}")
        if kid is not None and not isinstance(kid, str):
            raise OidcError("the ID token's key id (kid) is not a string")
        key = await self._signing_key(kid, alg)
        try:
            claims = jwt.decode(id_token, key, algorithms=[alg]).claims
        except JoseError:
            raise OidcError("the ID token's signature does not verify") from None
        self._check_claims(claims, nonce)
        return claims

    def _check_claims(self, claims: Mapping[str, Any], nonce: str) -> None:
        settings, now, leeway = self.settings, self._now(), self.settings.leeway_s
        if claims.get("iss") != settings.issuer:
            raise OidcError(f"the ID token was issued by {_short(claims.get('iss'))}, not by {settings.issuer}")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if settings.client_id not in audiences:
            raise OidcError("the ID token is meant for another client (its audience is not OnCall's client id)")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != settings.client_id:
            raise OidcError("the ID token has several audiences and was not issued to OnCall (azp)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("the ID token has no subject (sub)")
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not isinstance(exp, int | float) or not _number(exp) or not isinstance(iat, int | float) or not _number(iat):
            raise OidcError("the ID token lacks a numeric exp or iat")
        if now > exp + leeway:
            raise OidcError("the ID token has expired; sign in again (or check this server's clock)")
        if iat > now + leeway:
            raise OidcError("the ID token was issued in the future; check this server's and the provider's clocks")
        if nbf is not None and (not _number(nbf) or nbf > now + leeway):
            raise OidcError("the ID token is not valid yet (nbf)")
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise OidcError("the ID token's nonce does not match this login (a replayed or mixed-up login)")

    def identity(self, claims: Mapping[str, Any]) -> OidcIdentity:
        """The identity in validated ``claims``, named by the configured user claim."""
        settings = self.settings
        subject = claims.get(settings.user_claim)
        if not isinstance(subject, str) or not subject.strip():
            raise OidcError(f"the ID token has no {settings.user_claim} claim to name you by "
                            f"(ONCALL_OIDC_USER_CLAIM); ask for the scope that carries it")
        # some providers (Cognito) send the flag as a string
        flag = claims.get("email_verified")
        verified = flag if isinstance(flag, bool) else {"true": True, "false": False}.get(flag) if isinstance(
            flag, str) else None
        if settings.user_claim == "email" and verified is False:
            raise OidcError("the provider says this email address is not verified")
        email, name = claims.get("email"), claims.get("name") or claims.get("preferred_username")
        return OidcIdentity(
            issuer=settings.issuer,
            subject=subject.strip(),
            email=email if isinstance(email, str) else None,
            email_verified=verified,
            name=name if isinstance(name, str) else None,
            groups=_groups(claims, settings.groups_claim),
            claims=MappingProxyType(dict(claims)),
        )


def _parse_metadata(document: Mapping[str, Any], issuer: str) -> ProviderMetadata:
    # OIDC Discovery §4.3: the document's issuer is exactly the one configured
    if document.get("issuer") != issuer:
        raise OidcProviderError(f"the discovery document names the issuer {_short(document.get('issuer'))}, "
                                f"not {issuer} (ONCALL_OIDC_ISSUER must match it exactly)")
    urls: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or not is_secure_url(value):
            raise OidcProviderError(f"the discovery document's {name} is missing or not an https URL")
        urls[name] = value
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise OidcProviderError("the provider does not offer PKCE with S256 (code_challenge_methods_supported)")
    end_session = document.get("end_session_endpoint")
    return ProviderMetadata(
        issuer=issuer,
        end_session_endpoint=end_session if isinstance(end_session, str) and is_secure_url(end_session) else None,
        **urls,
    )


def _pick_key(keys: KeySet, kid: str | None, alg: str) -> RSAKey | ECKey | None:
    """The signature key for a token's ``kid`` and ``alg``: of the algorithm's key type, not
    an encryption key, and with a matching ``alg`` when the key names one. No kid: the one key."""
    kind = ALGORITHMS[alg]
    usable = [
        k for k in keys
        if isinstance(k, kind) and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg
        and (not isinstance(k, ECKey) or k.curve_name == "P-256")
    ]
    if kid is None:
        return usable[0] if len(usable) == 1 else None
    for key in usable:
        if key.kid == kid:
            return key
    return None


def _groups(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The groups claim: a list of strings (others dropped) or one string; a dotted name that
    is not itself a claim walks into objects (``realm_access.roles``)."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(dict.fromkeys(g for g in value if isinstance(g, str)))
    return ()


class OidcLogin:
    """Login with OIDC from start to outcome: ``start`` keeps the login in ``pending`` and gives
    the URL for the browser; ``complete`` takes it back (once) with the callback's state and
    code, and returns the identity with its grants, or raises ``OidcError`` /
    ``group_roles.NotAllowed`` (``OidcProviderError`` when the provider is unreachable)."""

    def __init__(self, client: OidcClient, pending: PendingLogins, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.pending = pending
        self._clock = clock

    async def start(self, redirect_uri: str, return_to: str | None = None, binding: str | None = None) -> LoginStart:
        """A new login, kept in ``pending``; ``binding`` ties it to the browser (see ``LoginStart``)."""
        login = await self.client.begin_login(redirect_uri, return_to, binding)
        await self.pending.put(login)
        return login

    async def complete(self, state: str | None, code: str | None, error: str | None = None, *,
                       iss: str | None = None, binding: str | None = None) -> LoginOutcome:
        """The callback's ``state``, ``code``, ``error`` (when the provider did not sign the person
        in) and ``iss`` (RFC 9207, when the provider sends it), and the browser's ``binding``."""
        login = await self.pending.take(_param("state", state))
        if login is None:
            raise OidcError("this login is unknown or was already used; start the login again")
        if login.binding is not None and not hmac.compare_digest(login.binding.encode(), (binding or "").encode()):
            raise OidcError("this login was started in another browser; start the login again")
        if iss is not None and iss != self.client.settings.issuer:
            # a mix-up attack: the callback comes from another provider than the one asked
            raise OidcError("the login callback names another issuer; start the login again")
        if error is not None:
            raise OidcError(f"the provider did not sign you in ({_short(error, 64)})")
        age = (self._clock.now() - login.created_at).total_seconds()
        if age > self.client.settings.login_ttl_s:
            raise OidcError("this login took too long; start the login again")
        identity = await self.client.finish_login(login, _param("code", code))
        grants = evaluate(identity.groups, self.client.settings.mapping)
        return LoginOutcome(identity, grants, login.return_to)
