"""The language-model policy: the conversation in, one command out.

`LanguageModelPolicy.propose(messages)` serialises the conversation (policies/llm/prompt.py),
gathers the ids it may copy (policies/llm/grammar.py) and decodes one command under the tools'
schemas (policies/llm/decode.py). The caller applies the policy rules and may ask again with the
refused command excluded.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from policies.llm.command import ACTS
from policies.llm.decode import Decoded, Decoder, Vocabulary
from policies.llm.grammar import Candidates, act_slots, candidates, order_arguments, tool_slots
from policies.llm.prompt import Serializer, events, key_order, signature

Dict = dict[str, Any]


class LanguageModelPolicy:
    def __init__(self, runtime: Any, tools: dict[str, Any], budget: int = 1536, sessions: Any = None) -> None:
        self.runtime = runtime
        self.tools = tools
        self.serializer = Serializer(runtime.tokenize, [signature(t.schema()) for t in tools.values()], runtime.bos, budget=budget)
        self.key_order = key_order([t.schema() for t in tools.values()])
        self.vocabulary = Vocabulary(runtime)
        self.tool_slots = {name: tool_slots(t.schema()) for name, t in tools.items()}
        self.act_slots = {act: act_slots(act) for act in ACTS}
        self.consequential = {name for name, t in tools.items() if t.consequential}
        self.sessions = sessions
        self.lock: threading.Lock = getattr(runtime, "lock", threading.Lock())

    def prompt(self, messages: Sequence[Dict]) -> list[int]:
        return self.serializer.prompt(events(messages, self.key_order))

    def propose(
        self,
        messages: Sequence[Dict],
        exclude: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
        conversation: str | None = None,
        on_token: Callable[[str], None] | None = None,
        force: tuple[str, str] | None = None,
    ) -> Decoded:
        prompt = self.prompt(messages)
        cands: Candidates = candidates(messages)
        with self.lock:
            if self.sessions is not None:
                self.sessions.switch(conversation)
            decoder = Decoder(self.runtime, self.vocabulary)
            decoded = decoder.command(prompt, cands, self.tool_slots, self.consequential, self.act_slots, exclude, on_token, force)
        slots = self.act_slots[decoded.command.name] if decoded.command.verb == "reply" else self.tool_slots.get(decoded.command.name, [])
        args = order_arguments(decoded.command.arguments, slots)
        if args != decoded.command.arguments:
            decoded.command = type(decoded.command)(decoded.command.verb, decoded.command.name, args, decoded.command.text)
        return decoded


def load_llama_policy(path: Path, tools: dict[str, Any], budget: int = 1536, threads: int | None = None) -> LanguageModelPolicy:
    """The fine-tuned GGUF in llama.cpp. `SHOPBOT_ENGINE_GPU_LAYERS` (-1: all) offloads layers to
    a GPU when llama-cpp-python was built with CUDA (docs/engine.md); CPU otherwise."""
    import os

    from policies.llm.runtime import LlamaRuntime, Sessions

    gpu_layers = int(os.environ.get("SHOPBOT_ENGINE_GPU_LAYERS", "0") or 0)
    runtime = LlamaRuntime(path, n_ctx=budget + 512, threads=threads, gpu_layers=gpu_layers)
    return LanguageModelPolicy(runtime, tools, budget, Sessions(runtime))


def describe(decoded: Decoded) -> str:
    c = decoded.command
    return f"{c.verb} {c.name} {json.dumps(c.arguments)} p={decoded.confidence:.2f}"
