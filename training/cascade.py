"""The cascade on dev decisions: the fast model alone, the language model alone, and the two
combined at any threshold, from one pass (`python -m training.cascade FILE [FILE ...]`).

For every decision point the pass records the fast model's step and confidence, whether that step
was right (with the arguments the language model writes for it, when it needs them), and the
language model's own step. Any threshold's accuracy follows without deciding again:
`shopbot train` picks its threshold this way (`pick_threshold`), and the docs' tables come from
`main` (each mode beside always replying).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.conversation import RESPOND, ConversationView
from training.evaluate import args_match
from training.transcripts import Transcript, read_jsonl

THRESHOLDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.01)


@dataclass
class Row:
    gold: str  # the gold action (a tool, or respond)
    with_args: bool  # a gold call that carries arguments
    fast: str  # the fast model's action
    fast_p: float
    fast_args: bool  # its arguments (fixed by the conversation, or written by the language model) are right
    fast_needs_model: bool  # the language model writes the fast model's arguments
    fast_is_say: bool  # the fast model's step is an imported-style reply (never taken alone)
    llm: str  # the language model's own action
    llm_args: bool


def score(decider: Any, transcripts: list[Transcript], progress: bool = True) -> list[Row]:
    from policies.llm.grammar import candidates
    from policies.router import step_class  # noqa: F401  (the step names the fast model ranks)

    router, llm = decider.router, decider.llm
    rows = []
    points = [(t.id, t.messages[:n], m) for t in transcripts for n, m in enumerate(t.messages) if m.get("role") == "assistant"]
    for tid, context, message in tqdm(points, desc="scoring the cascade", disable=not progress):
        calls = message.get("tool_calls")
        gold = calls[0]["function"]["name"] if calls else RESPOND
        gold_args = json.loads(calls[0]["function"].get("arguments") or "{}") if calls else None
        label, p = router.predict_view(ConversationView.parse(context)).ranked[0]
        verb, _, name = label.partition(":")
        fast = name if verb == "call" else RESPOND
        completed = decider._complete(verb, name, candidates(context)) if name != "say" else None
        fast_args = True
        if fast == gold and gold_args:
            if completed is not None:
                fast_args = args_match(gold_args, completed.arguments)
            else:
                try:
                    fast_args = args_match(gold_args, llm.propose(context, conversation=tid, force=(verb, name)).command.arguments)
                except ValueError:  # the step cannot be written here
                    fast_args = False
        own = llm.propose(context, conversation=tid).command
        llm_args = not gold_args or (own.action == gold and args_match(gold_args, own.arguments))
        rows.append(Row(gold, bool(gold_args), fast, p, fast_args, completed is None and (verb == "call" or name == "say"), False, own.action, llm_args))
    return rows


def metrics(rows: list[Row], threshold: float) -> dict[str, Any]:
    """Action accuracy, argument exact match and the share of decisions the language model takes
    part in, for the cascade at `threshold` (0: the fast model decides, 1.01: the model alone)."""
    right = args_right = model = 0
    per_action: Counter[tuple[str, bool]] = Counter()
    for r in rows:
        fast = r.fast_p >= threshold and not r.fast_is_say
        action = r.fast if fast else r.llm
        ok_args = r.fast_args if fast else r.llm_args
        model += r.fast_needs_model if fast else 1
        right += action == r.gold
        args_right += r.with_args and action == r.gold and ok_args
        per_action[(r.gold, action == r.gold)] += 1
    n = len(rows) or 1
    with_args = sum(r.with_args for r in rows) or 1
    return {"threshold": threshold, "action_accuracy": round(right / n, 4), "args_exact": round(args_right / with_args, 4),
            "model_share": round(model / n, 4), "decisions": len(rows)}


def pick_threshold(rows: list[Row]) -> tuple[float, list[dict[str, Any]]]:
    """The threshold with the best action accuracy + argument exact match (within half a point,
    the one that asks the language model least), and the whole curve."""
    curve = [metrics(rows, t) for t in THRESHOLDS]
    score_of = {c["threshold"]: c["action_accuracy"] + c["args_exact"] for c in curve}
    best = max(score_of.values())
    chosen = min((c for c in curve if score_of[c["threshold"]] >= best - 0.005), key=lambda c: (c["model_share"], -score_of[c["threshold"]]))
    return chosen["threshold"], curve


def per_action(rows: list[Row], threshold: float) -> dict[str, dict[str, float]]:
    """Precision / recall / F1 per action for the cascade at `threshold`."""
    golds, preds = [], []
    for r in rows:
        fast = r.fast_p >= threshold and not r.fast_is_say
        golds.append(r.gold)
        preds.append(r.fast if fast else r.llm)
    out = {}
    for label in sorted(set(golds) | set(preds)):
        tp = sum(g == p == label for g, p in zip(golds, preds))
        pred_n, gold_n = preds.count(label), golds.count(label)
        prec = tp / pred_n if pred_n else 0.0
        rec = tp / gold_n if gold_n else 0.0
        out[label] = {"precision": round(prec, 3), "recall": round(rec, 3), "f1": round(2 * prec * rec / (prec + rec), 3) if prec + rec else 0.0, "support": gold_n}
    return out


def conversation_language(transcript: Transcript) -> str:
    """The language the conversation settles on, from its shopper's messages, as the server decides it."""
    from bot.language import decide

    language, decided = "en", False
    for message in transcript.messages:
        if message["role"] == "user" and message.get("content"):
            language, decided = decide(language, decided, message["content"])
    return language


def main() -> None:
    parser = argparse.ArgumentParser(description="score the fast model, the language model and the cascade on transcripts")
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--max-conversations", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--language", default=None, help="only conversations in this language (zh-CN, es, ...: the language the conversation settles on, bot/language.py)")
    args = parser.parse_args()

    from bot.settings import Settings
    from training.train_engine import load_default_decider

    decider = load_default_decider(Settings.from_env())
    report = {}
    for path in args.files:
        transcripts = read_jsonl(path)
        if args.language:
            transcripts = [t for t in transcripts if conversation_language(t) == args.language]
        rows = score(decider, transcripts[: args.max_conversations])
        respond = sum(r.gold == RESPOND for r in rows) / (len(rows) or 1)
        report[path.stem] = {
            "always respond": round(respond, 4),
            "fast model": metrics(rows, 0.0),
            "language model": metrics(rows, 1.01),
            "cascade": metrics(rows, decider.threshold),
            "per_action": per_action(rows, decider.threshold),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, r in report.items():
        print(f"{name}: always respond {r['always respond']:.3f}")
        for mode in ("fast model", "language model", "cascade"):
            m = r[mode]
            print(f"  {mode:15} action {m['action_accuracy']:.3f}  args {m['args_exact']:.3f}  model share {m['model_share']:.2f}  ({m['decisions']} decisions)")


if __name__ == "__main__":
    main()
