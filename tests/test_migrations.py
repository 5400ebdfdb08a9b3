"""The Alembic migrations build exactly the schema the models declare, on both databases."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import bot.agents  # noqa: F401  (each module registers its tables on Base.metadata)
import bot.events  # noqa: F401
import bot.handoff_store  # noqa: F401
import bot.sessions  # noqa: F401
import bot.store.models  # noqa: F401
from bot.db import Base, Database
from bot.migrate import upgrade_async
from tests.store_helpers import fresh_postgres_database, postgres_url  # noqa: F401 (fixture)


@pytest.fixture(params=["sqlite", "postgres"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    else:
        url = await fresh_postgres_database(request.getfixturevalue("postgres_url"))
    await upgrade_async(url)
    database = Database(url)
    yield database
    await database.dispose()


async def test_migrations_match_the_models(migrated: Database) -> None:
    async with migrated.engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
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
