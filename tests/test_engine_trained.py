"""End to end with a trained default model (slow: trains a small one, about a minute or two).

`shopbot train --quick` (a short fine-tune of the real base model) into a temporary SHOPBOT_HOME,
then the server's `load_engine` runs real conversations over the demo store database, and
`evaluate` scores the dev split.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine import NotReadyEngine, EngineNotReady, ShopEngine, load_decider, load_engine
from bot.settings import Settings
from bot.store.generate import generate_store
from bot.turns import ConversationState, ReplyEvent, StatusEvent
from tests.store_helpers import make_store_db

pytestmark = pytest.mark.slow


@pytest.fixture()
def trained_home(trained_engine_home: Settings) -> Settings:
    return trained_engine_home


async def test_missing_model_gives_clear_error(tmp_path: Path) -> None:
    settings = Settings.from_env(home=tmp_path / "empty")
    engine = load_engine(settings, None)  # type: ignore[arg-type]
    assert isinstance(engine, NotReadyEngine)
    with pytest.raises(EngineNotReady, match="shopbot train"):
        async for _ in engine.run_turn(ConversationState("x"), "hi"):
            pass


def test_model_card(trained_home: Settings) -> None:
    card = json.loads((trained_home.models_dir / "engine" / "model_card.json").read_text())
    assert card["data_sources"] and card["train_hash"] and card["calibration_decisions"] > 20
    assert card["language_model"]["format"].startswith("shopbot commands") and card["language_model"]["steps"] > 0
    assert (trained_home.models_dir / "engine" / "llm" / "engine.gguf").stat().st_size > 100_000_000
    # the threshold is the curve's best point (0: the fast model answers whatever it is sure of)
    curve = {c["threshold"]: c["action_accuracy"] + c["args_exact"] for c in card["cascade_curve"]}
    assert card["threshold"] in curve and curve[card["threshold"]] >= max(curve.values()) - 0.005


def test_training_cut_off_before_calibration_is_finished_not_redone(trained_home: Settings) -> None:
    """`shopbot up` after a training run that stopped once the model was written: the threshold is
    picked again from the dev transcripts (what `up` runs), the model itself is kept."""
    from training.train_engine import engine_problem, finish_calibration, uncalibrated

    card_file = trained_home.models_dir / "engine" / "model_card.json"
    gguf = trained_home.models_dir / "engine" / "llm" / "engine.gguf"
    saved, written = card_file.read_text(), gguf.stat().st_mtime
    try:
        card = json.loads(saved)
        for key in ("cascade_curve", "calibration_decisions", "dev_per_action"):
            card.pop(key)
        card["threshold"] = 1.01
        card_file.write_text(json.dumps(card))
        assert engine_problem(trained_home) is None and uncalibrated(trained_home)
        finished = finish_calibration(trained_home, progress=False)
        assert not uncalibrated(trained_home) and finished["calibration_decisions"] > 20
        curve = {c["threshold"]: c["action_accuracy"] + c["args_exact"] for c in finished["cascade_curve"]}
        assert curve[finished["threshold"]] >= max(curve.values()) - 0.005
        assert gguf.stat().st_mtime == written
    finally:
        card_file.write_text(saved)


async def test_conversation_with_trained_engine(trained_home: Settings, tmp_path: Path) -> None:
    store = generate_store(trained_home.demo_seed, trained_home.demo_users)
    db = await make_store_db(tmp_path / "store.db", store)
    try:
        engine = load_engine(trained_home, db)
        assert isinstance(engine, ShopEngine)
        order = next(o for o in store.orders.values() if o["status"] == "pending")
        user = store.users[order["user_id"]]
        state = ConversationState("e2e")
        events = [e async for e in engine.run_turn(state, f"I want to cancel order {order['order_id']}")]
        assert not [e for e in events if isinstance(e, StatusEvent) and e.state == "tool"]  # not authenticated yet
        events = [e async for e in engine.run_turn(state, f"my email is {user['email']}")]
        tools = [e.tool for e in events if isinstance(e, StatusEvent) and e.state == "tool"]
        assert tools[:2] == ["find_user_id_by_email", "get_user_details"]
        assert state.user_id == order["user_id"]
        reply = next(e for e in events if isinstance(e, ReplyEvent))
        assert reply.text
    finally:
        await db.dispose()


async def _return_conversation(trained_home: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = generate_store(trained_home.demo_seed, trained_home.demo_users)
    db = await make_store_db(tmp_path / "store.db", store)
    engine = load_engine(trained_home, db)
    order = next(o for o in store.orders.values() if o["status"] == "delivered" and len(o["items"]) > 1)
    item = order["items"][0]
    user = store.users[order["user_id"]]
    state = ConversationState("ret")
    for text in (f"I'd like to return the {item['name'].lower()} from order {order['order_id']}", f"my email is {user['email']}", "to the original payment method please"):
        [e async for e in engine.run_turn(state, text)]
    return db, engine, state, order, item


async def test_return_flow_with_trained_engine(trained_home: Settings, tmp_path: Path) -> None:
    """Request, verify, choose the refund method: the return is listed with the named item; the
    shopper's yes runs exactly what was listed, and the return is requested in the database."""
    db, engine, state, order, item = await _return_conversation(trained_home, tmp_path)
    try:
        assert state.pending_action is not None and state.pending_action["name"] == "return_delivered_order_items"
        listed = state.pending_action["arguments"]
        assert listed["order_id"] == order["order_id"] and item["item_id"] in listed["item_ids"]
        events = [e async for e in engine.run_turn(state, "yes")]
        assert [e.tool for e in events if isinstance(e, StatusEvent) and e.state == "tool"] == ["return_delivered_order_items"]
        call = next(m for m in reversed(state.messages) if m.get("tool_calls"))
        assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == listed
        assert json.loads(state.messages[-2]["content"])["status"] == "return requested"
    finally:
        await db.dispose()


@pytest.mark.xfail(strict=False, reason="the quick engine's short fine-tune (80k tokens) lists the order's next item too; "
                   "the full `shopbot train` is what ships (docs/engine.md)")
async def test_return_lists_only_the_named_item(trained_home: Settings, tmp_path: Path) -> None:
    db, _engine, state, _order, item = await _return_conversation(trained_home, tmp_path)
    try:
        assert state.pending_action is not None and state.pending_action["arguments"]["item_ids"] == [item["item_id"]]
    finally:
        await db.dispose()


def test_evaluate_trained(trained_home: Settings) -> None:
    from training.evaluate import evaluate
    from training.transcripts import read_jsonl

    dev = read_jsonl(trained_home.models_dir / "engine" / "dev.jsonl")[:10]
    report = evaluate(load_decider(trained_home), dev)
    assert report["action_accuracy"] > 0.75 and report["latency_ms_p50"] < 300
