"""The shopper's language: detected per message, decided per conversation.

`detect(text)` names the language of one message among `bot.i18n.LANGUAGES`, with the evidence it
rests on. `decide(current, decided, text)` is the conversation's sticky choice: the first message
with any evidence sets it; after that only a message with real content in another language
changes it, so "ok", "sí", "谢谢", an email address or an order id never flip a conversation.

The model is py3langid's (a naive Bayes over byte n-grams, shipped inside the package; BSD-3),
limited to our languages. Chosen by measuring it against lingua-language-detector on our own
short shopper messages (`benchmarks/data/language_id.jsonl`, docs/multilingual.md): the same
accuracy on full messages, a tenth of the install size, less memory and faster.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

# py3langid's codes -> ours (bot.i18n.LANGUAGES).
_CODES = {"en": "en", "zh": "zh-CN", "es": "es", "fr": "fr", "de": "de", "pt": "pt", "ja": "ja"}
# What says nothing about a language: emails, links, ids and numbers (order ids like #W2378156,
# prices, phone numbers, user ids), and words every language borrows. ASCII classes on purpose:
# `\w` also matches kana and ideographs.
_NOISE = re.compile(
    r"\S+@\S+|(?:https?://|www\.)\S+|[A-Za-z0-9_#.$€£¥+-]*[0-9][A-Za-z0-9_.,:/+-]*"
    r"|\b(?:ok|okay|ok+k|lol|pls|thx)\b",
    re.IGNORECASE,
)
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
# An ideograph carries about as much as three letters of a Latin word, a kana about two.
HAN_WEIGHT, KANA_WEIGHT = 3, 2
# A message that changes a decided conversation's language must weigh at least this much (14
# Latin letters, 5 ideographs, 7 kana) and be detected with at least this confidence.
SWITCH_WEIGHT = 14
SWITCH_CONFIDENCE = 0.8


@dataclass(frozen=True)
class Detection:
    language: str  # one of bot.i18n.LANGUAGES
    confidence: float  # the model's probability among our languages (1.0 for kana: Japanese only)
    weight: int  # letters it rests on (ideographs count HAN_WEIGHT each, kana KANA_WEIGHT)


class _Model:
    """py3langid's identifier, loaded on first use (~0.5 s, ~60 MB) and shared by the process."""

    def __init__(self) -> None:
        self._identifier: Any = None
        self._lock = threading.Lock()

    def classify(self, text: str) -> tuple[str, float]:
        if self._identifier is None:
            with self._lock:
                if self._identifier is None:
                    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

                    identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
                    identifier.set_languages(list(_CODES))
                    self._identifier = identifier
        code, probability = self._identifier.classify(text)
        return _CODES[code], float(probability)


_MODEL = _Model()


def detect(text: str) -> Detection | None:
    """The language of one message, or None when it has no letters to go by (an email, an order
    id, a number, "ok", an emoji)."""
    content = _NOISE.sub(" ", text)
    cjk = _CJK.findall(content)
    han = len(_HAN.findall(content))
    cjk_weight = han * HAN_WEIGHT + (len(cjk) - han) * KANA_WEIGHT
    if len(cjk) >= 2:  # CJK script decides it, whatever Latin words (product names) stand beside it
        if _KANA.search(content):
            return Detection("ja", 1.0, cjk_weight)
        language, confidence = _MODEL.classify("".join(cjk))
        return Detection(language if language in ("zh-CN", "ja") else "zh-CN", confidence, cjk_weight)
    letters = sum(ch.isalpha() for ch in content) - len(cjk) + cjk_weight
    if letters == 0:
        return None
    language, confidence = _MODEL.classify(content)
    return Detection(language, confidence, letters)


def has_cjk(text: str) -> bool:
    """Whether the text holds any ideograph or kana (one is enough: '包', 'バッグ')."""
    return _CJK.search(text) is not None


def decide(current: str, decided: bool, text: str) -> tuple[str, bool]:
    """The conversation's language after the shopper's message `text`: (language, decided).

    Undecided (no message with letters yet; English by default), any detection decides it. Once
    decided, a message switches it only with SWITCH_WEIGHT letters and SWITCH_CONFIDENCE."""
    found = detect(text)
    if found is None:
        return current, decided
    if not decided:
        return found.language, True
    if found.language != current and found.weight >= SWITCH_WEIGHT and found.confidence >= SWITCH_CONFIDENCE:
        return found.language, True
    return current, True
