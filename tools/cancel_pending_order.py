from __future__ import annotations

from bot.store import queries
from bot.store.records import OrderRecord
from tools._orders import add_to_gift_card, load_owned_order
from tools.base import ToolContext, ToolError, tool
from tools.fields import CancelReason, OrderId


@tool(requires_auth=True, consequential=True, label="Cancelling the order...")
async def cancel_pending_order(ctx: ToolContext, order_id: OrderId, reason: CancelReason) -> OrderRecord:
    """Cancel a pending order (processed or delivered orders cannot be cancelled). The reason is 'no longer needed' or 'ordered by mistake'. Every payment is refunded: at once to a gift card, in 5 to 7 business days otherwise. List the details and get the user's explicit yes first."""
    async with ctx.db.write() as session:
        order, user = await load_owned_order(ctx, session, order_id)
        if order.status != "pending":
            raise ToolError("non-pending order cannot be cancelled")
        refunds = []
        for payment in order.payment_history:
            method_id = payment["payment_method_id"]
            refunds.append({"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": method_id})
            if "gift_card" in method_id:
                method = user.payment_method(method_id)
                if method is not None:
                    await add_to_gift_card(session, method, payment["amount"])
        order.status = "cancelled"
        order.extra = {**order.extra, "cancel_reason": reason}
        order.payment_history = order.payment_history + refunds
        await queries.save_order(session, order)
    return order
