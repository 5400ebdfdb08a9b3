"""The server with the real default engine (`bot.engine.load_engine`), end to end over a socket.

Slow: trains a small engine with `shopbot train --quick` first (a minute or two on 2 cores).
"""
from __future__ import annotations

import argparse
import shutil

import pytest

from bot.settings import Settings
from server import create_app
from tests.test_protocol_ws import Client
from tests.test_server_app import load_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory, migrated_template) -> Settings:
    from bot.commands import train

    home = tmp_path_factory.mktemp("trained")
    shutil.copy(migrated_template, home / "shopbot.db")
    settings = Settings.from_env(home=home, database_url=f"sqlite+aiosqlite:///{home / 'shopbot.db'}", data_dir=None)
    parser = argparse.ArgumentParser()
    train.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--quick"])
    assert args.func(args, settings) == 0
    return settings


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
