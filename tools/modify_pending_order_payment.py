from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools._orders import add_to_gift_card, load_owned_order, payment_method
from tools.base import ToolContext, ToolError, tool
from tools.fields import OrderId, PaymentMethodId


@tool(requires_auth=True, consequential=True, label="Updating the payment method...")
async def modify_pending_order_payment(ctx: ToolContext, order_id: OrderId, payment_method_id: PaymentMethodId) -> OrderRecord:
    """Pay a pending order with a different single payment method of the user; a gift card must cover the whole total. The old method is refunded (at once for a gift card, in 5 to 7 business days otherwise). List the details and get the user's explicit yes first."""
    async with ctx.db.write() as session:
        order, user = await load_owned_order(ctx, session, order_id)
        if order.status != "pending":
            raise ToolError("non-pending order cannot be modified")
        new_method = payment_method(user, payment_method_id)
        history = order.payment_history
        if len(history) > 1 or history[0]["transaction_type"] != "payment":
            raise ToolError("there should be exactly one payment for a pending order")
        old_method_id = history[0]["payment_method_id"]
        if old_method_id == payment_method_id:
            raise ToolError("the new payment method should be different from the current one")
        amount = history[0]["amount"]
        if new_method.source == "gift_card" and (new_method.balance or 0.0) < amount:
            raise ToolError("insufficient gift card balance to pay for the order")
        order.payment_history = history + [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
            {"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id},
        ]
        if new_method.source == "gift_card":
            await add_to_gift_card(session, new_method, -amount)
        if "gift_card" in old_method_id:
            old_method = user.payment_method(old_method_id)
            if old_method is not None:
                await add_to_gift_card(session, old_method, amount)
        await queries.save_order(session, order)
    return order
