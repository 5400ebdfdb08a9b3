"""nDCG@10 of product search: the automatic public sets and our hand-written ones (docs/retrieval.md).

    python -m retrieval.evaluate            # uses $SHOPBOT_HOME's database and index
    python -m retrieval.evaluate --modes plain hybrid --languages zh es

Modes: "plain" is the baseline every change is measured against: MiniLM (fp32, queries too) over
name + category + brand, exact inner product, the price bound applied as an exact filter;
"dense", "lexical" and "hybrid" are `ProductSearch` modes over the shipped index ("hybrid", the
shipped one, ranks a query in another language with e5); "multilingual" is e5 dense alone, for
every query.

Automatic sets (`retrieval.autosets`, built from SHOPBOT_DATA_DIR; each part split into "dev" and
"heldout" halves): every query searches within its own catalog, products its labels cannot judge
are left out of the ranking, and a price part's bound goes in as the tool argument (as the
engine passes it) besides standing in the query's words. `--languages zh es`: the same for our
translations of a sample of the automatic queries (`devsets/translated_queries.jsonl`, keyed by a
hash of the English query, so no text of the public data is kept here).

Demo set (`devsets/demo_queries.jsonl`): graded relevance by product name within the demo store
(2 = what was asked for, 1 = a reasonable alternative); queries that state a price, an option or
"in stock" count a product only if one of its variants meets that (reported apart as
"demo:constrained"). Best Buy set (`devsets/bestbuy_queries.jsonl`):
queries written by us, relevance by rules over the product name and category path (grade 2 when
every word of one `grade2` group appears, 1 for a `grade1` group). In both sets a product with no
variant inside a query's stated price range (`min_price`/`max_price`) counts as not relevant.
Each set is searched within its own source, so products of another catalog never count against it.
Held-out set (`devsets/demo_heldout.jsonl`, 56 demo queries, same grading as the demo set):
written before the fusion settings were tuned on the two dev sets, and only reported.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path
from typing import Any

import hashlib

import numpy as np

from retrieval.autosets import JudgedQuery, build_autosets
from retrieval.catalog import CatalogProduct
from retrieval.search import SearchFilters

DEVSETS = Path(__file__).resolve().parent / "devsets"


def dcg(gains: list[float]) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg(ranked_gains: list[float], ideal_gains: list[float], k: int = 10) -> float:
    ideal = dcg(sorted(ideal_gains, reverse=True)[:k])
    return dcg(ranked_gains[:k]) / ideal if ideal > 0 else 0.0


def load_set(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DEVSETS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _in_budget(item: dict[str, Any], product: CatalogProduct | None) -> bool:
    """Whether some variant meets the query's stated constraints: price range, options, in stock."""
    if product is None:
        return False
    low, high = item.get("min_price", 0.0), item.get("max_price", math.inf)
    wanted = item.get("options", {})
    return any(
        low <= v.price <= high
        and (v.available or not item.get("in_stock"))
        and all(str(v.options.get(name, "")).lower() == str(value).lower() for name, value in wanted.items())
        for v in product.variants
    )


def rule_grade(item: dict[str, Any], product: CatalogProduct) -> int:
    text = (product.name + " " + (product.category or "")).lower()
    if not _in_budget(item, product):
        return 0
    for grade, key in ((2, "grade2"), (1, "grade1")):
        if any(all(word in text for word in group) for group in item.get(key, [])):
            return grade
    return 0


def plain_text(product: CatalogProduct) -> str:
    """What the plain dense baseline embeds: name, category path, brand."""
    return ". ".join(x for x in (product.name, product.category, product.brand) if x)


