"""The turn loop and the policy rules against a model that proposes what it likes.

The language model is replaced by a scripted proposer (a stand-in for any backend) that proposes
the given commands in turn; the yes check by a fixed list of replies. The store is a real SQLite
database with the generated demo store, the tools are the real ones.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.conversation import Command, ConversationView
from bot.engine import ShopEngine, chunks

from bot.store.generate import generate_store
from bot.turns import ConversationState, DeltaEvent, HandoffEvent, ReplyEvent, StatusEvent, ToolResultEvent
from policies.decide import Decider
from policies.llm.decode import Decoded
from tests.store_helpers import make_store_db
from tools.registry import default_tools


class Scripted:
    """Proposes the next of its commands whatever the conversation says; an excluded one is
    skipped; when they run out, it replies `answer`."""

    def __init__(self, *commands: Command) -> None:
        self.commands = list(commands)
        self.seen: list[list[dict]] = []

    def propose(self, messages, exclude=frozenset(), conversation=None, on_token=None, force=None) -> Decoded:
        self.seen.append(list(messages))
        while self.commands:
            command = self.commands.pop(0)
            if (command.verb, command.name) not in exclude:
                if command.text and on_token is not None:
                    for word in command.text.split(" "):
                        if not on_token(word + " "):
                            break
                return Decoded(command, 0.9)
        return Decoded(Command("reply", "answer"), 0.9)


class SaysYes:
    """The yes check, for these tests: the shopper's yes is one of a few words."""

    def said_yes(self, text: str) -> bool:
        return text.strip().lower() in ("yes", "yes please", "sure, go ahead")


def engine(db, *commands: Command) -> tuple[ShopEngine, Scripted]:
    proposer = Scripted(*commands)
    return ShopEngine(db, Decider(default_tools(), llm=proposer, affirmation=SaysYes())), proposer


@pytest.fixture()
def store():
    return generate_store(3, 12)


@pytest.fixture()
async def db(tmp_path: Path, store):
    database = await make_store_db(tmp_path / "store.db", store)
    yield database
    await database.dispose()


def pending_order(store) -> dict:
    return next(o for o in store.orders.values() if o["status"] == "pending")


def tools_run(events) -> list[str]:
    return [e.tool for e in events if isinstance(e, StatusEvent) and e.state == "tool"]


async def test_stream_order(db, store) -> None:
    user_id, user = next(iter(store.users.items()))
    shop, _ = engine(db, Command("call", "find_user_id_by_email", {"email": user["email"]}), Command("call", "get_user_details", {"user_id": user_id}))
    state = ConversationState("s")
    events = [e async for e in shop.run_turn(state, f"hello, I'm {user['email']}")]
    kinds = [e.state if isinstance(e, StatusEvent) else type(e).__name__ for e in events]
    assert kinds[0] == "thinking" and kinds[-1] == "idle"
    assert kinds[1:5] == ["tool", "ToolResultEvent", "tool", "ToolResultEvent"]
    assert [(e.tool, e.ok) for e in events if isinstance(e, ToolResultEvent)] == [("find_user_id_by_email", True), ("get_user_details", True)]
    first_delta = kinds.index("DeltaEvent")
    assert "tool" not in kinds[first_delta:]  # text never interleaves with a tool call
    assert kinds[-2] == "ReplyEvent"
    deltas = "".join(e.text for e in events if isinstance(e, DeltaEvent))
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert deltas == reply.text and len([e for e in events if isinstance(e, DeltaEvent)]) > 1
    assert user["name"]["first_name"] in reply.text  # "Thanks, <name>, you are verified"
    assert state.messages[-1] == {"role": "assistant", "content": reply.text, "act": {"verb": "reply", "name": "answer", "arguments": {}}}
    assert ConversationState.from_dict(json.loads(json.dumps(state.to_dict()))).user_id == user_id == state.user_id


