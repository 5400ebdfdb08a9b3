"""Write catalog products into the store tables, and read the whole catalog back.

One file is one transaction: its good rows go in together or not at all, its bad rows are
reported by line and skipped. A product whose content hash is unchanged is left alone, so a
second import of the same file changes nothing (and re-embeds nothing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from bot.db import Database
from bot.store.models import Product, Variant
from retrieval.catalog import CatalogProduct, CatalogVariant, RowError, read_catalog_file


@dataclass
class IngestReport:
    name: str = ""
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.added + self.updated

    def __str__(self) -> str:
        text = f"{self.name}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, {len(self.errors)} bad rows skipped"
        return text + "".join(f"\n  {self.name} {err}" for err in self.errors)


def _product_row(p: CatalogProduct, position: int, digest: str) -> dict:
    return {
        "product_id": p.product_id,
        "name": p.name,
        "position": position,
        "brand": p.brand,
        "category": p.category,
        "description": p.description,
        "image": p.image,
        "attributes": p.attributes,
        "popularity": p.popularity,
        "source": p.source,
        "content_hash": digest,
    }


def _variant_rows(p: CatalogProduct) -> list[dict]:
    return [
        {"item_id": v.item_id, "product_id": p.product_id, "position": n, "options": v.options, "available": v.available, "price": v.price}
        for n, v in enumerate(p.variants)
    ]


async def ingest_products(db: Database, rows: list[tuple[int, CatalogProduct]], name: str = "catalog") -> IngestReport:
    """Insert new products, update changed ones (by content hash), in one transaction."""
    report = IngestReport(name=name)
    if not rows:
        return report
    async with db.write() as session:
        ids = [p.product_id for _, p in rows]
        existing: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for pid, digest in (await session.execute(select(Product.product_id, Product.content_hash).where(Product.product_id.in_(chunk)))).all():
                existing[pid] = digest
        # An item id already used by a different product would be silently re-parented: refuse it.
        item_owner: dict[str, str] = {}
        item_ids = [v.item_id for _, p in rows for v in p.variants]
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            for iid, pid in (await session.execute(select(Variant.item_id, Variant.product_id).where(Variant.item_id.in_(chunk)))).all():
                item_owner[iid] = pid
        max_position = len(existing)
        new_products, new_variants = [], []
        for line, product in rows:
            clash = next((v.item_id for v in product.variants if item_owner.get(v.item_id, product.product_id) != product.product_id), None)
            if clash is not None:
                report.errors.append(RowError(line, f"item_id {clash} already belongs to product {item_owner[clash]}"))
                continue
            digest = product.content_hash()
            if product.product_id not in existing:
                new_products.append(_product_row(product, max_position + len(new_products), digest))
                new_variants.extend(_variant_rows(product))
                report.added += 1
            elif existing[product.product_id] == digest:
                report.unchanged += 1
            else:
                values = _product_row(product, 0, digest)
                values.pop("position")
                values.pop("product_id")
                await session.execute(update(Product).where(Product.product_id == product.product_id).values(**values))
                await session.execute(delete(Variant).where(Variant.product_id == product.product_id))
                await session.execute(insert(Variant), _variant_rows(product))
                report.updated += 1
        if new_products:
            await session.execute(insert(Product), new_products)
        if new_variants:
            await session.execute(insert(Variant), new_variants)
    return report


async def ingest_file(db: Database, path: Path, source: str = "catalog", fmt: str | None = None) -> IngestReport:
    good, errors = read_catalog_file(path, source, fmt)
    report = await ingest_products(db, good, name=Path(path).name)
    report.errors = sorted(errors + report.errors, key=lambda e: e.line)
    return report


async def load_catalog(db: Database, sources: set[str] | None = None) -> list[CatalogProduct]:
    """Every product in the store with its variants, in a stable order (source, position, id)."""
    async with db.read() as session:
        stmt = select(Product).order_by(Product.source, Product.position, Product.product_id)
        if sources:
            stmt = stmt.where(Product.source.in_(sorted(sources)))
        products = list((await session.execute(stmt)).scalars())
        variants: dict[str, list[CatalogVariant]] = {}
        vstmt = select(Variant).order_by(Variant.product_id, Variant.position)
        for v in (await session.execute(vstmt)).scalars():
            variants.setdefault(v.product_id, []).append(
                CatalogVariant(item_id=v.item_id, options={k: str(x) for k, x in (v.options or {}).items()}, price=float(v.price), available=bool(v.available))
            )
        # Built inside the session: its rollback on exit expires the rows.
        return [
            CatalogProduct(
                product_id=p.product_id,
                name=p.name,
                variants=variants.get(p.product_id, []),
                brand=p.brand,
                category=p.category,
                description=p.description,
                image=p.image,
                popularity=float(p.popularity or 0.0),
                attributes=p.attributes or {},
                source=p.source,
            )
            for p in products
        ]


async def sync_content_hashes(db: Database, products: list[CatalogProduct]) -> int:
    """Store the content hash of products that were loaded without one (the demo store)."""
    async with db.read() as session:
        stored = dict((await session.execute(select(Product.product_id, Product.content_hash))).all())
    changed = [(p.product_id, p.content_hash()) for p in products if stored.get(p.product_id) != p.content_hash()]
    if changed:
        async with db.write() as session:
            for pid, digest in changed:
                await session.execute(update(Product).where(Product.product_id == pid).values(content_hash=digest))
    return len(changed)
