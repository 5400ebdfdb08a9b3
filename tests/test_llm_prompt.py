"""How the language model reads a conversation: the serialisation, its window, its training labels."""
from __future__ import annotations

import json

from policies.llm.command import Command, parse_line, pieces
from policies.llm.prompt import Serializer, compact_result, events, event_text, key_order, window_start
from tools.registry import default_tools


def words(text: str) -> list[int]:
    """A stand-in tokenizer: one id per character (the serialiser only needs ids)."""
    return [ord(ch) for ch in text]


def call(name: str, args: dict, result: str, n: int) -> list[dict]:
    return [
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": f"c{n}", "content": result},
    ]


def conversation(turns: int) -> list[dict]:
    messages: list[dict] = []
    for n in range(turns):
        messages.append({"role": "user", "content": f"question number {n} about my order #W000000{n % 10}"})
        messages += call("get_order_details", {"order_id": f"#W000000{n % 10}"}, json.dumps({"order_id": f"#W000000{n % 10}", "status": "pending", "items": []}), n)
        messages.append({"role": "assistant", "content": f"Order #W000000{n % 10} is pending.", "act": {"verb": "reply", "name": "answer", "arguments": {}}})
    return messages


def test_commands_round_trip_through_their_line() -> None:
    for command in (
        Command("call", "get_order_details", {"order_id": "#W1234567"}),
        Command("confirm", "return_delivered_order_items", {"order_id": "#W1", "item_ids": ["1", "2"], "payment_method_id": "paypal_1"}),
        Command("reply", "ask_items", {"order_id": "#W1", "purpose": "return"}),
        Command("reply", "greet"),
        Command("call", "search_products", {"query": "lampe de bureau bleue", "max_price": 49.5, "in_stock_only": True}),
    ):
        back = parse_line("".join(pieces(command)))
        assert (back.verb, back.name, back.arguments) == (command.verb, command.name, command.arguments)


def test_replies_without_a_recorded_act_read_as_the_agents_own_words() -> None:
    evs = events([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello, how can I help?"}])
    assert evs[1].command == Command("reply", "say") and evs[2].text == "Hello, how can I help?"
    assert "".join(p for e in evs for p in event_text(e)) == "shopper: hi\nagent> reply say\nagent: Hello, how can I help?\n"


def test_arguments_are_written_in_schema_order() -> None:
    order = key_order([t.schema() for t in default_tools().values()])
    messages = [{"role": "user", "content": "lamps"}] + call("search_products", {"sort": "price_asc", "max_price": 50, "query": "lamp"}, "[]", 1)
    assert list(events(messages, order)[1].command.arguments) == ["query", "max_price", "sort"]


def test_results_are_shortened_to_what_a_decision_needs() -> None:
    user = {"name": {"first_name": "Ana", "last_name": "Ruiz"}, "address": {"city": "Austin"}, "email": "a@x.io",
            "payment_methods": {"paypal_1": {"source": "paypal", "id": "paypal_1"}, "gift_card_2": {"source": "gift_card", "id": "gift_card_2", "balance": 12.5}}, "orders": ["#W1", "#W2"]}
    text = compact_result("get_user_details", {"user_id": "ana_1"}, json.dumps(user))
    assert text == "user ana_1 Ana Ruiz; payment methods: paypal_1 (paypal); gift_card_2 (gift card, balance $12.50); orders: #W1, #W2"
    product = {"name": "Lamp", "product_id": "9", "variants": {"1": {"item_id": "1", "options": {"color": "red"}, "available": True, "price": 3.0},
                                                               "2": {"item_id": "2", "options": {"color": "blue"}, "available": False, "price": 4.0}}}
    assert compact_result("get_product_details", {}, json.dumps(product)) == "product 9 Lamp, in stock: 1 (red) $3.00"
    assert compact_result("find_user_id_by_email", {}, "Error: user not found") == "Error: user not found"


def test_the_window_moves_rarely_and_by_half() -> None:
    lengths = [40] * 60
    kinds = ["shopper" if n % 3 == 0 else "result" for n in range(60)]
    starts = [window_start(lengths[: n + 1], kinds[: n + 1], 400) for n in range(60)]
    assert starts[:10] == [0] * 10
    moves = [n for n in range(1, 60) if starts[n] != starts[n - 1]]
    assert len(moves) <= 12 and all(kinds[starts[n]] == "shopper" for n in moves)
    for n in range(60):
        assert sum(lengths[starts[n] : n + 1]) <= 400


def test_training_labels_are_the_commands_of_each_window_exactly_once() -> None:
    serializer = Serializer(words, ["get_order_details"], [1], budget=600)
    evs = events(conversation(12))
    sequences = serializer.training_sequences(evs)
    assert len(sequences) > 1  # the conversation outgrew the window
    labelled = "".join("".join(chr(t) for t, label in zip(s.ids, s.labels) if label != -100) for s in sequences)
    expected = "".join("".join(pieces(e.command)) for e in evs if e.kind == "command")
    assert labelled == expected
    for s in sequences:
        assert len(s.ids) <= 600 and s.ids[: len(serializer.header_ids)] == serializer.header_ids


def test_the_prompt_at_a_decision_is_what_training_showed_before_that_command() -> None:
    serializer = Serializer(words, ["get_order_details"], [1], budget=600)
    messages = conversation(12)
    evs = events(messages)
    sequences = serializer.training_sequences(evs)
    prompts = [serializer.prompt(evs[:n]) for n, e in enumerate(evs) if e.kind == "command"]
    for prompt in prompts:
        assert any(s.ids[: len(prompt)] == prompt for s in sequences) or any(_contains(s.ids, prompt[len(serializer.header_ids):]) for s in sequences)


def _contains(haystack: list[int], needle: list[int]) -> bool:
    text, part = "".join(map(chr, haystack)), "".join(map(chr, needle))
    return part in text