async def test_account_tools_need_authentication_and_one_shopper(db, store) -> None:
    order = pending_order(store)
    shop, proposer = engine(db, Command("call", "get_order_details", {"order_id": order["order_id"]}), Command("reply", "ask_auth"))
    state = ConversationState("a")
    events = [e async for e in shop.run_turn(state, f"show me order {order['order_id']}")]
    assert tools_run(events) == [] and "verify your identity" in next(e for e in events if isinstance(e, ReplyEvent)).text
    (first_id, first), (second_id, second) = list(store.users.items())[:2]
    shop, _ = engine(db, Command("call", "find_user_id_by_email", {"email": first["email"]}), Command("call", "find_user_id_by_email", {"email": second["email"]}),
                     Command("call", "get_user_details", {"user_id": second_id}), Command("reply", "other_user"))
    state = ConversationState("b")
    events = [e async for e in shop.run_turn(state, f"I'm {first['email']}, and look up {second['email']} too")]
    assert tools_run(events) == ["find_user_id_by_email"] and state.user_id == first_id


async def test_a_listed_change_runs_only_after_the_shoppers_yes(db, store) -> None:
    order = pending_order(store)
    user = store.users[order["user_id"]]
    args = {"order_id": order["order_id"], "reason": "no longer needed"}
    shop, _ = engine(
        db,
        Command("call", "cancel_pending_order", args),  # too early: refused
        Command("call", "find_user_id_by_email", {"email": user["email"]}),
        Command("call", "get_order_details", {"order_id": order["order_id"]}),
        Command("call", "cancel_pending_order", args),  # still no yes: refused
        Command("confirm", "cancel_pending_order", args),
        Command("call", "cancel_pending_order", {"order_id": order["order_id"], "reason": "ordered by mistake"}),  # after the yes: the listed arguments win
        Command("reply", "answer"),
    )
    state = ConversationState("c")
    events = [e async for e in shop.run_turn(state, f"Please cancel order {order['order_id']}, I no longer need it. Email {user['email']}")]
    assert tools_run(events) == ["find_user_id_by_email", "get_order_details"]
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert order["order_id"] in reply.text and reply.quick_replies and state.pending_action == {"name": "cancel_pending_order", "arguments": args}
    events = [e async for e in shop.run_turn(state, "yes")]
    assert tools_run(events) == ["cancel_pending_order"]
    call = json.loads(state.messages[-3]["tool_calls"][0]["function"]["arguments"])
    assert call == args and json.loads(state.messages[-2]["content"])["status"] == "cancelled"
    assert state.pending_action is None and state.confirmations == []


async def test_anything_but_yes_drops_the_listing(db, store) -> None:
    order = pending_order(store)
    user = store.users[order["user_id"]]
    args = {"order_id": order["order_id"], "reason": "ordered by mistake"}
    shop, _ = engine(db, Command("call", "find_user_id_by_email", {"email": user["email"]}), Command("call", "get_order_details", {"order_id": order["order_id"]}),
                     Command("confirm", "cancel_pending_order", args), Command("call", "cancel_pending_order", args), Command("reply", "declined"))
    state = ConversationState("d")
    [e async for e in shop.run_turn(state, f"cancel {order['order_id']} please, {user['email']}")]
    assert state.pending_action is not None
    events = [e async for e in shop.run_turn(state, "hmm, what does that mean?")]
    assert tools_run(events) == [] and state.pending_action is None


