"""`shopbot train` (the default dialogue engine) and its targets: `shopbot train engine`,
`shopbot train llm --base DIR` (LoRA fine-tune of a local causal LM on the same transcripts).

Other features add their own targets to `TARGETS` below (a function `add(targets)`).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.settings import Settings


def _engine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="data and model seed (default 0)")
    parser.add_argument("--generated", type=int, default=600, help="conversations from our own task generator")
    parser.add_argument("--transcripts", type=Path, default=None, help="train on this JSONL instead of building transcripts")
    parser.add_argument("--dev", type=Path, default=None, help="dev JSONL to score (with --transcripts)")
    parser.add_argument("--quick", action="store_true", help="a small model for smoke tests (fewer conversations)")


def run_engine(args: argparse.Namespace, settings: Settings) -> int:
    from training.train_router import TrainConfig, engine_dir, train_router

    config = TrainConfig(seed=getattr(args, "seed", 0), n_generated=getattr(args, "generated", 600))
    if getattr(args, "quick", False):
        config.n_generated, config.tau_repeats, config.max_train_points = 120, 1, 2500
    card = train_router(settings, config, train_file=getattr(args, "transcripts", None), dev_file=getattr(args, "dev", None))
    print(f"engine model written to {engine_dir(settings)}")
    print(json.dumps(card.get("dev_metrics", {}), indent=2))
    return 0


def _add_engine(targets: argparse._SubParsersAction) -> None:
    engine = targets.add_parser("engine", help="train the default dialogue engine (same as plain `shopbot train`)")
    _engine_args(engine)
    engine.set_defaults(func=run_engine)


def _add_llm(targets: argparse._SubParsersAction) -> None:
    llm = targets.add_parser("llm", help="LoRA fine-tune a local Hugging Face causal LM on the engine transcripts")
    llm.add_argument("--base", type=Path, required=True, help="checkpoint directory (config, weights, tokenizer with a chat template)")
    llm.add_argument("--transcripts", type=Path, default=None, help="JSONL (default: $SHOPBOT_HOME/models/engine/train.jsonl)")
    llm.add_argument("--out", type=Path, default=None, help="output directory (default: $SHOPBOT_HOME/models/llm)")
    llm.add_argument("--epochs", type=float, default=1.0)
    llm.add_argument("--max-conversations", type=int, default=None)
    llm.add_argument("--lr", type=float, default=2e-4)
    llm.set_defaults(func=run_llm)


def run_llm(args: argparse.Namespace, settings: Settings) -> int:
    from training.train_llm import LoraConfigLite, train_llm

    transcripts = args.transcripts or settings.models_dir / "engine" / "train.jsonl"
    if not transcripts.is_file():
        print(f"error: {transcripts} not found; run `shopbot train` first or pass --transcripts")
        return 2
    out = args.out or settings.models_dir / "llm"
    train_llm(args.base, transcripts, out, LoraConfigLite(epochs=args.epochs, lr=args.lr, max_conversations=args.max_conversations))
    print(f"merged model written to {out}; use SHOPBOT_ENGINE=hf:{out}")
    return 0


def _add_moderation(targets: argparse._SubParsersAction) -> None:
    from bot.commands.moderation import add_train_moderation

    add_train_moderation(targets)


def _add_describer(targets: argparse._SubParsersAction) -> None:
    from bot.commands.describer import add_train_describer

    add_train_describer(targets)


TARGETS = [_add_engine, _add_llm, _add_moderation, _add_describer]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train models (default: the dialogue engine)")
    _engine_args(train)
    train.set_defaults(func=run_engine)
    targets = train.add_subparsers(dest="target", metavar="TARGET")
    for add in TARGETS:
        add(targets)
