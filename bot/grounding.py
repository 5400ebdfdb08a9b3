"""The grounding check: a reply may only state numbers and ids that appear in the conversation.

Before a reply goes out, every number, order id, item id, user id and payment method id in it is
looked up in the conversation (shopper messages, tool results) and the store policy text. Any
that is not found makes the reply unsafe; the engine then sends a safe phrasing instead.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

TOKENS = re.compile(r"#W\d+|\b[a-z]+_[a-z]+_\d+\b|\b(?:credit_card|gift_card|paypal)_\d+\b|\d[\d,]*(?:\.\d+)?")
SAFE_REPLY = "Let me make sure I get this right. Could you tell me a bit more about what you need?"


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


def ungrounded(reply: str, messages: list[dict[str, Any]], extra_texts: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """The numbers and ids in `reply` that the conversation does not contain."""
    tokens = TOKENS.findall(reply)
    if not tokens:
        return []
    known = known_tokens(messages, extra_texts)
    bad = []
    for token in tokens:
        plain = token.replace(",", "").rstrip(".")
        candidates = {token, plain}
        try:
            candidates.add(f"{float(plain):.2f}")
            candidates.add(str(float(plain)))
        except ValueError:
            pass
        if not candidates & known:
            bad.append(token)
    return bad
