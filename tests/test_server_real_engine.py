"""The server with the real default engine (`bot.engine.load_engine`), end to end over a socket.

Slow: trains a small default engine on the demo store first (tests/conftest.py, `trained_engine_home`).
"""
from __future__ import annotations

import pytest

from bot.settings import Settings
from server import create_app
from tests.test_protocol_ws import Client
from tests.test_server_app import load_demo

pytestmark = pytest.mark.slow


@pytest.fixture()
def trained_home(trained_engine_home: Settings) -> Settings:
    return trained_engine_home


async def test_real_engine_answers_over_the_socket(trained_home: Settings, running_server) -> None:
    from policies.moderation import ShopModerator

    await load_demo(trained_home)
    # The default engine, loaded in the lifespan; moderation rules only (the classifier's model
    # load is tested in the moderation suite and would dominate this test's time).
    server = running_server(lambda: create_app(trained_home, moderator=ShopModerator(None)))
    assert server.app.state.engine.__class__.__name__ == "ShopEngine"
    client = await Client.connect(server.ws_url)
    await client.start()
    for text in ("Hi! I want to return something from my last order.", "my email is nobody@example.com"):
        frames = await client.turn(text)
        types = [f["type"] for f in frames]
        assert types[0] == "user_uttered" and types[1] == "status" and frames[1]["state"] == "thinking"
        assert types[-1] == "status" and frames[-1]["state"] == "idle"
        assert "error" not in types, frames
        reply = next(f for f in frames if f["type"] == "bot_uttered")
        assert reply["text"].strip()
        assert reply["text"] == "".join(f["text"] for f in frames if f["type"] == "bot_delta")
        seqs = [f["seq"] for f in frames]
        assert seqs == sorted(set(seqs))
    await client.close()


async def test_product_search_reaches_the_shopper_with_cards(trained_home: Settings, running_server) -> None:
    """Engine, product tools and catalog index together: a product question gets product cards."""
    from bot.db import Database
    from policies.moderation import ShopModerator
    from retrieval.service import build_catalog_index

    await load_demo(trained_home)
    db = Database(trained_home.database_url)
    await build_catalog_index(trained_home, db)
    await db.dispose()
    server = running_server(lambda: create_app(trained_home, moderator=ShopModerator(None)))
    client = await Client.connect(server.ws_url)
    await client.start()
    frames = await client.turn("do you have a bluetooth speaker?")
    assert any(f["type"] == "status" and f.get("tool") == "search_products" for f in frames), frames
    reply = next(f for f in frames if f["type"] == "bot_uttered")
    names = [card["name"] for card in reply["cards"]]
    assert "Bluetooth Speaker" in names, reply
    assert all(card["id"] and card["price"] is not None for card in reply["cards"])
    await client.close()
