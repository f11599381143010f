"""The browser's login routes: the login page, OIDC start and callback, the local password login, and logout.

Each login makes a new session (a new id, whatever cookie the browser brought: no session
fixation) and ends the one the browser had. ``next`` is followed only to a path on this site
(``/incidents?x=1``), never to another host (no open redirect). The pages are plain
server-rendered HTML; every value in them is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from oncall_hookspecs import DirectoryUnsupported

from ..auth.group_roles import Grants, NotAllowed
from ..auth.oidc import OidcClient, OidcError, OidcLogin, OidcProviderError
from ..auth.pending_logins import PgPendingLogins
from ..auth.sessions import COOKIE, SessionStore, cookie_from_header
from ..context import Context
from ..directory.errors import DirectoryError
from ..directory.login import PasswordLogin
from ..errors import OnCallError
from . import csrf
from .requests import CONTEXT

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
OIDC_START_PATH = "/auth/oidc/start"
OIDC_CALLBACK_PATH = "/auth/oidc/callback"
#: the cookie that ties an OIDC login to the browser that started it (its hash is the login's binding)
BINDING_COOKIE = "oncall_login"
MAX_FIELD = 1024


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/``: no scheme, no host, no ``//`` or ``/\\``."""
    if not value or len(value) > 2048 or not value.isascii() or not value.isprintable():
        return "/"
    if not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@dataclass
class Logins:
    """What the login routes use: the sessions, and the login methods this server offers."""

    sessions: SessionStore
    oidc: OidcLogin | None
    password: PasswordLogin | None

    @classmethod
    def for_context(cls, ctx: Context) -> Logins | None:
        """The logins of ``ctx``'s server; None when it keeps no sessions."""
        access = ctx.access
        if access is None or access.sessions is None:
            return None
        oidc = None
        settings = ctx.settings.oidc
        if settings is not None:
            client = OidcClient(settings, clock=access.clock)
            oidc = OidcLogin(client, PgPendingLogins(ctx.pool, access.clock, settings.login_ttl_s), access.clock)
        password = None
        if ctx.directory is not None:
            login = PasswordLogin(ctx.directory.directory)
            if login.available:
                login.throttle.clock = access.clock
                password = login
        return cls(access.sessions.store, oidc, password)

    async def close(self) -> None:
        if self.oidc is not None:
            await self.oidc.client.close()


LOGINS = web.AppKey("logins", Logins)


def provider_name(issuer: str) -> str:
    """How the login page names the OIDC provider: its host."""
    return urlsplit(issuer).hostname or issuer


def site_url(request: web.Request) -> str:
    """This site's URL as browsers reach it: ``ONCALL_PUBLIC_URL``, else the request's scheme and host."""
    public = request.app[CONTEXT].settings.public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


def _secure(request: web.Request) -> bool:
    public = request.app[CONTEXT].settings.public_url
    return request.secure or bool(public and public.lower().startswith("https://"))


#: the login pages' one style sheet, inline and allowed by its hash (the policy allows nothing else)
_STYLE = (
    "body{font:16px/1.4 system-ui,sans-serif;background:#f4f5f7;color:#1d1d1f;margin:0}"
    "main{max-width:22em;margin:12vh auto;background:#fff;padding:1.5em 2em 2em;border:1px solid #dcdfe4;"
    "border-radius:8px}h1{font-size:1.5em;margin:.2em 0 1em}label{display:block;font-weight:600}"
    "input{display:block;width:100%;box-sizing:border-box;margin-top:.3em;padding:.55em;font:inherit;"
    "border:1px solid #b8bec7;border-radius:4px}button{padding:.55em 1.4em;font:inherit;font-weight:600;"
    "color:#fff;background:#1f5fbf;border:0;border-radius:4px;cursor:pointer}"
    "[role=alert]{color:#a4000f;background:#fdecee;padding:.5em .8em;border-radius:4px}"
)
_STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def _page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} · OnCall</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    all_headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                   "Content-Security-Policy": f"default-src 'none'; style-src '{_STYLE_HASH}'; form-action 'self'; "
                                              "frame-ancestors 'none'"}
    all_headers.update(headers or {})
    return web.Response(text=document, status=status, content_type="text/html", headers=all_headers)


