"""`describe_product`: a shopper-facing description written from the product's own attributes.

Every value the description states is checked against the product's data
(`retrieval.describe.check_grounded`); descriptions are cached per product.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.base import ToolContext, ToolError, tool
from tools.fields import ProductId
from tools.search_products import catalog_service


@dataclass
class ProductDescriptionResult:
    product_id: str
    name: str
    description: str
    catalog_text: str | None  # the catalog's own description, when it has one

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@tool(label="Reading about the product...")
async def describe_product(ctx: ToolContext, product_id: ProductId) -> ProductDescriptionResult:
    """Describe a product for the shopper from its attributes (brand, category, options, prices, stock); never adds features the product data does not state."""
    catalog = catalog_service(ctx)
    product = catalog.products.get(product_id)
    if product is None:
        raise ToolError("product not found")
    text = catalog.description(product_id)
    return ProductDescriptionResult(product_id=product_id, name=product.name, description=text, catalog_text=product.description)
