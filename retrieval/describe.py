"""Shopper-facing product descriptions written from the product's own attributes, and the check
that keeps them grounded.

`compose_description` fills sentence templates (several phrasings, picked per product so a page
of products does not read like a form) with the product's name, brand, category, option values,
prices and stock. `check_grounded` is the guard for any writer, templates or a trained model: a
number, a price, an option value, a colour or material, a brand, or a stock claim that the text
states must be found in the product's data, else the text is rejected.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass

from retrieval.catalog import CatalogProduct
from retrieval.query import Vocabulary, normalise

# Words a description could claim without them being option values of this catalog.
COMMON_ATTRIBUTE_WORDS = frozenset(
    """black white grey gray silver gold rose red blue navy green yellow orange purple pink brown beige teal cream tan
    clear transparent leather wool cotton polyester nylon silk linen bamboo steel aluminum aluminium titanium glass
    ceramic plastic rubber wood wooden oak walnut marble cork canvas denim suede velvet fleece foam waterproof
    wireless bluetooth cordless rechargeable organic vegan""".split()
)
_NUMBER = re.compile(r"(?<![\w.])\$?(\d+(?:,\d{3})*(?:\.\d+)?)")
_IN_STOCK_CLAIM = re.compile(r"\b(in stock|ships? now|available now)\b")
_OUT_CLAIM = re.compile(r"\b(out of stock|sold out|unavailable)\b")


def _join(values: list[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " or " + values[-1]


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _pick(product_id: str, salt: str, n: int) -> int:
    return int(hashlib.sha1(f"{product_id}:{salt}".encode()).hexdigest(), 16) % n


def _natural(value: str) -> tuple[float, str]:
    match = re.match(r"\d+(?:\.\d+)?", value)
    return (float(match.group(0)) if match else math.inf, value.lower())


def option_values(product: CatalogProduct) -> dict[str, list[str]]:
    """Each option's distinct values, in natural order (7, 9, 10; large, medium, small)."""
    out: dict[str, list[str]] = {}
    for v in product.variants:
        for name, value in v.options.items():
            values = out.setdefault(name, [])
            if str(value) not in values:
                values.append(str(value))
    return {name: sorted(values, key=_natural) for name, values in out.items()}


def compose_description(product: CatalogProduct) -> str:
    """A few sentences from attributes only; every value in it comes from `product`."""
    pid = product.product_id
    path = product.category_path
    leaf = path[-1] if path else None
    name, brand = product.name, product.brand
    intros = []
    if brand and leaf:
        intros = [
            f"From {brand}: the {name}, part of our {leaf} range.",
            f"{name} by {brand}, from our {' > '.join(path)} aisle.",
            f"Meet the {name} from {brand}, one of our picks in {leaf}.",
        ]
    elif brand:
        intros = [f"The {name}, made by {brand}.", f"{name} from {brand}."]
    elif leaf:
        intros = [f"The {name}, part of our {leaf} range.", f"{name}, from our {' > '.join(path)} aisle."]
    else:
        intros = [f"Here is our {name}.", f"This is our {name}."]
    sentences = [intros[_pick(pid, "intro", len(intros))]]

    options = option_values(product)
    booleans = [n for n, vals in options.items() if set(v.lower() for v in vals) <= {"yes", "no"}]
    choices = {n: vals for n, vals in options.items() if n not in booleans}
    if choices:
        parts = [f"{n} ({_join(vals)})" if len(vals) > 1 else f"{n} {vals[0]}" for n, vals in choices.items()]
        forms = [
            "You can choose " + "; ".join(parts) + ".",
            "It comes in several versions: " + "; ".join(parts) + ".",
            "Options: " + "; ".join(parts) + ".",
        ]
        sentences.append(forms[_pick(pid, "options", len(forms))])
    for n in booleans:
        vals = {v.lower() for v in options[n]}
        if vals == {"yes", "no"}:
            sentences.append(f"Choose a version with or without the {n} option.")
        elif vals == {"yes"}:
            sentences.append(f"Every version has the {n} option.")

    prices = sorted(v.price for v in product.variants)
    if prices:
        if prices[0] == prices[-1]:
            forms = [f"It costs {_money(prices[0])}.", f"The price is {_money(prices[0])}."]
        else:
            forms = [
                f"Prices run from {_money(prices[0])} to {_money(prices[-1])}.",
                f"Prices start at {_money(prices[0])} and go up to {_money(prices[-1])}.",
            ]
        sentences.append(forms[_pick(pid, "price", len(forms))])
    available = [v.available for v in product.variants]
    if available:
        if all(available):
            sentences.append("Every version is in stock." if len(available) > 1 else "It is in stock.")
        elif any(available):
            sentences.append("Some versions are sold out; the others are in stock.")
        else:
            sentences.append("It is sold out at the moment.")
    return " ".join(sentences)


