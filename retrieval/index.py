"""The FAISS index over product vectors, with its sidecar.

Vectors are L2-normalised, so inner product = cosine. Below `HNSW_THRESHOLD` vectors the index is
exact (`IndexFlatIP`): at catalog sizes a flat scan is both exact and fast (a 5k x 384 scan is
~0.2 ms). Above it, an inverted file with an HNSW coarse quantizer and 8-bit scalar-quantised
lists (`IVF{nlist}_HNSW32,SQ8`, nlist = 4 * sqrt(n) rounded to a power of two, clamped to
[256, 65536]; trained on at most 64 vectors per list, 10 k-means iterations; searched with
`nprobe = IVF_NPROBE` = 24). benchmarks/search.py measured it at 1M vectors on the 2-core machine
(docs/performance.md, "Search"): recall@10 0.992 at ~0.26 ms per single query, 381 MB, built in
under 4 minutes, where an HNSW graph over every vector took 216 s for only 100k. SQ8 lists scan a
quarter of the bytes of float32 lists (about twice as fast at equal nprobe) for a small recall
ceiling (0.992 against 0.997 at 1M); `codec="Flat"` keeps float32.
`kind="hnsw"` still builds `IndexHNSWFlat` (M, efConstruction, efSearch below) for comparison.

`index.faiss` is saved with `index.json` (model name, dimension, count, data hash, created) and
`ids.json` (row -> product id). Loading refuses a pair that does not match: another model,
another dimension, or a sidecar written for different data. When FAISS sees a GPU
(`faiss.get_num_gpus() > 0`, faiss GPU build), search runs there; nothing else changes.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

HNSW_THRESHOLD = 50_000  # below it: exact IndexFlatIP; above it: the large-catalog index
IVF_NPROBE = 24
IVF_QUANTIZER_EF_SEARCH = 64  # efSearch of the HNSW graph over the list centroids
IVF_TRAIN_PER_LIST = 64
IVF_KMEANS_ITERATIONS = 10
IVF_CODEC = "SQ8"  # how list entries are stored: "Flat" (float32) or "SQ8" (8-bit scalar quantised)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128
SMALL_BATCH = 16  # below this many queries, search on one thread
INDEX_FILE = "index.faiss"
SIDECAR_FILE = "index.json"
IDS_FILE = "ids.json"


class IndexMismatch(ValueError):
    """The index file and its sidecar (or the model asked for) do not belong together."""


class IndexMissing(FileNotFoundError):
    """No index has been built yet."""


class IndexWriteError(OSError):
    """The new index could not be written (a full disk, say). No file of the previous index was
    touched and no temporary file is left behind: the previous index still loads."""


def _write_error(exc: BaseException) -> int | None:
    """The errno behind a failed write: OSError carries it; FAISS raises RuntimeError with the
    C library's text in the message."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    text = str(exc)
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO):
        if os.strerror(code) in text:
            return code
    return None


def data_hash(ids: list[str], keys: list[str]) -> str:
    """A hash of what was indexed: row order, product ids and the hash of each embedded text."""
    digest = hashlib.sha256()
    for pid, key in zip(ids, keys):
        digest.update(f"{pid}\t{key}\n".encode())
    return digest.hexdigest()[:32]


def _to_gpu(index):  # type: ignore[no-untyped-def]
    import faiss

    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0 and hasattr(faiss, "index_cpu_to_all_gpus"):
        try:
            return faiss.index_cpu_to_all_gpus(index)
        except RuntimeError as exc:  # HNSW has no GPU form in FAISS: it stays on the CPU
            log.info("FAISS index stays on the CPU: %s", exc)
    return index


def ivf_lists(n: int) -> int:
    """Inverted lists for n vectors: 4 * sqrt(n) rounded to a power of two, in [256, 65536]."""
    return int(min(65536, max(256, 2 ** round(np.log2(4 * np.sqrt(max(n, 1)))))))


