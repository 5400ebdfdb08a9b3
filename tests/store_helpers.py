"""Helpers for tests that need a store database (a real SQLite file, migrated by Alembic)."""
from __future__ import annotations

from pathlib import Path

from bot.db import Database
from bot.migrate import upgrade_async
from bot.store.data import StoreData
from bot.store.load import load_store
from bot.settings import REPO_ROOT, _default_data_dir


def data_dir_or_none() -> Path | None:
    return _default_data_dir()


def tau_bench_dir() -> Path | None:
    base = data_dir_or_none()
    if base is None or not (base / "tau-bench-retail" / "users.json").is_file():
        return None
    return base / "tau-bench-retail"


async def make_store_db(path: Path, data: StoreData, source: str = "demo") -> Database:
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    db = Database(url)
    await load_store(db, data, source)
    return db


async def checkpoint(db: Database) -> None:
    """Fold the WAL into the main file so the file can be copied as a whole."""
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


__all__ = ["REPO_ROOT", "data_dir_or_none", "tau_bench_dir", "make_store_db", "checkpoint"]
