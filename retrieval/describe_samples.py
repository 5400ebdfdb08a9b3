"""Print docs/describe_samples.md: 20 descriptions from the demo store and the public catalogs.

    python -m retrieval.describe_samples > docs/describe_samples.md
"""
from __future__ import annotations

from bot.settings import Settings
from bot.store.generate import generate_store
from retrieval.catalog import CatalogProduct, product_from_dict
from retrieval.describe import check_grounded, compose_description
from retrieval.public import find_public_catalogs, read_public_catalog
from retrieval.query import Vocabulary


def main() -> None:
    demo = [product_from_dict(p, "demo") for p in generate_store(7, 5).products.values()]
    public: dict[str, list[CatalogProduct]] = {}
    for catalog, path in find_public_catalogs(Settings.from_env().data_dir):
        public[catalog.source] = [p for _, p in read_public_catalog(catalog, path)[0]]
    vocab = Vocabulary.from_products(demo + [p for ps in public.values() for p in ps])
    picked = demo[::4][:12] + public.get("tau-bench", [])[:3] + public.get("dummyjson", [])[::60][:2] + public.get("bestbuy", [])[::900][:3]
    print("# describe_product: 20 generated samples\n")
    print("Written by `retrieval.describe.compose_description` from each product's own attributes (name, brand,")
    print("category path, option values, prices, stock) and checked by `check_grounded` against the product's")
    print("data and the whole catalog's vocabulary. Products: 12 from the generated demo store (seed 7), then")
    print("3 tau-bench, 2 DummyJSON and 3 Best Buy products read from `SHOPBOT_DATA_DIR`. Regenerate with")
    print("`python -m retrieval.describe_samples > docs/describe_samples.md`.\n")
    for p in picked:
        text = compose_description(p)
        problems = check_grounded(text, p, vocab)
        print(f"**{p.name}** (`{p.product_id}`, {p.source}; grounding problems: {len(problems)})\n\n> {text}\n")


if __name__ == "__main__":
    main()
