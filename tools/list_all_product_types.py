from __future__ import annotations

from bot.store import queries
from tools.base import ToolContext, tool


@tool(label="Checking the catalog...")
async def list_all_product_types(ctx: ToolContext) -> dict[str, str]:
    """List the store's product types as a map from product name to product id, sorted by name."""
    async with ctx.db.read() as session:
        return await queries.product_types(session, source=ctx.services.get("store_source"))
