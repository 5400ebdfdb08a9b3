"""Store tables. The shape follows tau-bench's retail data so its JSON round-trips exactly.

Nested values that tau-bench keeps as lists of small records (order items, fulfillments, payment
history) are JSON columns: they are always read and written with their order. What is queried or
updated on its own (balances, statuses, variants for search) has its own column.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


class StoreUser(Base):
    __tablename__ = "store_users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), index=True)
    zip: Mapped[str] = mapped_column(String(20))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(32), default="demo", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_store_users_name_zip", "last_name", "first_name", "zip"),)


class PaymentMethod(Base):
    __tablename__ = "store_payment_methods"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("store_users.user_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))  # credit_card | gift_card | paypal
    balance: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The method as tau-bench writes it, key order kept; `balance` above is authoritative.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class StoreOrder(Base):
    __tablename__ = "store_orders"

    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("store_users.user_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # place in the user's order list
    status: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    fulfillments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    payment_history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Keys tau-bench adds after a change (cancel_reason, return_items, exchange_*), in order.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(32), default="demo")
    version: Mapped[int] = mapped_column(Integer, default=1)


class Product(Base):
    __tablename__ = "store_products"

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)
    brand: Mapped[str | None] = mapped_column(String(255), nullable=True)
    category: Mapped[str | None] = mapped_column(String(512), nullable=True)  # "A > B > C"
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    image: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    popularity: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(String(32), default="demo")
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    # The store's own products (list_all_product_types) without scanning the searchable catalogs.
    __table_args__ = (Index("ix_store_products_source", "source", "position", "product_id"),)


class Variant(Base):
    __tablename__ = "store_variants"

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("store_products.product_id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    price: Mapped[float] = mapped_column(Float)
