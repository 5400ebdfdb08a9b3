"""Store tools: success paths, every policy error, authorization, confirmation, bad input, races."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.db import Database
from bot.store import queries
from bot.store.data import StoreData
from tests.store_helpers import fresh_postgres_database, make_store_db, postgres_url  # noqa: F401 (fixture)
from tools.base import InvalidArguments, ToolContext
from tools.registry import default_tools

TOOLS = default_tools()


def _item(pid: str, iid: str, price: float, **options: str) -> dict[str, Any]:
    return {"name": "Mug" if pid == "1000000001" else "Lamp", "product_id": pid, "item_id": iid, "price": price, "options": options}


def tiny_store() -> StoreData:
    products = {
        "1000000001": {
            "name": "Mug",
            "product_id": "1000000001",
            "variants": {
                "2000000001": {"item_id": "2000000001", "options": {"color": "red"}, "available": True, "price": 10.0},
                "2000000002": {"item_id": "2000000002", "options": {"color": "blue"}, "available": True, "price": 15.5},
                "2000000003": {"item_id": "2000000003", "options": {"color": "green"}, "available": False, "price": 9.0},
            },
        },
        "1000000002": {
            "name": "Lamp",
            "product_id": "1000000002",
            "variants": {
                "3000000001": {"item_id": "3000000001", "options": {"size": "small"}, "available": True, "price": 40.0},
                "3000000002": {"item_id": "3000000002", "options": {"size": "large"}, "available": True, "price": 60.0},
            },
        },
    }
    address = {"address1": "1 Elm St", "address2": "", "city": "Boise", "country": "USA", "state": "ID", "zip": "83701"}
    users = {
        "ann_lee_1111": {
            "name": {"first_name": "Ann", "last_name": "Lee"},
            "address": address,
            "email": "ann.lee@example.com",
            "payment_methods": {
                "credit_card_1000001": {"source": "credit_card", "brand": "visa", "last_four": "4242", "id": "credit_card_1000001"},
                "gift_card_1000002": {"source": "gift_card", "balance": 5.0, "id": "gift_card_1000002"},
                "paypal_1000003": {"source": "paypal", "id": "paypal_1000003"},
            },
            "orders": ["#W1000001", "#W1000002", "#W1000003", "#W1000004"],
        },
        "bob_kim_2222": {
            "name": {"first_name": "Bob", "last_name": "Kim"},
            "address": {**address, "zip": "83702"},
            "email": "bob.kim@example.com",
            "payment_methods": {"gift_card_2000001": {"source": "gift_card", "balance": 100.0, "id": "gift_card_2000001"}},
            "orders": ["#W2000001"],
        },
    }

    def order(oid: str, uid: str, status: str, items: list, method: str, refunded: bool = False) -> dict[str, Any]:
        total = round(sum(i["price"] for i in items), 2)
        history = [{"transaction_type": "payment", "amount": total, "payment_method_id": method}]
        if refunded:
            history.append({"transaction_type": "refund", "amount": total, "payment_method_id": method})
        return {"order_id": oid, "user_id": uid, "address": address, "items": items, "fulfillments": [], "status": status, "payment_history": history}

    orders = {
        "#W1000001": order("#W1000001", "ann_lee_1111", "pending", [_item("1000000001", "2000000001", 10.0, color="red"), _item("1000000002", "3000000001", 40.0, size="small")], "gift_card_1000002"),
        "#W1000002": order("#W1000002", "ann_lee_1111", "delivered", [_item("1000000001", "2000000001", 10.0, color="red")], "credit_card_1000001"),
        "#W1000003": order("#W1000003", "ann_lee_1111", "processed", [_item("1000000002", "3000000002", 60.0, size="large")], "paypal_1000003"),
        "#W1000004": order("#W1000004", "ann_lee_1111", "cancelled", [_item("1000000001", "2000000002", 15.5, color="blue")], "paypal_1000003", refunded=True),
        "#W2000001": order("#W2000001", "bob_kim_2222", "pending", [_item("1000000001", "2000000001", 10.0, color="red")], "gift_card_2000001"),
    }
    return StoreData(users=users, orders=orders, products=products)


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):
    """The tiny store on SQLite (the default) and on PostgreSQL: every test runs on both."""
    if request.param == "sqlite":
        target: Path | str = tmp_path / "store.db"
    else:
        target = await fresh_postgres_database(request.getfixturevalue("postgres_url"))
    database = await make_store_db(target, tiny_store())
    yield database
    await database.dispose()


async def call(ctx: ToolContext, name: str, confirm: bool = True, **args: Any) -> str:
    if confirm and TOOLS[name].consequential:
        try:
            ctx.confirm(name, TOOLS[name].validate(args))
        except InvalidArguments:
            pass  # the invoke below reports it
    return (await TOOLS[name].invoke(ctx, args)).text


def ann(db: Database) -> ToolContext:
    ctx = ToolContext(db)
    ctx.authenticate("ann_lee_1111")
    return ctx


async def snapshot(db: Database) -> str:
    async with db.read() as session:
        users = [(await queries.get_user(session, u)).as_dict() for u in ("ann_lee_1111", "bob_kim_2222")]  # type: ignore[union-attr]
        orders = [(await queries.get_order(session, o)).as_dict() for o in ("#W1000001", "#W1000002", "#W1000003", "#W1000004", "#W2000001")]  # type: ignore[union-attr]
    return json.dumps([users, orders], sort_keys=True)


# --- authentication and look-ups ------------------------------------------------------------

async def test_find_by_email_authenticates(db: Database) -> None:
    ctx = ToolContext(db)
    assert await call(ctx, "find_user_id_by_email", email="ANN.LEE@example.com") == "ann_lee_1111"
    assert ctx.user_id == "ann_lee_1111"
    assert await call(ToolContext(db), "find_user_id_by_email", email="nobody@example.com") == "Error: user not found"


async def test_find_by_name_zip(db: Database) -> None:
    ctx = ToolContext(db)
    assert await call(ctx, "find_user_id_by_name_zip", first_name="bob", last_name="KIM", zip="83702") == "bob_kim_2222"
    wrong = ToolContext(db)
    assert await call(wrong, "find_user_id_by_name_zip", first_name="Bob", last_name="Kim", zip="83701") == "Error: user not found"
    assert wrong.user_id is None


async def test_one_user_per_conversation(db: Database) -> None:
    ctx = ann(db)
    text = await call(ctx, "find_user_id_by_email", email="bob.kim@example.com")
    assert text.startswith("Error: this conversation is already authenticated as another user")
    assert ctx.user_id == "ann_lee_1111"


async def test_account_tools_need_authentication(db: Database) -> None:
    ctx = ToolContext(db)
    assert (await call(ctx, "get_user_details", user_id="ann_lee_1111")).startswith("Error: the user is not authenticated")
    assert (await call(ctx, "get_order_details", order_id="#W1000001")).startswith("Error: the user is not authenticated")
    assert (await call(ctx, "cancel_pending_order", order_id="#W1000001", reason="no longer needed")).startswith(
        "Error: the user is not authenticated"
    )


async def test_foreign_user_and_order_refused(db: Database) -> None:
    ctx = ann(db)
    before = await snapshot(db)
    assert await call(ctx, "get_user_details", user_id="bob_kim_2222") == "Error: the user id does not belong to the authenticated user"
    assert await call(ctx, "get_order_details", order_id="#W2000001") == "Error: the order does not belong to the authenticated user"
    assert await call(ctx, "cancel_pending_order", order_id="#W2000001", reason="no longer needed") == (
        "Error: the order does not belong to the authenticated user"
    )
    assert (await call(ctx, "modify_user_address", user_id="bob_kim_2222", address1="x", address2="", city="c", state="s", country="USA", zip="1")).startswith("Error: the user id does not belong")
    assert await snapshot(db) == before


async def test_lookups_return_tau_bench_json(db: Database) -> None:
    ctx = ann(db)
    user = json.loads(await call(ctx, "get_user_details", user_id="ann_lee_1111"))
    assert list(user) == ["name", "address", "email", "payment_methods", "orders"]
    assert user["payment_methods"]["gift_card_1000002"] == {"source": "gift_card", "balance": 5.0, "id": "gift_card_1000002"}
    order = json.loads(await call(ctx, "get_order_details", order_id="#W1000001"))
    assert list(order) == ["order_id", "user_id", "address", "items", "fulfillments", "status", "payment_history"]
    product = json.loads(await call(ctx, "get_product_details", product_id="1000000001"))
    assert list(product) == ["name", "product_id", "variants"] and len(product["variants"]) == 3
    assert await call(ctx, "get_product_details", product_id="999") == "Error: product not found"
    assert await call(ctx, "get_order_details", order_id="#W0000000") == "Error: order not found"
    assert json.loads(await call(ctx, "list_all_product_types")) == {"Lamp": "1000000002", "Mug": "1000000001"}


async def test_calculate(db: Database) -> None:
    ctx = ToolContext(db)
    assert await call(ctx, "calculate", expression="(15.5 - 10) * 2") == "11.0"
    assert await call(ctx, "calculate", expression="1/3") == "0.33"
    assert await call(ctx, "calculate", expression="__import__('os')") == "Error: invalid characters in expression"
    assert await call(ctx, "calculate", expression="1/0") == "Error: division by zero"
    assert await call(ctx, "calculate", expression="2 +") == "Error: invalid syntax"


async def test_transfer(db: Database) -> None:
    seen: list[tuple[str | None, str]] = []

    async def handoff(conversation_id: str | None, summary: str) -> None:
        seen.append((conversation_id, summary))

    ctx = ToolContext(db, conversation_id="c1", services={"handoff": handoff})
    assert await call(ctx, "transfer_to_human_agents", summary="wants a refund exception") == "Transfer successful"
    assert seen == [("c1", "wants a refund exception")]


# --- consequential tools: success and every policy error --------------------------------------

async def test_confirmation_required_and_single_use(db: Database) -> None:
    ctx = ann(db)
    text = await call(ctx, "cancel_pending_order", confirm=False, order_id="#W1000001", reason="no longer needed")
    assert text.startswith("Error: cancel_pending_order changes the order or account")
    # A yes to one action does not cover another.
    ctx.confirm("cancel_pending_order", {"order_id": "#W1000001", "reason": "ordered by mistake"})
    text = await TOOLS["cancel_pending_order"].invoke(ctx, {"order_id": "#W1000001", "reason": "no longer needed"})
    assert text.text.startswith("Error: cancel_pending_order changes")


async def test_cancel(db: Database) -> None:
    ctx = ann(db)
    assert await call(ctx, "cancel_pending_order", order_id="#W1000001", reason="because") == (
        "Error: invalid arguments for cancel_pending_order: reason: Input should be 'no longer needed' or 'ordered by mistake'"
    )
    order = json.loads(await call(ctx, "cancel_pending_order", order_id="#W1000001", reason="ordered by mistake"))
    assert order["status"] == "cancelled" and order["cancel_reason"] == "ordered by mistake"
    assert order["payment_history"][-1] == {"transaction_type": "refund", "amount": 50.0, "payment_method_id": "gift_card_1000002"}
    user = json.loads(await call(ctx, "get_user_details", user_id="ann_lee_1111"))
    assert user["payment_methods"]["gift_card_1000002"]["balance"] == 55.0  # refunded to the gift card at once
    for oid in ("#W1000001", "#W1000002", "#W1000003", "#W1000004"):
        assert await call(ctx, "cancel_pending_order", order_id=oid, reason="no longer needed") == "Error: non-pending order cannot be cancelled"


async def test_modify_address(db: Database) -> None:
    ctx = ann(db)
    new = dict(address1="9 Oak Rd", address2="Apt 2", city="Austin", state="TX", country="USA", zip="78701")
    order = json.loads(await call(ctx, "modify_pending_order_address", order_id="#W1000001", **new))
    assert order["address"] == {"address1": "9 Oak Rd", "address2": "Apt 2", "city": "Austin", "state": "TX", "country": "USA", "zip": "78701"}
    assert await call(ctx, "modify_pending_order_address", order_id="#W1000002", **new) == "Error: non-pending order cannot be modified"
    user = json.loads(await call(ctx, "modify_user_address", user_id="ann_lee_1111", **new))
    assert user["address"]["zip"] == "78701"
    assert await call(ToolContext(db), "find_user_id_by_name_zip", first_name="Ann", last_name="Lee", zip="78701") == "ann_lee_1111"


async def test_modify_payment(db: Database) -> None:
    ctx = ann(db)
    assert await call(ctx, "modify_pending_order_payment", order_id="#W1000001", payment_method_id="gift_card_1000002") == (
        "Error: the new payment method should be different from the current one"
    )
    assert await call(ctx, "modify_pending_order_payment", order_id="#W1000001", payment_method_id="gift_card_2000001") == "Error: payment method not found"
    assert await call(ctx, "modify_pending_order_payment", order_id="#W1000003", payment_method_id="credit_card_1000001") == (
        "Error: non-pending order cannot be modified"
    )
    order = json.loads(await call(ctx, "modify_pending_order_payment", order_id="#W1000001", payment_method_id="paypal_1000003"))
    assert [p["transaction_type"] for p in order["payment_history"]] == ["payment", "payment", "refund"]
    user = json.loads(await call(ctx, "get_user_details", user_id="ann_lee_1111"))
    assert user["payment_methods"]["gift_card_1000002"]["balance"] == 55.0
    assert await call(ctx, "modify_pending_order_payment", order_id="#W1000001", payment_method_id="credit_card_1000001") == (
        "Error: there should be exactly one payment for a pending order"
    )


async def test_modify_payment_gift_card_balance(tmp_path: Path) -> None:
    data = tiny_store()
    data.orders["#W1000001"]["payment_history"][0]["payment_method_id"] = "credit_card_1000001"
    database = await make_store_db(tmp_path / "balance.db", data)
    try:
        ctx = ann(database)
        before = await snapshot(database)
        # A 50.00 order cannot move onto a gift card holding 5.00.
        assert await call(ctx, "modify_pending_order_payment", order_id="#W1000001", payment_method_id="gift_card_1000002") == (
            "Error: insufficient gift card balance to pay for the order"
        )
        assert await snapshot(database) == before
    finally:
        await database.dispose()


async def test_modify_items(db: Database) -> None:
    ctx = ann(db)
    args = dict(order_id="#W1000001", payment_method_id="credit_card_1000001")
    assert await call(ctx, "modify_pending_order_items", item_ids=["2000000009"], new_item_ids=["2000000002"], **args) == "Error: 2000000009 not found"
    assert await call(ctx, "modify_pending_order_items", item_ids=["2000000001", "2000000001"], new_item_ids=["2000000002", "2000000002"], **args) == "Error: 2000000001 not found"
    assert await call(ctx, "modify_pending_order_items", item_ids=["2000000001"], new_item_ids=[], **args) == "Error: the number of items to be exchanged should match"
    assert await call(ctx, "modify_pending_order_items", item_ids=["2000000001"], new_item_ids=["2000000003"], **args) == "Error: new item 2000000003 not found or available"
    assert await call(ctx, "modify_pending_order_items", item_ids=["2000000001"], new_item_ids=["3000000002"], **args) == "Error: new item 3000000002 not found or available"  # another product
    assert await call(ctx, "modify_pending_order_items", order_id="#W1000001", item_ids=["3000000001"], new_item_ids=["3000000002"], payment_method_id="gift_card_1000002") == (
        "Error: insufficient gift card balance to pay for the new item"
    )
    order = json.loads(await call(ctx, "modify_pending_order_items", item_ids=["2000000001"], new_item_ids=["2000000002"], **args))
    assert order["status"] == "pending (item modified)"
    assert order["items"][0]["item_id"] == "2000000002" and order["items"][0]["options"] == {"color": "blue"}
    assert order["payment_history"][-1] == {"transaction_type": "payment", "amount": 5.5, "payment_method_id": "credit_card_1000001"}
    # Only once: the order is no longer pending.
    assert await call(ctx, "modify_pending_order_items", item_ids=["3000000001"], new_item_ids=["3000000002"], **args) == "Error: non-pending order cannot be modified"
    assert await call(ctx, "cancel_pending_order", order_id="#W1000001", reason="no longer needed") == "Error: non-pending order cannot be cancelled"


async def test_return(db: Database) -> None:
    ctx = ann(db)
    args = dict(order_id="#W1000002", item_ids=["2000000001"])
    assert await call(ctx, "return_delivered_order_items", order_id="#W1000001", item_ids=["2000000001"], payment_method_id="gift_card_1000002") == (
        "Error: non-delivered order cannot be returned"
    )
    assert await call(ctx, "return_delivered_order_items", payment_method_id="paypal_1000003", **args) == (
        "Error: payment method should be either the original payment method or a gift card"
    )
    assert await call(ctx, "return_delivered_order_items", payment_method_id="paypal_9", **args) == "Error: payment method not found"
    assert await call(ctx, "return_delivered_order_items", order_id="#W1000002", item_ids=["2000000002"], payment_method_id="credit_card_1000001") == "Error: some item not found"
    order = json.loads(await call(ctx, "return_delivered_order_items", payment_method_id="gift_card_1000002", **args))
    assert order["status"] == "return requested" and order["return_items"] == ["2000000001"]
    assert order["return_payment_method_id"] == "gift_card_1000002"


async def test_exchange(db: Database) -> None:
    ctx = ann(db)
    assert await call(ctx, "exchange_delivered_order_items", order_id="#W1000001", item_ids=["2000000001"], new_item_ids=["2000000002"], payment_method_id="credit_card_1000001") == (
        "Error: non-delivered order cannot be exchanged"
    )
    args = dict(order_id="#W1000002", item_ids=["2000000001"], new_item_ids=["2000000002"])
    assert await call(ctx, "exchange_delivered_order_items", payment_method_id="gift_card_1000002", **args) == (
        "Error: insufficient gift card balance to pay for the price difference"
    )
    order = json.loads(await call(ctx, "exchange_delivered_order_items", payment_method_id="credit_card_1000001", **args))
    assert order["status"] == "exchange requested"
    assert order["exchange_new_items"] == ["2000000002"] and order["exchange_price_difference"] == 5.5
    assert await call(ctx, "exchange_delivered_order_items", payment_method_id="credit_card_1000001", **args) == "Error: non-delivered order cannot be exchanged"


# --- bad input and races --------------------------------------------------------------------

@pytest.mark.parametrize(
    "name,args",
    [
        ("get_order_details", {"order_id": 1234567}),
        ("get_order_details", {}),
        ("get_order_details", {"order_id": "#W1000001", "extra": "x"}),
        ("cancel_pending_order", {"order_id": "#W1000001", "reason": None}),
        ("modify_pending_order_items", {"order_id": "#W1000001", "item_ids": "2000000001", "new_item_ids": ["2000000002"], "payment_method_id": "credit_card_1000001"}),
        ("get_order_details", {"order_id": "x" * 100_000}),
        ("find_user_id_by_email", {"email": "a" * 10_000}),
    ],
)
async def test_wrong_types_and_huge_strings_are_refused(db: Database, name: str, args: dict) -> None:
    ctx = ann(db)
    before = await snapshot(db)
    result = await TOOLS[name].invoke(ctx, args)
    assert not result.ok and result.text.startswith(f"Error: invalid arguments for {name}: ")
    assert "x" * 100 not in result.text and "a" * 100 not in result.text  # input is never echoed back
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "value", ["", "'; DROP TABLE store_orders; --", "#W1000001' OR '1'='1", "ünï©ødé ✓", "#W1000001\u202e", "😀" * 10]
)
async def test_odd_strings_change_nothing(db: Database, value: str) -> None:
    ctx = ann(db)
    before = await snapshot(db)
    assert await call(ctx, "get_order_details", order_id=value) == "Error: order not found"
    assert await call(ctx, "cancel_pending_order", order_id=value, reason="no longer needed") == "Error: order not found"
    assert await call(ToolContext(db), "find_user_id_by_email", email=value) == "Error: user not found"
    assert await snapshot(db) == before


async def test_nul_and_lone_surrogates_are_refused(db: Database) -> None:
    before = await snapshot(db)
    for name, args in (("get_order_details", {"order_id": "#W1\x00"}), ("find_user_id_by_email", {"email": "\x00"}), ("get_order_details", {"order_id": "\ud83d"}), ("return_delivered_order_items", {"order_id": "#W1000002", "item_ids": ["2000000001\x00"], "payment_method_id": "credit_card_1000001"})):
        result = await TOOLS[name].invoke(ann(db), args)
        assert not result.ok and result.text.startswith(f"Error: invalid arguments for {name}: ")
    assert await snapshot(db) == before


async def test_arguments_must_be_an_object(db: Database) -> None:
    result = await TOOLS["get_order_details"].invoke(ann(db), ["#W1000001"])
    assert result.text == "Error: arguments must be a JSON object"


async def test_two_concurrent_cancellations_exactly_one_succeeds(db: Database) -> None:
    contexts = [ann(db), ann(db)]
    results = await asyncio.gather(
        *(call(ctx, "cancel_pending_order", order_id="#W1000001", reason="no longer needed") for ctx in contexts)
    )
    ok = [r for r in results if not r.startswith("Error")]
    assert len(ok) == 1
    assert results.count("Error: non-pending order cannot be cancelled") == 1
    async with db.read() as session:
        order = await queries.get_order(session, "#W1000001")
        user = await queries.get_user(session, "ann_lee_1111")
    assert order is not None and [p["transaction_type"] for p in order.payment_history] == ["payment", "refund"]
    assert user is not None and user.payment_method("gift_card_1000002").balance == 55.0  # type: ignore[union-attr]


async def test_concurrent_gift_card_spending_never_overdraws(tmp_path: Path) -> None:
    """Two different orders paid from one gift card at once: balances stay consistent."""
    data = tiny_store()
    data.users["ann_lee_1111"]["payment_methods"]["gift_card_1000002"]["balance"] = 60.0
    database = await make_store_db(tmp_path / "race.db", data)
    try:
        a, b = ann(database), ann(database)
        r1, r2 = await asyncio.gather(
            call(a, "modify_pending_order_items", order_id="#W1000001", item_ids=["3000000001"], new_item_ids=["3000000002"], payment_method_id="gift_card_1000002"),
            call(b, "exchange_delivered_order_items", order_id="#W1000002", item_ids=["2000000001"], new_item_ids=["2000000002"], payment_method_id="gift_card_1000002"),
        )
        assert not r1.startswith("Error") and not r2.startswith("Error")
        async with database.read() as session:
            user = await queries.get_user(session, "ann_lee_1111")
        assert user is not None and user.payment_method("gift_card_1000002").balance == 40.0  # type: ignore[union-attr]
    finally:
        await database.dispose()
