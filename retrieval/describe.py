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
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from retrieval.catalog import CatalogProduct
from retrieval.query import Vocabulary, normalise

log = logging.getLogger(__name__)

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
    return " ".join([intro_sentence(product), *fact_sentences(product)])


def intro_sentence(product: CatalogProduct) -> str:
    """Name, brand and category in one of a few phrasings (picked per product)."""
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
    return intros[_pick(pid, "intro", len(intros))]


def fact_sentences(product: CatalogProduct, *, price: bool = True) -> list[str]:
    """Options, prices and stock as sentences (what a writer that only knows the lead adds)."""
    pid = product.product_id
    sentences: list[str] = []
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
    if prices and price:
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
    return sentences


def maker_sentence(product: CatalogProduct, lead: str) -> list[str]:
    """Brand and category, when a written lead left them out."""
    leaf = product.category_path[-1] if product.category_path else None
    has_brand = not product.brand or product.brand.lower() in lead.lower()
    has_leaf = not leaf or leaf.lower() in lead.lower()
    if has_brand and has_leaf:
        return []
    if not has_brand and not has_leaf:
        return [f"It is made by {product.brand}, in our {leaf} range."]
    return [f"It is made by {product.brand}."] if not has_brand else [f"It is in our {leaf} range."]


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
        if term not in norm:  # a plain substring test first: most of the vocabulary is not in the text
            continue
        pattern = _term_pattern(term)
        if pattern.search(norm) and not pattern.search(facts):
            problems.append(GroundingProblem("term", term))

    available = [v.available for v in product.variants]
    claims_in = _IN_STOCK_CLAIM.search(norm)
    claims_out = _OUT_CLAIM.search(norm)
    if claims_in and available and not any(available):
        problems.append(GroundingProblem("stock", claims_in.group(0)))
    if claims_out and available and all(available):
        problems.append(GroundingProblem("stock", claims_out.group(0)))
    return problems


@lru_cache(maxsize=8192)
def _term_pattern(term: str) -> re.Pattern[str]:
    """`term` as a whole word or phrase (a catalog vocabulary has more terms than `re` caches)."""
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)")


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


# --- the trained describer and the path that produced each description ------------------------

_WORDS = re.compile(r"[a-z][a-z0-9']*")  # numbers are check_grounded's


def unsupported_words(text: str, product: CatalogProduct) -> list[GroundingProblem]:
    """Words of `text` that neither the product's data nor the generic word list contain.

    The stricter check for written (not composed) text: a model or an LLM backend must not add a
    feature word ("waterproof", "AMOLED", "lightweight") the product data does not state.
    """
    from retrieval.describe_model import GENERIC_WORDS

    facts = set(_WORDS.findall(product_facts(product))) | set(_WORDS.findall(normalise(" ".join(product.category_path))))
    out: list[GroundingProblem] = []
    for word in dict.fromkeys(_WORDS.findall(normalise(text))):
        if word not in facts and word not in GENERIC_WORDS and word not in _COMPOSED_WORDS:
            out.append(GroundingProblem("word", word))
    return out


# The words of our own fact sentences (appended to a model's lead): options, prices, stock.
_COMPOSED_WORDS = frozenset(
    "you can choose it comes in several versions options choose a version with or without the option every has "
    "prices run from to start at and go up costs price is in stock some are sold out others at moment "
    "made by our range".split()
)


def model_text_problems(text: str, product: CatalogProduct, vocabulary: Vocabulary | None = None) -> list[GroundingProblem]:
    """The grounding check for written text: `check_grounded` plus `unsupported_words`."""
    return check_grounded(text, product, vocabulary) + unsupported_words(text, product)


@dataclass(frozen=True)
class Description:
    text: str
    path: str  # "model" (trained describer's lead + fact sentences), "llm" (a configured writer), "composed"
    note: str = ""  # why a writer's text was not used, when it was not


def variant_view(product: CatalogProduct, item_id: str) -> CatalogProduct:
    """The product as one variant: its options and price only. KeyError when the item is not in it."""
    from dataclasses import replace

    variant = next((v for v in product.variants if v.item_id == item_id), None)
    if variant is None:
        raise KeyError(item_id)
    return replace(product, variants=[variant])


class Describer:
    """Writes a grounded description per product (and per variant), caching each.

    Order: a configured `writer` (an LLM backend: product -> text), else the trained describer
    model, else the attribute composition. Any written text that fails `model_text_problems` is
    replaced by the composition, and the `Description` says which path produced it and why.
    """

    def __init__(
        self,
        model: Any = None,
        vocabulary: Vocabulary | None = None,
        writer: Callable[[CatalogProduct], str] | None = None,
        model_dir: Path | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.writer = writer
        self.model_dir = model_dir  # loaded on first use when it holds a trained describer
        self._model = model
        self._loaded = model is not None or model_dir is None
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str | None, str], Description] = {}

    @property
    def model(self) -> Any:
        """The trained describer, loaded once from `model_dir`; None when there is none."""
        with self._lock:
            if not self._loaded:
                self._loaded = True
                if self.model_dir is not None and (Path(self.model_dir) / "model.pt").is_file():
                    from retrieval.describe_model import DescriberModel

                    try:
                        self._model = DescriberModel.load(Path(self.model_dir))
                        log.info("product describer loaded from %s", self.model_dir)
                    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
                        # an unreadable or incompatible model must not take descriptions down
                        log.warning("product describer in %s not usable (%s); composing from attributes", self.model_dir, exc)
            return self._model

    def describe(self, product: CatalogProduct, item_id: str | None = None) -> Description:
        """The description of `product`, or of its variant `item_id` (KeyError if not its variant)."""
        target = variant_view(product, item_id) if item_id else product
        key = (product.product_id, item_id, target.content_hash())  # a changed product is written again
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._write(target)
        return hit

    def _write(self, product: CatalogProduct) -> Description:
        notes: list[str] = []
        for path, write in (("llm", self._llm_text), ("model", self._model_text)):
            text = write(product)
            if text is None:
                if path == "model" and self.model is not None:
                    notes.append("model text unfinished or below its fluency bar")
                continue
            problems = model_text_problems(text, product, self.vocabulary)
            if not problems:
                return Description(text, path)
            notes.append(f"{path} text rejected: " + "; ".join(map(str, problems)))
            log.info("description of %s: %s", product.product_id, notes[-1])
        return Description(grounded_description(product, self.vocabulary), "composed", " | ".join(notes))

    def _llm_text(self, product: CatalogProduct) -> str | None:
        return self.writer(product) if self.writer is not None else None

    def _model_text(self, product: CatalogProduct) -> str | None:
        if self.model is None:
            return None
        lead = self.model.generate(product)
        if lead is None:
            return None
        return " ".join([lead, *maker_sentence(product, lead), *fact_sentences(product, price="$" not in lead)])
