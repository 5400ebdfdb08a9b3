"""Price bounds and "in stock" read from the shopper's words."""
from __future__ import annotations

import pytest

from retrieval.query import parse_query


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
        ("phone case, budget 50 bucks", None, 50.0, "phone case,"),
        ("my budget is $80 for a speaker", None, 80.0, "for a speaker"),
        ("headphones between 100 and 200 dollars", 100.0, 200.0, "headphones"),
    ],
)
def test_price_bounds(query: str, low: float | None, high: float | None, rest: str) -> None:
    parsed = parse_query(query)
    assert (parsed.min_price, parsed.max_price) == (low, high)
    assert parsed.text == rest
    assert parsed.constrained and not parsed.unconstrained().constrained


@pytest.mark.parametrize("query", ["dumbbells 20 lb", "8 inch skillet", "board game for 2-4 players", "size 10 running shoes", "Phone 13 case"])
def test_units_and_sizes_are_not_prices(query: str) -> None:
    parsed = parse_query(query)
    assert parsed.min_price is None and parsed.max_price is None
    assert parsed.text == query and not parsed.constrained


def test_stock_words_are_a_filter_and_leave_the_text() -> None:
    parsed = parse_query("red Stride running shoes size 10 in stock")
    assert parsed.in_stock and parsed.text == "red Stride running shoes size 10"
