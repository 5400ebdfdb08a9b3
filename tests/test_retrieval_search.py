"""Search, recommendations, descriptions and the index files, on the generated demo store."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.db import Database
from bot.settings import Settings
from retrieval.catalog import product_from_dict
from retrieval.describe import check_grounded, compose_description
from retrieval.embed import MODEL_NAME
from retrieval.index import IndexMismatch, IndexMissing, VectorIndex
from retrieval.search import SearchFilters
from retrieval.service import CatalogNotReady, CatalogSearch
from tests.retrieval_helpers import build_demo_home, settings_for
from tools.base import ToolContext
from tools.registry import default_tools


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_demo_home(tmp_path_factory.mktemp("demo"))


@pytest.fixture
async def catalog(demo: Settings):  # type: ignore[no-untyped-def]
    db = Database(demo.database_url)
    yield await CatalogSearch.load(demo, db)
    await db.dispose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("something to keep my dog comfortable at night", "Dog Bed"),
        ("clicky keyboard for typing", "Mechanical Keyboard"),
        ("bottle that keeps drinks cold all day", "Insulated Water Bottle"),
        ("protect my phone if I drop it", "Phone Case"),
        ("boil water fast for tea", "Electric Kettle"),
    ],
)
def test_search_finds_the_demo_product(catalog: CatalogSearch, query: str, expected: str) -> None:
    hits = catalog.search(query, 3)
    assert expected in [h.name for h in hits]


def test_lexical_ranker_votes_only_on_a_strong_match(catalog: CatalogSearch) -> None:
    engine = catalog.engine
    # One common word ("water") is all BM25 has for this query: it abstains, and hybrid ranks
    # exactly as dense search does (RRF let that word pull in the water bottle and fountain).
    text = "boil water fast for tea"
    assert engine._lexical_confidence(text, engine.lexical_ranking(text, 48)) == 0.0
    assert [h.id for h in catalog.search(text, 5)] == [h.id for h in catalog.search(text, 5, mode="dense")]
    # Every rare word of the query is in one product's text: BM25 votes, with that share.
    text = "cast iron skillet"
    share = engine._lexical_confidence(text, engine.lexical_ranking(text, 48))
    assert share == pytest.approx(1.0)
    assert catalog.search(text, 1)[0].name == "Cast Iron Skillet"


def test_postings_bm25_equals_rank_bm25(catalog: CatalogSearch) -> None:
    from retrieval.search import tokenize

    engine = catalog.engine
    for text in ("red running shoes size 10", "coffee coffee maker", "nothing matches zzz", "cast iron skillet"):
        tokens = tokenize(text)
        assert np.array_equal(engine.bm25_scores(tokens), engine.bm25.get_scores(tokens)), text


def test_hybrid_is_not_worse_than_dense_on_the_demo_sets(catalog: CatalogSearch) -> None:
    from retrieval.evaluate import evaluate

    dense, hybrid = evaluate(catalog, "dense"), evaluate(catalog, "hybrid")
    for name in ("demo:plain", "demo:constrained", "heldout:plain", "heldout:constrained"):
        assert hybrid[name]["ndcg@10"] >= dense[name]["ndcg@10"] - 1e-9, name


def test_filters_from_text_and_arguments_hold_for_every_hit(catalog: CatalogSearch) -> None:
    for hit in catalog.search("kitchen appliance under $60 in stock", 10):
        assert hit.price is not None and hit.price <= 60 and hit.available
        assert all(v["price"] <= 60 and v["available"] for v in hit.variants)
    hits = catalog.search("keyboard", 5, SearchFilters(options={"switch type": "clicky"}))
    assert hits and all(h.options["switch type"] == "clicky" for h in hits)
    assert all(h.brand == "Sonara" for h in catalog.search("headphones", 5, SearchFilters(brand="sonara")))


def test_a_sources_filter_ranks_as_if_the_other_catalogs_were_skipped(catalog: CatalogSearch) -> None:
    """The server searches only the store's own catalogs (sources): the exact index then scores
    only their rows and the others never reach the ranking loop. The hits are exactly those of an
    unfiltered search with the other catalogs' products left out."""
    import dataclasses

    from retrieval.search import ProductSearch

    engine = catalog.engine
    assert engine.index is not None
    ours = list(engine.products)
    theirs = [dataclasses.replace(p, product_id="x" + p.product_id, source="other") for p in ours]
    rows = {pid: n for n, pid in enumerate(engine.index.ids)}
    base = np.stack([engine.index.reconstruct(rows[p.product_id]) for p in ours])
    noise = np.random.default_rng(3).normal(scale=0.05, size=base.shape).astype(np.float32)
    other = (base + noise) / np.linalg.norm(base + noise, axis=1, keepdims=True)  # near twins: interleaved ranks
    products = ours + theirs
    index = VectorIndex.build(np.concatenate([base, other]), [p.product_id for p in products], ["k"] * len(products), MODEL_NAME)
    both = ProductSearch(products, index, engine.embedder)
    assert both._from_sources({"demo"})[1] is not None  # exact index: searched among the store's rows
    for query in ("dog bed", "red running shoes under $80", "something to keep drinks cold", "kettle in stock", "zzz"):
        for mode in ("hybrid", "dense", "lexical"):
            got = both.search(query, 5, SearchFilters(sources={"demo"}), mode)
            everything = both.search(query, len(products), SearchFilters(), mode)
            expected = [h for h in everything if h.source == "demo"][:5]
            assert [(h.id, h.item_id, h.score) for h in got] == [(h.id, h.item_id, h.score) for h in expected], (query, mode)


