"""`shopbot index` (build or update the catalog index), `shopbot search` and `shopbot ingest FILE`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    index = subparsers.add_parser("index", help="ingest the public catalogs, describe and embed products, build the search index")
    index.add_argument("--no-public", action="store_true", help="index the store's catalog only, skip $SHOPBOT_DATA_DIR")
    index.set_defaults(func=run_index)

    search = subparsers.add_parser("search", help="search the catalog; one query per argument, or per stdin line")
    search.add_argument("query", nargs="*", help="queries (default: read one per line from stdin)")
    search.add_argument("--k", type=int, default=10, help="hits per query (default 10)")
    search.add_argument("--json", action="store_true", help='one JSON line per query: {"query", "hits"}')
    search.add_argument("--source", action="append", help="only products from this catalog (demo, tau-bench, dummyjson, bestbuy, ...)")
    search.add_argument("--mode", choices=("hybrid", "dense", "lexical"), default="hybrid")
    search.set_defaults(func=run_search)

    ingest = subparsers.add_parser("ingest", help="add or update products from a JSON, JSONL or CSV file (docs/catalog.md)")
    ingest.add_argument("file", type=Path)
    ingest.add_argument("--source", default="catalog", help="catalog name stored with the products (default: catalog)")
    ingest.add_argument("--format", choices=("json", "jsonl", "csv"), default=None, help="default: from the file extension")
    ingest.set_defaults(func=run_ingest)


async def _index(settings: Settings, public: bool) -> int:
    from bot.db import Database
    from bot.migrate import upgrade_async
    from retrieval.index import IndexWriteError
    from retrieval.service import build_catalog_index

    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        report = await build_catalog_index(settings, db, public=public, progress=sys.stderr.isatty())
    except IndexWriteError as exc:  # nothing of the new index was kept
        print(f"error: {exc.strerror}\nThe previous index is unchanged and still serves; free some space and run `shopbot index` again.", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the vector cache after the index was saved: the new index serves
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; run `shopbot index` again once it is fixed.", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(report, flush=True)
    return 0


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_index(settings, public=not args.no_public))


async def _search(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db import Database
    from retrieval.search import SearchFilters
    from retrieval.service import CatalogNotReady, CatalogSearch

    db = Database(settings.database_url)
    try:
        try:
            catalog = await CatalogSearch.load(settings, db)
        except CatalogNotReady as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        queries = args.query or (line.strip() for line in sys.stdin)
        filters = SearchFilters(sources=set(args.source)) if args.source else None
        for query in queries:
            if not query:
                continue
            hits = catalog.search(query, max(1, args.k), filters, mode=args.mode)
            if args.json:
                print(json.dumps({"query": query, "hits": [h.as_dict() for h in hits]}, ensure_ascii=False), flush=True)
            else:
                print(f"# {query}")
                for n, h in enumerate(hits, 1):
                    price = f"${h.price:.2f}" if h.price is not None else "-"
                    opts = ", ".join(f"{k}: {v}" for k, v in h.options.items())
                    print(f"{n:3d}. {h.name} [{h.id}] {price} {opts}  ({h.reason})")
    finally:
        await db.dispose()
    return 0


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_search(args, settings))


async def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db import Database
    from bot.migrate import upgrade_async
    from retrieval.catalog import CatalogFormatError
    from retrieval.ingest import ingest_file

    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        report = await ingest_file(db, args.file, source=args.source, fmt=args.format)
    except (OSError, CatalogFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(report)
    print("run `shopbot index` to make the changes searchable")
    return 1 if report.errors and not report.written and not report.unchanged else 0


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_ingest(args, settings))
