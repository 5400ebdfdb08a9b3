"""Running the language model: llama.cpp on a GGUF file (the default), or PyTorch on a Hugging
Face checkpoint (`SHOPBOT_ENGINE=hf:/path`).

Both keep the model's cache of the text read so far: the next decision of the same conversation
only reads what was added (`prefill` finds the shared prefix). llama.cpp runs one conversation at a
time per process; `Sessions` keeps each conversation's cache between its turns (a bounded LRU of
saved states), so interleaved conversations do not re-read each other's text.
"""
from __future__ import annotations

import ctypes
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np


def cpu_has_amx() -> bool:
    """Whether this CPU has Intel AMX (Sapphire Rapids and later), from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        pass
    return False


def _load_llama(llama_cpp: Any, extra_buffers: bool, **kwargs: Any) -> Any:
    """`llama_cpp.Llama(**kwargs)`, with llama.cpp's extra weight buffer types (AMX, CPU repacking)
    switched off unless `extra_buffers`. llama-cpp-python takes the model parameters from
    `llama_model_default_params()` and has no argument for `use_extra_bufts`, so that function
    is wrapped for the one call, under a lock."""
    if extra_buffers:
        return llama_cpp.Llama(**kwargs)
    low_level = llama_cpp.llama_cpp
    default = low_level.llama_model_default_params

    def params() -> Any:
        chosen = default()
        chosen.use_extra_bufts = False
        return chosen

    with _LOAD_LOCK:
        low_level.llama_model_default_params = params
        try:
            return llama_cpp.Llama(**kwargs)
        finally:
            low_level.llama_model_default_params = default


_LOAD_LOCK = threading.Lock()


class LlamaRuntime:
    """A GGUF model in llama.cpp (llama-cpp-python), CPU by default, all layers on a GPU when
    `gpu_layers` is -1 and the build has one.

    On a CPU with AMX, llama.cpp's AMX weight buffers crash on this model's quantisation types
    (a segfault in the first decode, ggml-org/llama.cpp#20824, seen here on a Xeon with AMX), so
    there the model loads without extra buffer types: plain CPU kernels (measured on 2 cores of
    that Xeon: 548 tokens/s prefill, 38 tokens/s decoding)."""

    def __init__(self, path: Path, n_ctx: int = 2048, threads: int | None = None, gpu_layers: int = 0, vocab_only: bool = False) -> None:
        import llama_cpp

        self._lib = llama_cpp
        threads = threads or min(2, os.cpu_count() or 1)
        self.llm = _load_llama(
            llama_cpp, extra_buffers=not cpu_has_amx(),
            model_path=str(path), n_ctx=n_ctx, n_batch=512, n_threads=threads, n_threads_batch=threads,
            n_gpu_layers=gpu_layers, verbose=False, logits_all=False, vocab_only=vocab_only,
        )
        self.n_ctx = n_ctx
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.tokens: list[int] = []  # what the context holds, in order
        self.lock = threading.Lock()  # one decision at a time in this model

    @property
    def bos(self) -> list[int]:
        bos = self.llm.token_bos()
        return [bos] if bos >= 0 else []

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def token_bytes(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = self._lib.llama_token_to_piece(self.vocab, token, buf, 256, 0, False)
        return buf.raw[:n] if n > 0 else b""

    def _logits(self) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def prefill(self, ids: list[int]) -> np.ndarray:
        if len(ids) >= self.n_ctx:
            raise ValueError(f"prompt of {len(ids)} tokens does not fit the context of {self.n_ctx}")
        keep = 0
        for a, b in zip(self.tokens, ids):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)  # at least one token is read: its logits are the answer
        self.llm.n_tokens = keep
        self.tokens = self.tokens[:keep]
        return self.feed(ids[keep:])

    def feed(self, ids: list[int]) -> np.ndarray:
        if not ids:
            return self._logits()
        if len(self.tokens) + len(ids) >= self.n_ctx:
            raise ValueError("the conversation outgrew the model's context")
        self.llm.n_tokens = len(self.tokens)
        self.llm.eval(ids)
        self.tokens += ids
        return self._logits()

    # -- per-conversation caches -----------------------------------------------------------------
    def save(self) -> tuple[list[int], bytes]:
        ctx = self.llm._ctx.ctx
        size = self._lib.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        n = self._lib.llama_state_seq_get_data(ctx, buf, size, 0)
        return list(self.tokens), bytes(buf[:n])

    def restore(self, saved: tuple[list[int], bytes]) -> None:
        tokens, data = saved
        ctx = self.llm._ctx.ctx
        self.llm._ctx.kv_cache_seq_rm(0, 0, -1)
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if self._lib.llama_state_seq_set_data(ctx, buf, len(data), 0) == 0:
            self.tokens = []
            self.llm.n_tokens = 0
            return
        self.tokens = list(tokens)
        self.llm.n_tokens = len(tokens)


class Sessions:
    """Saved model caches by conversation, least recently used dropped past `max_bytes`."""

    def __init__(self, runtime: LlamaRuntime, max_bytes: int = 256 << 20) -> None:
        self.runtime = runtime
        self.max_bytes = max_bytes
        self.saved: OrderedDict[str, tuple[list[int], bytes]] = OrderedDict()
        self.current: str | None = None

    def switch(self, key: str | None) -> None:
        """Make the runtime hold `key`'s cache (saving the one it holds)."""
        if key == self.current:
            return
        if self.current is not None and self.runtime.tokens:
            self.saved[self.current] = self.runtime.save()
            self.saved.move_to_end(self.current)
            self._trim()
        state = self.saved.pop(key, None) if key is not None else None
        if state is not None:
            self.runtime.restore(state)
        self.current = key

    def _trim(self) -> None:
        total = sum(len(data) for _t, data in self.saved.values())
        while total > self.max_bytes and self.saved:
            _key, (_tokens, data) = self.saved.popitem(last=False)
            total -= len(data)


class HFTokenizer:
    """A Hugging Face checkpoint's tokenizer with the runtime's interface (training on `hf:` models)."""

    def __init__(self, path: Path) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)

    @property
    def bos(self) -> list[int]:
        bos = self.tokenizer.bos_token_id
        return [bos] if bos is not None else []

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


class TorchRuntime:
    """A Hugging Face causal LM in PyTorch with its key/value cache (one conversation at a time)."""

    def __init__(self, path: Path, device: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype).to(self.device).eval()
        self.n_vocab = int(self.model.get_output_embeddings().weight.shape[0])
        self.tokens: list[int] = []
        self.cache: Any = None
        self.lock = threading.Lock()
        self._bytes: list[bytes] | None = None

    @property
    def bos(self) -> list[int]:
        bos = self.tokenizer.bos_token_id
        return [bos] if bos is not None else []

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def token_bytes(self, token: int) -> bytes:
        if self._bytes is None:
            self._bytes = [self.tokenizer.convert_tokens_to_string([t]).encode("utf-8") for t in self.tokenizer.convert_ids_to_tokens(list(range(self.n_vocab)))]
        return self._bytes[token] if token < len(self._bytes) else b""

    def prefill(self, ids: list[int]) -> np.ndarray:
        keep = 0
        for a, b in zip(self.tokens, ids):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)
        if keep == 0 or self.cache is None:
            self.cache, self.tokens = None, []
        else:
            self.cache.crop(keep)
            self.tokens = self.tokens[:keep]
        return self.feed(ids[len(self.tokens) :])

    def feed(self, ids: list[int]) -> np.ndarray:
        torch = self.torch
        if not ids:
            return self._last
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        self.tokens += ids
        self._last = out.logits[0, -1].float().cpu().numpy()
        return self._last
