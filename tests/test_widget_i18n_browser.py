"""The widget in other languages, in a real browser (Debian's Chromium through Playwright): its own
words follow the page's `lang` or `data-lang`; Chinese typed through an IME composition is not
sent by the Enter that confirms a candidate, and is sent by the Enter after it. The screenshot of
the Chinese widget goes to test-artifacts/widget/ (docs/widget_zh.png is a copy of it)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot import engine_replies as R
from bot.turns import ConversationState, ReplyEvent, StatusEvent, TurnEvent
from policies.moderation_api import AllowAll
from server import create_app
from tests.test_widget_browser import ARGS, ARTIFACTS, CHROMIUM, W

# A page served through `page.route` counts as not local to Chromium, which then refuses its
# socket to 127.0.0.1 (local network access checks): off for these tests.
BROWSER_ARGS = [*ARGS, "--disable-features=LocalNetworkAccessChecks"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]

HITS = [
    {"product_id": "speaker-1", "name": "Bluetooth Speaker", "price": 129.0},
    {"product_id": "speaker-2", "name": "Waterproof Mini Speaker", "price": 59.99},
]


class SearchEngine:
    """Answers every message with two speakers, in the language the server decided."""

    async def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        yield StatusEvent("thinking")
        cards = [{"id": h["product_id"], "name": h["name"], "price": h["price"], "image": None, "options": {}} for h in HITS]
        yield ReplyEvent(R.search_results(HITS, lang=state.language), cards=cards, quick_replies=R.yes_no(lang=state.language))
        yield StatusEvent("idle")


async def open_page(browser, base_url: str, old: str, new: str):
    """The storefront with `old` replaced by `new` in its HTML (the page's lang, the widget's tag)."""
    page = await browser.new_page(viewport={"width": 1000, "height": 760})

    async def rewrite(route) -> None:
        response = await route.fetch()
        await route.fulfill(response=response, body=(await response.text()).replace(old, new))

    await page.route(base_url + "/", rewrite)
    await page.goto(base_url + "/")
    return page


async def ime_enter(cdp) -> None:
    """Enter pressed while the IME composes: the key goes to the IME (Windows' VK_PROCESS, 229)."""
    await cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 229})
    await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 229})


async def sent_messages(page) -> list[str]:
    return await page.locator(f"{W} .msg.user").all_text_contents()


async def test_chinese_through_an_ime_composition(shopbot_home, running_server) -> None:
    from playwright.async_api import async_playwright

    server = running_server(lambda: create_app(shopbot_home, engine=SearchEngine(), moderator=AllowAll()))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = await open_page(browser, server.base_url, '<html lang="en">', '<html lang="zh-CN">')
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.click(f"{W} .launcher")
        textarea = page.locator(f"{W} textarea")
        assert await textarea.get_attribute("placeholder") == "咨询商品或您的订单……"
        assert await page.locator(f"{W} form button").text_content() == "发送"
        assert await page.evaluate("window.__shopbotWidget.lang") == "zh-CN"
        await textarea.focus()

        # Pinyin being composed; Enter confirms a candidate inside the IME (Chromium reports that
        # keydown with isComposing and keyCode 229): nothing is sent.
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Input.imeSetComposition", {"text": "woxiangmai", "selectionStart": 10, "selectionEnd": 10})
        assert await textarea.input_value() == "woxiangmai"
        await ime_enter(cdp)
        await cdp.send("Input.imeSetComposition", {"text": "我想买", "selectionStart": 3, "selectionEnd": 3})
        await ime_enter(cdp)
        # Other browsers' orders: Safari ends the composition first, then sends a keydown with
        # keyCode 229; Firefox marks it isComposing with keyCode 13. Neither is a send.
        for init in ("{key: 'Enter', keyCode: 229, bubbles: true}", "{key: 'Enter', keyCode: 13, isComposing: true, bubbles: true}"):
            await page.evaluate(
                "() => document.querySelector('#shopbot-widget').shadowRoot.querySelector('textarea')"
                f".dispatchEvent(new KeyboardEvent('keydown', {init}))"
            )
        await asyncio.sleep(0.4)
        assert await sent_messages(page) == []
        # The candidate is committed; the next Enter sends the whole message.
        await cdp.send("Input.insertText", {"text": "我想买一个蓝牙音箱"})
        assert await textarea.input_value() == "我想买一个蓝牙音箱"
        await page.keyboard.press("Enter")
        reply = R.search_results(HITS, lang="zh-CN")
        await page.locator(f"{W} .msg.bot", has_text=reply).wait_for()
        assert await sent_messages(page) == ["我想买一个蓝牙音箱"]
        assert await page.locator(f"{W} .card button").first.text_content() == "了解详情"
        assert await page.locator(f"{W} .quick button").all_text_contents() == ["是", "否"]
        assert await page.locator(f"{W} .panel").get_attribute("lang") == "zh-CN"
        # CJK text wraps inside the bubble: no bubble is wider than the chat log.
        widths = await page.evaluate(
            "() => { const r = document.querySelector('#shopbot-widget').shadowRoot;"
            " const log = r.querySelector('.log').getBoundingClientRect().width;"
            " return [...r.querySelectorAll('.msg')].map(m => m.getBoundingClientRect().width <= log) }"
        )
        assert widths and all(widths)
        await page.screenshot(path=str(ARTIFACTS / "zh-CN-widget.png"))
        assert not errors, errors
        await browser.close()


@pytest.mark.parametrize(("tag", "placeholder"), [
    ('data-lang="es"', "Pregunta por productos o por tu pedido..."),
    ('data-lang="ja-JP"', "商品やご注文について質問する…"),
    ('data-lang="pt-BR"', "Pergunte sobre produtos ou seu pedido..."),
    ('data-lang="zh-TW"', "Ask about products or your order..."),  # traditional Chinese: we have no strings, English
    ('data-lang="ko"', "Ask about products or your order..."),
])
async def test_data_lang_picks_the_widgets_words(shopbot_home, running_server, tag: str, placeholder: str) -> None:
    from playwright.async_api import async_playwright

    server = running_server(lambda: create_app(shopbot_home, engine=SearchEngine(), moderator=AllowAll()))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = await open_page(browser, server.base_url, '<script src="/widget.js"', f'<script src="/widget.js" {tag}')
        await page.click(f"{W} .launcher")
        assert await page.locator(f"{W} textarea").get_attribute("placeholder") == placeholder
        await browser.close()
