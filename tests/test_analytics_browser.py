"""The dashboard's Analytics view in Chromium, on data seeded through the real server (see
tests/test_analytics.py): the tiles show the endpoint's numbers and the SVG charts draw bars and
lines. Screenshots (desktop and phone width) go to test-artifacts/agents/."""
from __future__ import annotations

import pytest

from tests.test_agents_browser import ARTIFACTS
from tests.test_analytics import make_app, seed
from tests.test_widget_browser import ARGS, CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


async def test_analytics_view(shopbot_home, running_server) -> None:
    from playwright.async_api import async_playwright

    server = running_server(lambda: make_app(shopbot_home))
    await seed(server.base_url, shopbot_home)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 1000})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        outside: list[str] = []
        page.on("request", lambda req: None if f"127.0.0.1:{server.port}/" in req.url else outside.append(req.url))

        await page.goto(server.base_url + "/agent")
        await page.fill("#name", "Alex")
        await page.fill("#password", "alex-password")
        await page.click("#login button")
        await page.click("#tab-analytics")
        await page.locator("#tile-conversations .value", has_text="3").wait_for()
        assert await page.locator("#tile-contained .value").inner_text() == "66.7%"
        assert await page.locator("#tile-contained .sub").inner_text() == "2 of 3"
        assert await page.locator("#tile-handoff-rate .value").inner_text() == "33.3%"
        assert await page.locator("#tile-handoff-rate .sub").inner_text() == "1 handed off"
        assert await page.locator("#tab-analytics").get_attribute("aria-current") == "page"
        assert not await page.locator("#app").is_visible()

        # Bars: two tools (the failing one with its error bar), one moderation action, one reason.
        tools = page.locator("#chart-tools svg[role=img] g.bar")
        assert await tools.count() == 2
        assert "get_order_details" in await tools.nth(0).inner_html() and "1 call, 1 error" in await tools.nth(0).inner_html()
        assert await page.locator("#chart-tools svg g.bar rect").count() == 3  # calls, calls, errors
        assert await page.locator("#chart-moderation svg g.bar", has_text="block").count() == 1
        assert await page.locator("#chart-reasons svg g.bar", has_text="shopper asked for a person").count() == 1
        # Columns and lines over time, each with an accessible title.
        assert await page.locator("#chart-handoffs svg rect.bar").count() == 2  # requested + taken over
        assert await page.locator("#chart-turns svg rect.bar").count() >= 1
        assert await page.locator("#chart-latency svg circle.point").count() >= 2  # p50 and p95 of the busy bucket
        for chart in ("latency", "handoffs", "tools", "moderation", "reasons", "turns"):
            title = await page.locator(f"#chart-{chart} svg > title").text_content()
            assert title, chart
        box = await page.locator("#chart-tools svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 40
        await page.screenshot(path=str(ARTIFACTS / "6-analytics.png"), full_page=True)

        # Hourly buckets, then a phone-sized screen: nothing wider than the viewport.
        await page.select_option("#an-bucket", "hour")
        await page.locator("#chart-latency svg circle.point").first.wait_for()
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.reload()
        await page.locator("#tile-conversations .value", has_text="3").wait_for()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=str(ARTIFACTS / "7-analytics-phone.png"), full_page=True)
        assert not errors, errors
        assert not outside, outside
        await browser.close()
