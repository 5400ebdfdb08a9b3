"""Schema migrations (Alembic), run programmatically: `shopbot migrate` or at server start.

Each feature adds its own revision off the store's base revision; `upgrade` goes to every head,
so features land independently without rewriting one another's migrations.
"""
from __future__ import annotations

import asyncio
import fcntl
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

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


# Any number, the same in every process: PostgreSQL's advisory lock that one upgrade at a time holds.
PG_MIGRATION_LOCK = 7_300_001


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema. Safe to run repeatedly, and from several
    processes at once (each worker upgrades at start): one upgrades, the others wait for it and
    then find nothing left to do. On PostgreSQL the migration's transaction takes an advisory lock
    first (bot/migrations/env.py); on a SQLite file a `flock` on `<database>-migrate-lock` does."""
    with _sqlite_migration_lock(url):
        command.upgrade(alembic_config(url), "heads")


@contextmanager
def _sqlite_migration_lock(url: str) -> Iterator[None]:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        yield
        return
    fd = os.open(f"{parsed.database}-migrate-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


async def upgrade_async(url: str) -> None:
    """`upgrade` from inside a running event loop (Alembic's env runs its own loop)."""
    await asyncio.to_thread(upgrade, url)
