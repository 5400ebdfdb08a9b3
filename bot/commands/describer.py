"""The `train describer` target: `shopbot train describer [--force] [--if-missing] [--steps N] [--quick] [--json]`.

`shopbot train` is a shared group (bot/commands/train.py); it calls `add_train_describer`.
"""
from __future__ import annotations

import argparse
import json

from bot.settings import Settings


def add_train_describer(train_subparsers: argparse._SubParsersAction) -> None:
    """Called by the `train` group: adds `shopbot train describer`."""
    tr = train_subparsers.add_parser("describer", help="train the product describer from the public catalogs in SHOPBOT_DATA_DIR")
    tr.add_argument("--force", action="store_true", help="retrain even when the model is up to date")
    tr.add_argument("--if-missing", action="store_true", help="do nothing when a trained describer exists (what `shopbot up` runs)")
    tr.add_argument("--steps", type=int, default=None, help="training steps (default 700)")
    tr.add_argument("--quick", action="store_true", help="a small model for smoke tests (fewer pairs and steps)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--json", action="store_true", help="print the model's sidecar JSON")
    tr.set_defaults(func=run_train)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from training.train_describer import MissingData, TrainConfig, describer_dir, train_describer

    out = describer_dir(settings)
    if args.if_missing and (out / "model.pt").is_file():
        print(f"describer: trained model in {out}")
        return 0
    config = TrainConfig(seed=args.seed)
    if args.quick:
        config.steps, config.max_pairs, config.dev_generations = 120, 600, 20
    if args.steps is not None:
        config.steps = args.steps
    try:
        meta = train_describer(settings, config, force=args.force, progress=not args.json)
    except MissingData as exc:
        # Not an error for `shopbot up` without public data: descriptions are composed from attributes.
        print(f"describer: {exc}; nothing to train, descriptions are composed from attributes")
        return 0
    if args.json:
        print(json.dumps(meta))
    elif meta.get("skipped"):
        print(f"describer is up to date (data hash {meta['data_hash']}); use --force to retrain")
    else:
        print(f"describer written to {out}")
        print(json.dumps(meta["dev_metrics"], indent=2))
    return 0
