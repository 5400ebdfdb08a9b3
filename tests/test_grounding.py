"""The grounding check: numbers, ids, prices tied to their product, status / stock / done claims."""
from __future__ import annotations

import json

from bot.grounding import StreamGuard, mismatched_prices, ungrounded, unsupported_claims


def tool(content: object) -> dict:
    return {"role": "tool", "tool_call_id": "x", "name": "search_products", "content": json.dumps(content)}


HITS = tool({"query": "lamp", "hits": [{"id": "1", "name": "Desk Lamp", "price": 40.0, "variants": [{"price": 40.0, "available": True}, {"price": 45.5, "available": True}]},
                                         {"id": "2", "name": "Floor Lamp", "price": 89.0}]})


def test_numbers_and_ids_must_appear_in_the_conversation() -> None:
    messages = [{"role": "user", "content": "order #W1234567"}, {"role": "tool", "tool_call_id": "x", "content": '{"price": 17.0, "item_id": "1234567890"}'}]
    assert ungrounded("Order #W1234567 costs $17.00 (item 1234567890).", messages) == []
    assert ungrounded("Order #W7654321 costs $19.99.", messages) == ["#W7654321", "19.99"]
    assert ungrounded("Refunds take 5 to 7 days.", messages, ["within 5 to 7 business days"]) == []


def test_a_price_must_be_the_products_own() -> None:
    messages = [HITS]
    assert mismatched_prices("Here is what I found: Desk Lamp ($40.00); Floor Lamp ($89.00).", messages) == []
    assert mismatched_prices("The Desk Lamp costs $40.00 to $45.50, depending on the option.", messages) == []
    # Both prices are in the conversation, but each is said of the other product.
    assert mismatched_prices("Desk Lamp ($89.00); Floor Lamp ($40.00).", messages) == ["$89.00", "$40.00"]
    assert ungrounded("Desk Lamp ($89.00)", messages) == ["$89.00"]


def test_claims_need_a_tool_result_that_makes_them() -> None:
    order = {"role": "tool", "tool_call_id": "o", "name": "get_order_details", "content": json.dumps({"order_id": "#W1", "status": "delivered"})}
    assert unsupported_claims("Your order was delivered.", [order]) == []
    assert unsupported_claims("I've cancelled your order.", [order]) == ["cancelled"]
    assert unsupported_claims("Good news, it's in stock!", [order]) == ["in stock"]
    assert unsupported_claims("Good news, it's in stock!", [HITS | {"content": json.dumps({"hits": [{"available": True}]})}]) == []
    done = {"role": "tool", "tool_call_id": "c", "name": "cancel_pending_order", "content": json.dumps({"order_id": "#W1", "status": "cancelled"})}
    assert unsupported_claims("Done, it's cancelled.", [done]) == []


def test_the_stream_guard_stops_before_an_unsupported_word() -> None:
    guard = StreamGuard([{"role": "user", "content": "hi"}])
    assert all(guard.check(piece) for piece in ["Happy", " to", " help", " with"])
    assert not guard.check(" 25")
    assert not guard.check(" refunded")
    assert guard.text == "Happy to help with"
