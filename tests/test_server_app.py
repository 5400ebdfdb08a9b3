"""The app's HTTP side: storefront from the store DB, widget caching, health, OpenAPI, wiring."""
from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

from bot.db import Database
from bot.settings import Settings
from bot.store.generate import generate_store
from bot.store.load import load_store
from policies.moderation_api import AllowAll
from server import WIDGET_DIR, create_app
from tests.scripted_engine import ScriptedEngine


async def load_demo(settings: Settings) -> dict:
    data = generate_store(3, 5)
    db = Database(settings.database_url)
    await load_store(db, data, "demo")
    await db.dispose()
    return data.products


async def test_storefront_lists_catalog_products_with_widget(shopbot_home, running_server) -> None:
    products = await load_demo(shopbot_home)
    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll()))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        page = (await http.get("/")).text
    assert '<script src="/widget.js"' in page
    shown = [p for p in products.values() if p["name"] in page]
    assert len(shown) >= min(len(products), 10)
    assert page.count('class="product"') == min(len(products), 24)
    assert "from $" in page


async def test_empty_catalog_says_how_to_fill_it(shopbot_home, running_server) -> None:
    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll()))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert "shopbot init" in (await http.get("/")).text


async def test_widget_is_small_and_cached(shopbot_home, running_server) -> None:
    body = (WIDGET_DIR / "widget.js").read_bytes()
    assert len(gzip.compress(body, 9)) <= 30 * 1024
    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll()))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        first = await http.get("/widget.js")
        assert first.status_code == 200 and first.content == body
        assert first.headers["content-type"].startswith("application/javascript")
        assert "max-age" in first.headers["cache-control"] and first.headers["etag"]
        again = await http.get("/widget.js", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        head = await http.head("/widget.js")
        assert head.status_code == 200 and head.headers["etag"] == first.headers["etag"]
        changed = await http.get("/widget.js", headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200


async def test_health_openapi_metrics(shopbot_home, running_server) -> None:
    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll()))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        health = (await http.get("/healthz")).json()
        assert health == {"status": "ok", "engine": "ScriptedEngine", "moderation": "off"}
        spec = (await http.get("/openapi.json")).json()
        assert "/api/sessions/{session_id}/events" in spec["paths"] and "/healthz" in spec["paths"]
        assert (await http.get("/docs")).status_code == 200
        assert "shopbot_turns_total" in (await http.get("/metrics")).text


def test_import_has_no_side_effects() -> None:
    import importlib

    import server

    importlib.reload(server)  # no database, model or env read at import
    assert callable(server.app) and callable(server.create_app)


async def test_default_engine_is_loaded_in_the_lifespan(shopbot_home, running_server) -> None:
    # No trained model in this home: the server still starts, says so in /healthz, and answers
    # turns with engine_unavailable instead of crashing.
    server = running_server(lambda: create_app(shopbot_home, moderator=AllowAll()))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).json()["engine"] == "NotReadyEngine"


def test_serve_command_registered() -> None:
    from bot.cli import build_parser

    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--workers", "2"])
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 9000, 2) and callable(args.func)


async def test_migration_creates_conversation_tables(shopbot_home: Settings) -> None:
    from sqlalchemy import inspect

    from bot.db import Database

    db = Database(shopbot_home.database_url)
    try:
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await db.dispose()
    assert {"conversations", "conversation_events"} <= tables


def test_asyncapi_lists_every_error_code_and_frame() -> None:
    import yaml

    from bot.protocol import ERRORS

    spec = yaml.safe_load((Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml").read_text())
    codes = spec["components"]["messages"]["error"]["payload"]["properties"]["code"]["enum"]
    assert set(codes) == set(ERRORS)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
    assert all(f"`{code}`" in doc for code in ERRORS)
