"""Hybrid product search: dense (MiniLM + FAISS) and lexical (BM25) rankings fused by score, then
exact filters per variant, an audience check and an optional sort.

Queries in another language than English (a Chinese or Spanish shopper; `query_language`) are
ranked by multilingual-e5-small instead (retrieval/e5.py: dense, over its own index of the same
products), since MiniLM and BM25 only read English; everything after the ranking (filters,
audience, popularity, sort, the hit cards) is the same code (docs/retrieval.md, "Other languages").

Filters come from the tool's arguments (brand, category, price, options, in stock, product ids)
and, for price bounds and "in stock", from the shopper's words (`retrieval.query`); where both give
a bound, the argument wins. Every filter is exact: a hit has at least one variant inside all of
them. `missed_filters` says which filters a product outside them misses (the tool's "closest
match" label).
"""
from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bot.language import SWITCH_CONFIDENCE, SWITCH_WEIGHT, detect, has_cjk
from retrieval.catalog import CatalogProduct, CatalogVariant
from retrieval.describe import option_values
from retrieval.index import RowSelection, VectorIndex
from retrieval.query import ParsedQuery, Vocabulary, normalise, parse_query

Mode = Literal["hybrid", "dense", "lexical", "multilingual"]
Sort = Literal["relevance", "price_asc", "price_desc", "rating"]
SORTS: tuple[str, ...] = ("relevance", "price_asc", "price_desc", "rating")
# Fusion (chosen on the dev sets, reported on the held-out set: docs/retrieval.md). Score fusion:
# cosine + LEXICAL_WEIGHT * BM25 / (best BM25 for the query), and BM25 votes only when its best
# match holds >= LEXICAL_GATE of the query's IDF mass. Reciprocal rank fusion (the earlier choice)
# gave a weak BM25 match (one common word of the query) the same vote
# as a strong one, which is why hybrid lost to plain dense search on plain queries.
FUSION = "score"  # "score" or "rrf" (reciprocal ranks, RRF_K)
RRF_K = 60  # the constant of Cormack et al.; rank 1 scores 1/61
LEXICAL_WEIGHT = 0.3
LEXICAL_GATE = 0.3  # 0: BM25 always votes
# A product made for the other audience than the query names ("men's watches" and a product whose
# name, category or tags say women's) keeps this share of its score (docs/retrieval.md: +0.007 dev,
# +0.018 held-out on the automatic queries that name an audience).
AUDIENCE_MISMATCH_FACTOR = 0.8
# A sorted search ("cheapest", "best rated") orders the products scoring at least this share of the
# best match's score: the cheapest phone case, not the cheapest thing in the store.
SORT_RELEVANCE = 0.8
POPULARITY_WEIGHT = 0.1 / (RRF_K + 1)
SMALL_CATALOG = 50_000  # up to this many products both rankings score every product
# e5's cosines are bunched near the top (the median product scores 0.76-0.78 for a translated
# query on the public catalogs, 0.75-0.77 on the demo store; the one asked for 0.82-0.86), MiniLM's
# are spread over 0-1. A multilingual ranking reports (cos - E5_FLOOR) / (1 - E5_FLOOR), E5_FLOOR
# about that median: the same order, on a scale where the search tool's relevance floors
# (tools/search_products.py: LIST_RELEVANCE, RELATIVE_RELEVANCE, shares of the best score) and the
# popularity tie-breaker mean what they mean for MiniLM (docs/retrieval.md, "Other languages").
E5_FLOOR = 0.75
_TOKEN = re.compile(r"[a-z0-9]+")
_WORD = re.compile(r"[^\W\d_]+")  # letters of any script
_STOP = frozenset(
    "a an the to of and or in on for is are be it i my me we our you your with something some that this these those "
    "need want looking look find get buy any good best nice new please can could would like just really very".split()
)


_MEN = re.compile(r"\b(?:men|mens|men's|man's|male|boys?|boys'|him|his)\b", re.I)
_WOMEN = re.compile(r"\b(?:women|womens|women's|woman's|female|ladies|lady's|girls?|girls'|her)\b", re.I)


def audience(text: str) -> str | None:
    """"men" or "women" when the text names one of them and not the other, else None."""
    men, women = _MEN.search(text) is not None, _WOMEN.search(text) is not None
    return "men" if men and not women else "women" if women and not men else None


