"""Load a `StoreData` into the database: idempotent, and never overwrites what users changed.

Rows are inserted when their id is new and left alone when it exists (an order cancelled through
the bot stays cancelled after a reload). Everything goes in one transaction: a broken store is
refused whole, never half-imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from bot.db import Database
from bot.store.data import StoreData
from bot.store.models import PaymentMethod, Product, StoreOrder, StoreUser, Variant


class StoreLoadError(ValueError):
    """A record is malformed; the message names it."""


@dataclass
class LoadReport:
    users: int = 0
    orders: int = 0
    products: int = 0
    variants: int = 0
    skipped_existing: int = 0

    def __str__(self) -> str:
        return (
            f"added {self.users} users, {self.orders} orders, {self.products} products, {self.variants} variants; "
            f"kept {self.skipped_existing} existing records"
        )


def _require(record: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise StoreLoadError(f"{what}: missing {', '.join(missing)}")


async def _existing(session, column, ids: list[str]) -> set[str]:  # type: ignore[no-untyped-def]
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update((await session.execute(select(column).where(column.in_(chunk)))).scalars())
    return found


async def load_store(db: Database, data: StoreData, source: str) -> LoadReport:
    report = LoadReport()
    product_rows, variant_rows = [], []
    for position, (product_id, product) in enumerate(data.products.items()):
        _require(product, ("name", "variants"), f"product {product_id}")
        product_rows.append(
            {
                "product_id": product_id,
                "name": product["name"],
                "position": position,
                "brand": product.get("brand"),
                "category": product.get("category"),
                "description": product.get("description"),
                "image": product.get("image"),
                "attributes": product.get("attributes", {}),
                "popularity": float(product.get("popularity", 0.0)),
                "source": source,
            }
        )
        for vpos, (item_id, variant) in enumerate(product["variants"].items()):
            _require(variant, ("options", "available", "price"), f"variant {item_id} of product {product_id}")
            variant_rows.append(
                {
                    "item_id": item_id,
                    "product_id": product_id,
                    "position": vpos,
                    "options": variant["options"],
                    "available": bool(variant["available"]),
                    "price": float(variant["price"]),
                }
            )
    user_rows, method_rows = [], []
    for user_id, user in data.users.items():
        _require(user, ("name", "address", "email", "payment_methods"), f"user {user_id}")
        user_rows.append(
            {
                "user_id": user_id,
                "first_name": user["name"]["first_name"],
                "last_name": user["name"]["last_name"],
                "email": user["email"],
                "zip": str(user["address"].get("zip", "")),
                "address": user["address"],
                "source": source,
                "version": 1,
            }
        )
        for mpos, (method_id, method) in enumerate(user["payment_methods"].items()):
            _require(method, ("source",), f"payment method {method_id} of user {user_id}")
            method_rows.append(
                {
                    "id": method_id,
                    "user_id": user_id,
                    "position": mpos,
                    "source": method["source"],
                    "balance": method.get("balance"),
                    "details": method,
                }
            )
    positions = {oid: pos for user in data.users.values() for pos, oid in enumerate(user.get("orders", []))}
    order_keys = ("order_id", "user_id", "address", "items", "fulfillments", "status", "payment_history")
    order_rows = []
    for order_id, order in data.orders.items():
        _require(order, order_keys, f"order {order_id}")
        if order["user_id"] not in data.users:
            raise StoreLoadError(f"order {order_id}: unknown user {order['user_id']}")
        order_rows.append(
            {
                "order_id": order_id,
                "user_id": order["user_id"],
                "position": positions.get(order_id, 10_000),
                "status": order["status"],
                "address": order["address"],
                "items": order["items"],
                "fulfillments": order["fulfillments"],
                "payment_history": order["payment_history"],
                "extra": {k: v for k, v in order.items() if k not in order_keys},
                "source": source,
                "version": 1,
            }
        )

    async with db.write() as session:
        for model, column, rows, field in (
            (Product, Product.product_id, product_rows, "products"),
            (Variant, Variant.item_id, variant_rows, "variants"),
            (StoreUser, StoreUser.user_id, user_rows, "users"),
            (PaymentMethod, PaymentMethod.id, method_rows, None),
            (StoreOrder, StoreOrder.order_id, order_rows, "orders"),
        ):
            key = column.key
            existing = await _existing(session, column, [r[key] for r in rows])
            new_rows = [r for r in rows if r[key] not in existing]
            report.skipped_existing += len(rows) - len(new_rows)
            if new_rows:
                await session.execute(insert(model), new_rows)
            if field:
                setattr(report, field, getattr(report, field) + len(new_rows))
    return report
