"""Constrained decoding: whatever the model would like to write, the command is valid.

The model here is a small deterministic stand-in with a character-and-piece vocabulary that
"wants" to write a given line; the decoder must follow it where the line is allowed and overrule
it where it is not (an id the conversation does not hold, an email the shopper did not write).
The real model runs in tests/test_training_llm.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from bot.conversation import ACTS
from policies.llm.decode import Decoder, Vocabulary
from policies.llm.grammar import act_slots, candidates, tool_slots
from tools.registry import default_tools

PIECES = [" call", " confirm", " reply", " say", "agent:", "{}", ", ", '": ', "\n", '"', "{", "}", "[", "]"]


class WantsToWrite:
    """A runtime whose next-token logits favour the token continuing `self.target` longest."""

    def __init__(self, names: list[str]) -> None:
        chars = [chr(c) for c in range(32, 127)] + ["\n", "é", "…"]
        words = [" " + n for n in names] + [json.dumps(n) + ": " for n in names] + [", " + json.dumps(n) + ": " for n in names]
        self.vocab = list(dict.fromkeys(PIECES + words + chars))
        self.n_vocab = len(self.vocab)
        self.bos: list[int] = []
        self.target = ""
        self.written = ""

    def tokenize(self, text: str) -> list[int]:
        out, i = [], 0
        while i < len(text):
            best = max((t for t in range(self.n_vocab) if text.startswith(self.vocab[t], i)), key=lambda t: len(self.vocab[t]))
            out.append(best)
            i += len(self.vocab[best])
        return out

    def token_bytes(self, token: int) -> bytes:
        return self.vocab[token].encode()

    def _logits(self) -> np.ndarray:
        want = self.target[len(self.written) :] if self.target.startswith(self.written) else ""
        scores = np.full(self.n_vocab, -5.0)
        for t, piece in enumerate(self.vocab):
            if piece and want.startswith(piece):
                scores[t] = len(piece)
        return scores

    def prefill(self, ids: list[int]) -> np.ndarray:
        self.written = ""
        return self._logits()

    def feed(self, ids: list[int]) -> np.ndarray:
        self.written += "".join(self.vocab[t] for t in ids)
        return self._logits()


TOOLS = default_tools()
SLOTS = {name: tool_slots(t.schema()) for name, t in TOOLS.items()}
ACT_SLOTS = {act: act_slots(act) for act in ACTS}
CONSEQUENTIAL = {n for n, t in TOOLS.items() if t.consequential}
NAMES = sorted({s.name for slots in SLOTS.values() for s in slots} | set(TOOLS) | set(ACTS) | {"color"})


def conversation() -> list[dict]:
    order = {"order_id": "#W1234567", "user_id": "ana_ruiz_1", "status": "delivered", "items": [{"item_id": "1111111111", "product_id": "2222222222", "name": "Desk Lamp", "options": {"color": "black"}, "price": 40.0}], "payment_history": [{"payment_method_id": "paypal_7"}]}
    return [
        {"role": "user", "content": "hi, I'm ana.ruiz@example.com, I want to exchange my lamp"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "find_user_id_by_email", "arguments": '{"email": "ana.ruiz@example.com"}'}}]},
        {"role": "tool", "tool_call_id": "1", "content": "ana_ruiz_1"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "2", "type": "function", "function": {"name": "get_order_details", "arguments": '{"order_id": "#W1234567"}'}}]},
        {"role": "tool", "tool_call_id": "2", "content": json.dumps(order)},
    ]


def decode(target: str, messages: list[dict], **kwargs):
    runtime = WantsToWrite(NAMES)
    runtime.target = target
    decoder = Decoder(runtime, Vocabulary(runtime))
    return decoder.command([0], candidates(messages), SLOTS, CONSEQUENTIAL, ACT_SLOTS, **kwargs)


def test_a_valid_command_is_written_as_the_model_wants() -> None:
    messages = conversation()
    got = decode(' call get_order_details {"order_id": "#W1234567"}\n', messages).command
    assert (got.verb, got.name, got.arguments) == ("call", "get_order_details", {"order_id": "#W1234567"})
    got = decode(' reply ask_items {"order_id": "#W1234567", "purpose": "exchange"}\n', messages).command
    assert (got.verb, got.name, got.arguments) == ("reply", "ask_items", {"order_id": "#W1234567", "purpose": "exchange"})


@pytest.mark.parametrize("invented", ["#W7654321", "#W123456", "W1234567"])
def test_ids_come_only_from_the_conversation(invented: str) -> None:
    got = decode(f' call get_order_details {{"order_id": "{invented}"}}\n', conversation()).command
    assert got.name == "get_order_details" and got.arguments["order_id"] in candidates(conversation()).orders


def test_the_shoppers_email_is_copied_not_made_up() -> None:
    messages = [{"role": "user", "content": "my email is jo.lee@example.com"}]
    for target in ('jo.lee@example.com', 'jolee@example.com', 'jo.lee@gmail.com'):
        got = decode(f' call find_user_id_by_email {{"email": "{target}"}}\n', messages).command
        assert got.arguments == {"email": "jo.lee@example.com"}


def test_free_text_and_numbers() -> None:
    messages = [{"role": "user", "content": "a bluetooth speaker under $200"}]
    got = decode(' call search_products {"query": "bluetooth speaker", "max_price": 200, "sort": "price_asc"}\n', messages).command
    assert got.arguments == {"query": "bluetooth speaker", "max_price": 200, "sort": "price_asc"}
    TOOLS["search_products"].validate(got.arguments)
    got = decode(' call search_products {"query": "lamp", "min_price": 20.5, "max_price": 60}\n', messages).command
    assert got.arguments == {"query": "lamp", "max_price": 60, "min_price": 20.5} or got.arguments == {"query": "lamp", "min_price": 20.5}


def test_a_tool_whose_ids_the_conversation_lacks_cannot_be_chosen() -> None:
    messages = [{"role": "user", "content": "where is my order?"}]
    got = decode(' call get_order_details {"order_id": "#W1234567"}\n', messages).command
    assert got.name != "get_order_details"


def test_forced_step_gets_only_its_arguments_written() -> None:
    got = decode(' call get_order_details {"order_id": "#W1234567"}\n', conversation(), force=("call", "get_order_details")).command
    assert got.arguments == {"order_id": "#W1234567"}
    with pytest.raises(ValueError):  # no order id in this conversation
        decode(" reply greet\n", [{"role": "user", "content": "hi"}], force=("call", "get_order_details"))


def test_excluded_steps_are_not_written() -> None:
    got = decode(" reply greet\n", [{"role": "user", "content": "hi"}], exclude={("reply", "greet")}).command
    assert (got.verb, got.name) != ("reply", "greet")


def test_listing_only_for_consequential_tools() -> None:
    got = decode(' confirm get_order_details {"order_id": "#W1234567"}\n', conversation()).command
    assert got.verb != "confirm" or got.name in CONSEQUENTIAL


def test_the_models_own_words_hold_no_number_and_stop_when_told() -> None:
    messages = [{"role": "user", "content": "hello"}]
    got = decode(" reply say\nagent: Hello! Your order costs 25 dollars.\n", messages).command
    assert got.name == "say" and not any(ch.isdigit() for ch in got.text or "")
    seen: list[str] = []
    got = decode(" reply say\nagent: Hello there friend\n", messages, on_token=lambda piece: (seen.append(piece), len(seen) < 4)[1]).command
    assert "".join(seen[:3]).strip() == (got.text or "").strip() and len(seen) == 4
