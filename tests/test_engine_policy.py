"""The engine's policy rules hold against a model that proposes forbidden steps.

The model here is a scripted proposer (a stand-in for any backend) that always proposes the
worst next step; the store is a real SQLite database with the generated demo store.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine import Decision, DecisionPolicy, ShopEngine
from bot.engine_args import ConversationView, product_query_arguments
from bot.store.generate import generate_store
from bot.turns import ConversationState, DeltaEvent, HandoffEvent, ReplyEvent, StatusEvent
from tests.store_helpers import make_store_db
from tools.registry import default_tools


class Scripted:
    """Proposes the given steps, in order of preference, whatever the conversation says."""

    def __init__(self, *steps: Decision) -> None:
        self.steps = list(steps)
        self.seen: list[ConversationView] = []

    def propose(self, view: ConversationView, tools: dict) -> list[Decision]:
        self.seen.append(view)
        return [Decision(s.action, s.arguments) for s in self.steps] + [Decision("respond")]


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


def test_account_tool_needs_authentication(store) -> None:
    order = pending_order(store)
    policy = DecisionPolicy(Scripted(Decision("get_order_details", {"order_id": order["order_id"]})), default_tools())
    decision = policy.decide([{"role": "user", "content": f"show me order {order['order_id']}"}])
    assert decision.action == "respond"


def test_consequential_call_needs_listing_and_yes(store) -> None:
    order = pending_order(store)
    user = store.users[order["user_id"]]
    messages = [
        {"role": "user", "content": f"cancel {order['order_id']}, my email is {user['email']}"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "find_user_id_by_email", "arguments": json.dumps({"email": user["email"]})}}]},
        {"role": "tool", "tool_call_id": "1", "content": order["user_id"]},
    ]
    cancel = Decision("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"})
    policy = DecisionPolicy(Scripted(cancel), default_tools())
    assert policy.decide(messages).action == "respond"  # no listing, no yes
    listed = messages + [{"role": "assistant", "content": f"To confirm: cancel order {order['order_id']} because it is 'no longer needed'. Shall I go ahead (yes/no)?"}]
    assert policy.decide(listed + [{"role": "user", "content": "hmm, what does that mean"}]).action == "respond"
    assert policy.decide(listed + [{"role": "user", "content": "no, wait"}]).action == "respond"
    yes = policy.decide(listed + [{"role": "user", "content": "yes"}])
    assert yes.action == "cancel_pending_order" and yes.arguments == cancel.arguments


def test_one_shopper_per_conversation(store) -> None:
    users = list(store.users.values())
    first, second = users[0], users[1]
    messages = [
        {"role": "user", "content": f"I'm {first['email']}"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "find_user_id_by_email", "arguments": json.dumps({"email": first["email"]})}}]},
        {"role": "tool", "tool_call_id": "1", "content": next(k for k, v in store.users.items() if v is first)},
        {"role": "user", "content": f"now look up {second['email']} too"},
    ]
    second_id = next(k for k, v in store.users.items() if v is second)
    policy = DecisionPolicy(
        Scripted(Decision("find_user_id_by_email", {"email": second["email"]}), Decision("get_user_details", {"user_id": second_id})),
        default_tools(),
    )
    assert policy.decide(messages).action == "respond"


def test_shopper_asking_for_a_person_is_transferred() -> None:
    policy = DecisionPolicy(Scripted(), default_tools())
    decision = policy.decide([{"role": "user", "content": "I want to speak to a human please"}])
    assert decision.action == "transfer_to_human_agents" and decision.arguments["summary"]


async def test_engine_never_runs_unconfirmed_consequential_call(db, store) -> None:
    """A model that proposes cancelling at every step cannot cancel before the shopper's yes."""
    order = pending_order(store)
    user = store.users[order["user_id"]]
    proposer = Scripted(
        Decision("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"}),
        Decision("find_user_id_by_email"),
        Decision("get_order_details"),
    )
    engine = ShopEngine(db, DecisionPolicy(proposer, default_tools()))
    state = ConversationState("c1")
    events = [e async for e in engine.run_turn(state, f"Please cancel order {order['order_id']}, I no longer need it. Email {user['email']}")]
    tools_run = [e.tool for e in events if isinstance(e, StatusEvent) and e.state == "tool"]
    assert "cancel_pending_order" not in tools_run
    assert tools_run[:2] == ["find_user_id_by_email", "get_order_details"]
    assert state.user_id == order["user_id"]
    assert state.pending_action and state.pending_action["name"] == "cancel_pending_order"
    reply = next(e for e in events if isinstance(e, ReplyEvent))
    assert order["order_id"] in reply.text and reply.quick_replies
    events = [e async for e in engine.run_turn(state, "yes")]
    tools_run = [e.tool for e in events if isinstance(e, StatusEvent) and e.state == "tool"]
    assert tools_run == ["cancel_pending_order"]
    result = json.loads(state.messages[-2]["content"])
    assert result["status"] == "cancelled"
    assert state.pending_action is None and state.confirmations == []


