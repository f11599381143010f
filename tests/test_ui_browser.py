"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright for Python; never a
downloaded browser), against the whole server in process and real PostgreSQL.

Proves: a person signs in with the local password login and lands on the incident list; an
alert posted to a webhook appears in the open list without a reload (the count moves too),
and a hostile summary arriving so is text, never markup that runs; on a 360×740 phone the
list and the incident page fit the width, and the person acknowledges the new incident; an
incident's page says when it changes elsewhere; a viewer's pages have no controls; with
JavaScript off the list's bulk acknowledge works by form; the keyboard meets a skip link
first, with a visible focus. It also takes the README's screenshots
(desktop 1280×900 and phone 360×740, light and dark); ``ONCALL_UI_SCREENSHOTS=DIR`` keeps them.

Without /usr/bin/chromium these skip, saying how to install it; under ``CI=true`` they fail.
One browser is launched for the module.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fixtures.ui import post_alert, session_cookie
from oncall_local_directory import users_file
from oncall_local_directory.passwords import hash_password

from google.protobuf.duration_pb2 import Duration

from oncall.alerting.v1 import (
    escalation_pb2, escalation_pb2_grpc, incidents_pb2, incidents_pb2_grpc, routing_pb2, routing_pb2_grpc,
)
from oncall.auth.sessions import COOKIE