def test_argument_bounds_win_over_the_words_and_every_filter_is_exact(catalog: CatalogSearch) -> None:
    """A price in the query text filters, but where an argument gives the same bound the argument
    wins; options, brand and stock filter every variant exactly."""
    both = catalog.search("running shoes under $20", 10, SearchFilters(max_price=500))
    assert any(h.name == "Running Shoes" for h in both) and all(h.price <= 500 for h in both)
    words_only = catalog.search("running shoes under $20", 10)
    assert all(h.price <= 20 for h in words_only)
    hits = catalog.search("running shoes", 5, SearchFilters(options={"color": "red"}, in_stock=True))
    assert hits and all(v["options"]["color"] == "red" and v["available"] for h in hits for v in h.variants)


def test_sort_orders_the_relevant_products_by_price(catalog: CatalogSearch) -> None:
    relevant = catalog.search("headphones", 10)
    cheapest = catalog.search("headphones", 10, sort="price_asc")
    assert [h.price for h in cheapest] == sorted(h.price for h in cheapest)
    assert cheapest[0].name in {h.name for h in relevant[:3]}  # a pair of headphones, not the cheapest thing in the store
    dearest = catalog.search("headphones", 10, sort="price_desc")
    assert dearest[0].price == max(h.price for h in dearest)
    # The demo store has no ratings: "rating" ranks by relevance there.
    assert [h.id for h in catalog.search("headphones", 5, sort="rating")] == [h.id for h in relevant[:5]]
    with pytest.raises(ValueError, match="unknown sort"):
        catalog.search("headphones", 5, sort="newest")  # type: ignore[arg-type]


def test_product_ids_search_only_the_list_being_refined(catalog: CatalogSearch) -> None:
    shown = catalog.search("something for the kitchen", 5)
    ids = frozenset(h.id for h in shown)
    refined = catalog.search("anything", 10, SearchFilters(product_ids=ids, max_price=60))
    assert refined and {h.id for h in refined} <= ids and all(h.price <= 60 for h in refined)
    assert catalog.search("dog bed", 5, SearchFilters(product_ids=frozenset())) == []


