from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools._orders import load_owned_order
from tools.base import ToolContext, ToolError, tool
from tools.fields import Address1, Address2, City, Country, OrderId, State, Zip


@tool(requires_auth=True, consequential=True, label="Updating the shipping address...")
async def modify_pending_order_address(
    ctx: ToolContext,
    order_id: OrderId,
    address1: Address1,
    address2: Address2,
    city: City,
    state: State,
    country: Country,
    zip: Zip,
) -> OrderRecord:
    """Change the shipping address of a pending order. List the details and get the user's explicit yes first."""
    async with ctx.db.write() as session:
        order, _user = await load_owned_order(ctx, session, order_id)
        if order.status != "pending":
            raise ToolError("non-pending order cannot be modified")
        order.address = {
            "address1": address1,
            "address2": address2,
            "city": city,
            "state": state,
            "country": country,
            "zip": zip,
        }
        await queries.save_order(session, order)
    return order
