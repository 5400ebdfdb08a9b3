"""The public catalogs in SHOPBOT_DATA_DIR: import counts, ids, and grounded descriptions."""
from __future__ import annotations

import pytest

from retrieval.describe import check_grounded, compose_description
from retrieval.public import find_public_catalogs, read_public_catalog
from retrieval.query import Vocabulary
from tests.store_helpers import data_dir_or_none

pytestmark = pytest.mark.data

EXPECTED = {"tau-bench": (50, 591), "dummyjson": (194, 194), "bestbuy": (3291, 3291)}


@pytest.fixture(scope="module")
def catalogs():  # type: ignore[no-untyped-def]
    found = find_public_catalogs(data_dir_or_none())
    if len(found) < len(EXPECTED):
        pytest.skip("the public catalogs are not there: set SHOPBOT_DATA_DIR to the shared data directory")
    return {c.source: read_public_catalog(c, path) for c, path in found}


def test_every_public_product_imports_with_its_ids(catalogs) -> None:  # type: ignore[no-untyped-def]
    for source, (good, errors) in catalogs.items():
        assert errors == [], source
        products = [p for _, p in good]
        assert (len(products), sum(len(p.variants) for p in products)) == EXPECTED[source]
        assert len({p.product_id for p in products}) == len(products)
    tau = {p.product_id for _, p in catalogs["tau-bench"][0]}
    assert all(pid.isdigit() and len(pid) == 10 for pid in tau)  # tau-bench's own ids, kept
    phone = next(p for _, p in catalogs["bestbuy"][0] if p.category_path[:1] == ["Cell Phones"])
    assert phone.product_id.startswith("bestbuy-") and phone.image and phone.popularity > 0


def test_descriptions_of_public_products_are_grounded(catalogs) -> None:  # type: ignore[no-untyped-def]
    products = [p for good, _ in catalogs.values() for _, p in good]
    vocab = Vocabulary.from_products(products)
    for product in products:
        assert check_grounded(compose_description(product), product, vocab) == [], product.product_id
