"""`shopbot train` (the default dialogue engine) and its targets: `shopbot train engine` (the
same), `shopbot train llm` (fine-tune only the language model, on the engine's transcripts or
yours), `shopbot train moderation`, `shopbot train describer`.

Other features add their own targets to `TARGETS` below (a function `add(targets)`).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.settings import Settings


def _llm_args(parser: argparse.ArgumentParser) -> None:
    from policies.llm.models import BASES, base_setting

    parser.add_argument("--base", default=None, help=f"base model: {', '.join(BASES)} or a .gguf file / Hugging Face directory (default: SHOPBOT_ENGINE_BASE, else {base_setting()})")
    parser.add_argument("--tokens", type=int, default=None, help="tokens to fine-tune on (the time budget; default about 10 minutes on 2 CPU cores)")
    parser.add_argument("--max-length", type=int, default=None, help="tokens the model reads at once: older turns are dropped beyond it (default 1024)")
    parser.add_argument("--lr", type=float, default=None, help="LoRA learning rate")


def _llm_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from policies.llm.models import base_setting
    from training.train_llm import LLMConfig

    config = LLMConfig(base=getattr(args, "base", None) or base_setting())
    for name, attr in (("tokens", "tokens"), ("max_length", "max_length"), ("lr", "lr")):
        value = getattr(args, name, None)
        if value is not None:
            setattr(config, attr, value)
    return config


def _engine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="data and model seed (default 0)")
    parser.add_argument("--generated", type=int, default=600, help="conversations from our own task generator")
    parser.add_argument("--transcripts", type=Path, default=None, help="train on this JSONL instead of building transcripts")
    parser.add_argument("--dev", type=Path, default=None, help="dev JSONL to score (with --transcripts)")
    parser.add_argument("--quick", action="store_true", help="a small engine for smoke tests (few conversations, a short fine-tune)")
    _llm_args(parser)


def run_engine(args: argparse.Namespace, settings: Settings) -> int:
    from training.train_engine import EngineConfig, engine_dir, train_engine
    from training.train_llm import NoLabels

    config = EngineConfig(seed=getattr(args, "seed", 0), n_generated=getattr(args, "generated", 600), llm=_llm_config(args))
    if getattr(args, "quick", False):
        config.n_generated, config.tau_repeats, config.max_train_points, config.dev_conversations = 300, 1, 8000, 6
        if getattr(args, "tokens", None) is None:  # --tokens sets the quick fine-tune's budget too
            config.llm.tokens = min(config.llm.tokens, 6000)
    try:
        card = train_engine(settings, config, train_file=getattr(args, "transcripts", None), dev_file=getattr(args, "dev", None))
    except NoLabels as exc:
        print(f"error: {exc}")
        return 2
    print(f"engine written to {engine_dir(settings)}")
    print(json.dumps({k: card.get(k) for k in ("threshold", "cascade_curve", "yes_check")}, indent=2))
    return 0


def _add_engine(targets: argparse._SubParsersAction) -> None:
    engine = targets.add_parser("engine", help="train the default dialogue engine (same as plain `shopbot train`)")
    _engine_args(engine)
    engine.set_defaults(func=run_engine)


def _add_llm(targets: argparse._SubParsersAction) -> None:
    llm = targets.add_parser("llm", help="fine-tune the engine's language model (LoRA) on support transcripts, then score it")
    _llm_args(llm)
    llm.add_argument("--transcripts", type=Path, default=None, help="JSONL (default: the engine's $SHOPBOT_HOME/models/engine/train.jsonl)")
    llm.add_argument("--dev", type=Path, default=None, help="JSONL scored after training (default: the engine's dev.jsonl)")
    llm.add_argument("--out", type=Path, default=None, help="output directory (default: the engine's, $SHOPBOT_HOME/models/engine/llm)")
    llm.set_defaults(func=run_llm)


def run_llm(args: argparse.Namespace, settings: Settings) -> int:
    from policies.llm.models import BaseModelMissing, base_gguf
    from training.train_engine import engine_dir
    from training.train_llm import NoLabels, score_llm, train
    from training.transcripts import TranscriptError, read_jsonl

    transcripts = args.transcripts or engine_dir(settings) / "train.jsonl"
    dev_file = args.dev or (engine_dir(settings) / "dev.jsonl" if args.transcripts is None else None)
    try:
        train_set = read_jsonl(transcripts)
        dev = read_jsonl(dev_file) if dev_file is not None and dev_file.is_file() else []
    except (OSError, TranscriptError) as exc:
        print(f"error: {exc}; run `shopbot train` first or pass --transcripts")
        return 2
    config = _llm_config(args)
    try:
        base = Path(config.base) if Path(config.base).is_dir() else base_gguf(config.base, settings.models_dir)
    except BaseModelMissing as exc:
        print(f"error: {exc}")
        return 2
    out = args.out or engine_dir(settings) / "llm"
    try:
        card = train(train_set, base, out, config)
    except NoLabels as exc:
        print(f"error: {exc}")
        return 2
    if dev:
        card["dev"] = score_llm(out, dev[:40], config.max_length)
        (out / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    print(f"fine-tuned model written to {out}")
    print(json.dumps({k: card.get(k) for k in ("final_loss", "train_seconds", "dev")}, indent=2))
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