def product_audience(product: CatalogProduct) -> str | None:
    tags = product.attributes.get("tags")
    words = " ".join(str(t) for t in tags) if isinstance(tags, list) else ""
    return audience(" ".join([product.name, (product.category or "").replace("Mens ", "Men's ").replace("Womens ", "Women's "), words]))


def rating_of(product: CatalogProduct) -> float | None:
    """The catalog's own rating (`attributes.rating`, as DummyJSON has), if it has one."""
    value = product.attributes.get("rating")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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
    """Exact constraints from tool arguments (all optional). `sources` and `product_ids` are the
    scope searched (the store's catalogs; the list a shopper is refining), not constraints a
    closest match may miss."""

    min_price: float | None = None
    max_price: float | None = None
    brand: str | None = None
    category: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    in_stock: bool = False
    sources: set[str] | None = None
    product_ids: frozenset[str] | None = None

    def scope(self) -> "SearchFilters":
        """The same scope without any constraint."""
        return SearchFilters(sources=self.sources, product_ids=self.product_ids)

    @property
    def constrained(self) -> bool:
        return self != self.scope()


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
    rating: float | None = None  # the catalog's own rating, where it has one

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
            "rating": self.rating,
        }


def price_bounds(q: ParsedQuery, f: SearchFilters) -> tuple[float | None, float | None]:
    """The price range: each bound from the arguments, else from the shopper's words."""
    return (f.min_price if f.min_price is not None else q.min_price, f.max_price if f.max_price is not None else q.max_price)


def _option_ok(v: CatalogVariant, name: str, wanted: str) -> bool:
    have = next((val for key, val in v.options.items() if key.lower() == name.lower()), None)
    return have is not None and normalise(str(have)) == normalise(str(wanted))


def _variant_ok(v: CatalogVariant, q: ParsedQuery, f: SearchFilters) -> bool:
    low, high = price_bounds(q, f)
    if not ((low or 0.0) <= v.price <= (math.inf if high is None else high)):
        return False
    if (q.in_stock or f.in_stock) and not v.available:
        return False
    return all(_option_ok(v, name, wanted) for name, wanted in f.options.items())


def _product_ok(product: CatalogProduct, f: SearchFilters) -> bool:
    if f.brand and normalise(product.brand or "") != normalise(f.brand):
        return False
    return not f.category or normalise(f.category) in normalise(product.category or "")


def missed_filters(product: CatalogProduct, parsed: ParsedQuery, filters: SearchFilters) -> list[dict[str, Any]]:
    """Each constraint `product` misses, with what was asked and what the product has: what a reply
    needs to say that a closest match lies outside the shopper's constraints."""
    missed: list[dict[str, Any]] = []
    if filters.brand and normalise(product.brand or "") != normalise(filters.brand):
        missed.append({"filter": "brand", "wanted": filters.brand, "has": product.brand})
    if filters.category and normalise(filters.category) not in normalise(product.category or ""):
        missed.append({"filter": "category", "wanted": filters.category, "has": product.category})
    prices = [v.price for v in product.variants]
    low, high = price_bounds(parsed, filters)
    if low is not None and prices and max(prices) < low:
        missed.append({"filter": "min_price", "wanted": low, "has": max(prices)})
    if high is not None and prices and min(prices) > high:
        missed.append({"filter": "max_price", "wanted": high, "has": min(prices)})
    if (parsed.in_stock or filters.in_stock) and not any(v.available for v in product.variants):
        missed.append({"filter": "in_stock", "wanted": True, "has": False})
    for name, wanted in filters.options.items():
        if not any(_option_ok(v, name, wanted) for v in product.variants):
            have = sorted({str(val) for v in product.variants for key, val in v.options.items() if key.lower() == name.lower()})
            missed.append({"filter": f"options.{name}", "wanted": wanted, "has": have})
    if not missed and product.variants and not any(_variant_ok(v, parsed, filters) for v in product.variants):
        missed.append({"filter": "combination", "wanted": "one item meeting every filter", "has": None})
    return missed


