"""Helpers for tests that need a store database (a real SQLite file, migrated by Alembic)."""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db import Database
from bot.migrate import upgrade_async
from bot.store.data import StoreData
from bot.store.load import load_store
from bot.settings import REPO_ROOT, _default_data_dir
from tests.services import postgres_server


def data_dir_or_none() -> Path | None:
    return _default_data_dir()


def tau_bench_dir() -> Path | None:
    base = data_dir_or_none()
    if base is None or not (base / "tau-bench-retail" / "users.json").is_file():
        return None
    return base / "tau-bench-retail"


async def make_store_db(path: Path | str, data: StoreData, source: str = "demo") -> Database:
    """A migrated store database holding `data`: a SQLite file at `path`, or the database URL `path`."""
    url = path if isinstance(path, str) else f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    db = Database(url)
    await load_store(db, data, source)
    return db


_counter = itertools.count()


async def fresh_postgres_database(server_url: str) -> str:
    """Create an empty database on the test PostgreSQL server; return its URL."""
    import asyncpg

    name = f"t{os.getpid()}_{next(_counter)}"
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL server for the whole test session (tests create databases on it)."""
    with postgres_server() as url:
        yield url


async def checkpoint(db: Database) -> None:
    """Fold the WAL into the main file so the file can be copied as a whole."""
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


__all__ = ["REPO_ROOT", "data_dir_or_none", "tau_bench_dir", "make_store_db", "checkpoint", "postgres_url", "fresh_postgres_database"]
