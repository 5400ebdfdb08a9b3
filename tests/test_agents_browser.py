"""Shopper widget and agent dashboard in two Chromium contexts: flag -> takeover -> live messages
both ways -> hand back -> the bot answers again. Screenshots go to test-artifacts/agents/."""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.agents import add_agent
from bot.db import Database
from bot.shopper_socket import ChatLimits
from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine
from tests.test_widget_browser import ARGS, CHROMIUM, W

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "agents"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


async def test_flag_takeover_both_ways_and_hand_back(shopbot_home, running_server) -> None:
    from playwright.async_api import async_playwright

    db = Database(shopbot_home.database_url)
    await add_agent(db, "Alex", "alex-password")
    await db.dispose()
    limits = ChatLimits()
    settings = dataclasses.replace(shopbot_home, agent_wait_s=2)  # the storefront's widget waits 2 s for an agent
    server = running_server(lambda: create_app(settings, engine=ScriptedEngine(delay=0.02), moderator=AllowAll(), limits=limits))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        shopper_ctx, agent_ctx = await browser.new_context(), await browser.new_context()
        shopper, agent = await shopper_ctx.new_page(), await agent_ctx.new_page()
        errors: list[str] = []
        for page in (shopper, agent):
            page.on("pageerror", lambda exc: errors.append(str(exc)))

        # The shopper asks for a person: the conversation is flagged and waits.
        await shopper.goto(server.base_url + "/")
        await shopper.click(f"{W} .launcher")
        await shopper.locator(f"{W} textarea").fill("human please")
        await shopper.keyboard.press("Enter")
        await shopper.locator(f"{W} .note", has_text="Waiting for an agent").wait_for()
        # Nobody joined within the set time: the widget offers to continue with the assistant.
        await shopper.locator(f"{W} .quick button", has_text="Continue with the assistant").wait_for(timeout=10_000)
        await shopper.screenshot(path=str(ARTIFACTS / "1-shopper-waiting.png"))

        # The agent logs in, sees the flagged chat in the queue and takes it over.
        await agent.goto(server.base_url + "/agent")
        await agent.fill("#name", "Alex")
        await agent.fill("#password", "alex-password")
        await agent.click("#login button")
        entry = agent.locator(".entry", has_text="shopper asked for a person")
        await entry.wait_for()
        assert "en · English" in await entry.text_content()  # the shopper's language
        await entry.click()
        await agent.locator("#transcript .msg.shopper", has_text="human please").wait_for()
        assert await agent.locator("#detail-language").text_content() == "en · English"
        await agent.click("#takeover")
        await shopper.locator(f"{W} .note", has_text="Alex joined").wait_for()
        await agent.screenshot(path=str(ARTIFACTS / "2-agent-took-over.png"))

        # Live messages both ways.
        await agent.fill("#reply", "Hi, I'm Alex. How can I help?")
        await agent.click("#send")
        await shopper.locator(f"{W} .agent", has_text="How can I help?").wait_for()
        await shopper.locator(f"{W} textarea").fill("my order arrived broken")
        await shopper.keyboard.press("Enter")
        await agent.locator("#transcript .msg.shopper", has_text="my order arrived broken").wait_for()
        await asyncio.sleep(0.5)
        assert await shopper.locator(f"{W} .msg.bot", has_text="my order arrived broken").count() == 0  # the bot stayed silent
        await shopper.screenshot(path=str(ARTIFACTS / "3-shopper-with-agent.png"))

        # Hand back: the assistant answers again.
        await agent.click("#release")
        await shopper.locator(f"{W} .note", has_text="Back with the assistant").wait_for()
        await shopper.locator(f"{W} textarea").fill("thanks, one more thing")
        await shopper.keyboard.press("Enter")
        await shopper.locator(f"{W} .msg.bot", has_text="You said: thanks, one more thing").wait_for()
        await shopper.screenshot(path=str(ARTIFACTS / "4-back-with-assistant.png"))
        await agent.screenshot(path=str(ARTIFACTS / "5-agent-after-hand-back.png"))
        assert not errors, errors
        await browser.close()