def _login_page(request: web.Request, message: str = "", status: int = 200,
                headers: dict[str, str] | None = None, next_path: str | None = None) -> web.Response:
    logins = request.app[LOGINS]
    target = safe_next(next_path if next_path is not None else request.query.get("next"))
    parts = []
    if message:
        parts.append(f"<p role=alert>{html.escape(message)}</p>")
    if logins.oidc is not None:
        href = f"{OIDC_START_PATH}?{urlencode({'next': target})}"
        name = provider_name(logins.oidc.client.settings.issuer)
        parts.append(f"<p><a href='{html.escape(href)}'>Sign in with {html.escape(name)}</a></p>")
    if logins.password is not None:
        parts.append(
            f"<form method=post action='{LOGIN_PATH}'>"
            f"<input type=hidden name=next value='{html.escape(target)}'>"
            "<p><label>User <input name=user autocomplete=username required></label></p>"
            "<p><label>Password <input name=password type=password autocomplete=current-password required>"
            "</label></p><p><button type=submit>Sign in</button></p></form>"
        )
    if logins.oidc is None and logins.password is None:
        parts.append("<p>No browser login is configured on this server: use an API key.</p>")
    return _page("Sign in", "".join(parts), status, headers)


def _redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


def _set_session(request: web.Request, response: web.StreamResponse, cookie_value: str) -> None:
    logins = request.app[LOGINS]
    response.set_cookie(COOKIE, cookie_value, path="/", httponly=True, secure=_secure(request), samesite="Lax",
                        max_age=int(logins.sessions.lifetimes.lifetime_s))


def role_of(grants: Grants) -> tuple[str, dict[str, str]] | None:
    """A session's role everywhere and its team roles from what a login's groups grant; None when
    they grant nothing. Granted roles in teams only, the person reads as a viewer everywhere
    (as a team's API key does) and holds each team's role on that team's resources."""
    if grants.is_empty:
        return None
    role = grants.role.value if grants.role is not None else "viewer"
    # evaluate keeps only team roles above the role everywhere; a viewer team role adds nothing to a viewer
    return role, {team: r.value for team, r in grants.team_roles.items() if r.value != role}


async def _start_session(
    request: web.Request, *, user_id: str, role: str, team_roles: dict[str, str], method: str, next_path: str,
) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    logins = request.app[LOGINS]
    assert ctx.access is not None
    session, cookie_value = await logins.sessions.create(
        user_id=user_id, role=role, team_roles=team_roles, method=method, now=ctx.access.clock.now(),
        peer=request.remote or "", user_agent=request.headers.get("User-Agent", ""),
        replacing=cookie_from_header(request.headers.get("Cookie")),
    )
    log.info("session %d started for %s (%s, %s)", session.id, user_id, method, role)
    response = _redirect(safe_next(next_path))
    _set_session(request, response, cookie_value)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_page(request)


