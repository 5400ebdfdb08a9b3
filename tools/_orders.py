"""Helpers shared by the tools that change orders: loading under a write lock, money rounding."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import queries
from bot.store.records import OrderRecord, PaymentMethodRecord, ProductRecord, UserRecord
from tools.base import ToolContext, ToolError


async def load_owned_order(ctx: ToolContext, session: AsyncSession, order_id: str) -> tuple[OrderRecord, UserRecord]:
    """The order (locked for update) and its owner, refusing orders that are not the user's."""
    order = await queries.get_order(session, order_id, for_update=True)
    if order is None:
        raise ToolError("order not found")
    ctx.require_order_owner(order.user_id)
    user = await queries.get_user(session, order.user_id)
    if user is None:  # a dangling order: the store is inconsistent, refuse rather than guess
        raise ToolError("user not found")
    return order, user


def check_items_in_order(order: OrderRecord, item_ids: list[str], message: str | None = None) -> None:
    """Every id must be in the order at least as many times as it is listed."""
    present = [item["item_id"] for item in order.items]
    for item_id in item_ids:
        if item_ids.count(item_id) > present.count(item_id):
            raise ToolError(message or f"{item_id} not found")


async def price_difference(
    session: AsyncSession, order: OrderRecord, item_ids: list[str], new_item_ids: list[str]
) -> tuple[float, dict[str, ProductRecord]]:
    """Sum of new minus old prices; each new item must be an available variant of the same product."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    products: dict[str, ProductRecord] = {}
    diff = 0.0
    for item_id, new_item_id in zip(item_ids, new_item_ids):
        item = next(i for i in order.items if i["item_id"] == item_id)
        product_id = item["product_id"]
        if product_id not in products:
            product = await queries.get_product(session, product_id)
            if product is None:
                raise ToolError(f"new item {new_item_id} not found or available")
            products[product_id] = product
        variant = products[product_id].variant(new_item_id)
        if variant is None or not variant.available:
            raise ToolError(f"new item {new_item_id} not found or available")
        diff += variant.price - item["price"]
    return diff, products


def payment_method(user: UserRecord, payment_method_id: str) -> PaymentMethodRecord:
    method = user.payment_method(payment_method_id)
    if method is None:
        raise ToolError("payment method not found")
    return method


async def add_to_gift_card(session: AsyncSession, method: PaymentMethodRecord, amount: float) -> None:
    """Credit (or, with a negative amount, debit) a gift card, rounded to cents as the store does."""
    await queries.set_balance(session, method, round((method.balance or 0.0) + amount, 2))
