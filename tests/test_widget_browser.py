"""The widget in a real browser (Debian's Chromium through Playwright) against a running server.

Screenshots go to test-artifacts/widget/. Skipped when /usr/bin/chromium is absent.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine
from tests.test_server_app import load_demo

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "widget"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

W = "#shopbot-widget"  # Playwright's CSS engine pierces the (open) shadow root


async def bot_texts(page) -> list[str]:
    return await page.locator(f"{W} .msg.bot").all_text_contents()


async def test_widget_streams_cards_history_and_reconnect(shopbot_home, running_server) -> None:
    from playwright.async_api import async_playwright

    await load_demo(shopbot_home)
    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(delay=0.06), moderator=AllowAll()))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(server.base_url + "/")
        assert await page.locator("li.product").count() > 0
        await page.click(f"{W} .launcher")
        await page.locator(f"{W} textarea").fill("Do you have a lamp for my desk?")
        await page.keyboard.press("Enter")

        # Tokens appear as they stream: a partial reply is visible before the full one.
        final = "You said: Do you have a lamp for my desk?"
        partials: set[str] = set()
        statuses: set[str] = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            texts = await bot_texts(page)
            statuses.add(await page.locator(f"{W} .status").text_content() or "")
            if texts:
                partials.add(texts[-1])
                if texts[-1] == final:
                    break
            await asyncio.sleep(0.02)
        assert final in partials and any(p and p != final and final.startswith(p) for p in partials), partials
        assert "Searching products..." in statuses
        cards = page.locator(f"{W} .card")
        await cards.first.wait_for()
        assert await cards.count() == 2
        assert "Brass Desk Lamp" in await cards.first.text_content() and "$49.50" in await cards.first.text_content()
        assert await page.locator(f"{W} .quick button").count() == 2
        await page.screenshot(path=str(ARTIFACTS / "1-streamed-reply-with-cards.png"))

        # "Tell me more" sends a follow-up with the product as payload.
        await page.locator(f"{W} .card button").first.click()
        await page.wait_for_function(
            "() => [...document.querySelector('#shopbot-widget').shadowRoot.querySelectorAll('.msg.bot')]"
            ".some(e => e.textContent.includes('(choice product:lamp-1)'))"
        )

        # Reload: the history comes back (session id in localStorage, events from the server).
        await page.reload()
        await page.click(f"{W} .launcher")
        await page.wait_for_function(
            "() => document.querySelector('#shopbot-widget').shadowRoot.querySelectorAll('.msg.bot').length >= 2"
        )
        assert (await bot_texts(page))[0] == final
        assert await page.locator(f"{W} .msg.user").count() == 2
        assert await page.locator(f"{W} .card").count() == 4
        await page.screenshot(path=str(ARTIFACTS / "2-history-after-reload.png"))

        # Restart the server: the widget reconnects by itself and the conversation continues.
        await asyncio.to_thread(server.restart)
        await page.locator(f"{W} textarea").fill("still there after the restart?")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "() => [...document.querySelector('#shopbot-widget').shadowRoot.querySelectorAll('.msg.bot')]"
            ".some(e => e.textContent === 'You said: still there after the restart?')",
            timeout=30000,
        )
        assert await page.locator(f"{W} .msg.user").count() == 3  # nothing duplicated by the resend
        await page.screenshot(path=str(ARTIFACTS / "3-after-server-restart.png"))

        # Keyboard: Escape closes, the launcher gets focus back; phone-sized layout fills the screen.
        await page.keyboard.press("Escape")
        assert await page.locator(f"{W} .panel").is_hidden()
        phone = await browser.new_page(viewport={"width": 375, "height": 667}, is_mobile=True)
        await phone.goto(server.base_url + "/")
        await phone.click(f"{W} .launcher")
        box = await phone.locator(f"{W} .panel").bounding_box()
        assert box is not None and box["width"] == 375
        await phone.screenshot(path=str(ARTIFACTS / "4-phone-layout.png"))
        assert not errors, errors
        await browser.close()


async def test_widget_stays_closed_after_idle_timeout_until_the_shopper_acts(shopbot_home, running_server) -> None:
    from playwright.async_api import async_playwright

    from bot.shopper_socket import ChatLimits

    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll(), limits=ChatLimits(idle_timeout_s=1.0)))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page()
        sockets: list[object] = []
        page.on("websocket", lambda ws: sockets.append(ws))
        await page.goto(server.base_url + "/")
        await page.click(f"{W} .launcher")
        await asyncio.sleep(3.5)  # the server closes the idle socket after 1 s
        assert len(sockets) == 1  # ... and the widget does not reconnect on its own
        await page.locator(f"{W} textarea").fill("hello again")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "() => [...document.querySelector('#shopbot-widget').shadowRoot.querySelectorAll('.msg.bot')]"
            ".some(e => e.textContent === 'You said: hello again')"
        )
        assert len(sockets) == 2
        await browser.close()
