"""The two classifiers behind the moderator.

`TrainedClassifier` (mode "classifier+rules"): what `shopbot train moderation` builds. Features:
MiniLM features (ONNX Runtime int8, 128 tokens, several poolings: see retrieval/minilm_int8.py) and character
n-grams of the normalised text. Base models:
  - emb_any:        logistic regression "any category unsafe" on the embedding;
  - emb_categories: one logistic regression per OpenAI category, combined by noisy-or;
  - char:           logistic regression on character 2-5-gram TF-IDF;
  - profanity:      the offensive-language model shipped in the alt-profanity-check package;
  - ext:*:          heads trained only on the public toxicity sets (tweets, Wikipedia, ToxiGen);
  - svm:            an RBF-kernel SVM "any unsafe" on the embedding;
  - knn:            the similarity-weighted vote of the KNN_K most similar training rows (cosine on
                    the mean-pooled sentence vector);
  - prototype:      the highest cosine to our own short descriptions of the categories
                    (`examples.CATEGORY_PROTOTYPES`), on the same sentence vector;
a stacking logistic regression, fitted on out-of-fold predictions, turns them into `unsafe`.
Category scores come from the per-category heads.

`PackageClassifier` (mode "rules+package"): on a fresh machine without the public data. A small
head fitted at start-up on our own labelled examples (`examples.py`), on the shared encoder's
sentence vector, plus alt-profanity-check (for messages not detected as another language).
"""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from policies.moderation.config import CLASSIFIER_CATEGORIES
from policies.moderation.tfidf import LinearTfidf
from retrieval.minilm_int8 import EMBED_DIM, ONNX_FILE, Encoder, OnnxEncoder, file_digest, shared_encoder

ARTIFACT = "heads.joblib"
SIDECAR = "moderation.json"
# The stacker's columns, with the ext:* columns (one per public set found) between the two parts.
STACK_COLUMNS = ["emb_any", "emb_categories", "char", "profanity", "svm", "knn", "prototype"]
KNN_K = 20


