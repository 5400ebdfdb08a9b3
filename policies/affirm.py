"""Did the shopper say yes? A small classifier the confirmation rule asks (policies/rules.py).

A consequential call runs only after the shopper agreed to the listed action. "Agreed" is learned,
not matched against a list of words: a logistic head over the shopper message's MiniLM sentence
vector (the shared encoder: moderation and the router read the same pass), trained on CLINC150's
yes / no / maybe utterances and other requests (written by others, read from the data directory at
training time) plus our own short replies, and scored on CLINC150's test split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LABELS = ("yes", "no", "other")
THRESHOLD = 0.5  # P(yes) needed, and more than P(no)


@dataclass
class Affirmation:
    encoder: Any  # policies.router.TextEncoder
    head: Any  # sklearn LogisticRegression over LABELS

    def probabilities(self, text: str) -> dict[str, float]:
        vector = self.encoder.encode([text or "(nothing)"])
        probs = self.head.predict_proba(vector)[0]
        return {LABELS[int(c)]: float(p) for c, p in zip(self.head.classes_, probs)}

    def said_yes(self, text: str) -> bool:
        p = self.probabilities(text)
        return p.get("yes", 0.0) >= THRESHOLD and p.get("yes", 0.0) > p.get("no", 0.0)


def fit(encoder: Any, texts: list[str], labels: list[str], seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression

    x = encoder.encode(texts)
    y = np.asarray([LABELS.index(label) for label in labels])
    return LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=seed).fit(x, y)
