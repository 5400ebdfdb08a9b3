"""`describe_product`: a shopper-facing description written from the product's own attributes.

Written by the trained describer (models/describer) when there is one, else composed from the
attributes; every value it states is checked against the product's data
(`retrieval.describe.model_text_problems` / `check_grounded`) and a rejected text falls back to
the composition. Cached per product and per variant; `path` says which writer produced it.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from tools.base import ToolContext, ToolError, tool
from tools.fields import ProductId
from tools.search_products import catalog_service


@dataclass
class ProductDescriptionResult:
    product_id: str
    name: str
    description: str
    catalog_text: str | None  # the catalog's own description, when it has one
    item_id: str | None = None  # the variant described, when one was asked for
    path: str = "composed"  # "model" (trained describer), "llm" (configured writer) or "composed"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@tool(label="Reading about the product...")
async def describe_product(
    ctx: ToolContext,
    product_id: ProductId,
    item_id: Annotated[str | None, Field(max_length=64, description="One variant's item id, to describe just that option, or null for the whole product.")] = None,
) -> ProductDescriptionResult:
    """Describe a product (or one of its variant items) for the shopper from its attributes (brand, category, options, prices, stock); never adds features the product data does not state."""
    catalog = catalog_service(ctx)
    product = catalog.products.get(product_id)
    if product is None:
        raise ToolError("product not found")
    try:
        # the describer model runs on CPU: keep it off the event loop
        written = await asyncio.to_thread(catalog.describe, product_id, item_id)
    except KeyError:
        raise ToolError(f"item {item_id} is not a variant of product {product_id}") from None
    return ProductDescriptionResult(
        product_id=product_id,
        name=product.name,
        description=written.text,
        catalog_text=product.description,
        item_id=item_id,
        path=written.path,
    )
