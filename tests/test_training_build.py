"""Transcript building (deterministic, split by task and user) and the evaluation metrics."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.conversation import Command
from bot.store.generate import generate_store
from policies.decide import Decision
from tools.search_policy import default_index
from training.build_data import build
from training.evaluate import evaluate
from training.transcripts import RESPOND, Transcript, TranscriptError, decision_points, read_jsonl, step_of, write_jsonl


@pytest.fixture(scope="module")
def built():
    stores = {"demo": generate_store(11, 40)}
    return build(stores, seed=3, n_generated=60, policy_search=default_index().search, progress=False)


def test_build_is_deterministic_and_split_by_user(built) -> None:
    again = build({"demo": generate_store(11, 40)}, seed=3, n_generated=60, policy_search=default_index().search, progress=False)
    assert [t.to_json() for t in built.train] == [t.to_json() for t in again.train]
    assert built.train and built.dev

    def users(ts: list[Transcript]) -> set[str]:
        found = set()
        for t in ts:
            for m in t.messages:
                if m["role"] == "tool" and m["content"].startswith('{"name": {'):
                    found.add(json.dumps(json.loads(m["content"])["name"]))
        return found

    assert not users(built.train) & users(built.dev)


BUILD_DIGEST = """
import hashlib
from bot.store.generate import generate_store
from tools.search_policy import default_index
from training.build_data import build
built = build({"demo": generate_store(11, 40)}, seed=3, n_generated=60, policy_search=default_index().search, progress=False)
print(hashlib.sha256("\\n".join(t.to_json() for t in built.train + built.dev).encode()).hexdigest())
"""


def test_build_is_the_same_in_another_process(built) -> None:
    """Deterministic across interpreters too (another process has other object addresses, so
    anything seeded from `hash()` of an object that is not a number or string would differ)."""
    here = hashlib.sha256("\n".join(t.to_json() for t in built.train + built.dev).encode()).hexdigest()
    root = Path(__file__).resolve().parent.parent
    there = subprocess.run([sys.executable, "-c", BUILD_DIGEST], cwd=root, capture_output=True, text=True, check=True, timeout=300)
    assert there.stdout.strip().splitlines()[-1] == here


def test_transcripts_follow_the_policy(built) -> None:
    """Every consequential call comes right after a listing of exactly that call (a `confirm` act,
    or the same listing re-worded) and the shopper's reply; one call per message."""
    consequential = {"cancel_pending_order", "return_delivered_order_items", "exchange_delivered_order_items",
                     "modify_pending_order_items", "modify_pending_order_address", "modify_pending_order_payment", "modify_user_address"}
    seen = 0
    for t in built.train + built.dev:
        authed = False
        for n, m in enumerate(t.messages):
            if m["role"] == "assistant" and m.get("tool_calls"):
                assert len(m["tool_calls"]) == 1 and not m.get("content")
                name = m["tool_calls"][0]["function"]["name"]
                if name in consequential:
                    seen += 1
                    assert authed
                    listing = t.messages[n - 2]
                    assert t.messages[n - 1]["role"] == "user" and listing["role"] == "assistant" and not listing.get("tool_calls")
                    if listing["act"]["name"] != "say":  # re-worded conversations keep no act
                        assert listing["act"] == {"verb": "confirm", "name": name, "arguments": json.loads(m["tool_calls"][0]["function"]["arguments"])}
            if m["role"] == "tool" and not m["content"].startswith("Error") and t.messages[n - 1]["tool_calls"][0]["function"]["name"].startswith("find_user"):
                authed = True
    assert seen > 10


def test_jsonl_round_trip(tmp_path: Path, built) -> None:
    path = tmp_path / "t.jsonl"
    write_jsonl(path, built.dev)
    assert [t.to_json() for t in read_jsonl(path)] == [t.to_json() for t in built.dev]
    path.write_text('{"id": 1, "messages": [{"role": "robot"}]}\n')
    with pytest.raises(TranscriptError):
        read_jsonl(path)


class Oracle:
    """Answers with the gold step it was built from (to check the metric arithmetic)."""

    def __init__(self, transcripts: list[Transcript], wrong_every: int = 0) -> None:
        self.gold = {json.dumps(ctx): step for t in transcripts for ctx, step in decision_points(t)}
        self.wrong_every = wrong_every
        self.n = 0

    def decide(self, messages):
        self.n += 1
        step = self.gold[json.dumps(messages)]
        if self.wrong_every and self.n % self.wrong_every == 0:
            return Decision(Command("reply", "answer"), "oracle")
        if step.action == RESPOND:
            return Decision(Command("reply", "answer"), "oracle")
        return Decision(Command("call", step.action, step.arguments or {}), "oracle")


def test_evaluate_metrics(built, tmp_path: Path) -> None:
    report = evaluate(Oracle(built.dev), built.dev, report_dir=tmp_path)
    assert report["action_accuracy"] == 1.0 and report["args_exact"] == 1.0
    assert {"decisions", "action_accuracy", "args_exact", "per_action"} <= set(report)
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    worse = evaluate(Oracle(built.dev, wrong_every=2), built.dev)
    assert 0.4 < worse["action_accuracy"] < 1.0


def test_unknown_gold_tool_is_an_error_not_a_crash() -> None:
    from policies.decide import Decider
    from policies.llm.decode import Decoded
    from tools.registry import default_tools

    class Stubborn:
        def propose(self, messages, **_kw):
            return Decoded(Command("call", "frobnicate_order", {}), 1.0)

    transcript = Transcript("x", [
        {"role": "user", "content": "frobnicate my order"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "frobnicate_order", "arguments": "{}"}}]},
    ])
    report = evaluate(Decider(default_tools(), llm=Stubborn()), [transcript])
    assert report["decisions"] == 1 and report["action_accuracy"] == 0.0
    assert step_of(transcript.messages[1]).action == "frobnicate_order"


def test_some_shoppers_write_in_other_languages_and_are_answered_in_theirs() -> None:
    """Our own tasks are partly played in other languages: the shopper's words and search queries
    are theirs, the agent's templates are rendered in their language, ids and prices unchanged."""
    from bot.i18n import catalog

    built = build({"demo": generate_store(11, 40)}, seed=4, n_generated=120, policy_search=default_index().search, progress=False)
    chinese = [t for t in built.train + built.dev if any("\u4e00" <= ch <= "\u9fff" for m in t.messages if m["role"] == "user" for ch in str(m["content"]))]
    assert len(chinese) >= 5
    greeting_zh = catalog("zh-CN")["greeting"]
    for t in chinese:
        replies = [m for m in t.messages if m["role"] == "assistant" and m.get("content")]
        assert replies and all(any("\u4e00" <= ch <= "\u9fff" for ch in m["content"]) for m in replies), t.id
        for m in t.messages:
            for call in m.get("tool_calls") or []:
                if call["function"]["name"] == "search_products":
                    query = json.loads(call["function"]["arguments"])["query"]
                    assert any("\u4e00" <= ch <= "\u9fff" for ch in query), query
    assert any(m.get("content") == greeting_zh for t in chinese for m in t.messages) or greeting_zh
