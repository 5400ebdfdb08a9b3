"""Filters read from the shopper's words."""
from __future__ import annotations

import pytest

from bot.store.generate import generate_store
from retrieval.catalog import product_from_dict
from retrieval.query import Vocabulary, parse_query


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_products([product_from_dict(p, "demo") for p in generate_store(7, 5).products.values()])


@pytest.mark.parametrize(
    ("query", "low", "high", "rest"),
    [
        ("cheap prepaid phone under $50", None, 50.0, "cheap prepaid phone"),
        ("yoga mat between 20 and 40 dollars", 20.0, 40.0, "yoga mat"),
        ("desk lamp $15-$30", 15.0, 30.0, "desk lamp"),
        ("headphones $100 or less", None, 100.0, "headphones"),
        ("tent over $150", 150.0, None, "tent"),
        ("coffee maker around 60 dollars", 48.0, 72.0, "coffee maker"),
        ("less than 25 bucks for socks", None, 25.0, "for socks"),
    ],
)
def test_price_bounds(vocab: Vocabulary, query: str, low: float | None, high: float | None, rest: str) -> None:
    parsed = parse_query(query, vocab)
    assert (parsed.min_price, parsed.max_price) == (low, high)
    assert parsed.text == rest


@pytest.mark.parametrize("query", ["dumbbells 20 lb", "8 inch skillet", "board game for 2-4 players", "size 10 running shoes", "Phone 13 case"])
def test_units_and_sizes_are_not_prices(vocab: Vocabulary, query: str) -> None:
    parsed = parse_query(query, vocab)
    assert parsed.min_price is None and parsed.max_price is None


def test_options_brand_and_stock(vocab: Vocabulary) -> None:
    parsed = parse_query("red Stride running shoes size 10 wide in stock", vocab)
    assert parsed.in_stock
    assert parsed.brands == ["Stride"]
    assert parsed.options["color"] == {"red"}
    assert parsed.options["size"] == {"10"}
    assert parsed.options["width"] == {"wide"}
    assert "in stock" not in parsed.text


def test_short_values_need_their_option_name(vocab: Vocabulary) -> None:
    assert parse_query("hoodie size M", vocab).options.get("size") == {"M"}
    assert "size" not in parse_query("a hoodie for 10 people", vocab).options


def test_yes_no_options_and_negation(vocab: Vocabulary) -> None:
    assert parse_query("clicky keyboard", vocab).options == {"switch type": {"clicky"}}
    assert parse_query("waterproof speaker", vocab).options["waterproof"] == {"yes"}
    assert parse_query("boots, not waterproof", vocab).options["waterproof"] == {"no"}


def test_candidate_phrases_find_what_testing_every_phrase_finds(vocab: Vocabulary) -> None:
    """A query tests only the brands and option values whose phrase starts with one of its words;
    that finds exactly what testing the whole vocabulary does, including brands written with
    digits, symbols and accents."""
    from retrieval.query import _phrase, normalise

    odd = Vocabulary.from_products([product_from_dict(p, "demo") for p in generate_store(7, 5).products.values()])
    odd.brands.update({normalise(b): b for b in ["3M", "AT&T", "+Plus Gear", "Crème Brûlée Co", "x"]})
    queries = [
        "red running shoes size 10", "3m tape", "at&t phone case", "+plus gear backpack", "crème brûlée co mug",
        "navy blue hoodie size m", "a large black tent", "x", "", "waterproof speaker from 3M or AT&T",
    ]
    for v in (vocab, odd):
        for query in queries:
            text = normalise(query)
            every_brand = [b for norm, b in v.brands.items() if len(norm) >= 2 and _phrase(text, norm)]
            every_option = [(n, w) for n, w, phrases in v.option_checks() if any(_phrase(text, p) for p in phrases)]
            brands, checks = v.candidates(text)
            assert [b for norm, b in brands if len(norm) >= 2 and _phrase(text, norm)] == every_brand, query
            assert [(n, w) for n, w, phrases in checks if any(_phrase(text, p) for p in phrases)] == every_option, query
            assert parse_query(query, v).brands == every_brand
    assert parse_query("waterproof speaker from 3M or AT&T", odd).brands == ["3M", "AT&T"]
