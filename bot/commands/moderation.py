"""`shopbot evaluate-moderation --data FILE [--benign FILE] [--json]` and the `train moderation` target.

`shopbot train` is a shared group (bot/commands/train.py); it calls `add_train_moderation` to add
`shopbot train moderation [--force] [--holdout F] [--no-refit] [--seed N]`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser(
        "evaluate-moderation", help="AUPRC per category, any-unsafe AUPRC and latency on OpenAI-format JSONL"
    )
    ev.add_argument("--data", type=Path, required=True, help="JSONL (optionally .gz): {prompt, S, H, V, HR, SH, S3, H2, V2}")
    ev.add_argument("--benign", type=Path, default=None, help="one ordinary message per line: false-positive rate")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=run_evaluate)


def add_train_moderation(train_subparsers: argparse._SubParsersAction) -> None:
    """Called by the `train` group: adds `shopbot train moderation`."""
    tr = train_subparsers.add_parser("moderation", help="train the moderation classifier from SHOPBOT_DATA_DIR")
    tr.add_argument("--force", action="store_true", help="retrain even when the model is up to date")
    tr.add_argument("--holdout", type=float, default=0.3, help="share of the OpenAI dev half never trained on (default 0.3)")
    tr.add_argument(
        "--no-refit", dest="refit", action="store_false",
        help="deploy the model measured on the holdout (default: refit the same recipe on every row and deploy that)",
    )
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--json", action="store_true", help="print the model's sidecar JSON")
    tr.set_defaults(func=run_train)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from training.moderation import MissingData, TrainConfig, train_moderation

    config = TrainConfig(seed=args.seed, holdout=args.holdout, refit=args.refit)
    try:
        meta = train_moderation(settings, config, force=args.force, progress=not args.json)
    except MissingData as exc:
        # Not an error for `shopbot up` on a fresh machine: moderation still runs (rules+package).
        print(f"moderation: {exc}; nothing to train, moderation runs in rules+package mode")
        return 0
    if args.json:
        print(json.dumps(meta))
    elif meta.get("skipped"):
        print(f"moderation model is up to date (data hash {meta['data_hash']}); use --force to retrain")
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from policies.moderation import load_moderator
    from policies.moderation.evaluate import DataFormatError, evaluate, read_lines, read_moderation_jsonl

    try:
        rows = read_moderation_jsonl(args.data)
        benign = read_lines(args.benign) if args.benign else None
    except (OSError, DataFormatError, UnicodeDecodeError) as exc:
        print(f"error: {exc}")
        return 2
    moderator = load_moderator(settings, cache=False)  # latency_ms_p50: every message encoded
    refit_warning = _trained_on(args.data, settings)
    if refit_warning:
        print(refit_warning, file=sys.stderr)
    report = evaluate(moderator, rows, benign=benign)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"mode             {report['mode']}  ({report['rows']} rows)")
    for key, value in report.items():
        if key.endswith("_auprc") and key != "any_unsafe_auprc":
            print(f"{key:<28} {'n/a' if value is None else f'{value:.4f}'}")
    print(f"{'any_unsafe_auprc':<28} {report['any_unsafe_auprc']}")
    print(f"{'latency_ms_p50':<28} {report['latency_ms_p50']}   (p95 {report['latency_ms_p95']})")
    if benign is not None:
        print(f"{'false_positive_rate':<28} {report['false_positive_rate']}  on {report['benign_messages']} messages")
        if report["false_positive_reasons"]:
            print(f"{'false_positive_reasons':<28} {report['false_positive_reasons']}")
    return 0


def _trained_on(data: Path, settings: Settings) -> str | None:
    """A warning when `data` is the training run's holdout file but the deployed model was refit on it."""
    from policies.moderation.classifier import SIDECAR

    directory = Path(settings.models_dir) / "moderation"
    try:
        refit = json.loads((directory / SIDECAR).read_text()).get("metrics", {}).get("refit")
        same = data.resolve() == (directory / "holdout.jsonl.gz").resolve()
    except (OSError, ValueError):
        return None
    if refit and same:
        return ("warning: the deployed model was refit on every OpenAI row, these included, so this is not a held-out "
                "score; the recipe's held-out score is metrics.holdout in moderation.json (train with --no-refit to "
                "deploy the measured model)")
    return None
