"""`shopbot evaluate --transcripts FILE [--json] [--report DIR]`: score the engine's next steps."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("evaluate", help="score the dialogue engine on gold transcripts (JSONL)")
    ev.add_argument("--transcripts", type=Path, required=True, help="JSONL, one conversation per line (docs/transcripts.md)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--report", type=Path, default=None, help="write report.json and confusion.png here")
    ev.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.engine import EngineNotReady, load_decider
    from training.evaluate import evaluate
    from training.transcripts import TranscriptError, read_jsonl

    try:
        transcripts = read_jsonl(args.transcripts)
    except (OSError, TranscriptError) as exc:
        print(f"error: {exc}")
        return 2
    try:
        policy = load_decider(settings)
    except EngineNotReady as exc:
        print(f"error: {exc}")
        return 2
    report = evaluate(policy, transcripts, progress=not args.json, report_dir=args.report)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"decisions        {report['decisions']} in {report['transcripts']} transcripts")
    print(f"action accuracy  {report['action_accuracy']:.4f}   (always respond: {report['majority_respond']:.4f})")
    print(f"args exact match {report['args_exact']:.4f}   over {report['calls_with_args']} gold calls with arguments")
    print(f"latency ms       p50 {report['latency_ms_p50']}  p95 {report['latency_ms_p95']}")
    print(f"{'action':34} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>6}")
    for name, row in sorted(report["per_action"].items(), key=lambda kv: -kv[1]["support"]):
        print(f"{name:34} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} {row['support']:6d}")
    if args.report:
        print(f"report written to {args.report}")
    return 0