def test_audience_named_in_the_query_ranks_the_other_audience_lower(catalog: CatalogSearch) -> None:
    """"men's watch" in a catalog of a women's and a men's watch with the same words otherwise:
    the women's one keeps AUDIENCE_MISMATCH_FACTOR of its score."""
    from retrieval.search import AUDIENCE_MISMATCH_FACTOR, ProductSearch, audience

    assert audience("men's wrist watch") == "men" and audience("a gift for her") == "women" and audience("watch") is None
    products = [
        product_from_dict({"product_id": "w", "name": "Women's Wrist Watch", "category": "Womens Watches", "price": 20}, "t"),
        product_from_dict({"product_id": "m", "name": "Steel Wrist Watch", "category": "Mens Watches", "price": 20}, "t"),
    ]
    from retrieval.search import document_text

    vectors = catalog.embedder.embed([document_text(p) for p in products])
    engine = ProductSearch(products, VectorIndex.build(vectors, ["w", "m"], ["w", "m"], MODEL_NAME), catalog.embedder)
    assert engine.audiences == ["women", "men"]
    hits = {h.id: h.score for h in engine.search("men's wrist watch", 2)}
    engine.audiences = [None, None]
    blind = {h.id: h.score for h in engine.search("men's wrist watch", 2)}
    assert hits["m"] == blind["m"] and hits["m"] > hits["w"]
    popularity = engine.popularity_weight * float(engine.popularity[0])
    assert hits["w"] == pytest.approx(AUDIENCE_MISMATCH_FACTOR * (blind["w"] - popularity) + popularity, abs=1e-5)


async def test_search_from_the_loop_encodes_new_queries_in_a_thread(catalog: CatalogSearch) -> None:
    """`asearch` gives exactly `search`'s hits; the query's encoder pass runs in a worker thread
    the first time, and the search itself on the loop's thread (the vector is cached then)."""
    import threading

    loop_thread = threading.current_thread().name
    query = "a warm hoodie for a trip under $60, in stock"
    passes: list[str] = []
    encoder = catalog.embedder.query_encoder
    real_forward = encoder._forward

    def forward(text: str) -> np.ndarray:
        passes.append(threading.current_thread().name)
        return real_forward(text)

    encoder._forward = forward  # type: ignore[method-assign]
    try:
        assert not catalog.embedder.query_cached(catalog.engine.parse(query).text)
        hits = await catalog.asearch(query, 5)
        assert len(passes) == 1 and passes[0] != loop_thread
        assert catalog.embedder.query_cached(catalog.engine.parse(query).text)
        assert [(h.id, h.score, h.options) for h in hits] == [(h.id, h.score, h.options) for h in catalog.search(query, 5)]
        assert hits and all(h.price <= 60 for h in hits)
        assert [h.id for h in await catalog.asearch(query, 5)] == [h.id for h in hits]
        assert len(passes) == 1  # answered from the cache
    finally:
        del encoder._forward


async def test_search_tool_returns_product_cards(catalog: CatalogSearch, demo: Settings) -> None:
    tools = default_tools()
    ctx = ToolContext(db=catalog.db, services={"catalog": catalog})
    result = await tools["search_products"].invoke(ctx, {"query": "yoga mat", "k": 3})
    assert result.ok, result.text
    card = json.loads(result.text)["hits"][0]
    assert card["name"] == "Yoga Mat"
    assert {"id", "name", "price", "image", "options", "category", "brand", "score"} <= set(card)
    missing = await tools["search_products"].invoke(ToolContext(db=catalog.db), {"query": "yoga mat"})
    assert not missing.ok and "not available" in missing.text