class PlainDense:
    """The baseline: fp32 MiniLM over `plain_text`, exact inner product, exact price filter. Its
    vectors are cached beside the index (`plain-embeddings.npz`, by text hash)."""

    def __init__(self, catalog: Any, cache_path: Path | None = None) -> None:
        from retrieval.embed import EmbeddingCache, text_hash

        self.catalog = catalog
        self.products = list(catalog.products.values())
        texts = [plain_text(p) for p in self.products]
        keys = [text_hash(t) for t in texts]
        cache = EmbeddingCache(cache_path, catalog.embedder.name, catalog.embedder.dimension) if cache_path else None
        missing = set(cache.missing(keys)) if cache else set(keys)
        todo = {k: t for k, t in zip(keys, texts) if k in missing}
        vectors = catalog.embedder.embed(list(todo.values()), progress=len(todo) > 500) if todo else np.zeros((0, catalog.embedder.dimension), np.float32)
        known = dict(zip(todo, vectors))
        if cache is not None:
            cache.put(list(todo), vectors)
            cache.save(keep=keys)
            known = cache.vectors
        self.matrix = np.stack([known[k] for k in keys]) if keys else np.zeros((0, catalog.embedder.dimension), np.float32)
        self.sources = np.array([p.source for p in self.products])

    def ranked_ids(self, query: str, k: int, filters: SearchFilters) -> list[str]:
        vector = self.catalog.embedder.embed([query])[0]
        scores = self.matrix @ vector
        if filters.sources:
            scores = np.where(np.isin(self.sources, sorted(filters.sources)), scores, -np.inf)
        low, high = filters.min_price or 0.0, filters.max_price if filters.max_price is not None else math.inf
        out: list[str] = []
        for pos in np.argsort(-scores, kind="stable"):
            if not np.isfinite(scores[pos]) or len(out) >= k:
                break
            if any(low <= v.price <= high for v in self.products[pos].variants):
                out.append(self.products[pos].product_id)
        return out


def ranked_ids(catalog: Any, plain: PlainDense | None, query: str, k: int, filters: SearchFilters, mode: str) -> list[str]:
    if mode == "plain":
        if plain is None:
            raise ValueError("mode 'plain' needs a PlainDense baseline")
        return plain.ranked_ids(query, k, filters)
    return [h.id for h in catalog.search(query, k, filters, mode=mode)]


