"""Structured filters read from a shopper's words: price bounds, stock, brand and option values.

`parse_query("red hoodie size M under $50 in stock", vocab)` gives max_price=50, in_stock=True,
option hints {color: red, size: M}, and the text left for retrieval ("red hoodie size M").
Price and stock are hard constraints (the shopper said so); brands and options read from text are
hints that rank matching products and variants first, because a brand word is often the device a
product is *for* ("case for samsung galaxy"), not its maker.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.catalog import CatalogProduct

# Option values too common or too vague to be read from free text on their own.
_VAGUE_VALUES = frozenset(
    "yes no none right left regular standard single normal one set pack type style other n/a na default".split()
)
_UNITS = (
    r"(?:lbs?|pounds?|inch(?:es)?|in|mm|cm|m|l|ml|qt|ft|feet|w|watts?|gb|tb|mb|mah|pieces?|pcs|players?|person|people|"
    r"h|hours?|hrs?|oz|g|kg|packs?|cups?|lumens?|f|k|p|x|mp|megapixels?|years?|months?|days?|%)"
)
_NUM = r"(\d+(?:[.,]\d{1,2})?)"
_CUR = r"(?:dollars?|bucks|usd)"
_MONEY = rf"(\$\s*{_NUM}|{_NUM}\s*{_CUR}|{_NUM}(?!\s*{_UNITS}\b)(?![\d.]))"
_MAX_WORDS = r"under|below|less than|cheaper than|at most|max(?:imum)?|up to|no more than|not more than|within|<=?"
_MIN_WORDS = r"over|above|more than|at least|min(?:imum)?|starting at|>=?"
_RANGE = re.compile(
    rf"(?:\b(?:between|from)\s*)?(\$\s*{_NUM}|(?<![\w.]){_NUM})\s*{_CUR}?\s*(?:-|–|to|and)\s*(\$\s*{_NUM}|{_NUM})\s*{_CUR}?(?!\s*{_UNITS}\b)",
    re.I,
)
_MAX = re.compile(rf"\b(?:{_MAX_WORDS})\s*{_MONEY}", re.I)
_MAX_AFTER = re.compile(rf"(\$\s*{_NUM}|{_NUM}\s*{_CUR})\s*(?:or less|or under|or cheaper|max|and under|tops)\b", re.I)
_MIN = re.compile(rf"\b(?:{_MIN_WORDS})\s*{_MONEY}", re.I)
_AROUND = re.compile(rf"\b(?:around|about|roughly|approximately|~)\s*(\$\s*{_NUM}|{_NUM}\s*{_CUR})", re.I)
_BARE_DOLLARS = re.compile(rf"(\$\s*{_NUM}|{_NUM}\s*{_CUR})", re.I)
_STOCK = re.compile(r"\b(?:in[\s-]stock|available (?:now|today|right now)|ships? (?:now|today)|can ship now)\b", re.I)
_NEGATION = re.compile(r"(?:\bno|\bnot|\bnon|\bwithout)[\s-]+$", re.I)


def _amount(text: str) -> float:
    return float(re.sub(r"[^\d.,]", "", text).replace(",", "."))


def normalise(text: str) -> str:
    """Lower case, hyphens and slashes as spaces, single spaces (for phrase matching)."""
    return " ".join(re.sub(r"[-_/]", " ", text.lower()).split())


@dataclass
class Vocabulary:
    """What the catalog calls things: brands, option names, option values."""

    brands: dict[str, str] = field(default_factory=dict)  # normalised -> as written
    values: dict[str, set[str]] = field(default_factory=dict)  # normalised value -> option names
    value_forms: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, normalised value) -> as written
    boolean_names: set[str] = field(default_factory=set)  # options whose values are yes/no
    names: set[str] = field(default_factory=set)
    _checks: list[tuple[str, str, tuple[str, ...]]] | None = field(default=None, init=False, repr=False, compare=False)
    _by_word: tuple[list[tuple[str, str]], dict[str, list[int]], dict[str, list[int]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def option_checks(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(option name, value as written, phrases that name it in a query), worked out once per
        vocabulary: a query then only tests the phrases. Short values ("M", "10") count only next
        to their option name ("size M", "M size"); vague values and yes/no options are left out."""
        if self._checks is None:
            checks = []
            for norm, names in self.values.items():
                if norm in _VAGUE_VALUES:
                    continue
                short = len(norm) < 3 or re.fullmatch(r"\d{1,2}", norm) is not None
                for name in sorted(names - self.boolean_names):
                    phrases = (f"{normalise(name)} {norm}", f"{norm} {normalise(name)}") if short else (norm,)
                    checks.append((name, self.value_forms[(name, norm)], phrases))
            self._checks = checks
        return self._checks

    def candidates(self, text: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, tuple[str, ...]]]]:
        """The brands (normalised, as written) and option checks that can occur in the normalised
        query `text`, in vocabulary order: those whose phrase starts with a word of the text. A
        phrase found at a word boundary starts with a whole word of the text, so this leaves out
        only entries `_phrase` would reject; a query then tests a handful of phrases instead of
        every brand and option value of the catalog."""
        if self._by_word is None:  # worked out once per vocabulary, like option_checks
            brand_list = list(self.brands.items())
            brands: dict[str, list[int]] = {}
            for n, (norm, _written) in enumerate(brand_list):
                brands.setdefault(_first_word(norm), []).append(n)
            checks: dict[str, list[int]] = {}
            for n, (_name, _written, phrases) in enumerate(self.option_checks()):
                for phrase in phrases:
                    checks.setdefault(_first_word(phrase), []).append(n)
            self._by_word = (brand_list, brands, checks)
        brand_list, brands, checks = self._by_word
        check_list = self.option_checks()
        words = set(_WORD.findall(text)) | {""}  # "": phrases that do not start with a word
        brand_rows = sorted({n for w in words for n in brands.get(w, ())})
        check_rows = sorted({n for w in words for n in checks.get(w, ())})
        return [brand_list[n] for n in brand_rows], [check_list[n] for n in check_rows]

    @classmethod
    def from_products(cls, products: list[CatalogProduct]) -> "Vocabulary":
        vocab = cls()
        values_by_name: dict[str, set[str]] = {}
        for p in products:
            if p.brand:
                vocab.brands.setdefault(normalise(p.brand), p.brand)
            for v in p.variants:
                for name, value in v.options.items():
                    norm = normalise(str(value))
                    values_by_name.setdefault(name, set()).add(norm)
                    vocab.values.setdefault(norm, set()).add(name)
                    vocab.value_forms.setdefault((name, norm), str(value))
        vocab.names = set(values_by_name)
        vocab.boolean_names = {n for n, vals in values_by_name.items() if vals <= {"yes", "no"}}
        return vocab