def logit(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def profanity_probs(texts: list[str]) -> np.ndarray:
    """Probabilities from alt-profanity-check (MIT licence), imported lazily: it loads at import.

    The package's model is a CalibratedClassifierCV (five LinearSVCs, each with a sigmoid
    calibrator) on TF-IDF word features. Its predict_proba spends ~1 ms a call in input checks;
    `_profanity_model` turns the ensemble into one linear map on the TF-IDF features (tfidf.py)
    with the same result (tests compare it with predict_proba)."""
    if not texts:
        return np.zeros(0)
    linear, bias, slope, offset = _profanity_model()
    decisions = linear(texts) + bias  # (n, members)
    return (1.0 / (1.0 + np.exp(slope * decisions + offset))).mean(axis=1)


@lru_cache(maxsize=1)
def _profanity_model() -> tuple[LinearTfidf, np.ndarray, np.ndarray, np.ndarray]:
    """(TF-IDF @ weights (features, members), intercepts, calibration a, calibration b)."""
    from profanity_check import profanity_check as package

    members = package.model.calibrated_classifiers_
    if package.model.method != "sigmoid" or any(len(m.calibrators) != 1 for m in members):
        raise RuntimeError("alt-profanity-check: expected a binary sigmoid-calibrated ensemble")
    weights = np.column_stack([np.ravel(m.estimator.coef_) for m in members])
    bias = np.array([float(np.ravel(m.estimator.intercept_)[0]) for m in members])
    slope = np.array([float(m.calibrators[0].a_) for m in members])
    offset = np.array([float(m.calibrators[0].b_) for m in members])
    return LinearTfidf(package.vectorizer, weights), bias, slope, offset


def category_probs(heads: dict[str, Any], emb: np.ndarray) -> dict[str, np.ndarray]:
    return {name: head.predict_proba(emb)[:, 1] for name, head in heads["categories"].items()}


def stack_features(heads: dict[str, Any], emb: np.ndarray, normalized: list[str], profanity: np.ndarray) -> np.ndarray:
    """The stacker's input: one logit column per base model, in `heads["stack_columns"]` order."""
    cats = category_probs(heads, emb)
    noisy_or = 1 - np.prod([1 - p for p in cats.values()], axis=0)
    columns = [
        heads["emb_any"].decision_function(emb),
        logit(noisy_or),
        heads["char_lr"].decision_function(heads["char_vectorizer"].transform(normalized)),
        logit(profanity),
    ]
    columns += [heads["ext"][name].decision_function(emb) for name in sorted(heads["ext"])]
    if "svm" in heads:  # models trained before these two columns have neither
        columns += [heads["svm"].decision_function(emb), knn_vote(heads["knn"], emb)]
    if "prototypes" in heads:  # nor this one
        columns.append(prototype_similarity(heads["prototypes"], emb))
    return np.column_stack(columns)


def prototype_similarity(prototypes: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """The highest cosine between each text and the category descriptions (both unit-length
    mean-pooled sentence vectors: block 0 of the embedding)."""
    return (emb[:, :EMBED_DIM].astype(np.float32) @ prototypes.T).max(axis=1)


def knn_vote(knn: dict[str, Any], emb: np.ndarray) -> np.ndarray:
    """Logit of the share of unsafe rows among the k training rows most similar to each text,
    each weighted by its cosine (negative ones count 0). Block 0 of the embedding is unit length."""
    sims = emb[:, :EMBED_DIM].astype(np.float32) @ knn["vectors"].T
    k = min(int(knn["k"]), sims.shape[1] - 1)
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(sims, top, axis=1), 0.0)
    vote = (weights * knn["labels"][top]).sum(axis=1) / (weights.sum(axis=1) + 1e-9)
    return logit(vote, 0.02)


def trained_encoder(directory: Path, meta: dict[str, Any], cache: bool = True) -> Encoder | OnnxEncoder:
    """The encoder a trained model was fitted on, as its sidecar names it (older sidecars: PyTorch).

    When its ONNX file is byte for byte the shared encoder's (the export is deterministic), the
    shared one, so the router and moderation encode each message once (retrieval/minilm_int8.py)."""
    max_tokens = int(meta.get("max_tokens", 128))
    spec = meta.get("encoder") or {"backend": "torch"}
    if spec["backend"] == "onnx":
        own = OnnxEncoder(directory / spec.get("file", ONNX_FILE), max_tokens=max_tokens, pooling=spec.get("pooling", "multi"))
        shared = shared_encoder(directory.parent, cache)  # directory is models_dir/moderation
        same = (own.pooling, own.max_tokens) == (shared.pooling, shared.max_tokens) and own.onnx_path.is_file()
        if same and file_digest(own.onnx_path) == file_digest(shared.ensure_file()):
            return shared
        return own
    return Encoder(max_tokens=max_tokens)


class TrainedClassifier:
    """Loads `heads.joblib` + `moderation.json` from a directory written by training/moderation.py."""

    mode = "classifier+rules"

    def __init__(self, directory: Path, cache: bool = True) -> None:
        import joblib

        self.directory = directory
        self.meta: dict[str, Any] = json.loads((directory / SIDECAR).read_text())
        import sklearn

        trained_with = self.meta.get("sklearn_version")
        if trained_with and trained_with != sklearn.__version__:
            raise ValueError(f"model trained with scikit-learn {trained_with}, running {sklearn.__version__}; retrain with --force")
        self.heads: dict[str, Any] = joblib.load(directory / ARTIFACT)
        self.encoder = trained_encoder(directory, self.meta, cache)

    @property
    def unsafe_threshold(self) -> float:
        return float(self.meta["thresholds"]["unsafe"])

    def _compile(self) -> None:
        """All linear heads on the embedding as one matrix: one matmul instead of a dozen sklearn
        calls (each costs ~0.1 ms of input validation, which matters at a 5 ms budget); the
        character n-gram head likewise without building the sparse matrix (tfidf.py)."""
        heads = self.heads
        self._cat_names = list(heads["categories"])
        self._ext_names = sorted(heads["ext"])
        linear = [heads["emb_any"]] + [heads["categories"][n] for n in self._cat_names] + [heads["ext"][n] for n in self._ext_names]
        self._w = np.column_stack([m.coef_[0] for m in linear]).astype(np.float32)
        self._b = np.array([m.intercept_[0] for m in linear], dtype=np.float32)
        self._char = LinearTfidf(heads["char_vectorizer"], heads["char_lr"].coef_[0])
        self._char_b = float(heads["char_lr"].intercept_[0])
        self._stack_w = heads["stacker"].coef_[0]
        self._stack_b = float(heads["stacker"].intercept_[0])
        self._svm = heads.get("svm")
        self._knn = heads.get("knn")
        if self._svm is not None:  # the support vectors' squared norms, once
            self._svm_sq = (self._svm.support_vectors_.astype(np.float64) ** 2).sum(axis=1)

    def score_batch(self, normalized: list[str]) -> list[dict[str, float]]:
        """Same numbers as `stack_features` + the stacker (tests check it), computed faster."""
        if not normalized:
            return []
        if not hasattr(self, "_w"):
            self._compile()
        emb = self.encoder.embed(normalized)
        z = emb @ self._w + self._b
        n_cat = len(self._cat_names)
        cats = 1.0 / (1.0 + np.exp(-z[:, 1:1 + n_cat].astype(np.float64)))
        noisy_or = 1 - np.prod(1 - cats, axis=1)
        char = self._char(normalized) + self._char_b
        columns = [z[:, 0], logit(noisy_or), char, logit(profanity_probs(normalized)), z[:, 1 + n_cat:]]
        if self._svm is not None:  # models trained before these two columns have neither
            columns += [self._rbf(emb), knn_vote(self._knn, emb)]
        if "prototypes" in self.heads:  # nor this one
            columns.append(prototype_similarity(self.heads["prototypes"], emb))
        feats = np.column_stack(columns)
        unsafe = 1.0 / (1.0 + np.exp(-(feats @ self._stack_w + self._stack_b)))
        return [
            {"unsafe": float(unsafe[i]), **{name: float(cats[i, j]) for j, name in enumerate(self._cat_names)}}
            for i in range(len(normalized))
        ]

    def _rbf(self, emb: np.ndarray) -> np.ndarray:
        """`svm.decision_function(emb)` of the fitted binary RBF `SVC`, without sklearn's per-call
        input checks, the support vectors' squared norms computed once (`_compile`)."""
        svm = self._svm
        x = emb.astype(np.float64)
        sq = (x**2).sum(axis=1)[:, None] + self._svm_sq[None, :] - 2.0 * x @ svm.support_vectors_.T
        return np.exp(-float(svm._gamma) * np.maximum(sq, 0.0)) @ svm.dual_coef_[0] + svm.intercept_[0]

    def score_batch_reference(self, normalized: list[str]) -> list[dict[str, float]]:
        """The straightforward sklearn path (used by tests to check `score_batch`)."""
        emb = self.encoder.embed(normalized)
        feats = stack_features(self.heads, emb, normalized, profanity_probs(normalized))
        unsafe = self.heads["stacker"].predict_proba(feats)[:, 1]
        cats = category_probs(self.heads, emb)
        return [
            {"unsafe": float(unsafe[i]), **{name: float(cats[name][i]) for name in cats}}
            for i in range(len(normalized))
        ]

    def score(self, normalized: str) -> dict[str, float]:
        return self.score_batch([normalized])[0]


def _is_english(normalized: str) -> bool:
    """alt-profanity-check is an English word model: German "die" ("the") scored 0.94 offensive
    and blocked ordinary German messages. It reads only what is not detected as another language."""
    from bot.language import detect

    found = detect(normalized)
    return found is None or found.language == "en"


class PackageClassifier:
    """No trained model: our own examples + the alt-profanity-check model. Fitted lazily (~1 s)."""

    mode = "rules+package"

    def __init__(self, encoder: OnnxEncoder) -> None:
        self.encoder = encoder  # the shared encoder (retrieval/minilm_int8.py); the head reads its first block
        self._head: Any = None
        self._labels: list[str] = []
        self._lock = threading.Lock()

    def _fit(self) -> None:
        with self._lock:
            if self._head is not None:
                return
            from sklearn.linear_model import LogisticRegression

            from policies.moderation.benign_text import generate_benign
            from policies.moderation.examples import BENIGN_EXAMPLES, LIST_REPLIES, OTHER_LANGUAGE_BENIGN, UNSAFE_EXAMPLES
            from policies.moderation.normalize import normalize

            texts, labels = [], []
            for category, examples in UNSAFE_EXAMPLES.items():
                texts += examples
                labels += [category] * len(examples)
            benign = BENIGN_EXAMPLES + LIST_REPLIES + OTHER_LANGUAGE_BENIGN + generate_benign(300, seed=1)
            texts += benign
            labels += ["benign"] * len(benign)
            emb = self._sentence_vectors([normalize(t) for t in texts])
            head = LogisticRegression(C=4.0, max_iter=2000).fit(emb, labels)
            self._labels = list(head.classes_)
            self._head = head

    def _sentence_vectors(self, normalized: list[str]) -> np.ndarray:
        return self.encoder.embed(normalized)[:, :EMBED_DIM]  # block 0: the mean-pooled sentence vector

    def score_batch(self, normalized: list[str]) -> list[dict[str, float]]:
        if not normalized:
            return []
        self._fit()
        probs = self._head.predict_proba(self._sentence_vectors(normalized))
        offensive = profanity_probs(normalized) * np.array([_is_english(t) for t in normalized])
        results = []
        for row, off in zip(probs, offensive):
            scores = {name: 0.0 for name in CLASSIFIER_CATEGORIES}
            for label, p in zip(self._labels, row):
                if label != "benign":
                    scores[label] = float(p)
            scores["offensive"] = float(off)
            scores["unsafe"] = float(1.0 - row[self._labels.index("benign")])
            results.append(scores)
        return results

    def score(self, normalized: str) -> dict[str, float]:
        return self.score_batch([normalized])[0]
