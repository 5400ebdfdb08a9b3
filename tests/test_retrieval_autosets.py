"""The automatic dev sets: queries and grades come from the public catalogs' own labels."""
from __future__ import annotations

import json

import pytest

from retrieval.autosets import JudgedQuery, build_autosets, dummyjson_phrase, shopper_phrase, singular
from retrieval.evaluate import DEVSETS, judged_ndcg, query_key, translated
from retrieval.public import find_public_catalogs, read_public_catalog
from tests.store_helpers import data_dir_or_none


def test_label_phrases() -> None:
    assert dummyjson_phrase("mens-watches") == "men's watches"
    assert dummyjson_phrase("womens-jewellery") == "women's jewellery"
    assert dummyjson_phrase("skin-care") == "skin care"
    assert shopper_phrase("All Unlocked Cell Phones") == "unlocked cell phones"
    assert shopper_phrase("Cell Phone Cases & Clips") == "cell phone cases and clips"
    assert [singular(w) for w in ("watches", "accessories", "glasses", "beds", "sunglass")] == ["watch", "accessory", "glass", "bed", "sunglass"]


def test_unjudged_products_leave_the_ranking() -> None:
    item = JudgedQuery("car chargers", "bestbuy", "bestbuy:category", {"a": 2, "b": 2}, frozenset({"u"}))
    assert judged_ndcg(item, ["u", "a", "b"]) == pytest.approx(1.0)
    assert judged_ndcg(item, ["x", "a", "b"]) < 1.0
    assert judged_ndcg(item, []) == 0.0


def test_without_the_public_data_there_is_no_set() -> None:
    assert build_autosets([], None) == []


@pytest.fixture(scope="module")
def autosets():  # type: ignore[no-untyped-def]
    data_dir = data_dir_or_none()
    found = find_public_catalogs(data_dir)
    if len(found) < 3:
        pytest.skip("the public catalogs are not there: set SHOPBOT_DATA_DIR to the shared data directory")
    products = [p for c, path in found for _, p in read_public_catalog(c, path)[0]]
    return products, build_autosets(products, data_dir)


@pytest.mark.data
def test_every_part_has_a_dev_and_a_heldout_half(autosets) -> None:  # type: ignore[no-untyped-def]
    _, items = autosets
    parts = {(i.part, i.split) for i in items}
    for part in ("bestbuy:category", "bestbuy:price", "dummyjson:category", "dummyjson:tag", "dummyjson:price", "webshop:phrasing"):
        assert {(part, "dev"), (part, "heldout")} <= parts, part
    assert all(i.grades for i in items)
    assert len({(i.part, i.query, i.source) for i in items}) == len(items)


@pytest.mark.data
def test_grades_follow_the_catalog_labels(autosets) -> None:  # type: ignore[no-untyped-def]
    products, items = autosets
    by_id = {p.product_id: p for p in products}
    mens = next(i for i in items if i.part == "dummyjson:category" and i.query == "men's watches")
    assert {by_id[pid].category for pid in mens.grades} == {"Mens Watches"}
    assert len(mens.grades) == sum(p.category == "Mens Watches" for p in products)
    chargers = next(i for i in items if i.part == "bestbuy:category" and i.query == "car chargers")
    # filed under "Car Chargers": relevant; filed only under "Cell Phone Accessories": cannot say
    assert all("Car Chargers" in by_id[pid].category_path for pid in chargers.grades)
    assert chargers.unjudged and all(by_id[pid].category_path[-1] in ("Cell Phones", "Cell Phone Accessories") for pid in chargers.unjudged)
    for item in (i for i in items if i.part.endswith(":price")):
        low, high = item.min_price or 0.0, item.max_price
        assert high is not None and all(any(low <= v.price <= high for v in by_id[pid].variants) for pid in item.grades)


@pytest.mark.data
def test_translations_pair_with_automatic_queries(autosets) -> None:  # type: ignore[no-untyped-def]
    _, items = autosets
    keys = [json.loads(line)["key"] for line in (DEVSETS / "translated_queries.jsonl").read_text(encoding="utf-8").splitlines()]
    assert set(keys) <= {query_key(i.query) for i in items}
    for language in ("zh", "es"):
        pairs = translated(items, language)
        assert len(pairs) >= len(keys) and all(a.grades == b.grades and a.query != b.query for a, b in pairs)