async def oidc_start(request: web.Request) -> web.StreamResponse:
    logins = request.app[LOGINS]
    if logins.oidc is None:
        return _login_page(request, "OIDC login is not configured on this server.", status=404)
    browser = secrets.token_urlsafe(32)
    redirect_uri = site_url(request) + OIDC_CALLBACK_PATH
    try:
        login = await logins.oidc.start(redirect_uri, safe_next(request.query.get("next")),
                                        hashlib.sha256(browser.encode()).hexdigest())
    except OidcProviderError as exc:
        return _login_page(request, f"The identity provider cannot be reached now ({exc.detail}).", status=503)
    except OidcError as exc:
        return _login_page(request, exc.detail, status=400)
    response = _redirect(login.authorize_url, 302)
    response.set_cookie(BINDING_COOKIE, browser, path="/auth/oidc", httponly=True, secure=_secure(request),
                        samesite="Lax", max_age=int(logins.oidc.client.settings.login_ttl_s))
    return response


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    logins = request.app[LOGINS]
    if logins.oidc is None:
        return _login_page(request, "OIDC login is not configured on this server.", status=404)
    q = request.query
    browser = cookie_from_header(request.headers.get("Cookie"), BINDING_COOKIE) or ""
    try:
        outcome = await logins.oidc.complete(
            q.get("state"), q.get("code"), q.get("error"), iss=q.get("iss"),
            binding=hashlib.sha256(browser.encode()).hexdigest() if browser else "")
    except NotAllowed as exc:
        return _login_page(request, exc.detail, status=403, next_path="/")
    except OidcProviderError as exc:
        return _login_page(request, f"The identity provider cannot be reached now ({exc.detail}).", status=503,
                           next_path="/")
    except OidcError as exc:
        return _login_page(request, exc.detail, status=401, next_path="/")
    granted = role_of(outcome.grants)
    if granted is None:
        return _login_page(request, "Your groups grant no role in OnCall; ask an administrator.", status=403,
                           next_path="/")
    response = await _start_session(request, user_id=outcome.identity.subject, role=granted[0],
                                    team_roles=granted[1], method="oidc", next_path=outcome.return_to or "/")
    response.del_cookie(BINDING_COOKIE, path="/auth/oidc")
    return response


def _field(form: MultiDictProxy[str | bytes | bytearray | FileField], name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


async def password_login(request: web.Request) -> web.StreamResponse:
    logins = request.app[LOGINS]
    form = await request.post()
    next_path = safe_next(_field(form, "next"))
    if logins.password is None:
        return _login_page(request, "Password login is not available on this server.", status=404,
                           next_path=next_path)
    user, password = _field(form, "user").strip(), _field(form, "password")
    if not user or not password:
        return _login_page(request, "Give a user and a password.", status=400, next_path=next_path)
    try:
        result = await logins.password.check(user, password, address=request.remote or "")
    except DirectoryUnsupported:
        return _login_page(request, "Password login is not available on this server.", status=404,
                           next_path=next_path)
    except (DirectoryError, TimeoutError, OSError, OnCallError):
        log.warning("password login: the directory cannot answer now")
        return _login_page(request, "The user directory cannot answer now; try again shortly.", status=503,
                           next_path=next_path)
    if result.user is None:
        if result.retry_after_s > 0:
            return _login_page(request, result.message, status=429, next_path=next_path,
                               headers={"Retry-After": str(int(result.retry_after_s) + 1)})
        return _login_page(request, result.message, status=401, next_path=next_path)
    if not result.user.role:
        return _login_page(request, "Your account has no role in OnCall; ask an administrator.", status=403,
                           next_path=next_path)
    return await _start_session(request, user_id=result.user.id, role=result.user.role, team_roles={},
                                method="password", next_path=next_path)


async def logout(request: web.Request) -> web.StreamResponse:
    logins = request.app[LOGINS]
    found = await logins.sessions.find(cookie_from_header(request.headers.get("Cookie")))
    if found is not None:
        await logins.sessions.end(found[0].id)
        log.info("session %d of %s ended by logout", found[0].id, found[0].user_id)
    response = _redirect(LOGIN_PATH)
    response.del_cookie(COOKIE, path="/")
    return response


def add_routes(app: web.Application, ctx: Context) -> None:
    logins = Logins.for_context(ctx)
    if logins is None:
        return
    app[LOGINS] = logins

    async def close(_: web.Application) -> None:
        await logins.close()

    app.on_cleanup.append(close)
    app.router.add_get(LOGIN_PATH, login_page)
    csrf.protect(app, app.router.add_post(LOGIN_PATH, password_login), token=False)  # origin: no login CSRF
    csrf.protect(app, app.router.add_post(LOGOUT_PATH, logout))
    app.router.add_get(OIDC_START_PATH, oidc_start)
    app.router.add_get(OIDC_CALLBACK_PATH, oidc_callback)
