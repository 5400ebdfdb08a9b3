from __future__ import annotations

from bot.store import queries
from bot.store.records import ProductRecord
from tools.base import ToolContext, ToolError, tool
from tools.fields import ProductId


@tool(label="Checking the product...")
async def get_product_details(ctx: ToolContext, product_id: ProductId) -> ProductRecord:
    """Get a product type and all its variant items: options, availability and price of each item."""
    async with ctx.db.read() as session:
        product = await queries.get_product(session, product_id)
    if product is None:
        raise ToolError("product not found")
    return product
