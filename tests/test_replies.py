"""Reply acts rendered from tool results: every fact comes from the conversation."""
from __future__ import annotations

import json

import pytest

from bot.conversation import Command, ConversationView
from bot.grounding import ungrounded
from bot.replies import render
from bot.store.generate import generate_store


def call(name: str, args: dict, result: object, n: int) -> list[dict]:
    text = result if isinstance(result, str) else json.dumps(result)
    return [
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": f"c{n}", "name": name, "content": text},
    ]


@pytest.fixture(scope="module")
def store():
    return generate_store(4, 10)


def lamp_search() -> list[dict]:
    hits = [
        {"id": "p1", "name": "Desk Lamp", "price": 40.0, "options": {"color": "black"}, "brand": "Lumen",
         "variants": [{"item_id": "i1", "options": {"color": "black"}, "price": 40.0, "available": True},
                      {"item_id": "i2", "options": {"color": "white"}, "price": 45.5, "available": True},
                      {"item_id": "i3", "options": {"color": "red"}, "price": 39.0, "available": False}]},
        {"id": "p2", "name": "Floor Lamp", "price": 89.0, "options": {"height": "150 cm"}, "variants": [{"item_id": "i4", "options": {"height": "150 cm"}, "price": 89.0, "available": True}]},
    ]
    return [{"role": "user", "content": "lamps under $100?"}] + call("search_products", {"query": "lamp", "max_price": 100}, {"query": "lamp", "hits": hits}, 1)


def test_product_questions_are_answered_from_the_variants() -> None:
    messages = lamp_search()
    view = ConversationView.parse(messages)
    stock = render(view, Command("reply", "product", {"product_id": "p1", "about": "stock"})).text
    assert "in stock" in stock and "2 of its 3" in stock
    options = render(view, Command("reply", "product", {"product_id": "p1", "about": "options"})).text
    assert "black" in options and "white" in options and "red" not in options  # red is sold out
    price = render(view, Command("reply", "product", {"product_id": "p1", "about": "price"})).text
    assert "$40.00 to $45.50" in price
    compare = render(view, Command("reply", "compare", {"product_ids": ["p1", "p2"]})).text
    assert "Desk Lamp, by Lumen: $40.00 to $45.50" in compare and "Floor Lamp: $89.00" in compare and "Desk Lamp is the cheaper" in compare
    for text in (stock, options, price, compare):
        assert ungrounded(text, messages) == []


def test_two_requests_get_both_answers_and_the_cards() -> None:
    messages = lamp_search()
    messages[0]["content"] = "what's your return policy? and lamps under $100?"
    messages += call("search_policy", {"query": "return policy"}, [{"section": "Returns", "text": "Delivered orders can be returned."}], 2)
    reply = render(ConversationView.parse(messages), Command("reply", "answer"))
    assert "Desk Lamp ($40.00)" in reply.text and "From our store policy (Returns)" in reply.text
    assert [c["id"] for c in reply.cards] == ["p1", "p2"]


def test_a_listing_names_exactly_what_will_change_and_waits_for_yes(store) -> None:
    user_id, user = next((k, u) for k, u in store.users.items() if any(store.orders[o]["status"] == "delivered" for o in u["orders"]))
    order = next(store.orders[o] for o in user["orders"] if store.orders[o]["status"] == "delivered")
    item = order["items"][0]
    product = store.products[item["product_id"]]
    new = next(v for v in product["variants"].values() if v["item_id"] != item["item_id"])
    pm = next(iter(user["payment_methods"]))
    messages = [{"role": "user", "content": "exchange please"}]
    messages += call("find_user_id_by_email", {"email": user["email"]}, user_id, 1)
    messages += call("get_user_details", {"user_id": user_id}, user, 2)
    messages += call("get_order_details", {"order_id": order["order_id"]}, order, 3)
    messages += call("get_product_details", {"product_id": product["product_id"]}, {k: product[k] for k in ("name", "product_id", "variants")}, 4)
    view = ConversationView.parse(messages)
    args = {"order_id": order["order_id"], "item_ids": [item["item_id"]], "new_item_ids": [new["item_id"]], "payment_method_id": pm}
    reply = render(view, Command("confirm", "exchange_delivered_order_items", args))
    assert reply.pending_action == {"name": "exchange_delivered_order_items", "arguments": args} and reply.quick_replies
    assert item["item_id"] in reply.text and new["item_id"] in reply.text and order["order_id"] in reply.text
    assert ungrounded(reply.text, messages) == []
    returned = render(view, Command("confirm", "return_delivered_order_items", {"order_id": order["order_id"], "item_ids": [item["item_id"]], "payment_method_id": pm}))
    assert item["name"] in returned.text and returned.pending_action["name"] == "return_delivered_order_items"


def test_an_act_about_something_never_fetched_asks_instead() -> None:
    view = ConversationView.parse([{"role": "user", "content": "return my stuff"}])
    for command in (Command("reply", "ask_items", {"order_id": "#W1234567", "purpose": "return"}), Command("reply", "product", {"product_id": "x", "about": "price"}),
                    Command("confirm", "cancel_pending_order", {"order_id": "#W1234567", "reason": "no longer needed"})):
        reply = render(view, command)
        assert not reply.understood and "#W1234567" not in reply.text and reply.pending_action is None
