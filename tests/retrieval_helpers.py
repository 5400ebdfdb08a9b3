"""Shared set-up for the retrieval tests: a migrated SQLite store and a built index in tmp dirs."""
from __future__ import annotations

import asyncio
from pathlib import Path

from bot.db import Database
from bot.migrate import upgrade_async
from bot.settings import Settings
from bot.store.generate import generate_store
from bot.store.load import load_store


def settings_for(home: Path, database_url: str | None = None) -> Settings:
    """Settings for `home`; its database is `database_url` (default: a SQLite file in `home`)."""
    url = database_url or f"sqlite+aiosqlite:///{home / 'shopbot.db'}"
    return Settings.from_env(home=home, database_url=url, data_dir=None)


async def demo_home(home: Path, n_users: int = 60) -> Settings:
    """A store holding the generated demo catalog and orders, with its index built (no public data)."""
    from retrieval.service import build_catalog_index

    settings = settings_for(home)
    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        await load_store(db, generate_store(seed=7, n_users=n_users), "demo")
        await build_catalog_index(settings, db, public=False, progress=False)
    finally:
        await db.dispose()
    return settings


def build_demo_home(home: Path) -> Settings:
    return asyncio.run(demo_home(home))
