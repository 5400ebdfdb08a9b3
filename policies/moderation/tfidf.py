"""A linear model on a fitted scikit-learn `TfidfVectorizer`, scored without building the matrix.

`vectorizer.transform(texts) @ weights` for one or two short texts costs ~1.3 ms in scikit-learn,
almost all of it input validation and sparse-matrix assembly; the moderator does it twice per
message (the character n-gram head and alt-profanity-check's word model). `LinearTfidf` reads the
vectorizer's own analyzer, vocabulary and idf and computes the same numbers (float64, the same
formula: raw counts, `1 + log(count)` when `sublinear_tf`, times idf, l2-normalised) with a dict
lookup per n-gram: ~0.05 ms. tests/test_moderation_actions.py checks it against `transform`.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


class LinearTfidf:
    def __init__(self, vectorizer: Any, weights: np.ndarray) -> None:
        """`weights`: (features,) or (features, k), rows in the vectorizer's column order."""
        if getattr(vectorizer, "norm", "l2") not in ("l2", None) or getattr(vectorizer, "binary", False):
            raise ValueError("LinearTfidf supports norm='l2' or None, binary=False")
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.sublinear = bool(getattr(vectorizer, "sublinear_tf", False))
        self.normalise = getattr(vectorizer, "norm", "l2") == "l2"
        idf = getattr(vectorizer, "idf_", None) if getattr(vectorizer, "use_idf", True) else None
        self.idf = np.asarray(idf, dtype=np.float64) if idf is not None else np.ones(len(self.vocabulary))
        weights = np.asarray(weights, dtype=np.float64)
        self.vector_out = weights.ndim == 1
        self.weights = weights.reshape(len(self.vocabulary), -1)

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(n,) for a weight vector, (n, k) for a matrix: `transform(texts) @ weights`."""
        out = np.zeros((len(texts), self.weights.shape[1]), dtype=np.float64)
        vocabulary = self.vocabulary
        for i, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term, count in Counter(self.analyze(text)).items():
                column = vocabulary.get(term)
                if column is not None:
                    counts[column] = count
            if not counts:
                continue
            columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            if self.sublinear:
                tf = np.log(tf) + 1.0
            values = tf * self.idf[columns]
            if self.normalise:
                values /= np.sqrt(values @ values)
            out[i] = values @ self.weights[columns]
        return out[:, 0] if self.vector_out else out
