from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools._orders import add_to_gift_card, check_items_in_order, load_owned_order, payment_method, price_difference
from tools.base import ToolContext, ToolError, tool
from tools.fields import ItemIds, NewItemIds, OrderId, PaymentMethodId


@tool(requires_auth=True, consequential=True, label="Updating the items...")
async def modify_pending_order_items(
    ctx: ToolContext, order_id: OrderId, item_ids: ItemIds, new_item_ids: NewItemIds, payment_method_id: PaymentMethodId
) -> OrderRecord:
    """Swap items of a pending order for other available options of the same product. Allowed once per order: afterwards the order can no longer be modified or cancelled, so collect every item first. The price difference is paid or refunded with the given payment method (a gift card must cover it). List the details and get the user's explicit yes first."""
    async with ctx.db.write() as session:
        order, user = await load_owned_order(ctx, session, order_id)
        if order.status != "pending":
            raise ToolError("non-pending order cannot be modified")
        check_items_in_order(order, item_ids)
        diff, products = await price_difference(session, order, item_ids, new_item_ids)
        method = payment_method(user, payment_method_id)
        if method.source == "gift_card" and (method.balance or 0.0) < diff:
            raise ToolError("insufficient gift card balance to pay for the new item")
        order.payment_history = order.payment_history + [
            {
                "transaction_type": "payment" if diff > 0 else "refund",
                "amount": abs(diff),
                "payment_method_id": payment_method_id,
            }
        ]
        if method.source == "gift_card":
            await add_to_gift_card(session, method, -diff)
        items = [dict(item) for item in order.items]
        for item_id, new_item_id in zip(item_ids, new_item_ids):
            item = next(i for i in items if i["item_id"] == item_id)
            variant = products[item["product_id"]].variant(new_item_id)
            if variant is None:  # price_difference checked it; the product changed meanwhile
                raise ToolError(f"new item {new_item_id} not found or available")
            item["item_id"] = new_item_id
            item["price"] = variant.price
            item["options"] = variant.options
        order.items = items
        order.status = "pending (item modified)"
        await queries.save_order(session, order)
    return order