async def test_search_tool_offers_the_closest_product_when_filters_exclude_every_relevant_one(catalog: CatalogSearch) -> None:
    """Filters must not turn a search into a list of unrelated products: below the relevance floor
    nothing is shown, and the best match outside the filters is offered instead (with its price)."""
    tools = default_tools()
    ctx = ToolContext(db=catalog.db, services={"catalog": catalog})
    speaker = catalog.search("bluetooth speaker", 1)[0]
    assert speaker.name == "Bluetooth Speaker"
    cheapest = min(v["price"] for v in speaker.variants)
    result = await tools["search_products"].invoke(ctx, {"query": "bluetooth speaker", "max_price": round(cheapest / 2, 2)})
    assert result.ok, result.text
    value = json.loads(result.text)
    assert value["hits"] == [] and value["closest_outside_filters"]["name"] == "Bluetooth Speaker"
    assert value["closest_outside_filters"]["outside_filters"] == [{"filter": "max_price", "wanted": round(cheapest / 2, 2), "has": cheapest}]
    within = json.loads((await tools["search_products"].invoke(ctx, {"query": "bluetooth speaker", "max_price": cheapest + 1})).text)
    assert within["hits"][0]["name"] == "Bluetooth Speaker" and "closest_outside_filters" not in within

    from bot.conversation import Command, ConversationView
    from bot.replies import render

    call = {"id": "c1", "type": "function", "function": {"name": "search_products", "arguments": json.dumps({"query": "bluetooth speaker"})}}
    messages = [
        {"role": "user", "content": "a bluetooth speaker, cheap please"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "name": "search_products", "content": result.text},
    ]
    reply = render(ConversationView.parse(messages), Command("reply", "answer"))
    from bot.grounding import ungrounded

    assert ungrounded(reply.text, messages) == []  # the price it states is the tool's
    assert "closest we have is Bluetooth Speaker" in reply.text and [c["name"] for c in reply.cards] == ["Bluetooth Speaker"]


async def test_recommendations_for_a_shopper_with_history_and_a_new_one(catalog: CatalogSearch) -> None:
    recommender = await catalog.recommender()
    user = next(u for u, items in recommender.history.items() if len(set(items)) >= 2)
    owned = set(recommender.history[user])
    recs = recommender.for_user(user, 5)
    assert len(recs) == 5
    for rec in recs:
        assert rec.reason
        if rec.id in owned:  # only consumables come back, as a restock
            assert "restock" in rec.reason
    assert any(r.reason.startswith("because you bought") for r in recs)
    cold = recommender.for_user("nobody_new_0000", 5)
    assert len(cold) == 5 and all("popular" in r.reason for r in cold)

    tool = default_tools()["recommend_products"]
    ctx = ToolContext(db=catalog.db, services={"catalog": catalog})
    refused = await tool.invoke(ctx, {"user_id": user})
    assert not refused.ok and "not authenticated" in refused.text
    ctx.user_id = user
    assert (await tool.invoke(ctx, {"user_id": user, "k": 3})).ok
    some_product = next(iter(catalog.products))
    assert (await tool.invoke(ToolContext(db=catalog.db, services={"catalog": catalog}), {"product_id": some_product})).ok


def test_descriptions_are_grounded_and_the_check_rejects_invented_values(catalog: CatalogSearch) -> None:
    for product in catalog.products.values():
        assert check_grounded(catalog.description(product.product_id), product, catalog.vocab) == []
    mat = next(p for p in catalog.products.values() if p.name == "Yoga Mat")
    good = compose_description(mat)
    colours = {v.options.get("color") for v in mat.variants}
    invented_colour = next(c for c in ("orange", "gold", "pink", "teal") if c not in colours)
    assert check_grounded(good + f" Also in {invented_colour}.", mat, catalog.vocab)
    assert check_grounded(good + " It costs $1.23.", mat, catalog.vocab)[0].kind == "price"
    assert check_grounded(good + " It weighs 77 kg.", mat, catalog.vocab)[0].kind == "number"
    assert check_grounded(good + " Made by Keyforge.", mat, catalog.vocab)[0].value == "keyforge"


def test_check_grounded_on_a_hand_made_product() -> None:
    lamp = product_from_dict({"product_id": "l1", "name": "Desk Lamp", "brand": "Lumo", "variants": [
        {"item_id": "a", "options": {"color": "white"}, "price": 20, "available": False}]}, "test")
    assert check_grounded("The Lumo Desk Lamp in white costs $20.00.", lamp) == []
    assert [p.kind for p in check_grounded("In stock now in black.", lamp)] == ["term", "stock"]


