"""`CatalogSearch`: the catalog, its index, search, recommendations and descriptions, loaded once.

    catalog = await CatalogSearch.load(settings, db)      # in the app lifespan
    services["catalog"] = catalog                          # the key the tools read

`build_catalog_index(settings, db)` is what `shopbot index` runs: ingest the public catalogs found
in the data dir, give every product a grounded description, embed what changed (vectors are cached
on disk by text hash), build and save the FAISS index with its sidecar. Every product is embedded a
second time by multilingual-e5-small (retrieval/e5.py) into its own index (`index/e5/`, its own
cache), which ranks the queries in other languages than English (retrieval/search.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from bot.db import Database
from bot.settings import Settings
from retrieval import e5
from retrieval.catalog import CatalogProduct
from retrieval.describe import Describer, Description, check_grounded, compose_description
from retrieval.embed import DIMENSION, MODEL_NAME, Embedder, EmbeddingCache, text_hash
from retrieval.index import IndexMismatch, IndexMissing, VectorIndex
from retrieval.ingest import IngestReport, ingest_products, load_catalog, sync_content_hashes
from retrieval.models import ProductDescription
from retrieval.public import find_public_catalogs, read_public_catalog
from retrieval.query import Vocabulary
from retrieval.search import SMALL_CATALOG, ProductSearch, SearchFilters, SearchHit, document_text

log = logging.getLogger(__name__)
SERVICE_KEY = "catalog"  # ctx.services["catalog"]
CACHE_FILE = "embeddings.npz"
E5_DIR = "e5"  # index_dir / E5_DIR: the e5 index (the same three files) and its cache
E5_BATCH = 32  # passages per e5 call (a step of the progress bar)
DESCRIBER = "template-2"  # bump when the templates change: cached descriptions are rewritten


class CatalogNotReady(RuntimeError):
    """No usable index: the message says what to run."""


@dataclass
class BuildReport:
    ingested: list[IngestReport] = field(default_factory=list)
    products: int = 0
    embedded: int = 0
    reused: int = 0
    e5_embedded: int = 0  # the multilingual index (retrieval/e5.py)
    e5_reused: int = 0
    e5_seconds: float = 0.0
    described: int = 0
    index_type: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [str(r) for r in self.ingested]
        lines.append(
            f"index: {self.products} products ({self.index_type}); embedded {self.embedded}, reused {self.reused} cached vectors; "
            f"{self.described} new descriptions; {self.seconds:.1f}s"
        )
        lines.append(f"multilingual index (e5): embedded {self.e5_embedded}, reused {self.e5_reused} cached vectors; {self.e5_seconds:.1f}s")
        return "\n".join(lines)


async def cached_descriptions(db: Database) -> dict[str, tuple[str, str, str]]:
    """product id -> (content hash, method, text)."""
    async with db.read() as session:
        rows = (await session.execute(select(ProductDescription))).scalars()
        return {r.product_id: (r.content_hash, r.method, r.text) for r in rows}


async def refresh_descriptions(db: Database, products: list[CatalogProduct], vocab: Vocabulary) -> tuple[dict[str, str], int]:
    """A grounded description per product, written again only when the product changed."""
    cached = await cached_descriptions(db)
    out: dict[str, str] = {}
    fresh: list[dict[str, str]] = []
    for p in products:
        digest = p.content_hash()
        hit = cached.get(p.product_id)
        if hit and hit[0] == digest and hit[1] == DESCRIBER:
            out[p.product_id] = hit[2]
            continue
        text = compose_description(p)
        problems = check_grounded(text, p, vocab)
        if problems:  # never store a description the check rejects
            log.warning("description of %s rejected: %s", p.product_id, "; ".join(map(str, problems)))
            continue
        out[p.product_id] = text
        fresh.append({"product_id": p.product_id, "content_hash": digest, "method": DESCRIBER, "text": text})
    if fresh:
        async with db.write() as session:
            ids = [f["product_id"] for f in fresh]
            for start in range(0, len(ids), 500):
                await session.execute(delete(ProductDescription).where(ProductDescription.product_id.in_(ids[start : start + 500])))
            session.add_all(ProductDescription(**f) for f in fresh)
    return out, len(fresh)


async def ingest_public_catalogs(db: Database, data_dir: Path | None) -> list[IngestReport]:
    reports = []
    for catalog, path in find_public_catalogs(data_dir):
        good, errors = await asyncio.to_thread(read_public_catalog, catalog, path)
        report = await ingest_products(db, good, name=f"{catalog.source} ({path.name})")
        report.errors = sorted(errors + report.errors, key=lambda e: e.line)
        reports.append(report)
    return reports


def _embed_missing(cache: EmbeddingCache, keys: list[str], texts: list[str], embed: Any) -> int:
    """Embed the distinct texts `cache` lacks (`embed(list of texts) -> vectors`), into it."""
    missing = set(cache.missing(keys))
    todo: dict[str, str] = {}  # one embedding per distinct text
    for key, text in zip(keys, texts):
        if key in missing:
            todo.setdefault(key, text)
    if todo:
        cache.put(list(todo), embed(list(todo.values())))
    return len(todo)


def e5_passages(texts: list[str], *, progress: bool = False) -> Any:
    """e5 vectors of catalog texts, in steps of E5_BATCH with a progress bar."""
    from tqdm import tqdm

    encoder = e5.shared_e5()
    parts = []
    with tqdm(total=len(texts), desc="e5 (multilingual)", unit="product", disable=not progress) as bar:
        for start in range(0, len(texts), E5_BATCH):
            parts.append(encoder.passages(texts[start : start + E5_BATCH], batch=E5_BATCH))
            bar.update(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, e5.EMBED_DIM), dtype=np.float32)


async def build_catalog_index(
    settings: Settings, db: Database, *, embedder: Embedder | None = None, public: bool = True, progress: bool = True
) -> BuildReport:
    started = time.perf_counter()
    report = BuildReport()
    if public:
        report.ingested = await ingest_public_catalogs(db, settings.data_dir)
    products = await load_catalog(db)
    await sync_content_hashes(db, products)
    vocab = Vocabulary.from_products(products)
    _, report.described = await refresh_descriptions(db, products, vocab)
    ids = [p.product_id for p in products]
    texts = [document_text(p) for p in products]
    keys = [text_hash(t) for t in texts]
    embedder = embedder or Embedder(models_dir=settings.models_dir)
    cache = EmbeddingCache(settings.index_dir / CACHE_FILE, embedder.name, embedder.dimension)
    report.embedded = await asyncio.to_thread(_embed_missing, cache, keys, texts, lambda todo: embedder.embed(todo, progress=progress))
    report.reused = len(keys) - report.embedded
    e5_started = time.perf_counter()
    # e5 embeds the same texts as MiniLM, into its own cache keyed by the same hashes
    e5_cache = EmbeddingCache(settings.index_dir / E5_DIR / CACHE_FILE, e5.MODEL_NAME, e5.EMBED_DIM)
    report.e5_embedded = await asyncio.to_thread(_embed_missing, e5_cache, keys, texts, lambda todo: e5_passages(todo, progress=progress))
    report.e5_reused = len(keys) - report.e5_embedded
    report.e5_seconds = time.perf_counter() - e5_started
    index = await asyncio.to_thread(VectorIndex.build, cache.matrix(keys), ids, keys, embedder.name)
    e5_index = await asyncio.to_thread(VectorIndex.build, e5_cache.matrix(keys), ids, keys, e5.MODEL_NAME)
    # The e5 index first: when it cannot be written (a full disk), the MiniLM index is untouched.
    await asyncio.to_thread(e5_index.save, settings.index_dir / E5_DIR)
    await asyncio.to_thread(index.save, settings.index_dir)
    cache.save(keep=keys)
    e5_cache.save(keep=keys)
    report.products = len(products)
    report.index_type = index.sidecar.index_type
    report.seconds = time.perf_counter() - started
    return report


class CatalogSearch:
    """Everything the product tools need, loaded once per process."""

    def __init__(
        self,
        db: Database,
        products: list[CatalogProduct],
        index: VectorIndex | None,
        embedder: Any,
        descriptions: dict[str, str],
        describer_dir: Path | None = None,
        multilingual: VectorIndex | None = None,
    ) -> None:
        self.db = db
        self.products = {p.product_id: p for p in products}
        self.index = index
        self.multilingual = multilingual
        self.embedder = embedder
        self.descriptions = descriptions
        self.engine = ProductSearch(products, index, embedder, multilingual)
        self.vocab = self.engine.vocab
        # The trained describer (models/describer) when there is one, else attribute composition.
        self.describer = Describer(vocabulary=self.vocab, model_dir=describer_dir)
        self._recommender: Any = None

    @classmethod
    async def load(cls, settings: Settings, db: Database, *, embedder: Any = None) -> "CatalogSearch":
        """Load the saved index and the catalog; raises `CatalogNotReady` when there is no index."""
        embedder = embedder or Embedder(models_dir=settings.models_dir)
        try:
            index = await asyncio.to_thread(VectorIndex.load, settings.index_dir, model=embedder.name, dimension=embedder.dimension)
        except (IndexMissing, IndexMismatch) as exc:
            raise CatalogNotReady(str(exc)) from exc
        try:
            multilingual = await asyncio.to_thread(VectorIndex.load, settings.index_dir / E5_DIR, model=e5.MODEL_NAME, dimension=e5.EMBED_DIM)
        except (IndexMissing, IndexMismatch) as exc:  # search still serves; other languages get the English ranking
            log.warning("no multilingual (e5) index, queries in other languages are ranked as English: %s", exc)
            multilingual = None
        products = await load_catalog(db)
        descriptions = {pid: text for pid, (_, method, text) in (await cached_descriptions(db)).items() if method == DESCRIBER}
        stale = len(set(index.ids) ^ {p.product_id for p in products})
        if stale:
            log.warning("the product index is %d products behind the store; run `shopbot index`", stale)
        stale_e5 = len(set(multilingual.ids) ^ {p.product_id for p in products}) if multilingual is not None else 0
        if stale_e5:
            log.warning("the multilingual (e5) index is %d products behind the store; run `shopbot index`", stale_e5)
        return cls(db, products, index, embedder, descriptions, describer_dir=settings.models_dir / "describer", multilingual=multilingual)

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None, mode: str = "hybrid", sort: str = "relevance", language: str | None = None
    ) -> list[SearchHit]:
        """`language`: the conversation's, when known (ProductSearch.query_language)."""
        return self.engine.search(query, k, filters, mode, sort=sort, language=language)  # type: ignore[arg-type]

    async def asearch(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        sort: str = "relevance",
        *,
        unfiltered: bool = False,
        language: str | None = None,
    ) -> list[SearchHit]:
        """`search` from the event loop (`unfiltered`: without the price and stock words the query
        states, as the closest match outside them is found). Only the query's encoder pass (when
        its vector is not cached) goes to a worker thread: the rest of a search over a catalog of
        up to SMALL_CATALOG products is Python holding the interpreter lock plus sub-millisecond
        numpy and FAISS calls, which a worker thread would not take off the loop, only queue
        behind other sessions' work (as the engine's decisions, bot/engine.py
        `ShopEngine._decide`). Larger catalogs, and embedders without a query cache, search in a
        thread. A query in another language is encoded by e5 (cached as well) the same way."""
        engine = self.engine
        parsed = engine.parse(query)
        if unfiltered:
            parsed = parsed.unconstrained()
        query_cached = getattr(self.embedder, "query_cached", None)
        if query_cached is None or len(engine.products) > SMALL_CATALOG:
            return await asyncio.to_thread(engine.search, query, k, filters, "hybrid", parsed, sort, language)  # type: ignore[arg-type]
        if engine.ranking("hybrid", parsed.text, language) == "multilingual":
            if not engine.e5.cached(parsed.text):
                await asyncio.to_thread(engine.e5.query, parsed.text)
        elif engine.index is not None and engine.index.ids and not query_cached(parsed.text):
            await asyncio.to_thread(self.embedder.embed_query, parsed.text)
        return engine.search(query, k, filters, parsed=parsed, sort=sort, language=language)  # type: ignore[arg-type]

    def vector_of(self, product_id: str):  # type: ignore[no-untyped-def]
        if self.index is None:
            return None
        if not hasattr(self, "_rows"):
            self._rows = {pid: n for n, pid in enumerate(self.index.ids)}
        row = self._rows.get(product_id)
        return None if row is None else self.index.reconstruct(row)

    def describe(self, product_id: str, item_id: str | None = None) -> Description | None:
        """The grounded description of a product or of one of its variants, with the path that wrote it.

        None for an unknown product; KeyError for an item that is not the product's. Blocking (the
        describer model runs here): call it from a thread in async code.
        """
        product = self.products.get(product_id)
        if product is None:
            return None
        if item_id is None and self.describer.model is None and self.describer.writer is None:
            return Description(self.description(product_id) or "", "composed")
        return self.describer.describe(product, item_id)

    def description(self, product_id: str) -> str | None:
        product = self.products.get(product_id)
        if product is None:
            return None
        text = self.descriptions.get(product_id)
        if text is None or check_grounded(text, product, self.vocab):
            text = compose_description(product)
            self.descriptions[product_id] = text
        return text

    async def recommender(self):  # type: ignore[no-untyped-def]
        if self._recommender is None:
            from retrieval.recommend import Recommender

            self._recommender = await Recommender.load(self.db, self)
        return self._recommender
