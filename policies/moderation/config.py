"""Categories, the action each one triggers, and the score at which it fires.

Change behaviour here (or pass your own `ModerationConfig` to `ShopModerator`), not in the code
that computes scores. Thresholds for the classifier categories apply to the trained model's
"unsafe" probability (`scores["unsafe"]`); the trained model's sidecar JSON may override
`unsafe_threshold` with a value picked on its own training data.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

PolicyAction = Literal["allow", "redact", "block", "flag", "support"]

# The OpenAI moderation taxonomy, keyed by the short codes used in its data release.
OPENAI_CODES: dict[str, str] = {
    "S": "sexual",
    "H": "hate",
    "V": "violence",
    "HR": "harassment",
    "SH": "self-harm",
    "S3": "sexual/minors",
    "H2": "hate/threatening",
    "V2": "violence/graphic",
}
CLASSIFIER_CATEGORIES: tuple[str, ...] = tuple(OPENAI_CODES.values())
RULE_CATEGORIES: tuple[str, ...] = ("spam", "prompt_injection")
PII_CATEGORIES: tuple[str, ...] = ("pii/card_number", "pii/cvv", "pii/password", "pii/gov_id")
ALL_CATEGORIES: tuple[str, ...] = CLASSIFIER_CATEGORIES + RULE_CATEGORIES + PII_CATEGORIES


@dataclass(frozen=True)
class CategoryPolicy:
    action: PolicyAction
    threshold: float = 0.5  # the score at or above which the category fires


def _default_policies() -> dict[str, CategoryPolicy]:
    block = CategoryPolicy("block")
    return {
        "sexual": block,
        "hate": block,
        "violence": block,
        "harassment": block,
        "self-harm": CategoryPolicy("support"),
        "sexual/minors": CategoryPolicy("block", 0.3),
        "hate/threatening": block,
        "violence/graphic": block,
        "spam": CategoryPolicy("block", 0.6),
        "prompt_injection": CategoryPolicy("block"),
        "pii/card_number": CategoryPolicy("redact"),
        "pii/cvv": CategoryPolicy("redact"),
        "pii/password": CategoryPolicy("redact"),
        "pii/gov_id": CategoryPolicy("redact"),
    }


# What the shopper is told, as keys of the message catalog (bot/locales/*.json: English there is
# the source text, every other language our own translation of it).
BLOCK_REPLY_KEYS: dict[str, str] = {"prompt_injection": "moderation_prompt_injection", "spam": "moderation_spam"}
DEFAULT_BLOCK_REPLY_KEY = "moderation_blocked"
SUPPORT_REPLY_KEY = "moderation_support"


@dataclass(frozen=True)
class ModerationConfig:
    policies: dict[str, CategoryPolicy] = field(default_factory=_default_policies)
    # The trained model's "any category unsafe" probability must reach this for a classifier
    # category to fire; the category named is the one the per-category heads rank highest.
    unsafe_threshold: float = 0.5
    # Fallback mode (no trained model): the bundled offensive-language model's probability.
    offensive_threshold: float = 0.85
    # The cross-lingual head's any-unsafe probability (messages detected as another language than
    # English, crosslingual.py); None: the threshold picked with the head on our tuning sentences.
    crosslingual_threshold: float | None = None

    def policy(self, category: str) -> CategoryPolicy:
        return self.policies.get(category, CategoryPolicy("flag"))

    def with_unsafe_threshold(self, value: float) -> "ModerationConfig":
        return replace(self, unsafe_threshold=value)
