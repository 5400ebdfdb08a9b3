"""Search dev sets built automatically from the public data, graded by the catalogs' own labels.

    items = build_autosets(products, data_dir)    # [] without the public data

Nothing here is written by us: queries are the catalogs' category names and tags and the WebShop
crowd's shopping requests, and a product's grade comes from its own labels (docs/retrieval.md,
"Automatic dev sets"). Parts:

- `bestbuy:category`: every Best Buy category under "Cell Phones" that products are filed under,
  leaf or inner node, named as a shopper would type it ("All Unlocked Cell Phones" -> "unlocked
  cell phones"). The taxonomy (`bestbuy-categories`) adds each product's ancestors that its own
  path skips (its "Car Chargers" sit under "Adapters, Cables & Chargers"). Grade 2: the product is
  filed under the category; unjudged: the product's path stops above it (397 accessories are
  filed only under "Cell Phone Accessories": a power bank may or may not be a "car charger"), so
  it is dropped from the ranking instead of counted as wrong; 0 otherwise.
- `dummyjson:category` and `dummyjson:tag`: DummyJSON's categories ("mens-watches" -> "men's
  watches") and its products' tags ("luxury watches", "athletic shoes"). Grade 2: the product has
  that category (tag); 0 otherwise.
- `webshop:phrasing`: WebShop instructions ("i need a black twin sized bed") whose human-written
  search query ends with one of those labels, or with a tau-bench product type ("bed", "t-shirt",
  "hiking boots"); the instruction is the query, graded as the label's query in that catalog.
- `*:price`: each category query of a part above with a price bound in its words ("under $30",
  "between 20 and 40 dollars"), bounds at the category's own price quartiles; grade 2 only for
  products that also have an item within the bound.

Every part is split in two by a hash of the query: "dev" (settings may be tuned on it) and
"heldout" (only reported).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.catalog import CatalogProduct

BESTBUY_TAXONOMY = "bestbuy-categories/categories.json"
WEBSHOP_QUERIES = "webshop-goals/goal_query_map.json"
BESTBUY_ROOT = "cell phones"
MAX_SHARE = 0.4  # a category holding more of its catalog than this says nothing as a query
# Where a WebShop search query's product phrase ends ("queen size bed with a box spring").
_HEAD_END = re.compile(r"\b(?:with|for|that|which|in|of|under|less|without|from|to|and)\b|,")
_PRICE_TEMPLATES = ("{q} under ${hi}", "{q} less than {hi} dollars", "{q} between {lo} and {hi} dollars", "{q} ${lo} to ${hi}")


@dataclass(frozen=True)
class JudgedQuery:
    """One query of an automatic set: graded products (the rest of its catalog is 0) and the
    products its labels cannot judge (left out of the ranking)."""

    query: str
    source: str
    part: str
    grades: dict[str, int]
    unjudged: frozenset[str] = frozenset()
    min_price: float | None = None
    max_price: float | None = None
    label: str = ""  # the catalog label the grades come from

    @property
    def split(self) -> str:
        digest = hashlib.sha1(f"{self.part}\t{self.query}".encode()).digest()
        return "heldout" if digest[0] % 2 else "dev"


@dataclass
class _Labels:
    """One catalog's labels: label phrase -> products with it, and products it cannot judge."""

    source: str
    kind: str
    members: dict[str, set[str]] = field(default_factory=dict)
    unjudged: dict[str, set[str]] = field(default_factory=dict)


def shopper_phrase(name: str) -> str:
    """A category name as a shopper would type it: lower case, "&" as "and", no leading "All"."""
    text = name.strip().lower().replace("&", " and ")
    text = re.sub(r"^all\s+", "", text)
    return " ".join(text.split())


def dummyjson_phrase(category: str) -> str:
    """"mens-watches" -> "men's watches", "skin-care" -> "skin care"."""
    text = re.sub(r"\b(wo)?mens-", lambda m: f"{m.group(1) or ''}men's ", category.strip().lower())
    return " ".join(text.replace("-", " ").split())


def singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if re.search(r"(?:ch|sh|ss|x)es$", word):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "'s")):
        return word[:-1]
    return word


def label_forms(label: str) -> set[str]:
    words = label.split()
    return {label, " ".join(words[:-1] + [singular(words[-1])])} if words else set()


def _bestbuy_ancestors(data_dir: Path) -> dict[str, list[str]]:
    """Category name (shopper phrase) -> its ancestors' names under "Cell Phones", from the taxonomy."""
    path = data_dir / BESTBUY_TAXONOMY
    if not path.is_file():
        return {}
    out: dict[str, list[str]] = {}
    for node in json.loads(path.read_text(encoding="utf-8")):
        names = [shopper_phrase(p.get("name") or "") for p in node.get("path") or []]
        if len(names) < 2 or names[0] != BESTBUY_ROOT:
            continue
        out.setdefault(names[-1], names[:-1])
    return out


def _bestbuy_labels(products: list[CatalogProduct], data_dir: Path) -> _Labels:
    taxonomy = _bestbuy_ancestors(data_dir)
    labels = _Labels("bestbuy", "category")
    parents: dict[str, set[str]] = {}
    deepest: dict[str, str] = {}
    for p in products:
        path = [shopper_phrase(n) for n in p.category_path]
        if not path:
            continue
        names = set(path)
        for n, name in enumerate(path):
            parents.setdefault(name, set()).update(path[:n])
            names.update(taxonomy.get(name, []))
            parents[name].update(taxonomy.get(name, []))
        deepest[p.product_id] = path[-1]
        for name in names:
            labels.members.setdefault(name, set()).add(p.product_id)
    for name in labels.members:
        above = parents.get(name, set())
        labels.unjudged[name] = {pid for pid, last in deepest.items() if last in above and pid not in labels.members[name]}
    return labels


def _dummyjson_labels(products: list[CatalogProduct]) -> tuple[_Labels, _Labels]:
    categories, tags = _Labels("dummyjson", "category"), _Labels("dummyjson", "tag")
    brands = {(p.brand or "").strip().lower() for p in products}
    for p in products:
        if p.category:
            # The importer stores "Mens Watches"; the catalog's own key was "mens-watches".
            categories.members.setdefault(dummyjson_phrase(p.category.replace(" ", "-")), set()).add(p.product_id)
        for tag in p.attributes.get("tags") or []:
            tag = " ".join(str(tag).lower().split())
            if tag and tag not in brands:  # "apple": a brand word, not a kind of product
                tags.members.setdefault(tag, set()).add(p.product_id)
    for name in set(categories.members) & set(tags.members):
        del tags.members[name]  # already asked as a category
    return categories, tags


def _tau_labels(products: list[CatalogProduct]) -> _Labels:
    labels = _Labels("tau-bench", "type")
    for p in products:
        labels.members.setdefault(" ".join(p.name.lower().split()), set()).add(p.product_id)
    return labels


def _label_queries(labels: _Labels, total: int) -> list[JudgedQuery]:
    out = []
    for name, members in sorted(labels.members.items()):
        if name == BESTBUY_ROOT or len(members) > MAX_SHARE * total:
            continue
        out.append(JudgedQuery(name, labels.source, f"{labels.source}:{labels.kind}", {pid: 2 for pid in members},
                               frozenset(labels.unjudged.get(name, ())), label=name))
    return out