def set_search_params(index, *, nprobe: int = IVF_NPROBE, quantizer_ef: int = IVF_QUANTIZER_EF_SEARCH, ef_search: int = HNSW_EF_SEARCH) -> None:  # type: ignore[no-untyped-def]
    """Search-time parameters (not all are kept in the saved file): IVF nprobe and its HNSW
    quantizer's efSearch, or an HNSW index's efSearch."""
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = ef_search
        return
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = nprobe
        quantizer = faiss.downcast_index(ivf.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer.hnsw.efSearch = max(quantizer_ef, nprobe)


def build_faiss(vectors: np.ndarray, *, hnsw_threshold: int = HNSW_THRESHOLD, kind: str = "ivf", nlist: int | None = None, codec: str = IVF_CODEC, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION, ef_search: int = HNSW_EF_SEARCH):  # type: ignore[no-untyped-def]
    """Exact below `hnsw_threshold` vectors; above it `kind` "ivf" (IVF + HNSW coarse quantizer,
    the default) or "hnsw" (IndexHNSWFlat)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    if n < hnsw_threshold:
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif kind == "ivf":
        lists = nlist or ivf_lists(n)
        index = faiss.index_factory(d, f"IVF{lists}_HNSW32,{codec}", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = IVF_KMEANS_ITERATIONS
        ivf.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
        # A fixed sample (every k-th vector) keeps the build deterministic for the same data.
        step = max(1, n // (lists * IVF_TRAIN_PER_LIST))
        index.train(vectors[::step])
        set_search_params(index)
    else:
        raise ValueError(f"unknown index kind {kind!r} (ivf or hnsw)")
    index.add(vectors)
    return index


@dataclass
class Sidecar:
    model: str
    dimension: int
    count: int
    data_hash: str
    index_type: str
    created: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass(frozen=True)
class RowSelection:
    """`VectorIndex.select_rows`: FAISS search parameters that keep to some rows."""

    count: int
    params: Any
    selector: Any  # referenced here: the parameters hold only a pointer to it


class VectorIndex:
    """A FAISS index whose rows map to product ids."""

    def __init__(self, index, ids: list[str], keys: list[str], sidecar: Sidecar) -> None:  # type: ignore[no-untyped-def]
        if index.ntotal != len(ids) or len(keys) != len(ids):
            raise IndexMismatch(f"the index holds {index.ntotal} vectors but {len(ids)} ids and {len(keys)} text hashes")
        self.cpu_index = index
        self.index = _to_gpu(index)
        self.ids = ids
        self.keys = keys  # hash of the text embedded for each row
        self.sidecar = sidecar

    @classmethod
    def build(cls, vectors: np.ndarray, ids: list[str], keys: list[str], model: str, **options: int | str) -> "VectorIndex":
        index = build_faiss(vectors.reshape(len(ids), -1) if len(ids) else vectors, **options)
        sidecar = Sidecar(
            model=model,
            dimension=int(index.d),
            count=len(ids),
            data_hash=data_hash(ids, keys),
            index_type=type(index).__name__,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        return cls(index, ids, keys, sidecar)

    def search(self, queries: np.ndarray, k: int, rows: "RowSelection | None" = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the k best rows per query; with `rows` (an exact index on the CPU
        only: see `select_rows`), among those rows only, with the same scores."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self.ids)))
        if not self.ids:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        params = None
        if rows is not None:
            k = max(1, min(k, rows.count))
            params = rows.params
        if len(queries) >= SMALL_BATCH:
            return self.index.search(queries, k, params=params)
        # One query on several OpenMP threads costs more in wake-ups than it saves: on this 2-core
        # machine a 10k flat search takes 24 ms on 2 threads and 0.2 ms on one (benchmarks/search.py).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

    def select_rows(self, rows: np.ndarray) -> "RowSelection | None":
        """A selection of rows to search among, or None where it would change results: only an
        exact index on the CPU compares the same vectors with or without it (an IVF index would
        probe other lists, a GPU index takes no selector)."""
        import faiss

        if not isinstance(self.index, faiss.IndexFlat):
            return None
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        selector = faiss.IDSelectorBatch(len(rows), faiss.swig_ptr(rows))
        return RowSelection(len(rows), faiss.SearchParameters(sel=selector), selector)

    def reconstruct(self, row: int) -> np.ndarray:
        return self.cpu_index.reconstruct(row)

    def save(self, directory: Path) -> None:
        import faiss

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Write every file beside the old ones first, then rename: a failed write (a full disk)
        # leaves the previous index whole, and a reader never sees a new index with an old sidecar.
        temps = [directory / (name + ".tmp") for name in (INDEX_FILE, IDS_FILE, SIDECAR_FILE)]
        try:
            faiss.write_index(self.cpu_index, str(temps[0]))
            temps[1].write_text(json.dumps({"ids": self.ids, "keys": self.keys}), encoding="utf-8")
            temps[2].write_text(json.dumps(self.sidecar.as_dict(), indent=2), encoding="utf-8")
        except (OSError, RuntimeError) as exc:  # RuntimeError: FAISS's write errors
            for temp in temps:
                temp.unlink(missing_ok=True)
            code = _write_error(exc)
            reason = os.strerror(code) if code else str(exc)
            raise IndexWriteError(code or errno.EIO, f"could not write the index in {directory}: {reason}") from exc
        for temp, name in zip(temps, (INDEX_FILE, IDS_FILE, SIDECAR_FILE)):
            os.replace(temp, directory / name)

    @classmethod
    def load(cls, directory: Path, *, model: str, dimension: int) -> "VectorIndex":
        """Load the index and refuse it unless file, sidecar, ids and the model asked for agree."""
        import faiss

        directory = Path(directory)
        if not (directory / INDEX_FILE).is_file() or not (directory / SIDECAR_FILE).is_file():
            raise IndexMissing(f"no product index in {directory}; run `shopbot index`")
        try:
            sidecar = Sidecar(**json.loads((directory / SIDECAR_FILE).read_text(encoding="utf-8")))
            rows = json.loads((directory / IDS_FILE).read_text(encoding="utf-8"))
            ids, keys = list(rows["ids"]), list(rows["keys"])
        except (OSError, json.JSONDecodeError, TypeError, KeyError) as exc:
            raise IndexMismatch(f"unreadable index sidecar in {directory}: {exc}") from None
        if sidecar.model != model:
            raise IndexMismatch(f"the index was built with {sidecar.model!r}, not {model!r}; run `shopbot index`")
        if sidecar.dimension != dimension:
            raise IndexMismatch(f"the index has dimension {sidecar.dimension}, the model {dimension}")
        index = faiss.read_index(str(directory / INDEX_FILE))
        if index.d != sidecar.dimension or index.ntotal != sidecar.count or len(ids) != sidecar.count:
            raise IndexMismatch(
                f"index file ({index.ntotal} x {index.d}) and sidecar ({sidecar.count} x {sidecar.dimension}) do not match"
            )
        if data_hash(ids, keys) != sidecar.data_hash:
            raise IndexMismatch("the sidecar was written for different catalog data; run `shopbot index`")
        set_search_params(index)
        return cls(index, ids, keys, sidecar)
