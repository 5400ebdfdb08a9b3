"""`search_products`: find products for a shopper's request (hybrid dense + BM25 search).

The engine passes the loaded catalog in `ctx.services["catalog"]` (a
`retrieval.service.CatalogSearch`, built by `shopbot index`). Every constraint given as an
argument filters exactly; a price or "in stock" in the request's own words ("under $50") filters
too, and where an argument gives the same bound the argument wins. Each hit is a widget product
card: id, name, price, image, options, category, brand, score, rating, the matching variants and a
short reason. When no product inside the constraints is relevant enough, the best match outside
them comes as `closest_outside_filters`, with `outside_filters`: which constraints it misses, what
was asked and what it has (`[{"filter": "max_price", "wanted": 50, "has": 59.99}]`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from retrieval.search import SearchFilters, SearchHit
from tools.base import ToolContext, ToolError, tool

CATALOG_SERVICE = "catalog"
# A product that passes the shopper's filters is shown only if it is at least this relevant,
# relative to the best match in the catalog without the filters. Otherwise "a speaker under $100"
# in a store whose only speaker costs $150 would list phone cases and garden hoses.
RELATIVE_RELEVANCE = 0.7
# Without filters, the list stops where the matches fall below this share of the best one's score:
# "backpacks" in a store with one backpack lists the backpack, not the sleeping bag, the tent and
# the coffee beans after it (scores 0.85 vs 0.38, 0.34, 0.29 in the demo store), while a vague
# "a gift for my dad" (0.38, then 0.32, 0.28, ...) still lists several.
LIST_RELEVANCE = 0.5


def catalog_service(ctx: ToolContext) -> Any:
    catalog = ctx.services.get(CATALOG_SERVICE)
    if catalog is None:
        raise ToolError("product search is not available right now (the catalog index has not been built)")
    return catalog


@dataclass
class ProductSearchResult:
    query: str
    hits: list[SearchHit]
    closest: SearchHit | None = None  # no hit passed the filters: the best match without them
    missed: list[dict[str, Any]] | None = None  # the constraints `closest` misses

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"query": self.query, "hits": [h.as_dict() for h in self.hits]}
        if self.closest is not None:
            out["closest_outside_filters"] = {**self.closest.as_dict(), "outside_filters": self.missed or []}
        return out


Price = Annotated[float | None, Field(ge=0, le=1_000_000)]


@tool(label="Searching our products...")
async def search_products(
    ctx: ToolContext,
    query: Annotated[str, Field(min_length=1, max_length=500, description="What the shopper wants, in their words, such as 'waterproof hiking boots'. Any language.")],
    max_price: Annotated[Price, Field(description="Highest price in dollars, if the shopper gave one ('under $50', 'budget 50 bucks': 50). Filters exactly and wins over a price in the query text.")] = None,
    min_price: Annotated[Price, Field(description="Lowest price in dollars, if the shopper gave one ('between 100 and 200 dollars': 100, with max_price 200). Filters exactly.")] = None,
    brand: Annotated[str | None, Field(max_length=255, description="Only this brand (exact, case-insensitive).")] = None,
    category: Annotated[str | None, Field(max_length=255, description="Only products whose category path contains this, such as 'Headphones'.")] = None,
    options: Annotated[dict[str, Annotated[str, Field(max_length=255)]] | None, Field(max_length=10, description="Required option values, such as {'color': 'red', 'size': 'M'}: only items with exactly these.")] = None,
    in_stock_only: Annotated[bool, Field(description="Only items that are in stock.")] = False,
    k: Annotated[int, Field(ge=1, le=20, description="How many products to return.")] = 5,
    sort: Annotated[Literal["relevance", "price_asc", "price_desc", "rating"], Field(description="Order of the relevant products: 'relevance' (default); 'price_asc' for 'cheapest'/'cheaper'; 'price_desc' for 'most expensive'; 'rating' for 'best rated' (where the catalog has ratings, else relevance).")] = "relevance",
    product_ids: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=50, description="Search only among these product ids: the list just shown, when the shopper refines it ('those under $70', 'any in blue?', 'which is cheapest?').")] = None,
) -> ProductSearchResult:
    """Search the store's products for what the shopper describes; returns products with the matching variant items, their prices, availability and a short reason, or the closest product outside the constraints with the constraints it misses."""
    catalog = catalog_service(ctx)
    filters = SearchFilters(
        min_price=min_price,
        max_price=max_price,
        brand=brand,
        category=category,
        options=dict(options or {}),
        in_stock=in_stock_only,
        sources=ctx.services.get("catalog_sources"),
        product_ids=frozenset(product_ids) if product_ids is not None else None,
    )
    # The conversation's language helps rank a short query in another language (retrieval/search.py).
    hits = await catalog.asearch(query, k, filters, sort, language=ctx.language)
    if not filters.constrained and not catalog.engine.parse(query).constrained:
        # nothing filtered out: the hits are the best matches already
        floor = LIST_RELEVANCE * max((h.score for h in hits), default=0.0)
        return ProductSearchResult(query=query, hits=[h for h in hits if h.score >= floor])
    scope = filters.scope()
    best = await catalog.asearch(query, 1, scope, unfiltered=True, language=ctx.language)
    if not best:
        return ProductSearchResult(query=query, hits=hits)
    floor = RELATIVE_RELEVANCE * best[0].score
    relevant = [h for h in hits if h.score >= floor]
    if relevant or best[0].id in {h.id for h in hits}:
        return ProductSearchResult(query=query, hits=relevant)
    return ProductSearchResult(query=query, hits=[], closest=best[0], missed=catalog.engine.missed(best[0].id, query, filters))
