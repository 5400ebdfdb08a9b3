"""The `shopbot` command. Each feature registers its subcommands in `COMMANDS` below.

A subcommand module exposes `add_parser(subparsers) -> None`; the parser it adds sets
`func=<callable(args, settings) -> int>`. Heavy imports happen inside those callables, so
`shopbot --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bot.settings import Settings

# Modules that add subcommands, in the order `shopbot --help` lists them.
COMMANDS: tuple[str, ...] = (
    "bot.commands.up",
    "bot.commands.serve",
    "bot.commands.store",
    "bot.commands.agents",
    "bot.commands.train",
    "bot.commands.evaluate",
    "bot.commands.index",
    "bot.commands.moderation",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopbot", description="E-commerce support chatbot server.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is noise here
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # "no AVX512 build" is not a problem
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    settings = Settings.from_env()
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