def test_index_round_trip_and_mismatched_sidecar(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"p{i}" for i in range(50)]
    built = VectorIndex.build(vectors, ids, [f"k{i}" for i in range(50)], MODEL_NAME)
    built.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, model=MODEL_NAME, dimension=384)
    _, rows = loaded.search(vectors[7], 1)
    assert loaded.ids[rows[0][0]] == "p7" and loaded.sidecar == built.sidecar
    with pytest.raises(IndexMismatch, match="built with"):
        VectorIndex.load(tmp_path, model="another-model", dimension=384)
    with pytest.raises(IndexMismatch, match="dimension"):
        VectorIndex.load(tmp_path, model=MODEL_NAME, dimension=768)
    sidecar = json.loads((tmp_path / "index.json").read_text())
    sidecar["data_hash"] = "0" * 32
    (tmp_path / "index.json").write_text(json.dumps(sidecar))
    with pytest.raises(IndexMismatch, match="different catalog data"):
        VectorIndex.load(tmp_path, model=MODEL_NAME, dimension=384)
    with pytest.raises(IndexMissing):
        VectorIndex.load(tmp_path / "nothing", model=MODEL_NAME, dimension=384)


@pytest.mark.parametrize(("kind", "index_type"), [("ivf", "IndexIVFScalarQuantizer"), ("hnsw", "IndexHNSWFlat")])
def test_approximate_index_above_the_threshold(tmp_path: Path, kind: str, index_type: str) -> None:
    import faiss

    from retrieval.index import IVF_NPROBE

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(600, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [str(i) for i in range(600)]
    index = VectorIndex.build(vectors, ids, ids, MODEL_NAME, hnsw_threshold=100, kind=kind)
    assert index.sidecar.index_type == index_type
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, model=MODEL_NAME, dimension=384)
    if kind == "ivf":  # the search-time setting is restored at load
        assert faiss.extract_index_ivf(loaded.cpu_index).nprobe == IVF_NPROBE
    _, rows = loaded.search(vectors[:10], 1)  # a few (the single-thread path) ...
    assert sum(int(r[0]) == i for i, r in enumerate(rows)) >= 9
    _, rows = loaded.search(vectors[:100], 1)  # ... and batched
    assert sum(int(r[0]) == i for i, r in enumerate(rows)) >= 95


async def test_load_without_an_index_is_a_clear_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    db = Database(settings.database_url)
    try:
        with pytest.raises(CatalogNotReady, match="shopbot index"):
            await CatalogSearch.load(settings, db)
    finally:
        await db.dispose()


async def test_search_tool_lists_only_products_near_the_best_match(catalog: CatalogSearch) -> None:
    """Without filters the list stops where relevance falls far below the best match: a search for
    the demo store's one backpack does not go on with unrelated products."""
    from tools.search_products import LIST_RELEVANCE

    tools = default_tools()
    ctx = ToolContext(db=catalog.db, services={"catalog": catalog})
    ranked = catalog.search("backpacks", 5)
    assert ranked[0].name == "Backpack" and len(ranked) == 5
    value = json.loads((await tools["search_products"].invoke(ctx, {"query": "backpacks", "k": 5})).text)
    shown = [h["name"] for h in value["hits"]]
    assert shown[0] == "Backpack" and len(shown) < 5
    assert all(h["score"] >= LIST_RELEVANCE * ranked[0].score for h in value["hits"])
    assert [h.name for h in ranked if h.score >= LIST_RELEVANCE * ranked[0].score] == shown


# ---------------------------------------------------------------- queries in other languages
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("蓝牙音箱", "Bluetooth Speaker"),
        ("瑜伽垫", "Yoga Mat"),
        ("跑鞋", "Running Shoes"),
        ("狗床", "Dog Bed"),
        ("机械键盘", "Mechanical Keyboard"),
        ("电热水壶", "Electric Kettle"),
        ("altavoz bluetooth", "Bluetooth Speaker"),
        ("esterilla de yoga", "Yoga Mat"),
        ("zapatos para correr", "Running Shoes"),
        pytest.param("zapatillas para correr", "Running Shoes", marks=pytest.mark.xfail(reason="known gap: e5-small puts 'zapatillas' nearer the Yoga Mat (0.812 against 0.812)", strict=True)),
        ("cama para perro", "Dog Bed"),
        ("teclado mecánico", "Mechanical Keyboard"),
        ("hervidor eléctrico", "Electric Kettle"),
    ],
)
def test_a_chinese_or_spanish_query_finds_the_english_product_first(catalog: CatalogSearch, query: str, expected: str) -> None:
    hits = catalog.search(query, 3)
    assert hits and hits[0].name == expected, (query, [h.name for h in hits])


