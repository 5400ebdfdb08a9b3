"""Reading and writing store records. Every write checks the row's version (no lost updates)."""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import PaymentMethod, Product, StoreOrder, StoreUser, Variant
from bot.store.records import OrderRecord, PaymentMethodRecord, ProductRecord, UserRecord, VariantRecord


class ConcurrentUpdate(Exception):
    """The row changed between our read and our write; the caller retries from the start."""


async def get_user(session: AsyncSession, user_id: str, *, for_update: bool = False) -> UserRecord | None:
    stmt = select(StoreUser).where(StoreUser.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return None
    methods = (
        await session.execute(
            select(PaymentMethod).where(PaymentMethod.user_id == user_id).order_by(PaymentMethod.position)
        )
    ).scalars()
    orders = (
        await session.execute(
            select(StoreOrder.order_id).where(StoreOrder.user_id == user_id).order_by(StoreOrder.position)
        )
    ).scalars()
    return UserRecord(
        user_id=row.user_id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        address=row.address,
        payment_methods=[
            PaymentMethodRecord(id=m.id, source=m.source, details=m.details, balance=m.balance) for m in methods
        ],
        orders=list(orders),
        version=row.version,
    )


async def get_order(session: AsyncSession, order_id: str, *, for_update: bool = False) -> OrderRecord | None:
    stmt = select(StoreOrder).where(StoreOrder.order_id == order_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return None
    return OrderRecord(
        order_id=row.order_id,
        user_id=row.user_id,
        address=row.address,
        items=row.items,
        fulfillments=row.fulfillments,
        status=row.status,
        payment_history=row.payment_history,
        extra=row.extra or {},
        version=row.version,
    )


async def get_product(session: AsyncSession, product_id: str) -> ProductRecord | None:
    row = await session.get(Product, product_id)
    if row is None:
        return None
    variants = (
        await session.execute(select(Variant).where(Variant.product_id == product_id).order_by(Variant.position))
    ).scalars()
    return ProductRecord(
        product_id=row.product_id,
        name=row.name,
        variants=[VariantRecord(v.item_id, v.options, v.available, v.price) for v in variants],
        brand=row.brand,
        category=row.category,
        description=row.description,
        image=row.image,
    )


async def find_user_id_by_email(session: AsyncSession, email: str) -> str | None:
    stmt = select(StoreUser.user_id).where(func.lower(StoreUser.email) == email.lower()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_user_id_by_name_zip(session: AsyncSession, first: str, last: str, zip_code: str) -> str | None:
    stmt = (
        select(StoreUser.user_id)
        .where(
            func.lower(StoreUser.first_name) == first.lower(),
            func.lower(StoreUser.last_name) == last.lower(),
            StoreUser.zip == zip_code,
        )
        .order_by(StoreUser.user_id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def product_types(session: AsyncSession, source: str | None = None) -> dict[str, str]:
    """Product name -> product id, sorted by name (what `list_all_product_types` returns).

    Only the store's own products: those from the source its customers came from (the demo store,
    or an imported tau-bench store), not the public catalogs indexed beside them for search.
    """
    stmt = select(Product.name, Product.product_id).order_by(Product.position, Product.product_id)
    if source is not None:
        stmt = stmt.where(Product.source == source)
    else:
        stmt = stmt.where(Product.source.in_(select(StoreUser.source).distinct()))
    pairs = {name: pid for name, pid in (await session.execute(stmt)).all()}
    return dict(sorted(pairs.items()))


async def save_order(session: AsyncSession, order: OrderRecord) -> None:
    """Write the order back if nobody changed it since it was read; bump its version."""
    result = await session.execute(
        update(StoreOrder)
        .where(StoreOrder.order_id == order.order_id, StoreOrder.version == order.version)
        .values(
            status=order.status,
            address=order.address,
            items=order.items,
            payment_history=order.payment_history,
            extra=order.extra,
            version=order.version + 1,
        )
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(order.order_id)
    order.version += 1


async def save_user_address(session: AsyncSession, user: UserRecord) -> None:
    result = await session.execute(
        update(StoreUser)
        .where(StoreUser.user_id == user.user_id, StoreUser.version == user.version)
        .values(address=user.address, zip=str(user.address.get("zip", "")), version=user.version + 1)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(user.user_id)
    user.version += 1


async def set_balance(session: AsyncSession, method: PaymentMethodRecord, new_balance: float) -> None:
    """Set a gift card's balance, checking it still holds the value we computed from."""
    result = await session.execute(
        update(PaymentMethod)
        .where(PaymentMethod.id == method.id, PaymentMethod.balance == method.balance)
        .values(balance=new_balance)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(method.id)
    method.balance = new_balance
