"""Importers for the public catalogs in `SHOPBOT_DATA_DIR` (read in place, never copied).

Each maps its own record shape onto the documented product schema (docs/catalog.md), then goes
through the same validation as any catalog file, so a bad record is reported by line and skipped.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.catalog import CatalogProduct, RowError, RowInvalid, iter_json_values, product_from_dict


def _tau_bench(raw: Any) -> dict[str, Any]:
    # Already in our schema: {"name", "product_id", "variants": {item_id: {...}}}; ids are kept.
    return raw


def _dummyjson(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RowInvalid("a product must be a JSON object")
    pid = raw.get("id")
    if pid is None:
        raise RowInvalid("id is required")
    category = raw.get("category")
    if isinstance(category, str):
        category = category.replace("-", " ").title()
    status = str(raw.get("availabilityStatus") or "").lower()
    attributes = {
        key: raw[key]
        for key in ("tags", "rating", "stock", "warrantyInformation", "shippingInformation", "returnPolicy", "weight", "dimensions", "minimumOrderQuantity")
        if key in raw
    }
    return {
        "product_id": f"dummyjson-{pid}",
        "name": raw.get("title"),
        "brand": raw.get("brand"),
        "category": category,
        "description": raw.get("description"),
        "image": raw.get("thumbnail") or next(iter(raw.get("images") or []), None),
        "popularity": raw.get("rating") or 0.0,
        "attributes": attributes,
        "item_id": f"dummyjson-{pid}-1",
        "price": raw.get("price"),
        "available": status != "out of stock",
    }


_SKU = re.compile(r"/(\d+)_[a-z]+\.\w+$")


def _bestbuy(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RowInvalid("a product must be a JSON object")
    # The records carry no id; the Best Buy SKU is the image file name. Fall back to a name hash.
    match = _SKU.search(str(raw.get("image") or ""))
    sku = match.group(1) if match else hashlib.sha1(str(raw.get("name")).encode()).hexdigest()[:10]
    return {
        "product_id": f"bestbuy-{sku}",
        "name": raw.get("name"),
        "brand": raw.get("brand"),
        "category": raw.get("categories"),
        "description": raw.get("description"),
        "image": raw.get("image"),
        "popularity": raw.get("popularity") or 0,
        "item_id": f"bestbuy-{sku}-1",
        "price": raw.get("price"),
        "available": True,
    }


@dataclass(frozen=True)
class PublicCatalog:
    source: str
    relative_path: str
    mapper: Callable[[Any], dict[str, Any]]


PUBLIC_CATALOGS: tuple[PublicCatalog, ...] = (
    PublicCatalog("tau-bench", "tau-bench-retail/products.json", _tau_bench),
    PublicCatalog("dummyjson", "dummyjson/products.json", _dummyjson),
    PublicCatalog("bestbuy", "bestbuy-cellphones-typesense/products.json", _bestbuy),
)


def find_public_catalogs(data_dir: Path | None) -> list[tuple[PublicCatalog, Path]]:
    if data_dir is None:
        return []
    return [(c, Path(data_dir) / c.relative_path) for c in PUBLIC_CATALOGS if (Path(data_dir) / c.relative_path).is_file()]


def read_public_catalog(catalog: PublicCatalog, path: Path) -> tuple[list[tuple[int, CatalogProduct]], list[RowError]]:
    text = Path(path).read_text(encoding="utf-8")
    good: list[tuple[int, CatalogProduct]] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for entry in iter_json_values(text):
        if isinstance(entry, RowError):
            errors.append(entry)
            continue
        line, raw = entry
        try:
            product = product_from_dict(catalog.mapper(raw), catalog.source)
        except RowInvalid as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if product.product_id in seen:
            errors.append(RowError(line, f"product_id {product.product_id} appears twice"))
            continue
        seen.add(product.product_id)
        product.source = catalog.source
        good.append((line, product))
    return good, errors
