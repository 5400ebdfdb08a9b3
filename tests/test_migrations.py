"""The Alembic migrations build exactly the schema the models declare, on both databases, and
several processes may upgrade one database at once (every worker upgrades at start)."""
from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import Database
from bot.migrate import all_metadata, upgrade_async
from tests.store_helpers import fresh_postgres_database, postgres_url  # noqa: F401 (fixture)


async def _empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    return await fresh_postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return await _empty_database(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path):
    url = await _empty_database(request, tmp_path)
    await upgrade_async(url)
    database = Database(url)
    yield database
    await database.dispose()


async def test_migrations_match_the_models(migrated: Database) -> None:
    async with migrated.engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), all_metadata()))
    assert diff == [], f"the migrations and the models disagree: {diff}"


async def test_store_products_by_source_use_an_index(migrated: Database) -> None:
    """list_all_product_types reads the store's own products on every call: not a full scan."""
    if not migrated.url.startswith("sqlite"):
        pytest.skip("the query plan checked here is SQLite's")
    async with migrated.engine.connect() as conn:
        plan = (await conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT name, product_id FROM store_products WHERE source = 'demo' ORDER BY position, product_id"
        )).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_store_products_source" in details and "SCAN store_products" not in details, details


def _upgrade_in_a_process(url: str) -> None:
    from bot.migrate import upgrade

    upgrade(url)


async def test_workers_upgrading_together_all_succeed(empty_url: str) -> None:
    """Four processes upgrade one empty database at the same moment (as `--workers 4` does on a
    new release): every one succeeds and the schema is complete once."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        await asyncio.to_thread(pool.map, _upgrade_in_a_process, [empty_url] * 4)
    database = Database(empty_url)
    try:
        async with database.engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), all_metadata()))
            heads = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version ORDER BY version_num")).scalars().all()
    finally:
        await database.dispose()
    assert diff == []
    assert len(heads) == len(set(heads)) and "0005_store_source_index" in heads