class ProductSearch:
    """Search over a loaded catalog; thread-safe for reads (no state changes while searching)."""

    def __init__(
        self, products: list[CatalogProduct], index: VectorIndex | None, embedder: Any, multilingual: VectorIndex | None = None, e5: Any = None
    ) -> None:
        """`multilingual`: the e5 index of the same products (None: every query is ranked as
        English); `e5`: its query encoder (default `retrieval.e5.shared_e5()`, loaded on first use)."""
        from rank_bm25 import BM25Okapi

        self.products = products
        self.by_id = {p.product_id: n for n, p in enumerate(products)}
        self.index = index
        self.embedder = embedder
        self.multilingual = multilingual
        self._e5 = e5
        self.vocab = Vocabulary.from_products(products)
        self.lexical_weight = LEXICAL_WEIGHT
        self.fusion = FUSION
        self.rrf_k = RRF_K
        self.popularity_weight = POPULARITY_WEIGHT  # a tie-breaker: ~0.002 of cosine at most
        self.lexical_gate = LEXICAL_GATE
        self.audiences = [product_audience(p) for p in products]
        self.ratings = [rating_of(p) for p in products]
        self._source_masks: dict[tuple[frozenset[str], str], tuple[np.ndarray, RowSelection | None]] = {}
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
        self.e5_row_to_pos = np.array([self.by_id.get(pid, -1) for pid in (multilingual.ids if multilingual else [])], dtype=np.int64)
        top_pop: dict[str, float] = {}
        for p in products:
            top_pop[p.source] = max(top_pop.get(p.source, 0.0), p.popularity)
        self.popularity = np.array(
            [math.log1p(max(p.popularity, 0.0)) / math.log1p(top_pop[p.source]) if top_pop[p.source] > 0 else 0.0 for p in products]
        )

    def _space(self, multilingual: bool) -> tuple[VectorIndex | None, np.ndarray]:
        """The vector index a dense ranking reads (MiniLM's, or e5's) and its row -> position map."""
        return (self.multilingual, self.e5_row_to_pos) if multilingual else (self.index, self.row_to_pos)

    def _rows_of(self, mask: np.ndarray, multilingual: bool = False) -> RowSelection | None:
        """The index rows holding the products in `mask` (an exact index only: `select_rows`)."""
        index, row_to_pos = self._space(multilingual)
        if index is None or not index.ids:
            return None
        in_store = row_to_pos >= 0
        return index.select_rows(np.flatnonzero(in_store & mask[np.where(in_store, row_to_pos, 0)]))

    def _from_sources(self, sources: set[str], multilingual: bool = False) -> tuple[np.ndarray, RowSelection | None]:
        """Which products come from `sources` (a mask), and the index rows that hold them (for
        an exact index), kept per set of sources and index."""
        key = (frozenset(sources), "e5" if multilingual else "minilm")
        known = self._source_masks.get(key)
        if known is None:
            mask = np.array([p.source in key[0] for p in self.products], dtype=bool)
            known = self._source_masks[key] = (mask, self._rows_of(mask, multilingual))
        return known

    def _scope(self, filters: SearchFilters, multilingual: bool = False) -> tuple[np.ndarray | None, RowSelection | None]:
        """The products a search may return (None: all) and the index rows that hold them."""
        mask, rows = self._from_sources(filters.sources, multilingual) if filters.sources else (None, None)
        if filters.product_ids is not None:
            listed = np.zeros(len(self.products), dtype=bool)
            listed[[self.by_id[pid] for pid in filters.product_ids if pid in self.by_id]] = True
            mask = listed if mask is None else mask & listed
            rows = self._rows_of(mask, multilingual)
        return mask, rows

    def dense_ranking(self, text: str, depth: int, rows: RowSelection | None = None, multilingual: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(product positions, cosine scores), best first, at most `depth` of them (among `rows`);
        `multilingual`: e5's query vector against the e5 index, else MiniLM's (scores rescaled by
        E5_FLOOR)."""
        index, row_to_pos = self._space(multilingual)
        if index is None or not index.ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        vector = self.e5.query(text) if multilingual else self.embedder.embed_query(text)
        scores, rows = index.search(vector[None, :], depth, rows)
        rows, scores = rows[0], scores[0]
        found = rows >= 0
        positions, scores = row_to_pos[rows[found]], scores[found].astype(np.float64)
        if multilingual:
            scores = (scores - E5_FLOOR) / (1.0 - E5_FLOOR)
        known = positions >= 0  # rows of products no longer in the store map to -1
        return positions[known], scores[known]

    @property
    def e5(self) -> Any:
        if self._e5 is None:
            from retrieval.e5 import shared_e5

            self._e5 = shared_e5()
        return self._e5

    def query_language(self, text: str, language: str | None = None) -> str:
        """The language a query is ranked for: "en" (the MiniLM + BM25 hybrid) or another one
        (e5). Any ideograph or kana: Chinese or Japanese (the catalogs are English). Latin text:
        the conversation's `language` when the caller knows it and the project's detector
        (bot/language.py) is not sure of the query itself; else another language only when the
        detector says so and the English catalog does not know the words either: at least one
        word no product contains, and more than half of them unless the detector is sure
        (SWITCH_WEIGHT letters at SWITCH_CONFIDENCE, as for switching a conversation). On short
        queries the detector alone is wrong too often ("iphone 6 plus cases": French, sure;
        "kitchen gadget": German) and right too rarely ("mochilas": Spanish at 0.31)."""
        found = detect(text)
        if has_cjk(text):
            return found.language if found is not None and found.language in ("zh-CN", "ja") else "zh-CN"
        sure = found is not None and found.weight >= SWITCH_WEIGHT and found.confidence >= SWITCH_CONFIDENCE
        if language and not sure:
            return language
        if found is None or found.language == "en":
            return "en"
        known, unknown = self.known_words(text)
        if unknown and (sure or len(unknown) > len(known)):
            return found.language
        return "en"

    def known_words(self, text: str) -> tuple[list[str], list[str]]:
        """The query's words (numbers and stop words aside) that some product's lexical text
        contains, and the others (a word with a letter outside ASCII is never in the English
        index: "teléfonos")."""
        known, unknown = [], []
        for word in dict.fromkeys(_WORD.findall(text.lower())):
            tokens = tokenize(word)
            if not tokens:
                continue
            (known if word.isascii() and all(t in self.postings for t in tokens) else unknown).append(word)
        return known, unknown

    def ranking(self, mode: Mode, text: str, language: str | None = None) -> Mode:
        """Which ranking a search in `mode` uses: "hybrid" routes a query in another language to
        "multilingual" (when there is an e5 index); the other modes are what they say."""
        if mode != "hybrid" or self.multilingual is None or not self.multilingual.ids:
            return mode
        return "hybrid" if self.query_language(text, language) == "en" else "multilingual"

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
        """The price and stock filters read from `query` and the text left for retrieval (the
        text the rankings read)."""
        return parse_query(query) if mode == "hybrid" else ParsedQuery(text=query)

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: Mode = "hybrid",
        parsed: ParsedQuery | None = None,
        sort: Sort = "relevance",
        language: str | None = None,
    ) -> list[SearchHit]:
        """The k best products inside `filters`; with `sort`, only those scoring at least
        SORT_RELEVANCE of the best, the k first by price or rating ("rating" ranks by relevance
        where none of them has a rating). `parsed`: `self.parse(query, mode)`, if the caller has it.
        `language`: the conversation's, when the caller knows it (`query_language`)."""
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
        filters = filters or SearchFilters()
        parsed = parsed or self.parse(query, mode)
        ranking = self.ranking(mode, parsed.text, language)
        depth = len(self.products) if len(self.products) <= SMALL_CATALOG else 1000
        # Fused scores for every product at once (numpy); a product neither ranking found is
        # not a candidate. Candidates are visited best first, ties in the order they were found
        # (dense rank, then lexical rank).
        fused = np.zeros(len(self.products))
        found_at = np.full(len(self.products), len(self.products) * 2, dtype=np.int64)
        # Only the products in scope (the store's own catalogs, a list being refined): others never
        # reach the loop below, and an exact index scores only theirs (the same cosines).
        in_scope, rows = self._scope(filters, multilingual=ranking == "multilingual")
        # Each ranking holds a product at most once, so plain fancy-index updates do (ufunc.at is slow).
        if ranking in ("hybrid", "dense", "multilingual"):
            positions, scores = self.dense_ranking(parsed.text, depth, rows, multilingual=ranking == "multilingual")
            fused[positions] += self._fusion_parts(scores) if ranking == "hybrid" else scores
            found_at[positions] = np.minimum(found_at[positions], np.arange(len(positions)))
        if ranking in ("hybrid", "lexical"):
            lexical = self.lexical_ranking(parsed.text, depth)
            weight = self.lexical_weight * (self._lexical_confidence(parsed.text, lexical) if ranking == "hybrid" else 1.0)
            positions, scores = lexical if weight > 0 else (lexical[0][:0], lexical[1][:0])
            top = float(scores[0]) if len(scores) else 1.0
            fused[positions] += weight * self._fusion_parts(scores, top) if ranking == "hybrid" else scores
            found_at[positions] = np.minimum(found_at[positions], len(self.products) + np.arange(len(positions)))
        found = found_at < len(self.products) * 2
        if in_scope is not None:
            found &= in_scope
        candidates = np.flatnonzero(found)
        candidates = candidates[np.lexsort((found_at[candidates], -fused[candidates]))]
        wanted_audience = audience(parsed.text) if mode == "hybrid" else None
        max_bonus = self.popularity_weight if mode == "hybrid" else 0.0
        results: list[tuple[float, int, list[CatalogVariant]]] = []
        best_scores: list[float] = []  # min-heap of the k best scores so far
        floor = -math.inf  # no candidate below it can be listed
        best_score = -math.inf
        for pos, score in zip(candidates.tolist(), fused[candidates].tolist()):
            # Candidates come best first and adjustments only lower a score (but for the bounded
            # popularity bonus): stop once none can reach the list.
            if score + max_bonus < floor:
                break
            product = self.products[pos]
            if not _product_ok(product, filters):
                continue
            variants = [v for v in product.variants if _variant_ok(v, parsed, filters)]
            if not variants:
                continue
            if mode == "hybrid":
                if wanted_audience is not None and self.audiences[pos] not in (None, wanted_audience):
                    score *= AUDIENCE_MISMATCH_FACTOR
                score += self.popularity_weight * float(self.popularity[pos])
            results.append((score, pos, variants))
            best_score = max(best_score, score)
            if len(best_scores) < k:
                heapq.heappush(best_scores, score)
            else:
                heapq.heappushpop(best_scores, score)
            if len(best_scores) >= k:
                # a sorted search also needs every product within SORT_RELEVANCE of the best
                floor = best_scores[0] if sort == "relevance" else min(best_scores[0], SORT_RELEVANCE * best_score)
        results.sort(key=lambda r: (-r[0], r[1]))
        pool = [r for r in results if r[0] >= SORT_RELEVANCE * best_score] if sort != "relevance" else []
        if sort == "rating" and all(self.ratings[pos] is None for _, pos, _ in pool):
            pool = []  # no ratings in this catalog: by relevance
        if pool:
            results = sorted(pool, key=lambda r: self._sort_key(sort, r))
        words = set(tokenize(parsed.text))  # what each hit's "matches ..." reason is checked against
        return [self._hit(words, parsed, filters, score, pos, variants) for score, pos, variants in results[:k]]

    def _sort_key(self, sort: Sort, result: tuple[float, int, list[CatalogVariant]]) -> tuple[float, float, int]:
        score, pos, variants = result
        cheapest = min(v.price for v in variants)
        if sort == "price_asc":
            return (cheapest, -score, pos)
        if sort == "price_desc":
            return (-max(v.price for v in variants), -score, pos)
        rating = self.ratings[pos]  # unrated products after the rated ones, by relevance
        return (-(rating if rating is not None else -math.inf), -score, pos)

    def missed(self, product_id: str, query: str, filters: SearchFilters) -> list[dict[str, Any]]:
        """`missed_filters` for a product of this catalog and a query's own price words."""
        return missed_filters(self.products[self.by_id[product_id]], self.parse(query), filters)

    def _hit(self, words: set[str], parsed: ParsedQuery, filters: SearchFilters, score: float, pos: int, variants: list[CatalogVariant]) -> SearchHit:
        product = self.products[pos]
        ordered = sorted(variants, key=lambda v: (not v.available, v.price))
        best = ordered[0]
        matched = [w for w in self.name_tokens[pos] if w in words]
        reason = [f"matches {', '.join(repr(w) for w in matched[:4])}" if matched else "similar in meaning to your request"]
        low, high = price_bounds(parsed, filters)
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
            rating=self.ratings[pos],
        )
