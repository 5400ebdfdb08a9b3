"""Find and mask personal data: payment card numbers, CVV codes, passwords, government id numbers.

Masking happens before a message is stored, logged or shown to any model, so the raw value never
leaves `redact()`. Card numbers keep their last four digits (PCI DSS allows showing them) so a
shopper and an agent can still tell which card is meant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from policies.moderation.normalize import cjk_boundaries, clean


def _keyword_rule(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`\\b` also a boundary beside Chinese or Japanese: "我的CVV是123" (normalize.py)."""
    return re.compile(cjk_boundaries(pattern), flags)


@dataclass(frozen=True)
class PiiMatch:
    kind: str  # "card_number" | "cvv" | "password" | "gov_id"
    start: int
    end: int
    replacement: str


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_brand_ok(digits: str) -> bool:
    """Issuer prefix and length: keeps 15-digit order numbers that happen to pass Luhn from matching."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # Amex
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19  # Discover
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19  # Diners
    if two == 62:
        return 16 <= n <= 19  # UnionPay
    return False


_CARD = re.compile(r"(?<![\d])\d(?:[ \-.]?\d){12,18}(?![\d])")
_CVV_KEYWORD = _keyword_rule(
    r"\b(?:cvv2?|cvc2?|csc|cid|security code|card code|verification (?:code|value)|3[- ]digit code|code on the back)\b"
    r"[^\d\n]{0,20}?(?<!\d)(\d{3,4})(?!\d)",
    re.IGNORECASE,
)
_AFTER_CARD_CVV = re.compile(r"^[^\d\n]{0,12}(?:(?:exp\w*\s*)?\d{1,2}\s*/\s*\d{2,4}[^\d\n]{0,12})?(?<!\d)(\d{3,4})(?![\d/])")
_PASSWORD = _keyword_rule(
    r"\b(?:password|passwd|pwd|passcode|pass ?phrase|pin(?: code| number)?)\b\s*(?:is|was|=|:|-)\s*[\"']?([^\s\"']{3,64})",
    re.IGNORECASE,
)
_NOT_A_PASSWORD = {
    "not", "wrong", "incorrect", "working", "expired", "invalid", "correct", "the", "too", "being",
    "still", "case", "reset", "changed", "blocked", "locked", "forgotten", "lost", "missing", "required",
    "needed", "weak", "strong", "fine", "ok", "okay", "right", "empty", "same", "different", "new", "old",
}
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_SSN_KEYWORD = _keyword_rule(r"\b(?:ssn|social security(?: number| no\.?)?)\b[^\d\n]{0,12}(?<!\d)(\d{9})(?!\d)", re.IGNORECASE)
_NINO = _keyword_rule(r"\b(?![DFIQUV])[A-CEGHJ-PR-TW-Z](?![DFIQUVO])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_ID_KEYWORD = _keyword_rule(
    r"\b(?:passport|driver'?s? licen[cs]e|driving licen[cs]e|national id|national insurance|id card|tax id|tin|itin|ein)"
    r"(?: number| no\.?| #)?\s*(?:is|:|-|#)?\s*([A-Z0-9][A-Z0-9-]{4,19})\b",
    re.IGNORECASE,
)


def find_pii(text: str) -> list[PiiMatch]:
    """All personal-data spans in `text` (already `clean`ed), non-overlapping, in order."""
    found: list[PiiMatch] = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and _card_brand_ok(digits):
            found.append(PiiMatch("card_number", m.start(), m.end(), f"[card ****{digits[-4:]}]"))
            after = _AFTER_CARD_CVV.match(text[m.end():])
            if after:
                found.append(PiiMatch("cvv", m.end() + after.start(1), m.end() + after.end(1), "[cvv]"))
    for m in _CVV_KEYWORD.finditer(text):
        found.append(PiiMatch("cvv", m.start(1), m.end(1), "[cvv]"))
    for m in _PASSWORD.finditer(text):
        value = m.group(1).rstrip(".,;!?")
        if value.lower() in _NOT_A_PASSWORD:
            continue
        found.append(PiiMatch("password", m.start(1), m.start(1) + len(value), "[password]"))
    for pattern in (_SSN, _NINO):
        for m in pattern.finditer(text):
            found.append(PiiMatch("gov_id", m.start(), m.end(), "[id number]"))
    for pattern in (_SSN_KEYWORD, _ID_KEYWORD):
        for m in pattern.finditer(text):
            value = m.group(1)
            if any(ch.isdigit() for ch in value):  # "passport photo" is not an id number
                found.append(PiiMatch("gov_id", m.start(1), m.end(1), "[id number]"))
    # Keep the first of overlapping spans (cards before CVVs before the rest).
    found.sort(key=lambda p: (p.start, -(p.end - p.start)))
    kept: list[PiiMatch] = []
    for match in found:
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def redact(text: str) -> tuple[str, list[str]]:
    """Return (`text` with personal data masked, sorted kinds found). Unchanged text when none."""
    cleaned = clean(text)
    matches = find_pii(cleaned)
    if not matches:
        return text, []
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(cleaned[pos:m.start])
        parts.append(m.replacement)
        pos = m.end
    parts.append(cleaned[pos:])
    return "".join(parts), sorted({m.kind for m in matches})
