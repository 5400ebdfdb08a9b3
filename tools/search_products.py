"""`search_products`: find products for a shopper's request (hybrid dense + BM25 search).

The engine passes the loaded catalog in `ctx.services["catalog"]` (a
`retrieval.service.CatalogSearch`, built by `shopbot index`). Filters come from the arguments and
from the request's own words ("under $50", "in stock", "red", "size M"). Each hit is a widget
product card: id, name, price, image, options, category, brand, score, plus the matching variants
and a short reason.
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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"query": self.query, "hits": [h.as_dict() for h in self.hits]}
        if self.closest is not None:
            out["closest_outside_filters"] = self.closest.as_dict()
        return out


Price = Annotated[float | None, Field(ge=0, le=1_000_000)]
Sort = Literal["relevance", "price_asc", "price_desc", "rating"]


@tool(label="Searching our products...")
async def search_products(
    ctx: ToolContext,
    query: Annotated[str, Field(min_length=1, max_length=500, description="What the shopper wants, in their words, such as 'waterproof hiking boots under $150'.")],
    max_price: Annotated[Price, Field(description="Highest price in dollars, if the shopper gave one.")] = None,
    min_price: Annotated[Price, Field(description="Lowest price in dollars, if the shopper gave one.")] = None,
    brand: Annotated[str | None, Field(max_length=255, description="Only this brand.")] = None,
    category: Annotated[str | None, Field(max_length=255, description="Only products whose category path contains this, such as 'Headphones'.")] = None,
    options: Annotated[dict[str, Annotated[str, Field(max_length=255)]] | None, Field(max_length=10, description="Required option values, such as {'color': 'red', 'size': 'M'}.")] = None,
    in_stock_only: Annotated[bool, Field(description="Only items that are in stock.")] = False,
    sort: Annotated[Sort, Field(description="'price_asc' for the cheapest first, 'price_desc' for the dearest first, else by relevance.")] = "relevance",
    product_ids: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=50, description="Search only among these products, such as the list just shown ('which of those are under $70?').")] = None,
    k: Annotated[int, Field(ge=1, le=20, description="How many products to return.")] = 5,
) -> ProductSearchResult:
    """Search the store's products for what the shopper describes; returns products with the matching variant items, their prices, availability and a short reason."""
    catalog = catalog_service(ctx)
    filters = SearchFilters(
        min_price=min_price,
        max_price=max_price,
        brand=brand,
        category=category,
        options=dict(options or {}),
        in_stock=in_stock_only,
        sources=ctx.services.get("catalog_sources"),
    )
    wanted = set(product_ids or [])
    hits = await catalog.asearch(query, 50 if wanted else k, filters)
    if wanted:  # a refinement of the list shown: only those products
        hits = [h for h in hits if h.id in wanted][:k]
    if sort in ("price_asc", "price_desc"):
        hits = sorted(hits, key=lambda h: (h.price is None, h.price or 0.0), reverse=sort == "price_desc")
    constrained = filters != SearchFilters(sources=filters.sources) or bool(wanted)
    if not constrained:  # nothing filtered out: the hits are the best matches already
        floor = LIST_RELEVANCE * hits[0].score if hits else 0.0
        return ProductSearchResult(query=query, hits=[h for h in hits if h.score >= floor])
    best = await catalog.asearch(query, 1, SearchFilters(sources=filters.sources))
    if not best:
        return ProductSearchResult(query=query, hits=hits)
    floor = RELATIVE_RELEVANCE * best[0].score
    relevant = [h for h in hits if h.score >= floor]
    closest = best[0] if not relevant and best[0].id not in {h.id for h in hits} else None
    return ProductSearchResult(query=query, hits=relevant, closest=closest)
