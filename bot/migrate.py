"""Schema migrations (Alembic), run programmatically: `shopbot migrate` or at server start.

Each feature adds its own revision off the store's base revision; `upgrade` goes to every head,
so features land independently without rewriting one another's migrations.
"""
from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from bot.db import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Modules that define tables; imported so that `Base.metadata` knows every table.
MODEL_MODULES = ("bot.store.models", "bot.agents", "bot.handoff_store", "retrieval.models", "bot.sessions", "bot.events")


def all_metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema. Safe to run repeatedly."""
    command.upgrade(alembic_config(url), "heads")


async def upgrade_async(url: str) -> None:
    """`upgrade` from inside a running event loop (Alembic's env runs its own loop)."""
    await asyncio.to_thread(upgrade, url)
