"""Retrieval's own table: the cached shopper-facing description of each product.

A description is written from the product's attributes (`retrieval.describe`), checked for
grounding, and kept with the product's content hash; a changed product gets a new one.
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


class ProductDescription(Base):
    __tablename__ = "catalog_descriptions"

    product_id: Mapped[str] = mapped_column(
        ForeignKey("store_products.product_id", ondelete="CASCADE"), primary_key=True
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))  # "template" (or a trained describer's name)
    text: Mapped[str] = mapped_column(Text)