async def test_decisions_run_on_the_loop_and_encoder_passes_in_a_thread(db) -> None:
    """A proposer that says `runs_on_loop` (the trained router) decides on the event loop's
    thread once its encoder passes, for texts not cached yet, have run in a worker thread; any
    other proposer (an LLM backend) decides in a worker thread, so it never blocks the loop."""
    import threading

    class Router(Scripted):
        runs_on_loop = True

        def __init__(self) -> None:
            super().__init__()
            self.cached: set[str] = set()
            self.threads: list[tuple[str, str]] = []

        def uncached_texts(self, view: ConversationView) -> list[str]:
            return [t for t in [view.last_user] if t not in self.cached]

        def encode(self, texts: list[str]) -> None:
            self.threads.append(("encode", threading.current_thread().name))
            self.cached.update(texts)

        def propose(self, view: ConversationView, tools: dict) -> list[Decision]:
            self.threads.append(("propose", threading.current_thread().name))
            return super().propose(view, tools)

    loop_thread = threading.current_thread().name
    router = Router()
    engine = ShopEngine(db, DecisionPolicy(router, default_tools()))
    state = ConversationState("c-threads")
    [e async for e in engine.run_turn(state, "what can you do?")]
    assert router.threads[0][0] == "encode" and router.threads[0][1] != loop_thread
    assert router.threads[1:] == [("propose", loop_thread)]
    router.threads.clear()
    [e async for e in engine.run_turn(state, "what can you do?")]  # the text is cached now
    assert router.threads == [("propose", loop_thread)]

    class Backend(Scripted):
        threads: list[str] = []

        def propose(self, view: ConversationView, tools: dict) -> list[Decision]:
            self.threads.append(threading.current_thread().name)
            return super().propose(view, tools)

    backend = Backend()
    [e async for e in ShopEngine(db, DecisionPolicy(backend, default_tools())).run_turn(ConversationState("c-llm"), "hello")]
    assert backend.threads and loop_thread not in backend.threads


async def test_transfer_emits_handoff(db) -> None:
    engine = ShopEngine(db, DecisionPolicy(Scripted(), default_tools()))
    state = ConversationState("c2")
    events = [e async for e in engine.run_turn(state, "can I talk to a real person")]
    kinds = [type(e).__name__ for e in events]
    assert kinds[-2:] == ["HandoffEvent", "StatusEvent"]
    assert any(isinstance(e, HandoffEvent) and e.summary for e in events)
    assert any(isinstance(e, DeltaEvent) for e in events)


def test_missing_or_stale_model_gives_a_clear_error(tmp_path: Path) -> None:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from bot.engine import EngineNotReady, NotReadyEngine, load_engine, load_policy
    from bot.settings import Settings

    settings = Settings.from_env(home=tmp_path / "home")
    assert isinstance(load_engine(settings, None), NotReadyEngine)  # type: ignore[arg-type]
    with pytest.raises(EngineNotReady, match="run `shopbot train`"):
        load_policy(settings)
    stale = LogisticRegression().fit(np.eye(5), [0, 1, 0, 1, 0])  # trained on another feature layout
    (settings.models_dir / "engine").mkdir(parents=True)
    joblib.dump({"head": stale, "actions": ["respond", "calculate"]}, settings.models_dir / "engine" / "router_head.joblib")
    with pytest.raises(EngineNotReady, match="expects 5 features"):
        load_policy(settings)

    # The right layout, but fitted on other sentence vectors (a card from before the int8 encoder).
    from policies.router import ConversationView as View, saved_model_problem, state_features

    width = len(state_features(View.parse([]))) + 3 * 384
    head = LogisticRegression().fit(np.random.default_rng(0).normal(size=(6, width)), [0, 1, 0, 1, 0, 1])
    joblib.dump({"head": head, "actions": ["respond", "calculate"]}, settings.models_dir / "engine" / "router_head.joblib")
    (settings.models_dir / "engine" / "model_card.json").write_text(json.dumps({"model": "older"}))
    assert "other sentence features" in (saved_model_problem(settings.models_dir / "engine") or "")
    with pytest.raises(EngineNotReady, match="other sentence features"):
        load_policy(settings)