async def test_a_listing_in_an_agents_own_words_is_confirmed_by_yes(db, store) -> None:
    """An imported conversation (or a human agent's, after a hand-back): the listing is prose
    without our template's words; the shopper's yes to it confirms the call."""
    order = pending_order(store)
    user_id, user = order["user_id"], store.users[order["user_id"]]
    messages = [
        {"role": "user", "content": f"cancel {order['order_id']}, I'm {user['email']}"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "find_user_id_by_email", "arguments": json.dumps({"email": user["email"]})}}]},
        {"role": "tool", "tool_call_id": "1", "content": user_id},
        {"role": "assistant", "content": f"Alright {user['name']['first_name']}, I can get {order['order_id']} cancelled for you since you don't need it anymore. Want me to do that?"},
    ]
    args = {"order_id": order["order_id"], "reason": "no longer needed"}
    decider = Decider(default_tools(), llm=Scripted(Command("call", "cancel_pending_order", args)), affirmation=SaysYes())
    assert decider.decide(messages + [{"role": "user", "content": "sure, go ahead"}]).command == Command("call", "cancel_pending_order", args)
    decider = Decider(default_tools(), llm=Scripted(Command("call", "cancel_pending_order", args)), affirmation=SaysYes())
    assert decider.decide(messages + [{"role": "user", "content": "wait, how long does a refund take?"}]).command.verb == "reply"
    decider = Decider(default_tools(), llm=Scripted(Command("call", "cancel_pending_order", args)), affirmation=SaysYes())
    no_listing = messages[:3] + [{"role": "user", "content": "yes"}]  # a yes to nothing the agent said
    assert decider.decide(no_listing).command.verb == "reply"


async def test_transfer_emits_handoff(db) -> None:
    shop, _ = engine(db, Command("call", "transfer_to_human_agents", {"summary": "An unverified user asked for a person."}))
    state = ConversationState("t")
    events = [e async for e in shop.run_turn(state, "can I talk to a real person")]
    assert [type(e).__name__ for e in events][-2:] == ["HandoffEvent", "StatusEvent"]
    assert any(isinstance(e, HandoffEvent) and e.summary for e in events)
    assert "human agent" in next(e for e in events if isinstance(e, ReplyEvent)).text


async def test_three_turns_not_understood_hand_over(db) -> None:
    shop, _ = engine(db, Command("reply", "clarify"), Command("reply", "out_of_scope"), Command("reply", "clarify"))
    state = ConversationState("f")
    for said in ("blorp", "zzz", "qwerty"):
        events = [e async for e in shop.run_turn(state, said)]
    assert any(isinstance(e, HandoffEvent) and e.reason == "not_understood" for e in events)


async def test_the_models_own_words_stream_as_written_and_stop_at_an_unsupported_claim(db) -> None:
    shop, _ = engine(db, Command("reply", "say", {}, "Happy to help with your order, it was refunded yesterday"))
    state = ConversationState("w")
    events = [e async for e in shop.run_turn(state, "hello")]
    deltas = [e.text for e in events if isinstance(e, DeltaEvent)]
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert len(deltas) > 3 and "refunded" not in reply.text and reply.text.startswith("Happy to help")
    assert state.messages[-1]["act"]["name"] == "say"


async def test_an_ungrounded_template_reply_falls_back(db, store) -> None:
    """A reply act whose facts the conversation never fetched asks instead of inventing them."""
    order = pending_order(store)
    shop, _ = engine(db, Command("reply", "ask_items", {"order_id": order["order_id"], "purpose": "return"}))
    state = ConversationState("g")
    events = [e async for e in shop.run_turn(state, "I want to return something")]
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert order["order_id"] not in reply.text


def test_chunks_rejoin() -> None:
    text = "one two three four five six seven"
    assert "".join(chunks(text)) == text



def test_reading_any_conversation_prefix_never_crashes(store) -> None:
    """Replies, state features, candidates and the model's serialisation on every prefix of
    simulated conversations, also with messages dropped at random (what a stranger's transcript
    can look like)."""
    import random

    from bot.replies import render
    from policies.llm.grammar import candidates
    from policies.llm.prompt import events as serialise
    from policies.router import state_features
    from tools.search_policy import default_index
    from training.build_data import build

    built = build({"demo": store}, seed=1, n_generated=30, policy_search=default_index().search, progress=False)
    rng = random.Random(0)
    for transcript in built.train + built.dev:
        for n in range(len(transcript.messages)):
            for variant in (transcript.messages[:n], [m for m in transcript.messages[:n] if rng.random() < 0.8]):
                view = ConversationView.parse(variant)
                assert render(view, Command("reply", "answer")).text
                assert len(state_features(view)) > 50
                candidates(variant)
                serialise(variant)
