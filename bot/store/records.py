"""Typed store records and their tau-bench JSON form.

Tools return these objects; `as_dict()` gives exactly the dict tau-bench's retail tools would
`json.dumps`, key order included, so transcripts written against either are interchangeable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ORDER_STATUSES = (
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "pending (item modified)",
    "return requested",
    "exchange requested",
)
CANCEL_REASONS = ("no longer needed", "ordered by mistake")


@dataclass
class PaymentMethodRecord:
    id: str
    source: str
    details: dict[str, Any]
    balance: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.details)
        if self.source == "gift_card":
            out["balance"] = self.balance
        return out


@dataclass
class UserRecord:
    user_id: str
    first_name: str
    last_name: str
    email: str
    address: dict[str, Any]
    payment_methods: list[PaymentMethodRecord]
    orders: list[str]
    version: int = 1

    def payment_method(self, method_id: str) -> PaymentMethodRecord | None:
        return next((m for m in self.payment_methods if m.id == method_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": {"first_name": self.first_name, "last_name": self.last_name},
            "address": self.address,
            "email": self.email,
            "payment_methods": {m.id: m.as_dict() for m in self.payment_methods},
            "orders": list(self.orders),
        }


@dataclass
class OrderRecord:
    order_id: str
    user_id: str
    address: dict[str, Any]
    items: list[dict[str, Any]]
    fulfillments: list[dict[str, Any]]
    status: str
    payment_history: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order_id": self.order_id,
            "user_id": self.user_id,
            "address": self.address,
            "items": self.items,
            "fulfillments": self.fulfillments,
            "status": self.status,
            "payment_history": self.payment_history,
        }
        out.update(self.extra)
        return out


@dataclass
class VariantRecord:
    item_id: str
    options: dict[str, Any]
    available: bool
    price: float

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "options": self.options, "available": self.available, "price": self.price}


@dataclass
class ProductRecord:
    product_id: str
    name: str
    variants: list[VariantRecord]
    brand: str | None = None
    category: str | None = None
    description: str | None = None
    image: str | None = None

    def variant(self, item_id: str) -> VariantRecord | None:
        return next((v for v in self.variants if v.item_id == item_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "product_id": self.product_id,
            "variants": {v.item_id: v.as_dict() for v in self.variants},
        }


Record = UserRecord | OrderRecord | ProductRecord


def to_json(value: object) -> str:
    """A tool result as the text a model sees: records as tau-bench JSON, strings as they are."""
    if isinstance(value, str):
        return value
    if hasattr(value, "as_dict"):
        return json.dumps(value.as_dict())  # type: ignore[union-attr]
    return json.dumps(value)
