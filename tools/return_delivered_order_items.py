from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools._orders import check_items_in_order, load_owned_order, payment_method
from tools.base import ToolContext, ToolError, tool
from tools.fields import ItemIds, OrderId, PaymentMethodId


@tool(requires_auth=True, consequential=True, label="Requesting the return...")
async def return_delivered_order_items(
    ctx: ToolContext, order_id: OrderId, item_ids: ItemIds, payment_method_id: PaymentMethodId
) -> OrderRecord:
    """Request a return of items of a delivered order. The refund goes to the original payment method or to one of the user's gift cards. The user gets an email on how to send the items back. List the details and get the user's explicit yes first."""
    async with ctx.db.write() as session:
        order, user = await load_owned_order(ctx, session, order_id)
        if order.status != "delivered":
            raise ToolError("non-delivered order cannot be returned")
        payment_method(user, payment_method_id)
        if "gift_card" not in payment_method_id and payment_method_id != order.payment_history[0]["payment_method_id"]:
            raise ToolError("payment method should be either the original payment method or a gift card")
        check_items_in_order(order, item_ids, "some item not found")
        order.status = "return requested"
        order.extra = {**order.extra, "return_items": sorted(item_ids), "return_payment_method_id": payment_method_id}
        await queries.save_order(session, order)
    return order
