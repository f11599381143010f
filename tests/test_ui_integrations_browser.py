"""The integration pages in a real headless Chromium (the system's ``/usr/bin/chromium``, as in
``test_ui_browser.py``, whose browser and server fixtures these reuse).

Proves: an admin creates an integration from the form, its key is on the next page and the
Copy button puts exactly that key on the clipboard. It also takes the README's screenshots
of the integration pages (desktop 1280×900 and phone 360×740, light and dark);
``ONCALL_UI_SCREENSHOTS=DIR`` keeps them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fixtures.ui import post_alert, session_cookie

from conftest import RunningServer, _truncate_all, run_server, server_settings
from test_ui_browser import DESKTOP, PHONE, _context, _keep, _until
import test_ui_browser

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
PUBLIC_URL = "https://oncall.example.com"
#: the browser tests' module-scoped browser fixture, shared (pytest finds a fixture by its name here)
browser = test_ui_browser.browser


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(migrated_url: str) -> AsyncIterator[RunningServer]:
    """One server for the module, reached by senders at PUBLIC_URL (what its snippets show)."""
    _truncate_all(migrated_url)
    async with run_server(server_settings(migrated_url, public_url=PUBLIC_URL)) as server:
        yield server


async def _create(page: Any, source: str, name: str) -> None:
    await page.goto("/integrations/new")
    await page.select_option("#i-source", source)
    await page.fill("#i-name", name)
    await page.click("button[type=submit]:has-text('Create integration')")
    await page.wait_for_selector("#integration-key")


async def test_an_admin_creates_an_integration_and_copies_its_key(browser: Any, site: RunningServer) -> None:
    cookie = await session_cookie(site, "ada", "admin")
    context = await _context(browser, site, viewport=DESKTOP, cookie=cookie)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.http_url)
    page = await context.new_page()
    await _create(page, "generic", "copy me")
    key = (await page.text_content("#integration-key") or "").strip()
    assert len(key) > 20
    assert f"{PUBLIC_URL}/api/v1/webhooks/generic" in (await page.content())
    button = page.locator("button[data-copy='integration-key']")
    assert await button.is_visible()
    await button.click()
    await _until(page, "document.querySelector(\"button[data-copy='integration-key']\").textContent === 'Copied'")
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await context.close()


async def test_screenshots_of_the_integration_pages(browser: Any, site: RunningServer,
                                                    tmp_path: Path) -> None:
    await site.integration("alertmanager", "prod Prometheus")
    await site.integration("grafana", "Grafana Cloud")
    shop, key = await site.integration("generic", "shop checkout")
    await site.integration("pagerduty", "Legacy PagerDuty sender")
    for n, (summary, severity) in enumerate([("Disk full on db-1: /var is 98% used", "critical"),
                                             ("API 5xx rate above 2% for 10 minutes", "error"),
                                             ("Certificate for shop.example.com expires in 6 days", "warning")]):
        await post_alert(site.http_url, key, summary, f"integ-shot-{n}", severity=severity)
    cookie = await session_cookie(site, "ada", "admin")
    shots = [(v, viewport, dark) for v, viewport in (("desktop", DESKTOP), ("phone", PHONE)) for dark in (False, True)]
    for viewport_name, viewport, dark in shots:
        context = await _context(browser, site, viewport=viewport, dark=dark, cookie=cookie)
        page = await context.new_page()
        scheme = "dark" if dark else "light"
        for name, path in (("integrations", "/integrations"), ("integration", f"/integrations/{shop}"),
                           ("integration-new", "/integrations/new")):
            await page.goto(path)
            await page.wait_for_timeout(300)
            shot = tmp_path / f"{name}-{viewport_name}-{scheme}.png"
            await page.screenshot(path=str(shot), full_page=viewport_name == "phone")
            assert shot.stat().st_size > 5_000
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, viewport_name, width)
        await context.close()
    made = ("staging Prometheus", "edge Prometheus", "batch Prometheus", "lab Prometheus")  # names are unique
    for (viewport_name, viewport, dark), made_name in zip(shots, made, strict=True):  # after the list's shots
        context = await _context(browser, site, viewport=viewport, dark=dark, cookie=cookie)
        page = await context.new_page()
        scheme = "dark" if dark else "light"
        await _create(page, "alertmanager", made_name)
        shot = tmp_path / f"integration-key-{viewport_name}-{scheme}.png"
        await page.screenshot(path=str(shot), full_page=viewport_name == "phone")
        await context.close()
    if kept := os.environ.get("ONCALL_UI_SCREENSHOTS"):
        _keep(tmp_path, Path(kept))
