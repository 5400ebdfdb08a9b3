"""The grounding check: a reply states only facts the conversation's tool results hold.

Before a reply goes out:

- every number, order id, item id, user id and payment method id in it must appear in the
  conversation (shopper messages, tool results) or the store policy;
- a price named right after a product must be one of that product's prices in the tool results
  (not another product's);
- claims of an order status, of stock, or that something was done ("cancelled", "in stock",
  "refunded") must be words the tool results use.

A reply that fails is replaced by a safe phrasing. The language model's own words are checked as
they stream (`StreamGuard`): the model is stopped before an unsupported word reaches the shopper.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

TOKENS = re.compile(r"#W\d+|\b[a-z]+_[a-z]+_\d+\b|\b(?:credit_card|gift_card|paypal)_\d+\b|\d[\d,]*(?:\.\d+)?")
MONEY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
CLAIMS = re.compile(
    r"\b(pending|processed|delivered|shipped|cancell?ed|refunded|returned|exchanged|in stock|out of stock|sold out|"
    r"available|unavailable|updated|modified|completed|done)\b",
    re.I,
)


@lru_cache(maxsize=8192)  # the policy text and earlier messages come back every turn
def _numbers(text: str) -> frozenset[str]:
    out = set()
    for token in TOKENS.findall(text):
        out.add(token)
        plain = token.replace(",", "")
        out.add(plain)
        try:
            value = float(plain)
        except ValueError:
            continue
        out.add(f"{value:.2f}")
        out.add(str(value))
    return frozenset(out)


def known_tokens(messages: list[dict[str, Any]], extra_texts: list[str] = ()) -> set[str]:  # type: ignore[assignment]
    known: set[str] = set()
    for m in messages:
        if m.get("role") in ("user", "tool") and m.get("content"):
            known |= _numbers(str(m["content"]))
        for call in m.get("tool_calls") or []:
            known |= _numbers(str(call.get("function", {}).get("arguments", "")))
    for text in extra_texts:
        known |= _numbers(text)
    return known


def _candidates(token: str) -> set[str]:
    plain = token.replace(",", "").rstrip(".")
    out = {token, plain}
    try:
        out.add(f"{float(plain):.2f}")
        out.add(str(float(plain)))
    except ValueError:
        pass
    return out


def _walk_prices(value: Any, out: dict[str, set[float]]) -> None:
    """{product name (lower case): its prices} from any tool result's JSON."""
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str):
            prices = out.setdefault(name.lower(), set())
            if isinstance(value.get("price"), (int, float)):
                prices.add(round(float(value["price"]), 2))
            variants = value.get("variants")
            for v in (variants.values() if isinstance(variants, dict) else variants or []):
                if isinstance(v, dict) and isinstance(v.get("price"), (int, float)):
                    prices.add(round(float(v["price"]), 2))
        for child in value.values():
            if isinstance(child, (dict, list)):
                _walk_prices(child, out)
    elif isinstance(value, list):
        for child in value:
            _walk_prices(child, out)


@lru_cache(maxsize=2048)
def _prices_in(text: str) -> tuple[tuple[str, frozenset[float]], ...]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return ()
    out: dict[str, set[float]] = {}
    _walk_prices(value, out)
    return tuple((k, frozenset(v)) for k, v in out.items())


def product_prices(messages: list[dict[str, Any]]) -> dict[str, set[float]]:
    out: dict[str, set[float]] = {}
    for m in messages:
        if m.get("role") == "tool" and str(m.get("content") or "")[:1] in "{[":
            for name, prices in _prices_in(str(m["content"])):
                out.setdefault(name, set()).update(prices)
    return out


def mismatched_prices(reply: str, messages: list[dict[str, Any]]) -> list[str]:
    """Prices that follow a product's name in the reply but are not that product's."""
    prices = product_prices(messages)
    if not prices:
        return []
    low = reply.lower()
    spots = sorted((low.find(name), name) for name in prices if name and low.find(name) >= 0)
    bad = []
    for n, (at, name) in enumerate(spots):
        end = spots[n + 1][0] if n + 1 < len(spots) else len(reply)
        money = MONEY.search(reply, at + len(name), min(end, at + len(name) + 80))
        if money and prices[name]:
            value = round(float(money.group(1).replace(",", "")), 2)
            if value not in prices[name]:
                bad.append(money.group(0))
    return bad


@lru_cache(maxsize=4096)
def _claim_words(text: str) -> frozenset[str]:
    return frozenset(w.lower().replace("canceled", "cancelled") for w in CLAIMS.findall(text))


def supported_claims(messages: list[dict[str, Any]]) -> set[str]:
    """Claim words the tool results support (the store policy supports none: "refunds take 5 to
    7 days" says nothing about this shopper's order)."""
    words: set[str] = set()
    for m in messages:
        if m.get("role") == "tool":
            text = str(m.get("content") or "")
            words |= _claim_words(text)
            if '"available": true' in text:
                words |= {"available", "in stock"}
            if '"available": false' in text:
                words |= {"unavailable", "out of stock", "sold out"}
            if not text.startswith("Error") and m.get("name") not in (None, "get_order_details", "get_user_details", "get_product_details"):
                words |= {"done", "completed", "updated", "modified"}
    return words


def ungrounded(reply: str, messages: list[dict[str, Any]], extra_texts: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """The numbers and ids in `reply` that the conversation does not contain, and the prices
    that belong to another product than the one they follow."""
    bad: list[str] = []
    tokens = TOKENS.findall(reply)
    if tokens:
        known = known_tokens(messages, extra_texts)
        bad = [token for token in tokens if not _candidates(token) & known]
    return bad + mismatched_prices(reply, messages)


def unsupported_claims(text: str, messages: list[dict[str, Any]]) -> list[str]:
    """Status, stock and "done" words in free text that no tool result supports."""
    said = _claim_words(text)
    if not said:
        return []
    return sorted(said - supported_claims(messages))


class StreamGuard:
    """Checks the model's own words as they stream, a word at a time: `check(piece)` is False
    (stop the model) once the text holds a number, an id or a claim the conversation does not."""

    def __init__(self, messages: list[dict[str, Any]], extra_texts: list[str] = ()) -> None:  # type: ignore[assignment]
        self.messages = list(messages)
        self.extra = list(extra_texts)
        self.text = ""

    def check(self, piece: str) -> bool:
        candidate = self.text + piece
        if ungrounded(candidate, self.messages, self.extra) or unsupported_claims(candidate, self.messages):
            return False
        self.text = candidate
        return True
