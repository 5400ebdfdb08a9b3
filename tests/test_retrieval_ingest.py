"""Catalog ingestion: bad rows by line, one transaction per file, idempotent and incremental."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.db import Database
from bot.migrate import upgrade_async
from bot.store.models import Product, Variant
from retrieval.catalog import read_catalog_file
from retrieval.ingest import ingest_file
from tests.databases import is_postgres
from tests.retrieval_helpers import settings_for


def product(pid: str, name: str, price: float = 10.0, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"product_id": pid, "name": name, "brand": "Acme", "category": "Home > Kitchen", "price": price, **extra}


async def make_db(database_url: str) -> Database:
    await upgrade_async(database_url)
    return Database(database_url)


async def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_jsonl_bad_rows_are_reported_by_line_and_skipped(tmp_path: Path, database_url: str) -> None:
    lines = [
        json.dumps(product("p1", "Teapot")),
        "{not json",
        json.dumps({"product_id": "p3", "price": 5}),  # no name
        json.dumps(product("p4", "Mug", price=-2)),
        json.dumps(product("p5", "Kettle", variants=[{"item_id": "k1", "options": {"color": "red"}, "price": "19.5"}])),
        json.dumps(product("p1", "Teapot again")),
    ]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = await make_db(database_url)
    try:
        report = await ingest_file(db, path, source="test")
        assert report.added == 2
        assert [e.line for e in report.errors] == [2, 3, 4, 6]
        assert "invalid JSON" in report.errors[0].message
        assert "name is required" in report.errors[1].message
        assert "price" in report.errors[2].message
        assert "already given on line 1" in report.errors[3].message
        assert await count(db, Product) == 2 and await count(db, Variant) == 2
    finally:
        await db.dispose()


async def test_csv_rows_group_into_products_with_options(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "product_id,name,brand,category,item_id,price,available,option:color,option:size\n"
        "h1,Hoodie,Cozy,Apparel > Tops,h1-a,30,true,red,M\n"
        "h1,Hoodie,Cozy,Apparel > Tops,h1-b,32,false,blue,L\n"
        "h2,Scarf,Cozy,Apparel > Accessories,h2-a,abc,true,grey,\n"
        "h3,Hat,Cozy,Apparel > Accessories,,12,yes,grey,\n",
        encoding="utf-8",
    )
    good, errors = read_catalog_file(path, "test")
    assert [(e.line, "price" in e.message) for e in errors] == [(4, True)]
    hoodie = next(p for _, p in good if p.product_id == "h1")
    assert [(v.item_id, v.options, v.available) for v in hoodie.variants] == [
        ("h1-a", {"color": "red", "size": "M"}, True),
        ("h1-b", {"color": "blue", "size": "L"}, False),
    ]


async def test_json_array_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(
        "[\n" + json.dumps(product("a", "Lamp")) + ",\n" + json.dumps({"product_id": "b", "name": "Rug", "price": "x"}) + "\n]\n",
        encoding="utf-8",
    )
    good, errors = read_catalog_file(path, "test")
    assert [p.product_id for _, p in good] == ["a"]
    assert [e.line for e in errors] == [3]


async def test_a_failing_write_leaves_nothing_of_the_file(tmp_path: Path, database_url: str) -> None:
    db = await make_db(database_url)
    try:
        # A real database refusal in the middle of the file: a trigger rejects one item id.
        if is_postgres(database_url):
            statements = [
                "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN IF NEW.item_id = 'boom' THEN "
                "RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON store_variants FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
            ]
        else:
            statements = [
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON store_variants WHEN NEW.item_id = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ]
        async with db.write() as session:
            for statement in statements:
                await session.execute(text(statement))
        path = tmp_path / "catalog.jsonl"
        rows = [product("ok1", "Cup"), product("bad", "Plate", item_id="boom"), product("ok2", "Bowl")]
        path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        with pytest.raises(Exception, match="refused"):
            await ingest_file(db, path, source="test")
        assert await count(db, Product) == 0 and await count(db, Variant) == 0
    finally:
        await db.dispose()


async def test_reingest_is_idempotent_and_incremental(tmp_path: Path, database_url: str) -> None:
    from retrieval.service import build_catalog_index

    settings = settings_for(tmp_path, database_url)
    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    rows = [product(f"p{i}", name, price=5 + i) for i, name in enumerate(["Teapot", "Mug", "Kettle", "Whisk"])]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    try:
        first = await ingest_file(db, path, source="test")
        built = await build_catalog_index(settings, db, public=False, progress=False)
        assert (first.added, built.embedded) == (4, 4)

        again = await ingest_file(db, path, source="test")
        rebuilt = await build_catalog_index(settings, db, public=False, progress=False)
        assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
        assert (rebuilt.embedded, rebuilt.reused, rebuilt.described) == (0, 4, 0)

        rows[1]["name"] = "Travel Mug"
        path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        changed = await ingest_file(db, path, source="test")
        third = await build_catalog_index(settings, db, public=False, progress=False)
        assert (changed.updated, changed.unchanged) == (1, 3)
        assert (third.embedded, third.reused) == (1, 3)
    finally:
        await db.dispose()