def product_facts(product: CatalogProduct) -> str:
    """Every value the product's data states, as one normalised text (for grounding checks)."""
    parts: list[str] = [product.name, product.brand or "", product.category or "", product.description or ""]
    parts.append(json.dumps(product.attributes, ensure_ascii=False))
    for v in product.variants:
        parts.extend(str(k) for k in v.options)
        parts.extend(str(x) for x in v.options.values())
    return normalise(" ".join(parts))


@dataclass(frozen=True)
class GroundingProblem:
    kind: str  # number | price | term | stock
    value: str

    def __str__(self) -> str:
        return f"{self.kind} {self.value!r} is not in the product data"


def check_grounded(text: str, product: CatalogProduct, vocabulary: Vocabulary | None = None) -> list[GroundingProblem]:
    """What `text` states that `product`'s data does not support (empty when grounded).

    Checked: every number (a price must equal some variant's price; other numbers must occur in
    the data), every catalog option value, brand, colour or material word, and stock claims.
    """
    problems: list[GroundingProblem] = []
    facts = product_facts(product)
    fact_numbers = {float(n.replace(",", "")) for n in _NUMBER.findall(facts)}
    prices = {round(v.price, 2) for v in product.variants}
    for match in _NUMBER.finditer(text):
        number = float(match.group(1).replace(",", ""))
        if match.group(0).startswith("$"):
            if round(number, 2) not in prices:
                problems.append(GroundingProblem("price", match.group(0)))
        elif number not in fact_numbers and round(number, 2) not in prices:
            problems.append(GroundingProblem("number", match.group(1)))

    norm = normalise(text)
    terms = set(COMMON_ATTRIBUTE_WORDS)
    if vocabulary is not None:
        terms |= {v for v in vocabulary.values if len(v) >= 3 and not v.isdigit() and v not in ("yes", "no")}
        terms |= set(vocabulary.brands)
    for term in sorted(terms):
        pattern = rf"(?<!\w){re.escape(term)}(?!\w)"
        if re.search(pattern, norm) and not re.search(pattern, facts):
            problems.append(GroundingProblem("term", term))

    available = [v.available for v in product.variants]
    claims_in = _IN_STOCK_CLAIM.search(norm)
    claims_out = _OUT_CLAIM.search(norm)
    if claims_in and available and not any(available):
        problems.append(GroundingProblem("stock", claims_in.group(0)))
    if claims_out and available and all(available):
        problems.append(GroundingProblem("stock", claims_out.group(0)))
    return problems


class UngroundedDescription(ValueError):
    def __init__(self, product_id: str, problems: list[GroundingProblem]) -> None:
        super().__init__(f"description of {product_id} is not grounded: " + "; ".join(str(p) for p in problems))
        self.problems = problems


def grounded_description(product: CatalogProduct, vocabulary: Vocabulary | None = None) -> str:
    """The template description, checked; raises `UngroundedDescription` if the check fails."""
    text = compose_description(product)
    problems = check_grounded(text, product, vocabulary)
    if problems:
        raise UngroundedDescription(product.product_id, problems)
    return text
