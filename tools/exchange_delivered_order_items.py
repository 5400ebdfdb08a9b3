from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools._orders import check_items_in_order, load_owned_order, payment_method, price_difference
from tools.base import ToolContext, ToolError, tool
from tools.fields import ItemIds, NewItemIds, OrderId, PaymentMethodId


@tool(requires_auth=True, consequential=True, label="Requesting the exchange...")
async def exchange_delivered_order_items(
    ctx: ToolContext, order_id: OrderId, item_ids: ItemIds, new_item_ids: NewItemIds, payment_method_id: PaymentMethodId
) -> OrderRecord:
    """Exchange items of a delivered order for other available options of the same product. Allowed once per order, so collect every item first. The price difference is paid or refunded with the given payment method (a gift card must cover it). List the details and get the user's explicit yes first."""
    async with ctx.db.write() as session:
        order, user = await load_owned_order(ctx, session, order_id)
        if order.status != "delivered":
            raise ToolError("non-delivered order cannot be exchanged")
        check_items_in_order(order, item_ids)
        diff, _products = await price_difference(session, order, item_ids, new_item_ids)
        diff = round(diff, 2)
        method = payment_method(user, payment_method_id)
        if method.source == "gift_card" and (method.balance or 0.0) < diff:
            raise ToolError("insufficient gift card balance to pay for the price difference")
        order.status = "exchange requested"
        order.extra = {
            **order.extra,
            "exchange_items": sorted(item_ids),
            "exchange_new_items": sorted(new_item_ids),
            "exchange_payment_method_id": payment_method_id,
            "exchange_price_difference": diff,
        }
        await queries.save_order(session, order)
    return order
