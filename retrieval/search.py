"""Hybrid product search: dense (MiniLM + FAISS) and lexical (BM25) rankings fused by reciprocal
rank fusion, then structured filters applied per variant.

Filters come from two places: tool arguments (hard: brand, category, price, options, in stock) and
the shopper's words (`retrieval.query`): price bounds and "in stock" are hard; brand and option
words rank matching products and variants first (see the module docstring there for why).
"""
from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from retrieval.catalog import CatalogProduct, CatalogVariant
from retrieval.describe import option_values
from retrieval.index import RowSelection, VectorIndex
from retrieval.query import ParsedQuery, Vocabulary, normalise, parse_query

Mode = Literal["hybrid", "dense", "lexical"]
# Fusion (chosen on the dev sets, reported on the held-out set: docs/retrieval.md). Score fusion:
# cosine + LEXICAL_WEIGHT * BM25 / (best BM25 for the query), and BM25 votes only when its best
# match holds >= LEXICAL_GATE of the query's IDF mass. Reciprocal rank fusion (the earlier choice)
# gave a weak BM25 match (one common word of the query) the same vote
# as a strong one, which is why hybrid lost to plain dense search on plain queries.
FUSION = "score"  # "score" or "rrf" (reciprocal ranks, RRF_K)
RRF_K = 60  # the constant of Cormack et al.; rank 1 scores 1/61
LEXICAL_WEIGHT = 0.3
LEXICAL_GATE = 0.3  # 0: BM25 always votes
# Hints read from the text scale a product's score (they never lift an unrelated product far).
OPTION_MATCH_FACTOR = 1.15
OPTION_MISMATCH_FACTOR = 0.9
BRAND_FACTOR = 1.15
POPULARITY_WEIGHT = 0.1 / (RRF_K + 1)
SMALL_CATALOG = 50_000  # up to this many products both rankings score every product
_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the to of and or in on for is are be it i my me we our you your with something some that this these those "
    "need want looking look find get buy any good best nice new please can could would like just really very".split()
)


def tokenize(text: str) -> list[str]:
    out = []
    for token in _TOKEN.findall(text.lower()):
        if token in _STOP:
            continue
        if len(token) > 4 and token.endswith("ies"):
            token = token[:-3] + "y"
        elif len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        out.append(token)
    return out


def options_summary(product: CatalogProduct) -> str:
    return "; ".join(f"{name}: {', '.join(values)}" for name, values in option_values(product).items())


def document_text(product: CatalogProduct) -> str:
    """The text embedded for a product: what, who makes it, where in the catalog, its options and
    the catalog's own description. (Descriptions we write from these same attributes would only
    repeat them with template words, which measurably hurt dense ranking: docs/retrieval.md.)"""
    parts = [product.name]
    if product.brand:
        parts.append(f"Brand: {product.brand}")
    if product.category:
        parts.append(f"Category: {product.category}")
    summary = options_summary(product)
    if summary:
        parts.append(f"Options: {summary}")
    if product.description:
        parts.append(product.description[:300])
    return ". ".join(parts)


def lexical_text(product: CatalogProduct) -> str:
    # The name counts twice: it is the most precise thing a product says about itself. Written
    # descriptions are left out: their template words ("with", "without", "range") are noise.
    values = " ".join(v for vals in option_values(product).values() for v in vals)
    return " ".join([product.name, product.name, product.brand or "", product.category or "", values, product.description or ""])


@dataclass
class SearchFilters:
    """Hard constraints from tool arguments (all optional)."""

    min_price: float | None = None
    max_price: float | None = None
    brand: str | None = None
    category: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    in_stock: bool = False
    sources: set[str] | None = None


@dataclass
class SearchHit:
    """One product found, shaped as a widget product card (id, name, price, image, options ...)."""

    id: str
    name: str
    price: float | None
    image: str | None
    options: dict[str, str]
    category: list[str]
    brand: str | None
    score: float
    item_id: str | None
    available: bool
    variants: list[dict[str, Any]]
    reason: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "price": self.price,
            "image": self.image,
            "options": self.options,
            "category": self.category,
            "brand": self.brand,
            "score": self.score,
            "item_id": self.item_id,
            "available": self.available,
            "variants": self.variants,
            "reason": self.reason,
            "source": self.source,
        }