def _evaluate_demo(catalog: Any, plain: PlainDense | None, demo: list[CatalogProduct], set_file: str, label: str, mode: str, k: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_name = {p.name: p for p in demo}
    scores: list[float] = []
    constrained: list[bool] = []
    for item in load_set(set_file):
        hits = [catalog.products[pid].name for pid in ranked_ids(catalog, plain, item["query"], k, SearchFilters(sources={"demo"}), mode)]
        # A product with no variant in the stated price range is not an answer, whatever its type.
        grades = {name: (g if _in_budget(item, by_name.get(name)) else 0) for name, g in item["relevant"].items()}
        if not any(grades.values()):
            continue  # nothing in this store meets the query (nDCG undefined)
        scores.append(ndcg([grades.get(h, 0) for h in hits], list(grades.values()), k))
        constrained.append(any(key in item for key in ("min_price", "max_price", "options", "in_stock")))
    out[label] = {"queries": len(scores), "ndcg@10": sum(scores) / len(scores), "per_query": scores}
    for part_label, keep in ((f"{label}:plain", False), (f"{label}:constrained", True)):
        part = [s for s, c in zip(scores, constrained) if c == keep]
        if part:
            out[part_label] = {"queries": len(part), "ndcg@10": sum(part) / len(part), "per_query": part}
    return out


def evaluate(catalog: Any, mode: str = "hybrid", k: int = 10, heldout: bool = True, plain: PlainDense | None = None) -> dict[str, Any]:
    """Mean nDCG@k on each hand-written set (`catalog` is a CatalogSearch). "demo" and "bestbuy"
    are the dev sets the earlier fusion settings were chosen on; "heldout" (demo_heldout.jsonl)
    was written before that tuning and is only reported, never tuned on (docs/retrieval.md)."""
    out: dict[str, Any] = {}
    demo = [p for p in catalog.products.values() if p.source == "demo"]
    if demo:
        out.update(_evaluate_demo(catalog, plain, demo, "demo_queries.jsonl", "demo", mode, k))
        if heldout:
            out.update(_evaluate_demo(catalog, plain, demo, "demo_heldout.jsonl", "heldout", mode, k))
    bestbuy = [p for p in catalog.products.values() if p.source == "bestbuy"]
    if bestbuy:
        scores = []
        for item in load_set("bestbuy_queries.jsonl"):
            hits = ranked_ids(catalog, plain, item["query"], k, SearchFilters(sources={"bestbuy"}), mode)
            ideal = [g for g in (rule_grade(item, p) for p in bestbuy) if g > 0]
            scores.append(ndcg([rule_grade(item, catalog.products[h]) for h in hits], ideal, k))
        out["bestbuy"] = {"queries": len(scores), "ndcg@10": sum(scores) / len(scores), "per_query": scores}
    return out


def judged_ndcg(item: JudgedQuery, ranked: list[str], k: int = 10) -> float:
    """nDCG@k of `ranked` with the products `item` cannot judge left out of it."""
    kept = [pid for pid in ranked if pid not in item.unjudged][:k]
    return ndcg([item.grades.get(pid, 0) for pid in kept], list(item.grades.values()), k)


def evaluate_auto(catalog: Any, items: list[JudgedQuery], mode: str = "hybrid", k: int = 10, plain: PlainDense | None = None) -> dict[str, Any]:
    """Mean nDCG@k per automatic part and split ("bestbuy:category:dev", ...) and over all of a split."""
    per: dict[str, list[float]] = {}
    for item in items:
        filters = SearchFilters(sources={item.source}, min_price=item.min_price, max_price=item.max_price)
        score = judged_ndcg(item, ranked_ids(catalog, plain, item.query, k + len(item.unjudged), filters, mode), k)
        for name in (f"{item.part}:{item.split}", f"all:{item.split}"):
            per.setdefault(name, []).append(score)
    return {name: {"queries": len(s), "ndcg@10": sum(s) / len(s), "per_query": s} for name, s in sorted(per.items())}


def translated(items: list[JudgedQuery], language: str) -> list[tuple[JudgedQuery, JudgedQuery]]:
    """(English query, our translation into `language`) for the automatic queries we translated."""
    import dataclasses

    rows = [json.loads(line) for line in (DEVSETS / "translated_queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    by_key = {row["key"]: row[language] for row in rows if language in row}
    out = []
    for item in items:
        text = by_key.get(query_key(item.query))
        if text is not None:
            out.append((item, dataclasses.replace(item, query=text)))
    return out


def query_key(query: str) -> str:
    return hashlib.sha1(query.encode("utf-8")).hexdigest()[:12]


async def _main(args: argparse.Namespace) -> None:
    from bot.db import Database
    from bot.settings import Settings
    from retrieval.service import CatalogSearch

    settings = Settings.from_env()
    db = Database(settings.database_url)
    try:
        catalog = await CatalogSearch.load(settings, db)
        # the baseline embeds once per run (the catalog's texts are cached beside the index)
        plain = PlainDense(catalog, settings.index_dir / "plain-embeddings.npz") if "plain" in args.modes else None
        auto = build_autosets(catalog.products.values(), settings.data_dir)
        if not auto:
            print("no automatic sets: SHOPBOT_DATA_DIR (the public data) is not there")
        table: dict[str, dict[str, dict[str, Any]]] = {}
        for mode in args.modes:
            results = {**evaluate_auto(catalog, auto, mode, plain=plain), **evaluate(catalog, mode, plain=plain)}
            for language in args.languages:
                sample = translated(auto, language)
                if sample:
                    results["translated:en"] = _pooled(catalog, [english for english, _ in sample], mode, plain)
                    results[f"translated:{language}"] = _pooled(catalog, [other for _, other in sample], mode, plain)
            for name, r in results.items():
                table.setdefault(name, {})[mode] = r
        print(f"{'set':30s} {'n':>4s} " + " ".join(f"{m:>8s}" for m in args.modes))
        for name, row in table.items():
            n = next(iter(row.values()))["queries"]
            print(f"{name:30s} {n:4d} " + " ".join(f"{row[m]['ndcg@10']:8.3f}" if m in row else f"{'-':>8s}" for m in args.modes))
    finally:
        await db.dispose()


def _pooled(catalog: Any, items: list[JudgedQuery], mode: str, plain: PlainDense | None) -> dict[str, Any]:
    """One mean over `items`, whatever their part and split."""
    scores: list[float] = []
    for item in items:
        filters = SearchFilters(sources={item.source}, min_price=item.min_price, max_price=item.max_price)
        scores.append(judged_ndcg(item, ranked_ids(catalog, plain, item.query, 10 + len(item.unjudged), filters, mode)))
    return {"queries": len(scores), "ndcg@10": sum(scores) / max(len(scores), 1), "per_query": scores}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["plain", "dense", "lexical", "hybrid"], choices=["plain", "dense", "lexical", "hybrid", "multilingual"])
    parser.add_argument("--languages", nargs="*", default=[], help="also the translated queries: zh, es")
    asyncio.run(_main(parser.parse_args()))
