"""`shopbot up`: prepare whatever is missing, then serve. What `./run.sh` runs.

Each step is an ordinary subcommand that skips its work when its output is already up to date,
so a second `shopbot up` goes straight to a listening server.
"""
from __future__ import annotations

import argparse
import time

from bot.settings import Settings

# (what it prepares, the subcommand that prepares it). Each subcommand skips work that is up to
# date, except training the engine, which `engine_problem` guards.
STEPS: tuple[tuple[str, list[str]], ...] = (
    ("database and demo store", ["init"]),
    ("catalog index", ["index"]),
    ("dialogue engine model", ["train", "engine"]),
    ("moderation classifier", ["train", "moderation"]),
    ("product describer", ["train", "describer", "--if-missing"]),  # only with public data and no model
)


def engine_problem(settings: Settings) -> str | None:
    """Why the default engine must be (re)trained, or None when the saved one is usable."""
    from bot.engine import engine_setting
    from training.train_engine import engine_problem as problem

    if engine_setting(settings)[0] != "default":
        return None  # a configured LLM backend: nothing to train here
    return problem(settings)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser("up", help="prepare what is missing (database, index, models) and serve")
    up.add_argument("--host", default=None)
    up.add_argument("--port", type=int, default=None)
    up.add_argument("--workers", type=int, default=None, help="server processes (several need SHOPBOT_REDIS_URL)")
    up.set_defaults(func=run_up)


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import build_parser

    parser = build_parser()
    for what, argv in STEPS:
        try:
            step_args = parser.parse_args(argv)
        except SystemExit:
            print(f"[up] {what}: no `shopbot {' '.join(argv)}` in this build, skipped", flush=True)
            continue
        if argv == ["train", "engine"] and engine_problem(settings) is None:
            from training.train_engine import finish_calibration, uncalibrated

            if uncalibrated(settings):  # training stopped after the fine-tune: finish its last step
                print(f"[up] {what}: picking the cascade threshold on its dev transcripts", flush=True)
                finish_calibration(settings)
            print(f"[up] {what}: ready (trained model in {settings.models_dir / 'engine'})", flush=True)
            continue
        started = time.perf_counter()
        print(f"[up] {what}...", flush=True)
        code = int(step_args.func(step_args, settings) or 0)
        if code != 0:
            print(f"[up] {what} failed (exit {code})", flush=True)
            return code
        print(f"[up] {what}: ready ({time.perf_counter() - started:.1f}s)", flush=True)
    serve_argv = ["serve"]
    if args.host:
        serve_argv += ["--host", args.host]
    if args.port:
        serve_argv += ["--port", str(args.port)]
    if args.workers:
        serve_argv += ["--workers", str(args.workers)]
    serve_args = parser.parse_args(serve_argv)
    return int(serve_args.func(serve_args, settings) or 0)