def _variant_ok(v: CatalogVariant, q: ParsedQuery, f: SearchFilters) -> bool:
    low = max(x for x in (q.min_price, f.min_price, 0.0) if x is not None)
    high = min((x for x in (q.max_price, f.max_price) if x is not None), default=math.inf)
    if not (low <= v.price <= high):
        return False
    if (q.in_stock or f.in_stock) and not v.available:
        return False
    for name, wanted in f.options.items():
        have = next((val for key, val in v.options.items() if key.lower() == name.lower()), None)
        if have is None or normalise(str(have)) != normalise(str(wanted)):
            return False
    return True


def _satisfies(v: CatalogVariant, value: str, names: set[str]) -> bool:
    return any(name in v.options and normalise(str(v.options[name])) == value for name in names)


def _matched_options(v: CatalogVariant, hint_groups: list[tuple[str, set[str]]]) -> str:
    matched = [f"{name} {v.options[name]}" for value, names in hint_groups for name in sorted(names) if _satisfies(v, value, {name})]
    return ", ".join(dict.fromkeys(matched))


class ProductSearch:
    """Search over a loaded catalog; thread-safe for reads (no state changes while searching)."""

    def __init__(self, products: list[CatalogProduct], index: VectorIndex | None, embedder: Any) -> None:
        from rank_bm25 import BM25Okapi

        self.products = products
        self.by_id = {p.product_id: n for n, p in enumerate(products)}
        self.index = index
        self.embedder = embedder
        self.vocab = Vocabulary.from_products(products)
        self.lexical_weight = LEXICAL_WEIGHT
        self.fusion = FUSION
        self.rrf_k = RRF_K
        self.popularity_weight = POPULARITY_WEIGHT  # a tie-breaker: ~0.002 of cosine at most
        self.lexical_gate = LEXICAL_GATE
        self.dims = [{name for v in p.variants for name in v.options} for p in products]
        self._source_masks: dict[frozenset[str], tuple[np.ndarray, RowSelection | None]] = {}
        corpus = [tokenize(lexical_text(p)) for p in products]
        self.doc_tokens = [set(doc) for doc in corpus]
        self.name_tokens = [tuple(dict.fromkeys(tokenize(p.name + " " + (p.category or "")))) for p in products]  # a hit's "matches ..."
        self.bm25 = BM25Okapi(corpus) if products else None
        # Postings (term -> documents and counts): BM25Okapi.get_scores loops in Python over every
        # document for each query word (about 3 ms per query at 3,583 products); the same formula
        # over only the documents holding the word gives the same scores.
        postings: dict[str, dict[int, int]] = {}
        for n, doc in enumerate(corpus):
            for token in doc:
                postings.setdefault(token, {})
                postings[token][n] = postings[token].get(n, 0) + 1
        self.postings = {t: (np.fromiter(d.keys(), np.int64, len(d)), np.fromiter(d.values(), np.float64, len(d))) for t, d in postings.items()}
        self.doc_len = np.array([len(doc) for doc in corpus], dtype=np.float64)
        # index row -> product position (rows for products no longer in the store map to -1)
        self.row_to_pos = np.array([self.by_id.get(pid, -1) for pid in (index.ids if index else [])], dtype=np.int64)
        top_pop: dict[str, float] = {}
        for p in products:
            top_pop[p.source] = max(top_pop.get(p.source, 0.0), p.popularity)
        self.popularity = np.array(
            [math.log1p(max(p.popularity, 0.0)) / math.log1p(top_pop[p.source]) if top_pop[p.source] > 0 else 0.0 for p in products]
        )

    def _from_sources(self, sources: set[str]) -> tuple[np.ndarray, RowSelection | None]:
        """Which products come from `sources` (a mask), and the index rows that hold them (for
        an exact index), kept per set of sources."""
        key = frozenset(sources)
        known = self._source_masks.get(key)
        if known is None:
            mask = np.array([p.source in key for p in self.products], dtype=bool)
            rows = None
            if self.index is not None and self.index.ids:
                in_store = self.row_to_pos >= 0
                rows = self.index.select_rows(np.flatnonzero(in_store & mask[np.where(in_store, self.row_to_pos, 0)]))
            known = self._source_masks[key] = (mask, rows)
        return known

    def dense_ranking(self, text: str, depth: int, rows: RowSelection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(product positions, cosine scores), best first, at most `depth` of them (among `rows`)."""
        if self.index is None or not self.index.ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        vector = self.embedder.embed_query(text)
        scores, rows = self.index.search(vector[None, :], depth, rows)
        rows, scores = rows[0], scores[0]
        found = rows >= 0
        positions, scores = self.row_to_pos[rows[found]], scores[found]
        known = positions >= 0  # rows of products no longer in the store map to -1
        return positions[known], scores[known].astype(np.float64)

    def lexical_ranking(self, text: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(product positions, BM25 scores > 0), best first, at most `depth` of them."""
        tokens = tokenize(text)
        if not tokens or self.bm25 is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        scores = self.bm25_scores(tokens)
        top = np.argsort(-scores, kind="stable")[:depth]
        top = top[scores[top] > 0]
        return top, scores[top]

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25Okapi scores of every product for `tokens` (rank_bm25's formula and IDF)."""
        bm25 = self.bm25
        assert bm25 is not None
        scores = np.zeros(len(self.products))
        for token in tokens:
            hit = self.postings.get(token)
            idf = bm25.idf.get(token) or 0
            if hit is None or not idf:
                continue
            docs, freq = hit
            scores[docs] += idf * (freq * (bm25.k1 + 1) / (freq + bm25.k1 * (1 - bm25.b + bm25.b * self.doc_len[docs] / bm25.avgdl)))
        return scores

    def _fusion_parts(self, scores: np.ndarray, top: float = 1.0) -> np.ndarray:
        """Each ranked candidate's share of the fused score: its reciprocal rank, or its score
        scaled by the list's best (`top`)."""
        if self.fusion == "rrf":
            return 1.0 / (self.rrf_k + np.arange(len(scores)) + 1)
        return scores / top

    def _lexical_confidence(self, text: str, lexical: tuple[np.ndarray, np.ndarray]) -> float:
        """1, or (with `lexical_gate`) the share of the query's IDF mass that the best lexical
        match contains: BM25 votes fully when its top product has the query's rare words, and
        little when it matched one incidental word."""
        found = len(lexical[0]) > 0
        if not self.lexical_gate or not found or self.bm25 is None:
            return 1.0 if found else 0.0
        tokens = list(dict.fromkeys(tokenize(text)))
        # A word no product contains is the rarest there is (BM25's IDF at document frequency 0):
        # it is query content that BM25 cannot match, so it counts against the gate.
        unseen = math.log(self.bm25.corpus_size + 0.5) - math.log(0.5)
        idf = [max(self.bm25.idf.get(t, unseen), 0.0) for t in tokens]
        total = sum(idf)
        if total <= 0:
            return 0.0
        best = self.doc_tokens[int(lexical[0][0])]
        share = sum(w for t, w in zip(tokens, idf) if t in best) / total
        return share if share >= self.lexical_gate else 0.0

    def parse(self, query: str, mode: Mode = "hybrid") -> ParsedQuery:
        """The filters read from `query` and the text left for retrieval (the text the dense
        ranking embeds)."""
        return parse_query(query, self.vocab) if mode == "hybrid" else ParsedQuery(text=query)

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None, mode: Mode = "hybrid", parsed: ParsedQuery | None = None
    ) -> list[SearchHit]:
        """`parsed`: `self.parse(query, mode)`, if the caller has it."""
        filters = filters or SearchFilters()
        parsed = parsed or self.parse(query, mode)
        depth = len(self.products) if len(self.products) <= SMALL_CATALOG else 1000
        # Fused scores for every product at once (numpy); a product neither ranking found is
        # not a candidate. Candidates are visited best first, ties in the order they were found
        # (dense rank, then lexical rank).
        fused = np.zeros(len(self.products))
        found_at = np.full(len(self.products), len(self.products) * 2, dtype=np.int64)
        # Only the store's own catalogs when `sources` is set: other products never reach the loop
        # below, and an exact index scores only theirs (the same cosines).
        in_sources, rows = self._from_sources(filters.sources) if filters.sources else (None, None)
        # Each ranking holds a product at most once, so plain fancy-index updates do (ufunc.at is slow).
        if mode in ("hybrid", "dense"):
            positions, scores = self.dense_ranking(parsed.text, depth, rows)
            fused[positions] += self._fusion_parts(scores) if mode == "hybrid" else scores
            found_at[positions] = np.minimum(found_at[positions], np.arange(len(positions)))
        if mode in ("hybrid", "lexical"):
            lexical = self.lexical_ranking(parsed.text, depth)
            weight = self.lexical_weight * (self._lexical_confidence(parsed.text, lexical) if mode == "hybrid" else 1.0)
            positions, scores = lexical if weight > 0 else (lexical[0][:0], lexical[1][:0])
            top = float(scores[0]) if len(scores) else 1.0
            fused[positions] += weight * self._fusion_parts(scores, top) if mode == "hybrid" else scores
            found_at[positions] = np.minimum(found_at[positions], len(self.products) + np.arange(len(positions)))
        found = found_at < len(self.products) * 2
        if in_sources is not None:
            found &= in_sources
        candidates = np.flatnonzero(found)
        candidates = candidates[np.lexsort((found_at[candidates], -fused[candidates]))]
        brand_hints = {normalise(b) for b in parsed.brands}
        groups: dict[str, set[str]] = {}
        for name, values in parsed.options.items():
            for value in values:
                key = normalise(value) if name not in self.vocab.boolean_names else f"{name}={normalise(value)}"
                groups.setdefault(key, set()).add(name)
        hint_groups = [(key.split("=", 1)[-1], names) for key, names in groups.items()]
        results: list[tuple[float, int, list[CatalogVariant], list[str]]] = []
        max_factor = OPTION_MATCH_FACTOR * BRAND_FACTOR if mode == "hybrid" else 1.0
        max_bonus = self.popularity_weight if mode == "hybrid" else 0.0
        best_scores: list[float] = []  # min-heap of the k best scores so far
        kth_best = -math.inf
        for pos, score in zip(candidates.tolist(), fused[candidates].tolist()):
            # Candidates come best first and bonuses are bounded: stop once none can reach the top k.
            if len(results) >= k and score * max_factor + max_bonus < kth_best:
                break
            product = self.products[pos]
            if filters.brand and normalise(product.brand or "") != normalise(filters.brand):
                continue
            if filters.category and normalise(filters.category) not in normalise(product.category or ""):
                continue
            variants = [v for v in product.variants if _variant_ok(v, parsed, filters)]
            if not variants:
                continue
            why: list[str] = []
            if mode == "hybrid":
                if hint_groups and any(n in product_dims for _, names in hint_groups for n in names for product_dims in [self.dims[pos]]):
                    # Score each variant by how many of the named values it has ("red", "size 10");
                    # keep the best variants and scale the product by the share matched. Products
                    # without any of the options named (a blanket for "soft") are left as they are.
                    counts = [sum(_satisfies(v, value, names) for value, names in hint_groups) for v in variants]
                    best = max(counts)
                    if best > 0:
                        variants = [v for v, c in zip(variants, counts) if c == best]
                        why.append(_matched_options(variants[0], hint_groups))
                    score *= OPTION_MISMATCH_FACTOR + (OPTION_MATCH_FACTOR - OPTION_MISMATCH_FACTOR) * best / len(hint_groups)
                if brand_hints and normalise(product.brand or "") in brand_hints:
                    score *= BRAND_FACTOR
                    why.append(f"brand {product.brand}")
                score += self.popularity_weight * float(self.popularity[pos])
            results.append((score, pos, variants, why))
            if len(best_scores) < k:
                heapq.heappush(best_scores, score)
            else:
                heapq.heappushpop(best_scores, score)
            if len(best_scores) >= k:
                kth_best = best_scores[0]
        results.sort(key=lambda r: (-r[0], r[1]))
        words = set(tokenize(parsed.text))  # what each hit's "matches ..." reason is checked against
        return [self._hit(words, parsed, filters, score, pos, variants, why) for score, pos, variants, why in results[:k]]

    def _hit(self, words: set[str], parsed: ParsedQuery, filters: SearchFilters, score: float, pos: int, variants: list[CatalogVariant], why: list[str]) -> SearchHit:
        product = self.products[pos]
        ordered = sorted(variants, key=lambda v: (not v.available, v.price))
        best = ordered[0]
        matched = [w for w in self.name_tokens[pos] if w in words]
        reason = [f"matches {', '.join(repr(w) for w in matched[:4])}" if matched else "similar in meaning to your request"]
        reason.extend(why)
        low = parsed.min_price if parsed.min_price is not None else filters.min_price
        high = parsed.max_price if parsed.max_price is not None else filters.max_price
        if low is not None or high is not None:
            reason.append(f"{'from ' + f'${best.price:.2f}' if len(ordered) > 1 else f'${best.price:.2f}'} fits your budget")
        reason.append("in stock" if best.available else "currently sold out")
        return SearchHit(
            id=product.product_id,
            name=product.name,
            price=best.price,
            image=product.image,
            options=dict(best.options),
            category=product.category_path,
            brand=product.brand,
            score=round(float(score), 6),
            item_id=best.item_id,
            available=best.available,
            variants=[v.as_dict() for v in ordered[:5]],
            reason="; ".join(reason),
            source=product.source,
        )
