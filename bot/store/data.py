"""`StoreData`: a whole store in tau-bench's retail JSON shape (the interchange form).

users:    {user_id: {"name": {...}, "address": {...}, "email", "payment_methods": {...}, "orders": [...]}}
orders:   {order_id: {"order_id", "user_id", "address", "items", "fulfillments", "status", "payment_history", ...}}
products: {product_id: {"name", "product_id", "variants": {item_id: {"item_id", "options", "available", "price"}}}}

Products may carry extra keys shopbot uses for search (`brand`, `category`, `description`,
`image`); tau-bench's tools never show them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class StoreData:
    users: dict[str, dict[str, Any]]
    orders: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]

    def digest(self) -> str:
        """A stable hash of the content (for sidecars and model cards)."""
        blob = json.dumps([self.users, self.orders, self.products], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def summary(self) -> str:
        variants = sum(len(p["variants"]) for p in self.products.values())
        return f"{len(self.users)} users, {len(self.orders)} orders, {len(self.products)} products, {variants} variants"
