"""Replay the gold tool calls of tau-bench's 500 training tasks against our tools.

Each task runs on a fresh copy of the imported tau-bench store. The expected outcome of every call
and the resulting orders, users and balances come from `Reference`, a plain-dict restatement of
tau-bench's retail semantics kept independent of the database code under test.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from bot.db import Database
from bot.store import queries
from bot.store.tau_bench import read_tau_bench
from tests.store_helpers import checkpoint, make_store_db, tau_bench_dir
from tools.base import ToolContext
from tools.registry import default_tools

pytestmark = pytest.mark.data


class Reference:
    """tau-bench retail write semantics over the JSON dicts (the oracle)."""

    def __init__(self, users: dict, orders: dict, products: dict) -> None:
        self.users, self.orders, self.products = users, orders, products

    def _diff(self, order: dict, item_ids: list[str], new_item_ids: list[str]) -> float | str:
        present = [i["item_id"] for i in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > present.count(item_id):
                return f"Error: {item_id} not found"
        if len(item_ids) != len(new_item_ids):
            return "Error: the number of items to be exchanged should match"
        diff = 0.0
        for old, new in zip(item_ids, new_item_ids):
            item = next(i for i in order["items"] if i["item_id"] == old)
            variants = self.products[item["product_id"]]["variants"]
            if new not in variants or not variants[new]["available"]:
                return f"Error: new item {new} not found or available"
            diff += variants[new]["price"] - item["price"]
        return diff

    def run(self, name: str, a: dict) -> str:
        order = self.orders.get(a["order_id"])
        if order is None:
            return "Error: order not found"
        methods = self.users[order["user_id"]]["payment_methods"]
        if name == "cancel_pending_order":
            if order["status"] != "pending":
                return "Error: non-pending order cannot be cancelled"
            refunds = []
            for p in order["payment_history"]:
                refunds.append({"transaction_type": "refund", "amount": p["amount"], "payment_method_id": p["payment_method_id"]})
                if "gift_card" in p["payment_method_id"]:
                    m = methods[p["payment_method_id"]]
                    m["balance"] = round(m["balance"] + p["amount"], 2)
            order["status"] = "cancelled"
            order["cancel_reason"] = a["reason"]
            order["payment_history"].extend(refunds)
        elif name == "modify_pending_order_address":
            if order["status"] != "pending":
                return "Error: non-pending order cannot be modified"
            order["address"] = {k: a[k] for k in ("address1", "address2", "city", "state", "country", "zip")}
        elif name == "modify_pending_order_payment":
            if order["status"] != "pending":
                return "Error: non-pending order cannot be modified"
            if a["payment_method_id"] not in methods:
                return "Error: payment method not found"
            first = order["payment_history"][0]
            if len(order["payment_history"]) > 1 or first["transaction_type"] != "payment":
                return "Error: there should be exactly one payment for a pending order"
            if first["payment_method_id"] == a["payment_method_id"]:
                return "Error: the new payment method should be different from the current one"
            new, amount = methods[a["payment_method_id"]], first["amount"]
            if new["source"] == "gift_card" and new["balance"] < amount:
                return "Error: insufficient gift card balance to pay for the order"
            order["payment_history"] += [
                {"transaction_type": "payment", "amount": amount, "payment_method_id": a["payment_method_id"]},
                {"transaction_type": "refund", "amount": amount, "payment_method_id": first["payment_method_id"]},
            ]
            if new["source"] == "gift_card":
                new["balance"] = round(new["balance"] - amount, 2)
            if "gift_card" in first["payment_method_id"]:
                old = methods[first["payment_method_id"]]
                old["balance"] = round(old["balance"] + amount, 2)
        elif name in ("modify_pending_order_items", "exchange_delivered_order_items"):
            wanted = "pending" if name == "modify_pending_order_items" else "delivered"
            if order["status"] != wanted:
                return "Error: non-pending order cannot be modified" if wanted == "pending" else "Error: non-delivered order cannot be exchanged"
            diff = self._diff(order, a["item_ids"], a["new_item_ids"])
            if isinstance(diff, str):
                return diff
            if name == "exchange_delivered_order_items":
                diff = round(diff, 2)
            if a["payment_method_id"] not in methods:
                return "Error: payment method not found"
            m = methods[a["payment_method_id"]]
            if m["source"] == "gift_card" and m["balance"] < diff:
                what = "the new item" if name == "modify_pending_order_items" else "the price difference"
                return f"Error: insufficient gift card balance to pay for {what}"
            if name == "exchange_delivered_order_items":
                order["status"] = "exchange requested"
                order["exchange_items"] = sorted(a["item_ids"])
                order["exchange_new_items"] = sorted(a["new_item_ids"])
                order["exchange_payment_method_id"] = a["payment_method_id"]
                order["exchange_price_difference"] = diff
            else:
                order["payment_history"].append(
                    {"transaction_type": "payment" if diff > 0 else "refund", "amount": abs(diff), "payment_method_id": a["payment_method_id"]}
                )
                if m["source"] == "gift_card":
                    m["balance"] = round(m["balance"] - diff, 2)
                for old, new in zip(a["item_ids"], a["new_item_ids"]):
                    item = next(i for i in order["items"] if i["item_id"] == old)
                    variant = self.products[item["product_id"]]["variants"][new]
                    item.update(item_id=new, price=variant["price"], options=variant["options"])
                order["status"] = "pending (item modified)"
        elif name == "return_delivered_order_items":
            if order["status"] != "delivered":
                return "Error: non-delivered order cannot be returned"
            pm = a["payment_method_id"]
            if pm not in methods:
                return "Error: payment method not found"
            if "gift_card" not in pm and pm != order["payment_history"][0]["payment_method_id"]:
                return "Error: payment method should be either the original payment method or a gift card"
            present = [i["item_id"] for i in order["items"]]
            if any(a["item_ids"].count(i) > present.count(i) for i in a["item_ids"]):
                return "Error: some item not found"
            order["status"] = "return requested"
            order["return_items"] = sorted(a["item_ids"])
            order["return_payment_method_id"] = pm
        else:
            raise AssertionError(f"no reference for {name}")
        return json.dumps(order)


@pytest.fixture(scope="module")
def tau_dir() -> Path:
    found = tau_bench_dir()
    if found is None:
        pytest.skip("tau-bench retail data not found: set SHOPBOT_DATA_DIR to the public data directory")
    return found


async def test_replay_all_training_tasks(tau_dir: Path, tmp_path: Path) -> None:
    tasks = json.loads((tau_dir / "tasks_train.json").read_text())
    store = read_tau_bench(tau_dir)
    template = tmp_path / "template.db"
    db = await make_store_db(template, store, "tau-bench")
    await checkpoint(db)
    await db.dispose()

    tools = default_tools()
    calls = succeeded = 0
    refusals: list[str] = []
    for number, task in enumerate(tasks):
        path = tmp_path / "task.db"
        shutil.copyfile(template, path)
        db = Database(f"sqlite+aiosqlite:///{path}")
        reference = Reference(copy.deepcopy(store.users), copy.deepcopy(store.orders), store.products)
        ctx = ToolContext(db)
        ctx.authenticate(task["user_id"])
        touched: set[str] = set()
        for action in task["actions"]:
            calls += 1
            args = tools[action["name"]].validate(action["arguments"])
            ctx.confirm(action["name"], args)
            result = await tools[action["name"]].invoke(ctx, action["arguments"])
            expected = reference.run(action["name"], action["arguments"])
            assert result.text == expected, f"task {number} {action['name']}"
            touched.add(action["arguments"]["order_id"])
            if result.ok:
                succeeded += 1
            else:
                refusals.append(result.text)
        async with db.read() as session:
            for order_id in touched:
                order = await queries.get_order(session, order_id)
                assert order is not None and order.as_dict() == reference.orders[order_id], f"task {number} {order_id}"
            user = await queries.get_user(session, task["user_id"])
            assert user is not None and user.as_dict() == reference.users[task["user_id"]], f"task {number} user"
        await db.dispose()

    assert calls == 768
    assert succeeded == 748
    assert len(refusals) == 20
    assert all(text.startswith("Error: insufficient gift card balance") for text in refusals)
