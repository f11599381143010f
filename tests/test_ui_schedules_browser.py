"""The schedule page in a real headless Chromium (Debian's ``chromium`` driven by Playwright, as in
``test_ui_browser.py``, whose browser fixture this module reuses: one launch for the module).

Proves: a responder fills the page's override form and, after the redirect, the final lane of
the server-drawn timeline shows the person they put on call (and the table lists them). It
also takes the README's schedule screenshots (desktop 1280×900 and phone 360×740, light and
dark); ``ONCALL_UI_SCREENSHOTS=DIR`` keeps them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from fixtures.ui import session_cookie
from test_ui_browser import DESKTOP, PHONE, _context, _keep, browser

from oncall.alerting.v1 import schedules_pb2 as pb
from oncall.alerting.v1 import schedules_pb2_grpc

from conftest import RunningServer, _truncate_all, run_server, server_settings
from test_ui_schedules import ts

__all__ = ["browser"]  # the module-scoped fixture, imported to be used here

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

BERLIN = ZoneInfo("Europe/Berlin")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(migrated_url: str) -> AsyncIterator[RunningServer]:
    _truncate_all(migrated_url)
    async with run_server(server_settings(migrated_url)) as server:
        yield server


async def _schedule(site: RunningServer) -> pb.Schedule:
    """A Berlin schedule with a weekly primary rotation and a weekday business-hours layer above it."""
    monday = datetime.now(BERLIN).replace(hour=9, minute=0, second=0, microsecond=0)
    monday -= timedelta(days=monday.weekday() + 7)
    async with site.channel() as channel:
        stub = schedules_pb2_grpc.ScheduleServiceStub(channel)
        schedule = (await stub.CreateSchedule(pb.CreateScheduleRequest(
            name="Payments primary", time_zone="Europe/Berlin", description="Pages for the payments API.",
            layers=[
                pb.Layer(name="weekly", participants=["alice.martin", "bob", "chandrasekhar.ramanujan"],
                         handoff="09:00", start=ts(monday), shift_length=pb.ShiftLength(count=1, unit=pb.SHIFT_UNIT_WEEK)),
                pb.Layer(name="business hours", participants=["dana", "erik"], handoff="09:00", start=ts(monday),
                         shift_length=pb.ShiftLength(count=1, unit=pb.SHIFT_UNIT_DAY),
                         restrictions=[pb.WeeklyWindow(start_day=d, start_time="09:00", end_day=d, end_time="17:00")
                                       for d in range(1, 6)]),
            ]))).schedule
        soon = datetime.now(BERLIN).replace(minute=0, second=0, microsecond=0) + timedelta(days=2, hours=1)
        await stub.AddOverride(pb.AddOverrideRequest(schedule_id=schedule.id, add_user_id="frank",
                                                     remove_user_id="bob", start=ts(soon),
                                                     end=ts(soon + timedelta(hours=20))))
    return schedule


async def test_add_an_override_from_the_form_and_the_final_lane_shows_it(
    browser: Any, site: RunningServer, tmp_path: Path,
) -> None:
    schedule = await _schedule(site)
    cookie = await session_cookie(site, "ann", "responder")
    context = await _context(browser, site, viewport=DESKTOP, cookie=cookie)
    page = await context.new_page()
    await page.goto(f"/schedules/{schedule.id}?tz=UTC")
    final = page.locator(".sched-wide g.sched-final")
    assert "zed" not in await final.inner_html()
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    await page.fill("#add_user_id", "zed")
    await page.fill("#start", f"{day}T06:00")
    await page.fill("#end", f"{day}T18:00")
    await page.click("text=Add override")
    await page.wait_for_url("**done=override-added")
    assert await page.locator(".message.ok").inner_text() == "Override added."
    # SVG elements have no innerText: their textContent
    titles = await final.locator("g.sched-bar > title").evaluate_all("ts => ts.map(t => t.textContent)")
    assert any(t.startswith(f"zed: {day:%a %Y-%m-%d} 06:00 – {day:%a %Y-%m-%d} 18:00") for t in titles), titles
    assert "zed" in await final.locator("g.sched-bar > text").evaluate_all("ts => ts.map(t => t.textContent)")
    assert await page.locator("td:text-is('zed')").count() == 1
    await context.close()

    kept = os.environ.get("ONCALL_UI_SCREENSHOTS")
    widths: dict[str, tuple[int, int]] = {}
    for viewport_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for dark in (False, True):
            context = await _context(browser, site, viewport=viewport, dark=dark, cookie=cookie)
            page = await context.new_page()
            await page.goto(f"/schedules/{schedule.id}")
            shot = tmp_path / f"schedule-{viewport_name}-{'dark' if dark else 'light'}.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5_000
            width = await page.evaluate("document.documentElement.scrollWidth")
            widths[f"{viewport_name}-{dark}"] = (width, viewport["width"])
            shown = "sched-narrow" if viewport_name == "phone" else "sched-wide"
            assert await page.locator(f"svg.{shown}").is_visible()
            assert await page.locator("svg.sched-svg:visible").count() == 1
            if viewport_name == "desktop" and not dark:
                await page.goto("/schedules")
                await page.screenshot(path=str(tmp_path / "schedule-list-desktop-light.png"))
                await page.goto(f"/schedules/{schedule.id}?weeks=4&tz=America/New_York")
                await page.screenshot(path=str(tmp_path / "schedule-4-weeks-desktop-light.png"))
            await context.close()
    if kept:
        _keep(tmp_path, Path(kept))
    # each page fits its screen's width: nothing scrolls sideways
    assert all(width <= screen for width, screen in widths.values()), widths