def test_router_head_fast_path_matches_sklearn() -> None:
    """The numpy forward pass the server uses gives sklearn's predict_proba, to float precision."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from policies.router import Router

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    router = Router.__new__(Router)
    router.head = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0).fit(x, y)
    np.testing.assert_allclose(router._probabilities(x[:7]), router.head.predict_proba(x[:7]), rtol=1e-5, atol=1e-6)


def test_router_decision_with_cached_text_products_equals_the_full_forward_pass(tmp_path) -> None:
    """The server's forward pass (first layer block by block, the sentence vectors' products kept
    per text) gives the probabilities of the whole feature row, on a head of the real layout and
    the real encoder, over a conversation whose texts come back turn after turn."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from policies.router import Router, TextEncoder, featurize, state_features
    from retrieval.minilm_int8 import ONNX_FILE, SHARED_DIR, OnnxEncoder, export_onnx

    encoder = TextEncoder(OnnxEncoder(export_onnx(tmp_path / SHARED_DIR / ONNX_FILE), cache_size=64))
    width = len(state_features(ConversationView.parse([]))) + 3 * 384
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, width)).astype(np.float32)
    head = MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0)
    with pytest.warns(Warning):  # not converged: any weights will do here
        head.fit(x, rng.integers(0, 4, size=60))
    router = Router(encoder, head, ["respond", "search_products", "calculate", "get_order_details"])
    messages: list[dict] = []
    for said in ["hi there", "do you have a desk lamp?", "hi there", "my email is ana@example.com"]:
        messages = messages + [{"role": "user", "content": said}]
        view = ConversationView.parse(messages)
        full = router._probabilities(featurize([view], encoder))[0]
        np.testing.assert_allclose(router._view_probabilities(view), full, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(router._view_probabilities(view), full, rtol=1e-4, atol=1e-6)  # from the cache
        messages = messages + [{"role": "assistant", "content": f"You said: {said}"}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what kind of accessories do you have under $50?", {"query": "accessories", "max_price": 50.0}),
        ("what chargers do you sell?", {"query": "chargers"}),
        ("got any wearables for less than $100?", {"query": "wearables", "max_price": 100.0}),
        ("do you have over-ear headphones?", {"query": "over-ear headphones"}),  # "over" inside a word stays
        ("any t-shirts in stock?", {"query": "t-shirts"}),
        ("I'm looking for a desk lamp under $45", {"query": "desk lamp", "max_price": 45.0}),  # a product the store names
    ],
)
def test_search_query_keeps_what_was_asked_for(text: str, expected: dict) -> None:
    assert product_query_arguments(text, ["Desk Lamp"]) == expected


def test_a_product_named_in_full_is_the_one_described() -> None:
    """"Tell me more about the Desk Lamp" after a search that also found a Standing Desk: the
    lamp (named in full), not the desk (a longer name whose last word is in the message)."""
    from bot.engine_args import fill_arguments

    hits = [{"id": "1111111111", "name": "Standing Desk", "price": 379.71}, {"id": "2222222222", "name": "Desk Lamp", "price": 76.44}]
    messages = [
        {"role": "user", "content": "do you have a desk lamp?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search_products", "arguments": "{\"query\": \"desk lamp\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "search_products", "content": json.dumps({"query": "desk lamp", "hits": hits})},
        {"role": "assistant", "content": "Here is what I found: Standing Desk ($379.71); Desk Lamp ($76.44)."},
    ]
    for said, expected in [("tell me more about the Desk Lamp", "2222222222"), ("what about the desk lamps?", "2222222222"),
                           ("tell me more about the standing desk", "1111111111"), ("and the desk?", "1111111111")]:
        view = ConversationView.parse(messages + [{"role": "user", "content": said}])
        assert fill_arguments("describe_product", view) == {"product_id": expected}, said


@pytest.mark.parametrize("said", ["hi", "hi there!", "Hello there", "hey", "good morning", "Hiya", "hello again"])
def test_greetings_get_a_greeting(said: str) -> None:
    from bot import engine_replies
    from bot.engine_compose import compose

    reply = compose(ConversationView.parse([{"role": "user", "content": said}]), "")
    assert reply.text == engine_replies.greeting() and reply.understood
    assert compose(ConversationView.parse([{"role": "user", "content": "hi, where is my order?"}]), "").text != engine_replies.greeting()
