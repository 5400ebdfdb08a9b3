"""Product search speed: FAISS at scale, embedding throughput, ingest, and end-to-end catalog queries.

    python benchmarks/search.py                 # 10k and 100k vectors, embeddings, demo catalog
    nice python benchmarks/search.py --sizes 1000000 --skip embed catalog   # the 1M run (~4 min build)
    python benchmarks/search.py --codec Flat    # IVF lists as float32 instead of SQ8 (comparison)
    python benchmarks/search.py --kinds hnsw    # IndexHNSWFlat instead (slow to build on 2 cores)
    python benchmarks/search.py --home DIR      # also time queries on an existing SHOPBOT_HOME index

Vectors are synthetic (d=384, L2-normalised, a hierarchical Gaussian mixture: 200 topics, 100,000
family centres, a shared direction; see `synthetic`); queries come from the same distribution and are not
in the index. Recall@10 is against exact inner-product search (IndexFlatIP) on the same vectors.
The index type per size is the one `retrieval.index.build_faiss` picks; each row is one search
setting (IVF nprobe or HNSW efSearch) with the 1-minute load average when it was measured.
Single-query latency runs FAISS on one thread (as `VectorIndex.search` does); single QPS is
1 / mean latency, so stalls from other jobs on the machine count against it. Results are printed as
Markdown and written to --out (JSON).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.index import build_faiss, set_search_params  # noqa: E402

D = 384


TOPICS, FAMILIES_PER_TOPIC = 200, 500
# Variance shares of a point (sum 1): shared direction, topic, family, the point's own noise.
SHARED, TOPIC, FAMILY, OWN = 0.1, 0.2, 0.2, 0.5


def synthetic(n: int, seed: int) -> np.ndarray:
    """A hierarchical Gaussian mixture, normalised: 200 topics, 500 product families around each
    (100,000 family centres), points around a family, plus one shared direction (sentence
    embeddings are anisotropic: unrelated texts still have a positive cosine). Expected cosine:
    same family ~0.5, same topic ~0.3, unrelated ~0.1, so a query's neighbours are graded and
    spread over many inverted lists, not one tight cluster far from all others. (The earlier
    mixture, 2,000 tight centres, was trivially easy: IVF recall@10 was 1.0 at nprobe 8.)
    The structure is fixed; `seed` draws the points."""
    structure = np.random.default_rng(12345)
    shared = structure.normal(size=D).astype(np.float32) * np.float32(np.sqrt(SHARED))
    topics = structure.normal(size=(TOPICS, D)).astype(np.float32) * np.float32(np.sqrt(TOPIC))
    families = np.repeat(topics + shared, FAMILIES_PER_TOPIC, axis=0)
    families += structure.normal(size=families.shape).astype(np.float32) * np.float32(np.sqrt(FAMILY))
    rng = np.random.default_rng(seed)
    out = np.empty((n, D), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        chunk = families[rng.integers(0, len(families), size=m)] + np.float32(np.sqrt(OWN)) * rng.normal(size=(m, D)).astype(np.float32)
        out[start : start + m] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def index_bytes(index) -> int:  # type: ignore[no-untyped-def]
    import faiss

    return int(faiss.serialize_index(index).size)


def _timed_queries(index, xq: np.ndarray, truth: np.ndarray) -> dict:
    import faiss

    n_queries = len(xq)
    lat = []
    found = np.empty((n_queries, 10), dtype=np.int64)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # as VectorIndex.search does for single queries
    for i in range(n_queries):
        t = time.perf_counter()
        _, found[i : i + 1] = index.search(xq[i : i + 1], 10)
        lat.append(time.perf_counter() - t)
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    index.search(xq, 10)
    batch_s = time.perf_counter() - t
    recall = float(np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(n_queries)]))
    return {
        "p50_ms": round(percentile(lat, 50) * 1000, 3),
        "p99_ms": round(percentile(lat, 99) * 1000, 3),
        "single_qps": round(1 / statistics.mean(lat), 1),
        "batch_qps": round(n_queries / batch_s, 1),
        "recall@10": round(recall, 4),
    }


def bench_index(n: int, n_queries: int, kinds: list[str], ef_search: list[int], nprobe: list[int], codec: str = "SQ8") -> list[dict]:
    import faiss

    print(f"[index] {n:,} vectors: generating...", flush=True)
    xb = synthetic(n, seed=1)
    xq = synthetic(n_queries, seed=2)
    exact = faiss.IndexFlatIP(D)
    exact.add(xb)
    t = time.perf_counter()
    _, truth = exact.search(xq, 10)
    exact_batch_s = time.perf_counter() - t
    del exact
    print(f"[index] {n:,}: exact ground truth in {exact_batch_s:.1f}s", flush=True)
    rows = []
    for kind in kinds:
        print(f"[index] {n:,}: building {kind}...", flush=True)
        t = time.perf_counter()
        index = build_faiss(xb, kind=kind, codec=codec)
        build_s = time.perf_counter() - t
        name = type(index).__name__
        memory_mb = round(index_bytes(index) / 2**20, 1)
        if name == "IndexHNSWFlat":
            settings = [{"ef_search": ef} for ef in ef_search]
        elif name.startswith("IndexIVF"):
            settings = [{"nprobe": p} for p in nprobe]
        else:
            settings = [{}]
        for params in settings:
            set_search_params(index, **params)
            row = {"n": n, "index": name, "codec": codec if name.startswith("IndexIVF") else None, "nlist": getattr(faiss.try_extract_index_ivf(index), "nlist", None), **params,
                   "build_s": round(build_s, 2), "memory_mb": memory_mb, **_timed_queries(index, xq, truth),
                   "load_1min": round(os.getloadavg()[0], 2)}
            print(f"[index] {row}", flush=True)
            rows.append(row)
        set_search_params(index)
        del index
    return rows


def product_texts(n: int) -> list[str]:
    from bot.store.generate import generate_store
    from retrieval.catalog import product_from_dict
    from retrieval.search import document_text

    products = [product_from_dict(p, "demo") for p in generate_store(7, 5).products.values()]
    texts = [document_text(p) for p in products]
    return [f"{texts[i % len(texts)]} #{i}" for i in range(n)]


def bench_embedding(n: int) -> dict:
    import torch

    from retrieval.embed import Embedder, torch_model

    texts = product_texts(n)
    embedder = Embedder()
    embedder.embed(texts[:64])  # warm-up
    t = time.perf_counter()
    fp32 = embedder.embed(texts)
    fp32_rate = n / (time.perf_counter() - t)
    lat = []
    for i in range(200):
        t = time.perf_counter()
        embedder.embed([f"something for my dog number {i}"])
        lat.append(time.perf_counter() - t)
    result = {
        "items": n,
        "fp32_items_per_s": round(fp32_rate, 1),
        "query_embed_p50_ms": round(percentile(lat, 50) * 1000, 2),
        "query_embed_p99_ms": round(percentile(lat, 99) * 1000, 2),
        "torch_threads": torch.get_num_threads(),
        "encoder": type(embedder.model).__name__,  # OnnxSentenceEncoder (ONNX Runtime) or SentenceTransformer
    }
    # int8 dynamic quantisation of the PyTorch model's Linear layers, for comparison.
    model = torch_model()
    quantised = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    t = time.perf_counter()
    q8 = quantised.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    result["int8_items_per_s"] = round(n / (time.perf_counter() - t), 1)
    result["int8_vs_fp32_mean_cosine"] = round(float(np.mean(np.sum(fp32 * q8, axis=1))), 4)
    print(f"[embed] {result}", flush=True)
    return result


async def bench_catalog(home: Path | None, repeats: int) -> dict:
    """Ingest rate and end-to-end query latency (embed + hybrid search + filters) on a real index."""
    from bot.db import Database
    from bot.migrate import upgrade_async
    from bot.settings import Settings
    from bot.store.generate import generate_store
    from bot.store.load import load_store
    from retrieval.catalog import product_from_dict
    from retrieval.evaluate import load_set
    from retrieval.ingest import ingest_products
    from retrieval.service import CatalogSearch, build_catalog_index

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(home=Path(tmp), database_url=f"sqlite+aiosqlite:///{tmp}/shopbot.db", data_dir=None)
        await upgrade_async(settings.database_url)
        db = Database(settings.database_url)
        # Ingest (parse, validate, hash, write; no embedding): 5,000 products x ~7 variants.
        base = list(generate_store(7, 5).products.values())
        rows = []
        for i in range(5000):
            p = dict(base[i % len(base)], product_id=f"b{i}", name=f"{base[i % len(base)]['name']} {i}")
            p["variants"] = {f"b{i}-{k}": dict(v, item_id=f"b{i}-{k}") for k, v in enumerate(p["variants"].values())}
            rows.append((i + 1, product_from_dict(p, "bench")))
        t = time.perf_counter()
        await ingest_products(db, rows, "bench")
        out["ingest_items_per_s"] = round(len(rows) / (time.perf_counter() - t), 1)
        await db.dispose()

        demo_home = Path(tmp) / "demo"
        settings = Settings.from_env(home=demo_home, database_url=f"sqlite+aiosqlite:///{demo_home}/shopbot.db", data_dir=None)
        await upgrade_async(settings.database_url)
        db = Database(settings.database_url)
        await load_store(db, generate_store(7, 50), "demo")
        await build_catalog_index(settings, db, public=False, progress=False)
        out["demo"] = await _query_latency(await CatalogSearch.load(settings, db), [q["query"] for q in load_set("demo_queries.jsonl")], repeats)
        await db.dispose()
    if home is not None:
        settings = Settings.from_env(home=home, database_url=f"sqlite+aiosqlite:///{home}/shopbot.db")
        db = Database(settings.database_url)
        catalog = await CatalogSearch.load(settings, db)
        queries = [q["query"] for q in load_set("demo_queries.jsonl")] + [q["query"] for q in load_set("bestbuy_queries.jsonl")]
        out["full"] = await _query_latency(catalog, queries, repeats)
        await db.dispose()
    print(f"[catalog] {out}", flush=True)
    return out


async def _query_latency(catalog, queries: list[str], repeats: int) -> dict:  # type: ignore[no-untyped-def]
    catalog.search("warm up", 10)
    cold, warm = [], []
    for q in queries:  # first sight of each query: embeds it
        catalog.embedder.query_encoder.clear_cache()
        t = time.perf_counter()
        catalog.search(q, 10)
        cold.append(time.perf_counter() - t)
    for _ in range(repeats):  # repeated queries: the query vector is cached
        for q in queries:
            t = time.perf_counter()
            catalog.search(q, 10)
            warm.append(time.perf_counter() - t)
    return {
        "products": len(catalog.products),
        "queries": len(queries),
        "p50_ms": round(percentile(cold, 50) * 1000, 2),
        "p99_ms": round(percentile(cold, 99) * 1000, 2),
        "cached_vector_p50_ms": round(percentile(warm, 50) * 1000, 2) if warm else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--kinds", nargs="+", default=["ivf"], choices=("ivf", "hnsw"), help="large-index kinds to build")
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 24, 32, 64])
    parser.add_argument("--codec", default="SQ8", choices=("Flat", "SQ8"), help="IVF list storage (shipped: SQ8)")
    parser.add_argument("--embed-items", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--home", type=Path, default=None, help="also time queries on this SHOPBOT_HOME's index")
    parser.add_argument("--skip", nargs="*", default=[], choices=("index", "embed", "catalog"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/search.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import faiss

    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, faiss {faiss.__version__}, GPUs seen by faiss: {faiss.get_num_gpus()}",
        "index": [],
    }
    if "index" not in args.skip:
        for n in args.sizes:
            results["index"].extend(bench_index(n, args.queries, args.kinds, args.ef_search, args.nprobe, args.codec))
    if "embed" not in args.skip:
        results["embedding"] = bench_embedding(args.embed_items)
    if "catalog" not in args.skip:
        results["catalog"] = asyncio.run(bench_catalog(args.home, args.repeats))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if results["index"]:  # keep the rows of sizes not re-run (the 1M run is separate)
        sizes = {r["n"] for r in results["index"]}
        results["index"] = [r for r in previous.get("index", []) if r["n"] not in sizes] + results["index"]
        results["index"].sort(key=lambda r: r["n"])
    previous.update({k: v for k, v in results.items() if v})
    args.out.write_text(json.dumps(previous, indent=2))
    print("\n| vectors | index | search param | build s | memory MB | p50 ms | p99 ms | single q/s | batch q/s | recall@10 | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["index"]:
        param = f"nprobe {r['nprobe']}" if "nprobe" in r else f"efSearch {r['ef_search']}" if "ef_search" in r else "-"
        print(f"| {r['n']:,} | {r['index']} | {param} | {r['build_s']} | {r['memory_mb']} | {r['p50_ms']} | {r['p99_ms']} | {r['single_qps']:,} | {r['batch_qps']:,} | {r['recall@10']} | {r['load_1min']} |")


if __name__ == "__main__":
    main()
