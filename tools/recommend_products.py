"""`recommend_products`: suggestions for the signed-in shopper, or products that go with a product.

Uses `ctx.services["catalog"]` (see tools/search_products.py). Recommendations for a user need
that user to be the authenticated one; recommendations for a product alone need no sign-in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from retrieval.recommend import Recommendation
from tools.base import ToolContext, ToolError, tool
from tools.fields import ProductId, UserId
from tools.search_products import catalog_service


@dataclass
class RecommendationResult:
    user_id: str | None
    product_id: str | None
    items: list[Recommendation]

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "product_id": self.product_id, "items": [i.as_dict() for i in self.items]}


@tool(label="Finding suggestions...")
async def recommend_products(
    ctx: ToolContext,
    user_id: UserId | None = None,
    product_id: ProductId | None = None,
    k: Annotated[int, Field(ge=1, le=20, description="How many products to suggest.")] = 5,
) -> RecommendationResult:
    """Suggest products: for the authenticated user from their order history (user_id), or products that go with a product (product_id); each with a one-line reason."""
    if user_id is not None:
        ctx.require_user(user_id)
    catalog = catalog_service(ctx)
    recommender = await catalog.recommender()
    if user_id is not None:
        items = recommender.for_user(user_id, k)
    elif product_id is not None:
        if product_id not in catalog.products:
            raise ToolError("product not found")
        items = recommender.for_product(product_id, k)
    else:
        items = recommender.popular(k)
    return RecommendationResult(user_id=user_id, product_id=product_id, items=items)