from conftest import RunningServer, _truncate_all, run_server, server_settings

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install chromium chromium-driver"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
HAVE_CHROMIUM = CHROMIUM.exists()
PASSWORD = "correct horse battery staple"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the browser tests must run in CI ({INSTALL})")
    pytest.skip(f"{reason}; to run the browser tests: {INSTALL}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(migrated_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """One server for the module, with a local users file in which ann (responder) has a password."""
    _truncate_all(migrated_url)
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    loaded = users_file.parse("users:\n  - id: ann\n    name: Ann Example\n    role: responder\n"
                              "  - id: vic\n    name: Vic Viewer\n    role: viewer\n")
    loaded.users["ann"].password_hash = hash_password(PASSWORD)
    users_file.write(path, list(loaded.users.values()))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ONCALL_LOCAL_DIRECTORY_FILE", str(path))
        async with run_server(server_settings(migrated_url)) as server:
            yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def key(site: RunningServer) -> str:
    _, integration_key = await site.integration("generic", "web")
    return integration_key


async def _context(browser: Any, site: RunningServer, *, viewport: dict[str, int], dark: bool = False,
                   cookie: str | None = None) -> Any:
    context = await browser.new_context(viewport=viewport, color_scheme="dark" if dark else "light",
                                        base_url=site.http_url)
    if cookie is not None:
        await context.add_cookies([{"name": COOKIE, "value": cookie, "url": site.http_url}])
    return context


async def _status(site: RunningServer, incident_id: int) -> str:
    async with site.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT status FROM alerting.incidents WHERE id = %s", (incident_id,))
        row = await cur.fetchone()
    assert row is not None
    return str(row["status"])


async def _until(page: Any, expression: str, timeout_s: float = 10.0) -> None:
    """Until ``expression`` is true in the page (polled: the pages' CSP forbids the eval that
    Playwright's wait_for_function uses)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await page.evaluate(expression):
        assert loop.time() < deadline, f"never true: {expression}"
        await asyncio.sleep(0.05)


async def _wait_live(page: Any) -> None:
    """Until the list's event stream has answered (the watch is live), so what commits next reaches it."""
    await _until(page, "window.oncallLive === true")


async def test_sign_in_and_a_new_alert_appears_in_the_open_list_without_reload(
    browser: Any, site: RunningServer, key: str,
) -> None:
    context = await _context(browser, site, viewport=DESKTOP)
    page = await context.new_page()
    await page.goto("/incidents")
    assert page.url.startswith(f"{site.http_url}/login?next=")
    await page.get_by_label("User").fill("ann")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{site.http_url}/incidents")
    assert await page.get_by_role("heading", name="Incidents").is_visible()
    await _wait_live(page)
    await page.evaluate("window.notReloaded = true")
    before = int(await page.locator('[data-count="triggered"]').inner_text())

    await post_alert(site.http_url, key, "Disk full on db-1 (live)", "live-1")
    row = page.locator("li.incident", has_text="Disk full on db-1 (live)")
    await row.wait_for(timeout=10_000)
    assert await row.locator('[data-field="status"]').text_content() == "triggered"
    assert await page.evaluate("window.notReloaded") is True
    await _until(page, f"document.querySelector('[data-count=\"triggered\"]').textContent == '{before + 1}'")

    # a hostile summary arriving live is text in the row, never markup that runs
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    await post_alert(site.http_url, key, hostile, "live-hostile")
    title = page.locator("li.incident a.title").first
    await _until(page, "document.querySelector('li.incident a.title').textContent.includes('onerror')")
    assert await title.text_content() == hostile
    assert await page.locator("li.incident img").count() == 0
    assert await page.evaluate("window.pwned === undefined")
    await context.close()


async def test_acknowledge_a_new_incident_on_a_phone(browser: Any, site: RunningServer, key: str) -> None:
    context = await _context(browser, site, viewport=PHONE, cookie=await session_cookie(site, "ann", "responder"))
    page = await context.new_page()
    await page.goto("/incidents")
    await _wait_live(page)
    alert_id = await post_alert(site.http_url, key, "Checkout latency over 2 s", "phone-1")
    row = page.locator("li.incident", has_text="Checkout latency over 2 s")
    await row.wait_for(timeout=10_000)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    await row.get_by_role("link", name="Checkout latency over 2 s").click()
    await page.wait_for_url("**/incidents/*")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.get_by_role("button", name="Acknowledge", exact=True)
    box = await button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= PHONE["width"]
    await button.click()
    await page.wait_for_url("**done=acknowledged**")
    assert "acknowledged." in await page.locator(".message.ok").inner_text()
    async with site.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        incident_id = (await cur.fetchone())["incident_id"]
    assert await _status(site, incident_id) == "acknowledged"
    assert await page.get_by_role("button", name="Acknowledge", exact=True).count() == 0
    await context.close()


async def test_a_viewer_sees_no_controls(browser: Any, site: RunningServer, key: str) -> None:
    await post_alert(site.http_url, key, "Viewer can look", "viewer-1")
    context = await _context(browser, site, viewport=DESKTOP, cookie=await session_cookie(site, "vic", "viewer"))
    page = await context.new_page()
    await page.goto("/incidents")
    assert await page.locator("li.incident", has_text="Viewer can look").count() == 1
    assert await page.get_by_role("button", name="Acknowledge selected").count() == 0
    assert await page.locator("input.pick").count() == 0
    await page.locator("li.incident a.title", has_text="Viewer can look").click()
    await page.wait_for_url("**/incidents/*")
    assert await page.locator("section.actions").count() == 0
    assert await page.get_by_label("Add a note").count() == 0
    await context.close()


async def test_the_incident_page_says_when_the_incident_changes_elsewhere(
    browser: Any, site: RunningServer, key: str,
) -> None:
    alert_id = await post_alert(site.http_url, key, "Changed elsewhere", "elsewhere-1")
    async with site.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT incident_id FROM alerting.alerts WHERE id = %s", (alert_id,))
        incident_id = (await cur.fetchone())["incident_id"]
    context = await _context(browser, site, viewport=PHONE, cookie=await session_cookie(site, "vic", "viewer"))
    page = await context.new_page()
    await page.goto(f"/incidents/{incident_id}")
    await _wait_live(page)
    async with site.channel() as channel:
        await incidents_pb2_grpc.IncidentServiceStub(channel).AcknowledgeIncident(
            incidents_pb2.AcknowledgeIncidentRequest(incident_id=incident_id, user_id="ann"))
    notice = page.locator(".changed")
    await notice.wait_for(state="visible", timeout=10_000)
    assert "now acknowledged" in await notice.inner_text()
    assert await page.locator('#incident [data-field="status"]').text_content() == "acknowledged"
    await context.close()


async def test_with_javascript_off_the_list_acknowledges_by_form(browser: Any, site: RunningServer, key: str) -> None:
    await post_alert(site.http_url, key, "No script needed", "nojs-1")
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=site.http_url)
    await context.add_cookies([{"name": COOKIE, "value": await session_cookie(site, "ann", "responder"),
                                "url": site.http_url}])
    page = await context.new_page()
    await page.goto("/incidents?q=script")
    row = page.locator("li.incident", has_text="No script needed")
    await row.get_by_role("checkbox").check()
    await page.get_by_role("button", name="Acknowledge selected").click()
    await page.wait_for_url("**done=bulk-acknowledged**")
    assert "1 incident(s) acknowledged." in await page.locator(".message.ok").inner_text()
    assert await row.locator('[data-field="status"]').text_content() == "acknowledged"
    await context.close()


async def test_the_keyboard_reaches_a_skip_link_first_and_focus_is_visible(
    browser: Any, site: RunningServer,
) -> None:
    context = await _context(browser, site, viewport=DESKTOP, cookie=await session_cookie(site, "ann", "responder"))
    page = await context.new_page()
    await page.goto("/incidents")
    await page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert await focused.text_content() == "Skip to content"
    assert await focused.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    await page.keyboard.press("Enter")
    assert await page.evaluate("location.hash") == "#main"
    await context.close()


async def _page_ann_then_bob(site: RunningServer) -> None:
    """An escalation policy (ann at once, bob 5 minutes later) as the default route, so incidents page."""
    user = escalation_pb2.TARGET_KIND_USER
    async with site.channel() as channel:
        created = await escalation_pb2_grpc.EscalationServiceStub(channel).CreatePolicy(
            escalation_pb2.CreatePolicyRequest(name="db-oncall", steps=[
                escalation_pb2.EscalationStep(targets=[escalation_pb2.EscalationTarget(kind=user, id="ann")]),
                escalation_pb2.EscalationStep(delay=Duration(seconds=300),
                                              targets=[escalation_pb2.EscalationTarget(kind=user, id="bob")]),
            ]))
        await routing_pb2_grpc.RoutingServiceStub(channel).SetDefaultRoute(routing_pb2.SetDefaultRouteRequest(
            actions=routing_pb2.RuleActions(escalation_policy_id=created.policy.id)))


async def test_screenshots_of_the_main_pages(browser: Any, site: RunningServer, key: str,
                                             tmp_path: Path) -> None:
    await _page_ann_then_bob(site)
    async with site.channel() as channel:  # the other tests' incidents out of the open list
        incidents = incidents_pb2_grpc.IncidentServiceStub(channel)
        for inc in (await incidents.ListIncidents(incidents_pb2.ListIncidentsRequest(statuses=[
                incidents_pb2.INCIDENT_STATUS_TRIGGERED, incidents_pb2.INCIDENT_STATUS_ACKNOWLEDGED]))).incidents:
            await incidents.ResolveIncident(incidents_pb2.ResolveIncidentRequest(incident_id=inc.id, user_id="ann"))
    for n, (summary, severity, labels) in enumerate([
        ("Disk full on db-1: /var is 98% used", "critical", {"service": "db", "env": "prod"}),
        ("API 5xx rate above 2% for 10 minutes", "error", {"service": "api", "env": "prod"}),
        ("Certificate for shop.example.com expires in 6 days", "warning", {"service": "web"}),
    ]):
        await post_alert(site.http_url, key, summary, f"shot-{n}", severity=severity, meta=labels,
                         details="Runbook: https://runbooks.example/disk\nOwner: storage team")
    cookie = await session_cookie(site, "ann", "responder")
    async with site.ctx.pool.connection() as conn:
        cur = await conn.execute("SELECT max(incident_id) AS i FROM alerting.alerts")
        newest = (await cur.fetchone())["i"]
    async with site.channel() as channel:  # the one before: acknowledged, with a note
        await incidents_pb2_grpc.IncidentServiceStub(channel).AcknowledgeIncident(
            incidents_pb2.AcknowledgeIncidentRequest(incident_id=newest - 1, user_id="ann",
                                                     note="Rolling back the 14:02 deploy"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:  # until the newest incident's first step has paged ann
        async with site.ctx.pool.connection() as conn:
            cur = await conn.execute(
                """SELECT count(*) AS n FROM alerting.notification_requests r
                   JOIN alerting.alerts a ON a.id = r.alert_id WHERE a.incident_id = %s""", (newest,))
            if (await cur.fetchone())["n"] > 0:
                break
        assert loop.time() < deadline, "the escalation never paged"
        await asyncio.sleep(0.1)
    kept = os.environ.get("ONCALL_UI_SCREENSHOTS")
    for viewport_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for dark in (False, True):
            context = await _context(browser, site, viewport=viewport, dark=dark, cookie=cookie)
            page = await context.new_page()
            scheme = "dark" if dark else "light"
            for name, path in (("incidents", "/incidents"), ("incident", f"/incidents/{newest}")):
                await page.goto(path)
                await page.wait_for_timeout(300)  # the times shown relative to now by the page's script
                shot = tmp_path / f"{name}-{viewport_name}-{scheme}.png"
                await page.screenshot(path=str(shot), full_page=viewport_name == "phone")
                assert shot.stat().st_size > 5_000
            await context.close()
    if kept:
        _keep(tmp_path, Path(kept))


def _keep(shots: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy(shot, into / shot.name)
