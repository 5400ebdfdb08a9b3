"""`shopbot migrate`, `shopbot init` (schema + demo store) and `shopbot import tau-bench DIR`."""
from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    migrate = subparsers.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=run_migrate)

    init = subparsers.add_parser("init", help="create the database and load the generated demo store if missing")
    init.add_argument("--seed", type=int, default=None, help="generator seed (default: settings.demo_seed)")
    init.add_argument("--users", type=int, default=None, help="number of demo users (default: settings.demo_users)")
    init.set_defaults(func=run_init)

    imp = subparsers.add_parser("import", help="import a public store into the database")
    kinds = imp.add_subparsers(dest="kind", metavar="KIND", required=True)
    tau = kinds.add_parser("tau-bench", help="tau-bench retail users.json, orders.json, products.json")
    tau.add_argument("directory", type=Path, nargs="?", help="default: $SHOPBOT_DATA_DIR/tau-bench-retail")
    tau.set_defaults(func=run_import_tau_bench)


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade

    upgrade(settings.database_url)
    print(f"schema up to date: {settings.database_url}")
    return 0


async def _load(settings: Settings, data, source: str) -> str:  # type: ignore[no-untyped-def]
    from bot.db import Database
    from bot.store.load import load_store

    db = Database(settings.database_url)
    try:
        return str(await load_store(db, data, source))
    finally:
        await db.dispose()


def run_init(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade
    from bot.store.generate import generate_store

    print("[init] migrating the database schema...", flush=True)
    upgrade(settings.database_url)
    seed = args.seed if args.seed is not None else settings.demo_seed
    users = args.users if args.users is not None else settings.demo_users
    data = generate_store(seed=seed, n_users=users)
    print(f"[init] demo store (seed {seed}): {data.summary()}", flush=True)
    print(f"[init] {asyncio.run(_load(settings, data, 'demo'))}", flush=True)
    return 0


def run_import_tau_bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade
    from bot.store.load import StoreLoadError
    from bot.store.tau_bench import StoreFormatError, read_tau_bench

    directory = args.directory
    if directory is None:
        if settings.data_dir is None:
            print("error: give DIR, or set SHOPBOT_DATA_DIR to the public data directory")
            return 2
        directory = settings.data_dir / "tau-bench-retail"
    try:
        data = read_tau_bench(directory)
        upgrade(settings.database_url)
        print(f"tau-bench store: {data.summary()}")
        print(asyncio.run(_load(settings, data, "tau-bench")))
    except (StoreFormatError, StoreLoadError) as exc:
        print(f"error: {exc}")
        return 2
    return 0
