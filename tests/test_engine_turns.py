"""Argument filling and validation, the grounding check, and the streaming order of a turn."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.engine import Decision, DecisionPolicy, ShopEngine, chunks
from bot.engine_args import ConversationView, fill_arguments, find_address, find_name_zip
from bot.engine_compose import Reply
from bot.grounding import SAFE_REPLY, ungrounded
from bot.store.generate import generate_store
from bot.turns import ConversationState, DeltaEvent, ReplyEvent, StatusEvent, ToolResultEvent
from tests.store_helpers import make_store_db
from tools.registry import default_tools


class Scripted:
    def __init__(self, *steps: Decision) -> None:
        self.steps = list(steps)

    def propose(self, view, tools):
        return [Decision(s.action, s.arguments) for s in self.steps] + [Decision("respond")]


def call(name: str, args: dict, result: str, n: int) -> list[dict]:
    return [
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": f"c{n}", "content": result},
    ]


@pytest.fixture()
def store():
    return generate_store(5, 10)


@pytest.fixture()
async def db(tmp_path: Path, store):
    database = await make_store_db(tmp_path / "store.db", store)
    yield database
    await database.dispose()


def test_arguments_come_from_the_conversation(store) -> None:
    user_id, user = next(iter(store.users.items()))
    first, last, zip_code = user["name"]["first_name"], user["name"]["last_name"], user["address"]["zip"]
    view = ConversationView.parse([{"role": "user", "content": f"hi, my name is {first} {last} and my zip is {zip_code}"}])
    assert fill_arguments("find_user_id_by_name_zip", view) == {"first_name": first, "last_name": last, "zip": zip_code}
    assert fill_arguments("find_user_id_by_email", view) is None  # never guessed
    assert fill_arguments("get_user_details", view) is None
    order = store.orders[user["orders"][0]]
    messages = [{"role": "user", "content": f"{first} {last}, {zip_code}. What about order {order['order_id']}?"}]
    messages += call("find_user_id_by_name_zip", {}, user_id, 1)
    messages += call("get_user_details", {"user_id": user_id}, json.dumps(user), 2)
    view = ConversationView.parse(messages)
    assert fill_arguments("get_user_details", view) == {"user_id": user_id}
    assert fill_arguments("get_order_details", view) == {"order_id": order["order_id"]}


def test_swap_arguments_from_the_listing(store) -> None:
    user_id, user = next((k, u) for k, u in store.users.items() if any(store.orders[o]["status"] == "delivered" for o in u["orders"]))
    order = next(store.orders[o] for o in user["orders"] if store.orders[o]["status"] == "delivered")
    item = order["items"][0]
    product = store.products[item["product_id"]]
    new = next(v for v in product["variants"].values() if v["item_id"] != item["item_id"])
    pm = next(iter(user["payment_methods"]))
    messages = [{"role": "user", "content": "exchange please"}]
    messages += call("find_user_id_by_email", {}, user_id, 1)
    messages += call("get_user_details", {"user_id": user_id}, json.dumps(user), 2)
    messages += call("get_order_details", {"order_id": order["order_id"]}, json.dumps(order), 3)
    messages += call("get_product_details", {"product_id": product["product_id"]}, json.dumps(product), 4)
    messages.append({"role": "assistant", "content": f"To confirm: in order {order['order_id']}, exchange item {item['item_id']} to item {new['item_id']}, paid with {pm}. Shall I go ahead (yes/no)?"})
    messages.append({"role": "user", "content": "yes"})
    args = fill_arguments("exchange_delivered_order_items", ConversationView.parse(messages))
    assert args == {"order_id": order["order_id"], "item_ids": [item["item_id"]], "new_item_ids": [new["item_id"]], "payment_method_id": pm}
    default_tools()["exchange_delivered_order_items"].validate(args)


def test_parsers() -> None:
    assert find_address("the new address is 12 Oak Lane, Apt 3, Springfield, IL 62704, USA") == {
        "address1": "12 Oak Lane", "address2": "Apt 3", "city": "Springfield", "state": "IL", "country": "USA", "zip": "62704"
    }
    view = ConversationView.parse([{"role": "user", "content": "sure: Lena Park, postal code 10001"}])
    assert find_name_zip(view) == ("Lena", "Park", "10001")


def test_invalid_arguments_are_not_called() -> None:
    """A model-supplied argument that fails the tool schema makes the engine reply instead."""
    policy = DecisionPolicy(Scripted(Decision("calculate", {"expression": 42})), default_tools())
    decision = policy.decide([{"role": "user", "content": "what is 40 + 2"}])
    assert decision.action == "respond" and "invalid arguments" in decision.note


def test_grounding_check() -> None:
    messages = [{"role": "user", "content": "order #W1234567"}, {"role": "tool", "tool_call_id": "x", "content": '{"price": 17.0, "item_id": "1234567890"}'}]
    assert ungrounded("Order #W1234567 costs $17.00 (item 1234567890).", messages) == []
    assert ungrounded("Order #W7654321 costs $19.99.", messages) == ["#W7654321", "19.99"]
    assert ungrounded("Refunds take 5 to 7 days.", messages, ["within 5 to 7 business days"]) == []


async def test_ungrounded_reply_falls_back(db) -> None:
    invent = lambda view, policy: Reply("Your refund of $123.45 is on its way.")  # noqa: E731
    engine = ShopEngine(db, DecisionPolicy(Scripted(), default_tools()), composer=invent)
    state = ConversationState("g")
    events = [e async for e in engine.run_turn(state, "where is my refund?")]
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert reply.text == SAFE_REPLY and "123.45" not in "".join(e.text for e in events if isinstance(e, DeltaEvent))


async def test_stream_order(db, store) -> None:
    user = next(iter(store.users.values()))
    engine = ShopEngine(db, DecisionPolicy(Scripted(Decision("find_user_id_by_email"), Decision("get_user_details")), default_tools()))
    state = ConversationState("s")
    events = [e async for e in engine.run_turn(state, f"hello, I'm {user['email']}")]
    kinds = [e.state if isinstance(e, StatusEvent) else type(e).__name__ for e in events]
    assert kinds[0] == "thinking" and kinds[-1] == "idle"
    assert kinds[1:5] == ["tool", "ToolResultEvent", "tool", "ToolResultEvent"]
    assert [(e.tool, e.ok) for e in events if isinstance(e, ToolResultEvent)][:2] == [("find_user_id_by_email", True), ("get_user_details", True)]
    first_delta = kinds.index("DeltaEvent")
    assert "tool" not in kinds[first_delta:]  # text never interleaves with a tool call
    assert kinds[-2] == "ReplyEvent"
    deltas = "".join(e.text for e in events if isinstance(e, DeltaEvent))
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert deltas == reply.text and len([e for e in events if isinstance(e, DeltaEvent)]) > 1
    assert state.messages[-1] == {"role": "assistant", "content": reply.text}
    restored = ConversationState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.user_id == state.user_id


def test_chunks_rejoin() -> None:
    text = "one two three four five six seven"
    assert "".join(chunks(text)) == text


def test_reading_any_conversation_prefix_never_crashes(store) -> None:
    """Replies, state features and argument filling on every prefix of simulated conversations,
    also with messages dropped at random (what a stranger's transcript can look like)."""
    import random

    from bot.engine_compose import compose
    from policies.router import TOOL_NAMES, state_features
    from tools.search_policy import default_index
    from training.build_data import build
    from training.transcripts import decision_points

    built = build({"demo": store}, seed=1, n_generated=30, policy_search=default_index().search, progress=False)
    rng = random.Random(0)
    for transcript in built.train + built.dev:
        for context, _step in decision_points(transcript):
            for variant in (context, [m for m in context if rng.random() < 0.8]):
                view = ConversationView.parse(variant)
                assert compose(view).text
                state_features(view)
                for name in TOOL_NAMES:
                    fill_arguments(name, view)


def test_a_product_is_named_by_its_place_in_the_list() -> None:
    """"tell me more about the second one" after a search describes the second product shown;
    "it" names the product only when the list had one."""
    def after_search(hits: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
        messages = [
            {"role": "user", "content": "show me backpacks"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search_products", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": json.dumps(hits)},
            {"role": "assistant", "content": "Here is what I found: ..."},
            {"role": "user", "content": text},
        ]
        return fill_arguments("describe_product", ConversationView.parse(messages))

    three = [{"product_id": f"p{i}", "name": name, "price": 10.0} for i, name in enumerate(("Backpack", "Sleeping Bag", "Camping Tent"), 1)]
    assert after_search(three, "tell me more about the second one") == {"product_id": "p2"}
    assert after_search(three, "what about number 3?") == {"product_id": "p3"}
    assert after_search(three, "the last one please") == {"product_id": "p3"}
    assert after_search(three, "tell me more about the camping tent") == {"product_id": "p3"}  # a name still wins
    assert after_search(three, "tell me more about it") is None  # which one? the engine asks
    assert after_search(three[:1], "tell me more about it") == {"product_id": "p1"}
    assert after_search(three, "the fifth one") is None


def test_an_order_is_picked_by_its_place_or_by_what_is_in_it() -> None:
    """After the agent lists the shopper's orders: "the second one" opens that order; "the one
    with the dog bed" opens the orders in turn until one holds a dog bed; then the engine answers."""
    from policies import rules

    profile = {"user_id": "ada_1", "orders": ["#W1000001", "#W1000002"], "payment_methods": {}}
    orders = {
        "#W1000001": {"order_id": "#W1000001", "status": "delivered", "items": [{"name": "Smart Watch", "item_id": "1", "product_id": "p1", "options": {}, "price": 1.0}]},
        "#W1000002": {"order_id": "#W1000002", "status": "pending", "items": [{"name": "Dog Bed", "item_id": "2", "product_id": "p2", "options": {}, "price": 1.0}]},
    }

    def view(text: str, opened: list[str]) -> ConversationView:
        messages: list[dict[str, Any]] = [
            {"role": "assistant", "content": None, "tool_calls": [{"id": "u", "type": "function", "function": {"name": "get_user_details", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "u", "content": json.dumps(profile)},
            {"role": "assistant", "content": "Which order would you like to check? Your orders are: #W1000001, #W1000002."},
            {"role": "user", "content": text},
        ]
        for n, oid in enumerate(opened):
            messages += [
                {"role": "assistant", "content": None, "tool_calls": [{"id": f"o{n}", "type": "function", "function": {"name": "get_order_details", "arguments": json.dumps({"order_id": oid})}}]},
                {"role": "tool", "tool_call_id": f"o{n}", "content": json.dumps(orders[oid])},
            ]
        return ConversationView.parse(messages)

    assert rules.order_choice(view("the second one", [])) == ("#W1000002", False)
    assert rules.order_choice(view("the first order please", [])) == ("#W1000001", False)
    assert rules.order_choice(view("the second one", ["#W1000002"])) == ("#W1000002", True)
    assert rules.order_choice(view("the one with the dog bed", [])) == ("#W1000001", False)
    assert rules.order_choice(view("the one with the dog bed", ["#W1000001"])) == ("#W1000002", False)
    assert rules.order_choice(view("the dog bed one", ["#W1000001", "#W1000002"])) == ("#W1000002", True)
    assert rules.order_choice(view("the one with the toaster", ["#W1000001", "#W1000002"])) is None  # in none of them
    assert rules.order_choice(view("#W1000001", [])) is None  # an order id: the engine's usual path
    assert rules.order_choice(view("what is your return policy?", [])) is None

    # The engine opens the order, then answers, whatever the model proposes (here: product details).
    policy = DecisionPolicy(Scripted(Decision("get_product_details", {"product_id": "p2"})))
    decision = policy.decide(view("the one with the dog bed", ["#W1000001"]).messages)
    assert (decision.action, decision.arguments) == ("get_order_details", {"order_id": "#W1000002"})
    assert policy.decide(view("the one with the dog bed", ["#W1000001", "#W1000002"]).messages).action == "respond"
