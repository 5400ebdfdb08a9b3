"""Recommendations from the store's order history and the product embeddings.

Signals, all read from `store_orders` (cancelled orders do not count):
- co-purchase: products in the same order (weight 2) or bought by the same shopper (weight 1),
  normalised by how many shoppers bought each (cosine over shoppers, so best-sellers do not win
  every pair);
- item-item embedding similarity (the search index's vectors), so a product nobody bought yet
  still has neighbours;
- popularity (units sold, then the catalog's own popularity) for a shopper with no history.

A shopper is never offered what they already bought, unless it is a consumable (groceries,
beauty, coffee ...), which comes back as a restock suggestion. Every item carries a one-line
reason.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any


from sqlalchemy import select

from bot.db import Database
from bot.store.models import StoreOrder
from retrieval.catalog import CatalogProduct

CONSUMABLE_CATEGORIES = frozenset(
    {"grocery", "groceries", "beauty", "sun care", "hair care", "skin care", "skin-care", "fragrances", "coffee", "food", "pet food", "vitamins"}
)
EMBEDDING_WEIGHT = 0.5
EMBEDDING_NEIGHBOURS = 30


def is_consumable(product: CatalogProduct) -> bool:
    if product.attributes.get("consumable") is True:
        return True
    return any(part.lower() in CONSUMABLE_CATEGORIES for part in product.category_path)


@dataclass
class Recommendation:
    id: str
    name: str
    price: float | None
    image: str | None
    category: list[str]
    brand: str | None
    score: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Recommender:
    def __init__(self, catalog: Any, orders: list[tuple[str, int, list[str]]]) -> None:
        """`orders`: (user id, position in the user's history, product ids), non-cancelled only."""
        self.catalog = catalog
        self.history: dict[str, list[str]] = defaultdict(list)  # user -> products, oldest first
        pair: Counter[tuple[str, str]] = Counter()
        buyers: dict[str, set[str]] = defaultdict(set)
        self.sold: Counter[str] = Counter()
        for user, _, products in sorted(orders, key=lambda o: (o[0], o[1])):
            unique = list(dict.fromkeys(p for p in products if p in catalog.products))
            for p in unique:
                self.history[user].append(p)
                buyers[p].add(user)
                self.sold[p] += 1
            for a in unique:
                for b in unique:
                    if a != b:
                        pair[(a, b)] += 2
        for user, products in self.history.items():
            unique = list(dict.fromkeys(products))
            for a in unique:
                for b in unique:
                    if a != b:
                        pair[(a, b)] += 1
        self.neighbours: dict[str, dict[str, float]] = defaultdict(dict)
        for (a, b), count in pair.items():
            self.neighbours[a][b] = count / math.sqrt(len(buyers[a]) * len(buyers[b]))

    @classmethod
    async def load(cls, db: Database, catalog: Any) -> "Recommender":
        async with db.read() as session:
            rows = (await session.execute(select(StoreOrder.user_id, StoreOrder.position, StoreOrder.items, StoreOrder.status))).all()
        orders = [
            (user, position, [str(i.get("product_id")) for i in (items or []) if isinstance(i, dict)])
            for user, position, items, status in rows
            if status != "cancelled"
        ]
        return cls(catalog, orders)

    # --- signals -------------------------------------------------------------------------------

    def similar_by_embedding(self, product_id: str, n: int = EMBEDDING_NEIGHBOURS) -> list[tuple[str, float]]:
        vector = self.catalog.vector_of(product_id)
        if vector is None:
            return []
        scores, rows = self.catalog.index.search(vector[None, :], n + 1)
        ids = self.catalog.index.ids
        return [(ids[r], float(s)) for s, r in zip(scores[0], rows[0]) if r >= 0 and ids[r] != product_id]

    def _card(self, product: CatalogProduct, score: float, reason: str) -> Recommendation:
        available = [v for v in product.variants if v.available] or product.variants
        price = min((v.price for v in available), default=None)
        return Recommendation(product.product_id, product.name, price, product.image, product.category_path, product.brand, round(score, 4), reason)

    def _in_stock(self, product_id: str) -> bool:
        product = self.catalog.products.get(product_id)
        return product is not None and any(v.available for v in product.variants)

    def popular(self, k: int, exclude: set[str] = frozenset(), sources: set[str] | None = None) -> list[Recommendation]:  # type: ignore[assignment]
        products = [
            p for p in self.catalog.products.values()
            if p.product_id not in exclude and (not sources or p.source in sources) and self._in_stock(p.product_id)
        ]
        if sources is None and self.sold:
            # The store's own catalog: the sources its shoppers actually buy from.
            sold_sources = {self.catalog.products[p].source for p in self.sold}
            products = [p for p in products if p.source in sold_sources] or products
        products.sort(key=lambda p: (-self.sold[p.product_id], -p.popularity, p.product_id))
        out = []
        for p in products[:k]:
            count = self.sold[p.product_id]
            reason = f"popular with other shoppers ({count} orders)" if count else "one of our most popular products"
            out.append(self._card(p, float(count) + p.popularity * 1e-6, reason))
        return out

    # --- entry points ---------------------------------------------------------------------------

    def for_product(self, product_id: str, k: int = 5) -> list[Recommendation]:
        seed = self.catalog.products.get(product_id)
        if seed is None:
            return []
        scores: dict[str, float] = {}
        reasons: dict[str, str] = {}
        for other, weight in self.neighbours.get(product_id, {}).items():
            scores[other] = scores.get(other, 0.0) + weight
            reasons[other] = f"often bought together with {seed.name}"
        for other, sim in self.similar_by_embedding(product_id):
            if other in self.catalog.products and self.catalog.products[other].source == seed.source:
                scores[other] = scores.get(other, 0.0) + EMBEDDING_WEIGHT * sim
                reasons.setdefault(other, f"similar to {seed.name}")
        ranked = sorted((pid for pid in scores if self._in_stock(pid)), key=lambda pid: (-scores[pid], pid))[:k]
        out = [self._card(self.catalog.products[pid], scores[pid], reasons[pid]) for pid in ranked]
        if len(out) < k:
            out += self.popular(k - len(out), exclude={product_id, *ranked}, sources={seed.source})
        return out

    def for_user(self, user_id: str, k: int = 5) -> list[Recommendation]:
        bought = list(dict.fromkeys(reversed(self.history.get(user_id, []))))  # newest first
        if not bought:
            return self.popular(k)
        sources = {self.catalog.products[p].source for p in bought}
        scores: dict[str, float] = {}
        reasons: dict[str, tuple[float, str]] = {}

        def add(pid: str, amount: float, because: str) -> None:
            scores[pid] = scores.get(pid, 0.0) + amount
            if amount > reasons.get(pid, (-1.0, ""))[0]:
                reasons[pid] = (amount, because)

        for recency, seed in enumerate(bought):
            name = self.catalog.products[seed].name
            decay = 1.0 / (1.0 + 0.3 * recency)  # recent purchases say more about what comes next
            for other, weight in self.neighbours.get(seed, {}).items():
                add(other, decay * weight, f"because you bought {name}")
            if recency < 5:
                for other, sim in self.similar_by_embedding(seed):
                    product = self.catalog.products.get(other)
                    if product is not None and product.source in sources:
                        add(other, decay * EMBEDDING_WEIGHT * sim, f"because you bought {name}")
        owned = set(bought)
        for seed in bought:
            product = self.catalog.products[seed]
            if is_consumable(product):
                add(seed, 0.5, f"time to restock? you bought {product.name} before")
        ranked = [
            pid for pid in sorted(scores, key=lambda pid: (-scores[pid], pid))
            if (pid not in owned or is_consumable(self.catalog.products[pid])) and self._in_stock(pid)
        ][:k]
        out = [self._card(self.catalog.products[pid], scores[pid], reasons[pid][1]) for pid in ranked]
        if len(out) < k:
            out += self.popular(k - len(out), exclude=owned | set(ranked), sources=sources)
        return out