def _price_queries(items: list[JudgedQuery], by_id: dict[str, CatalogProduct]) -> list[JudgedQuery]:
    """A price-bounded twin of each query whose relevant products spread over a price range."""
    out = []
    for n, item in enumerate(items):
        prices = sorted(min(v.price for v in by_id[pid].variants) for pid in item.grades if by_id[pid].variants)
        if len(prices) < 4 or prices[0] == prices[-1]:
            continue
        template = _PRICE_TEMPLATES[n % len(_PRICE_TEMPLATES)]
        low = _round_price(prices[len(prices) // 4]) if "{lo}" in template else None
        high = _round_price(prices[(3 * len(prices)) // 4])
        if low is not None and low >= high:
            continue
        query = template.format(q=item.query, lo=_money(low), hi=_money(high))
        lo, hi = low if low is not None else 0.0, high
        grades = {pid: g for pid, g in item.grades.items() if any(lo <= v.price <= hi for v in by_id[pid].variants)}
        if grades:
            part = item.part.split(":")[0] + ":price"
            out.append(JudgedQuery(query, item.source, part, grades, item.unjudged, low, high, item.label))
    return out


def _round_price(value: float) -> float:
    return float(max(5, int(math.ceil(value / 5.0)) * 5))


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _webshop_queries(data_dir: Path, labels: list[_Labels], totals: dict[str, int]) -> list[JudgedQuery]:
    path = data_dir / WEBSHOP_QUERIES
    if not path.is_file():
        return []
    forms: dict[str, list[tuple[_Labels, str]]] = {}
    for catalog in labels:
        for name, members in catalog.members.items():
            if name == BESTBUY_ROOT or len(members) > MAX_SHARE * totals[catalog.source]:
                continue
            for form in label_forms(name):
                forms.setdefault(form, []).append((catalog, name))
    out = []
    seen: set[tuple[str, str]] = set()
    for instruction, searches in json.loads(path.read_text(encoding="utf-8")).items():
        found: dict[str, tuple[_Labels, str]] = {}
        for search in searches[:1]:  # the first human query names the product most plainly
            head = _HEAD_END.split(str(search).lower())[0]
            head = " ".join(re.sub(r"[^a-z0-9' -]", " ", head).split())
            for form in _suffixes(head):
                for catalog, name in forms.get(form, []):
                    # the longest label wins per catalog ("smartwatch bands" over "bands")
                    if catalog.source not in found or len(name) > len(found[catalog.source][1]):
                        found[catalog.source] = (catalog, name)
        query = " ".join(instruction.split())
        for source, (catalog, name) in sorted(found.items()):
            if (query, source) in seen:
                continue
            seen.add((query, source))
            out.append(JudgedQuery(query, source, "webshop:phrasing", {pid: 2 for pid in catalog.members[name]},
                                   frozenset(catalog.unjudged.get(name, ())), label=name))
    return out


def _suffixes(text: str) -> Iterable[str]:
    words = text.split()
    return (" ".join(words[n:]) for n in range(len(words)))


def build_autosets(products: Iterable[CatalogProduct], data_dir: Path | None) -> list[JudgedQuery]:
    """Every automatic query whose catalog is among `products` (none without `data_dir`)."""
    if data_dir is None:
        return []
    data_dir = Path(data_dir)
    by_source: dict[str, list[CatalogProduct]] = {}
    for p in products:
        by_source.setdefault(p.source, []).append(p)
    by_id = {p.product_id: p for group in by_source.values() for p in group}
    totals = {source: len(group) for source, group in by_source.items()}
    labels: list[_Labels] = []
    items: list[JudgedQuery] = []
    if "bestbuy" in by_source:
        bestbuy = _bestbuy_labels(by_source["bestbuy"], data_dir)
        labels.append(bestbuy)
        items.extend(_label_queries(bestbuy, totals["bestbuy"]))
    if "dummyjson" in by_source:
        for catalog in _dummyjson_labels(by_source["dummyjson"]):
            labels.append(catalog)
            items.extend(_label_queries(catalog, totals["dummyjson"]))
    if "tau-bench" in by_source:
        labels.append(_tau_labels(by_source["tau-bench"]))  # one product per type: WebShop phrasing only
    items.extend(_price_queries([i for i in items if i.part.endswith(":category")], by_id))
    items.extend(_webshop_queries(data_dir, labels, totals))
    return items
