"""Print docs/describe_samples.md: 20 descriptions of products of the generated demo store.

Only our own demo products are shown: text taken from the public catalogs stays out of the repo.
Each sample says which path wrote it: the trained describer ("model": its lead sentence, then our
option/price/stock sentences) or the attribute composition ("composed", with the reason when the
model's text was rejected).

    python -m retrieval.describe_samples [--model DIR] > docs/describe_samples.md

DIR defaults to $SHOPBOT_HOME/models/describer (train it with `shopbot train describer`).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from bot.settings import Settings
from bot.store.generate import generate_store
from retrieval.catalog import product_from_dict
from retrieval.describe import Describer, check_grounded, model_text_problems
from retrieval.query import Vocabulary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="trained describer directory")
    args = parser.parse_args(argv)
    model_dir = args.model or Settings.from_env().models_dir / "describer"
    demo = [product_from_dict(p, "demo") for p in generate_store(7, 5).products.values()]
    vocab = Vocabulary.from_products(demo)
    describer = Describer(vocabulary=vocab, model_dir=model_dir)
    picked = demo[::2][:20]
    # one variant-level description as well: descriptions are cached per product and per variant
    rows = [(p, None) for p in picked[:19]] + [(picked[0], picked[0].variants[0].item_id)]
    written = [(p, item, describer.describe(p, item)) for p, item in rows]
    paths = Counter(d.path for _, _, d in written)
    all_paths = Counter(describer.describe(p).path for p in demo)

    print("# describe_product: 20 generated samples\n")
    print("Products: from the generated demo store (seed 7); public catalogs are never quoted here. Each")
    print("description is checked in code (`retrieval.describe.model_text_problems`: every number, price,")
    print("option value, brand, colour or material and stock claim must be in the product's data, and every")
    print("other word must be in the product's data or a short list of generic words). Regenerate with")
    print("`python -m retrieval.describe_samples > docs/describe_samples.md` after `shopbot train describer`.\n")
    if describer.model is None:
        print(f"No trained describer in `{model_dir}`: every description is composed from attributes.\n")
    else:
        metrics = describer.model.meta.get("dev_metrics", {})
        print("Paths: **model** = lead sentence by the trained describer (docs/retrieval.md, \"Descriptions\"),")
        print("followed by our option/price/stock sentences; **composed** = the attribute composition, used")
        print("when the model's text is unfinished, below its fluency bar or fails the check.\n")
        print(f"In these 20: {dict(paths)}. Over all {len(demo)} demo products: {dict(all_paths)}.")
        print(f"Describer dev numbers (held-out public products): `{json.dumps(metrics)}`\n")
    for p, item, d in written:
        target = p if item is None else next(v for v in p.variants if v.item_id == item)
        scope = "" if item is None else f", item `{item}` ({', '.join(f'{k} {v}' for k, v in target.options.items())})"
        view = p if item is None else type(p)(**{**p.__dict__, "variants": [target]})
        problems = model_text_problems(d.text, view, vocab) if d.path != "composed" else check_grounded(d.text, view, vocab)
        print(f"**{p.name}** (`{p.product_id}`{scope}; path: **{d.path}**; grounding problems: {len(problems)})\n")
        print(f"> {d.text}\n")
        if d.note:
            print(f"_model text not used: {d.note}_\n")


if __name__ == "__main__":
    main()
