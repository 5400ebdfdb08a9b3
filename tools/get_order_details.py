from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools.base import ToolContext, ToolError, tool
from tools.fields import OrderId


@tool(requires_auth=True, label="Looking up your order...")
async def get_order_details(ctx: ToolContext, order_id: OrderId) -> OrderRecord:
    """Get an order of the authenticated user: status, items with options and prices, shipping address, fulfillments and payments."""
    async with ctx.db.read() as session:
        order = await queries.get_order(session, order_id)
    if order is None:
        raise ToolError("order not found")
    ctx.require_order_owner(order.user_id)
    return order
