"""Print docs/describe_samples.md: 20 descriptions of products of the generated demo store.

Only our own demo products are shown: text taken from the public catalogs stays out of the repo.

    python -m retrieval.describe_samples > docs/describe_samples.md
"""
from __future__ import annotations

from bot.store.generate import generate_store
from retrieval.catalog import product_from_dict
from retrieval.describe import check_grounded, compose_description
from retrieval.query import Vocabulary


def main() -> None:
    demo = [product_from_dict(p, "demo") for p in generate_store(7, 5).products.values()]
    vocab = Vocabulary.from_products(demo)
    picked = demo[::2][:20]
    print("# describe_product: 20 generated samples\n")
    print("Written by `retrieval.describe.compose_description` from each product's own attributes (name, brand,")
    print("category path, option values, prices, stock) and checked by `check_grounded` against the product's")
    print("data and the catalog's vocabulary. Products: 20 from the generated demo store (seed 7); public")
    print("catalogs are described the same way at `shopbot index` time but are not quoted here. Regenerate")
    print("with `python -m retrieval.describe_samples > docs/describe_samples.md`.\n")
    for p in picked:
        text = compose_description(p)
        problems = check_grounded(text, p, vocab)
        print(f"**{p.name}** (`{p.product_id}`, {p.source}; grounding problems: {len(problems)})\n\n> {text}\n")


if __name__ == "__main__":
    main()