def test_other_languages_are_ranked_by_e5_and_english_as_before(catalog: CatalogSearch) -> None:
    """Chinese (any ideograph) and Spanish the detector is sure of go to e5; English, and short
    English the detector misreads, stay on the MiniLM + BM25 hybrid, with exactly the hits a
    search without the e5 index gives."""
    from retrieval.evaluate import load_set
    from retrieval.search import ProductSearch

    engine = catalog.engine
    assert engine.multilingual is not None and len(engine.multilingual.ids) == len(engine.products)
    for query in ("蓝牙音箱", "包", "esterilla de yoga para principiantes", "zapatos para correr", "teclado mecánico"):
        assert engine.ranking("hybrid", query) == "multilingual", query
    english_only = ProductSearch(engine.products, engine.index, engine.embedder)
    queries = [item["query"] for item in load_set("demo_queries.jsonl")] + ["kitchen gadget", "glass kettle", "selfie stick"]
    for query in queries:
        assert engine.ranking("hybrid", engine.parse(query).text) == "hybrid", query
        assert [(h.id, h.score) for h in engine.search(query, 5)] == [(h.id, h.score) for h in english_only.search(query, 5)], query
    # The conversation's language decides a short query the detector cannot
    assert engine.query_language("yoga", "es") == "es" and engine.query_language("yoga") == "en"
    assert engine.query_language("running shoes for trail races", "es") == "en"  # sure English stays English


def test_filters_hold_for_a_chinese_query(catalog: CatalogSearch) -> None:
    speaker = catalog.search("蓝牙音箱", 1)[0]
    assert speaker.name == "Bluetooth Speaker"
    cheapest = min(v["price"] for v in speaker.variants)
    under = catalog.search("蓝牙音箱", 10, SearchFilters(max_price=round(cheapest / 2, 2)))
    assert under and all(h.price <= cheapest / 2 and all(v["price"] <= cheapest / 2 for v in h.variants) for h in under)
    assert "Bluetooth Speaker" not in [h.name for h in under]
    within = catalog.search("蓝牙音箱", 10, SearchFilters(max_price=cheapest + 1))
    assert within[0].name == "Bluetooth Speaker" and all(h.price <= cheapest + 1 for h in within)
    shoes = catalog.search("跑鞋", 5, SearchFilters(options={"color": "red"}, in_stock=True))
    assert shoes and all(v["options"]["color"] == "red" and v["available"] for h in shoes for v in h.variants)
    shown = frozenset(h.id for h in catalog.search("厨房用品", 5))
    refined = catalog.search("便宜的", 10, SearchFilters(product_ids=shown, max_price=60))
    assert refined and {h.id for h in refined} <= shown and all(h.price <= 60 for h in refined)
    cheapest_first = catalog.search("耳机", 10, sort="price_asc")
    assert [h.price for h in cheapest_first] == sorted(h.price for h in cheapest_first)


async def test_search_tool_in_chinese_lists_the_product_or_the_closest_outside_the_filters(catalog: CatalogSearch) -> None:
    """The tool's relevance floors read e5's scores as they read MiniLM's: a Chinese search lists
    the speaker and stops; with a budget below every speaker it offers the closest speaker."""
    tools = default_tools()
    ctx = ToolContext(db=catalog.db, services={"catalog": catalog}, language="zh-CN")
    found = json.loads((await tools["search_products"].invoke(ctx, {"query": "蓝牙音箱", "k": 5})).text)
    assert found["hits"][0]["name"] == "Bluetooth Speaker" and len(found["hits"]) < 5
    cheapest = min(v["price"] for v in found["hits"][0]["variants"])
    value = json.loads((await tools["search_products"].invoke(ctx, {"query": "蓝牙音箱", "max_price": round(cheapest / 2, 2)})).text)
    assert value["hits"] == [] and value["closest_outside_filters"]["name"] == "Bluetooth Speaker"