@dataclass
class ParsedQuery:
    text: str  # what is left for retrieval (price and stock phrases removed)
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool = False
    brands: list[str] = field(default_factory=list)  # brands named in the text (hints)
    options: dict[str, set[str]] = field(default_factory=dict)  # option name -> wanted values (hints)

    def describe(self) -> dict:
        return {
            "min_price": self.min_price,
            "max_price": self.max_price,
            "in_stock": self.in_stock,
            "brands": self.brands,
            "options": {k: sorted(v) for k, v in self.options.items()},
        }


_WORD = re.compile(r"\w+")


def _first_word(phrase: str) -> str:
    """The word a phrase starts with ("" when it starts with anything else)."""
    match = _WORD.match(phrase)
    return match.group(0) if match else ""


def _phrase(text: str, phrase: str) -> re.Match[str] | None:
    # A plain substring test first: almost every vocabulary entry is absent from a short query,
    # and this skips compiling (and caching) a regex for each (0.7 ms of a 1 ms parse).
    if phrase not in text:
        return None
    return re.search(rf"(?<![\w$]){re.escape(phrase)}(?!\w)", text)


def parse_query(query: str, vocab: Vocabulary | None = None) -> ParsedQuery:
    vocab = vocab or Vocabulary()
    parsed = ParsedQuery(text=query)
    rest = query

    def cut(match: re.Match[str]) -> None:
        nonlocal rest
        rest = rest.replace(match.group(0), " ", 1)

    match = _RANGE.search(rest)
    if match and ("$" in match.group(0) or re.search(_CUR, match.group(0), re.I) or re.match(r"\s*(between|from)", match.group(0), re.I)):
        low, high = sorted((_amount(match.group(1)), _amount(match.group(4))))
        parsed.min_price, parsed.max_price = low, high
        cut(match)
    else:
        for pattern, kind in ((_MAX, "max"), (_MAX_AFTER, "max"), (_MIN, "min"), (_AROUND, "around")):
            match = pattern.search(rest)
            if not match:
                continue
            value = _amount(match.group(1))
            if kind == "max":
                parsed.max_price = value
            elif kind == "min":
                parsed.min_price = value
            else:
                parsed.min_price, parsed.max_price = round(value * 0.8, 2), round(value * 1.2, 2)
            cut(match)
        if parsed.min_price is None and parsed.max_price is None:
            match = _BARE_DOLLARS.search(rest)  # "a $30 phone case": about that much
            if match:
                value = _amount(match.group(1))
                parsed.min_price, parsed.max_price = round(value * 0.7, 2), round(value * 1.15, 2)
                cut(match)
    match = _STOCK.search(rest)
    if match:
        parsed.in_stock = True
        cut(match)
    parsed.text = " ".join(rest.split()) or query

    text = normalise(parsed.text)
    brands, checks = vocab.candidates(text)
    for norm, brand in brands:
        if len(norm) >= 2 and _phrase(text, norm):
            parsed.brands.append(brand)
    for name, written, phrases in checks:
        if any(_phrase(text, phrase) for phrase in phrases):
            parsed.options.setdefault(name, set()).add(written)
    for name in vocab.boolean_names:
        found = _phrase(text, normalise(name))
        if found:
            negated = _NEGATION.search(text[: found.start()]) is not None
            parsed.options.setdefault(name, set()).add("no" if negated else "yes")
    return parsed
