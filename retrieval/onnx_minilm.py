"""all-MiniLM-L6-v2 on ONNX Runtime: the same sentence vectors as sentence-transformers, faster.

The bundled checkpoint is exported once with `torch.onnx` (fp32, nothing quantised) into
`$SHOPBOT_HOME/models/minilm-onnx/`, checked against the PyTorch model on probe sentences, and
loaded with ONNX Runtime. Its vectors equal sentence-transformers' (cosine 1.0 to float precision),
so saved indexes and the heads trained on them stay valid; one short text takes about 4 ms instead
of about 9 ms on this 2-core CPU (measured: docs/performance.md), because ONNX Runtime runs the
graph without PyTorch's per-module Python overhead.

`SHOPBOT_ENCODER=torch` keeps the PyTorch model; without onnxruntime/onnx installed, or if the
export fails its check, the PyTorch model is used and the log says why.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
PROBE_FILE = "probes.npy"  # the PyTorch model's vectors for PROBES, saved at export
MAX_SEQ_LENGTH = 128  # as retrieval.embed.load_model sets it
PROBES = ("thanks", "do you have a waterproof bluetooth speaker under $100?", "Wireless Earbuds, black, $59.00")


class OnnxSentenceEncoder:
    """The subset of SentenceTransformer the project uses: `encode`, `max_seq_length`,
    `get_embedding_dimension`. Mean pooling over the attention mask, as the checkpoint's config says."""

    def __init__(self, onnx_path: Path, tokenizer: Any, dimension: int, max_seq_length: int = MAX_SEQ_LENGTH, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Inputs vary in length and several threads run at once: ONNX Runtime's arena would keep
        # the peak of every shape seen (measured: +260 MB under 100 concurrent sessions) for a
        # saving in allocation time too small to measure here.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.dimension = dimension
        self.max_seq_length = max_seq_length

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(
        self, sentences: list[str] | str, batch_size: int = 32, show_progress_bar: bool = False,
        convert_to_numpy: bool = True, normalize_embeddings: bool = False,
    ) -> np.ndarray:
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad least
        starts = range(0, len(texts), batch_size)
        if show_progress_bar:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        for start in starts:
            ids = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in ids], padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np"
            )
            feeds = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[ids] = pooled
        if normalize_embeddings:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out[0] if single else out


def _export(model: Any, target: Path) -> None:
    """Export the transformer of a SentenceTransformer `model` to `target` (atomically)."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    bert = model[0].auto_model.eval()
    # A padded sample (two lengths): the trace then keeps the attention-mask path, which is
    # also right for inputs without padding (the tests check batches of 1, 3 and 64).
    sample = model.tokenizer(list(PROBES[:2]), padding=True, return_tensors="pt")
    axes = {"0": "batch", "1": "tokens"}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notices about constants; the result is checked below
            torch.onnx.export(
                Hidden(bert), tuple(sample[n] for n in names), str(tmp), input_names=names, output_names=["last_hidden_state"],
                dynamic_axes={n: {int(k): v for k, v in axes.items()} for n in [*names, "last_hidden_state"]},
                opset_version=17, dynamo=False,
            )
        os.replace(tmp, target)  # two workers exporting at once: the last complete file wins
    finally:
        tmp.unlink(missing_ok=True)


def onnx_encoder(load_torch_model: Callable[[], Any], checkpoint: str, directory: Path) -> OnnxSentenceEncoder | None:
    """An ONNX Runtime twin of the bundled SentenceTransformer, or None (and why, in the log).

    The first call exports the model (`load_torch_model()`) and stores its vectors for the probe
    sentences; later calls (every server start) load only the ONNX file and the tokenizer, check
    the probes against the stored vectors, and never load the PyTorch weights (~100 MB less)."""
    if os.environ.get("SHOPBOT_ENCODER", "onnx").strip().lower() == "torch":
        return None
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        log.info("sentence encoder: PyTorch (%s)", exc)
        return None
    target, probes = directory / ONNX_FILE, directory / PROBE_FILE
    threads = int(os.environ.get("SHOPBOT_ENCODER_THREADS", "1"))
    try:
        if not (target.is_file() and probes.is_file()):
            log.info("exporting the sentence encoder to ONNX (once): %s", target)
            model = load_torch_model()
            _export(model, target)
            expected = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
            tmp = probes.with_name(f"{probes.name}.{os.getpid()}.tmp.npy")
            np.save(tmp, expected.astype(np.float32))
            os.replace(tmp, probes)
        from transformers import AutoTokenizer

        expected = np.load(probes)
        encoder = OnnxSentenceEncoder(target, AutoTokenizer.from_pretrained(checkpoint), expected.shape[1], MAX_SEQ_LENGTH, threads)
        got = encoder.encode(list(PROBES), normalize_embeddings=True)
        worst = float(np.min(np.sum(expected * got, axis=1)))
        if worst < 0.9999:
            log.warning("ONNX sentence encoder disagrees with PyTorch (cosine %.5f): using PyTorch", worst)
            return None
        return encoder
    except Exception as exc:  # an export or runtime problem must not take search down: PyTorch still works
        log.warning("ONNX sentence encoder unavailable (%s: %s): using PyTorch", type(exc).__name__, exc)
        return None
