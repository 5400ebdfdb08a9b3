"""Other models behind the same engine: a local Hugging Face causal LM, or an OpenAI-compatible server.

Both turn the conversation (OpenAI chat format) plus the tool schemas into one proposed step:
a tool call (name + arguments) or a reply in the model's words (`reply say`). The engine then
applies the same rules, argument validation and grounding check as for the default model.

- `HFProposer(path)`: `transformers` checkpoint whose chat template accepts `tools=`; the model's
  output is parsed for a tool call (`<tool_call>{...}</tool_call>` or a bare JSON object with
  `name` and `arguments`), otherwise it is a reply. A directory that `shopbot train llm` wrote from
  a Hugging Face base (it writes shopbot's command format) runs through the constrained decoder
  instead (`hf_policy`).
- `OpenAIProposer(base_url, model)`: `POST {base_url}/chat/completions` with `tools` and
  `stream: true` (vLLM with --enable-auto-tool-choice, Ollama, llama.cpp server), reading the
  server-sent events and assembling streamed `tool_calls` deltas.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from bot.conversation import SAY, Command
from policies.llm.decode import Decoded
from tools.base import Tool

SYSTEM_PROMPT = (
    "You are the store's support assistant. Follow the store policy below. Authenticate the user "
    "(email, or first name + last name + zip) before account actions; fetch the user's details, "
    "then the order before acting on it; list the action and get an explicit yes before any change; "
    "make at most one tool call at a time; never make up ids or numbers.\n\n"
)
TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)


def _policy_text() -> str:
    from tools.search_policy import POLICY_PATH

    return POLICY_PATH.read_text(encoding="utf-8") if POLICY_PATH.is_file() else ""


def _decision(action: str, arguments: dict[str, Any] | None = None, text: str | None = None) -> Decoded:
    if action == "respond":
        return Decoded(Command("reply", SAY, {}, text), 1.0)
    return Decoded(Command("call", action, arguments or {}), 1.0)


def parse_generation(text: str, tool_names: set[str]) -> Decoded:
    """A model's raw output -> a step: the first well-formed call of a known tool, else a reply."""
    candidates = TOOL_CALL.findall(text)
    stripped = text.strip()
    if not candidates and stripped.startswith("{"):
        candidates = [stripped]
    for raw in candidates:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        name = data.get("name") if isinstance(data, dict) else None
        args = data.get("arguments", data.get("parameters", {})) if isinstance(data, dict) else None
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                args = None
        if name in tool_names and isinstance(args, dict):
            return _decision(name, args)
    reply = TOOL_CALL.sub("", text).strip()
    return _decision("respond", None, reply or None)


def hf_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages -> what HF chat templates expect (tool-call arguments as dicts)."""
    out = []
    for m in messages:
        m = {k: v for k, v in m.items() if k not in ("act", "train", "train_said")}
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                fn = dict(call["function"])
                if isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"] or "{}")
                    except json.JSONDecodeError:
                        fn["arguments"] = {}
                calls.append({"type": "function", "function": fn})
            m["tool_calls"] = calls
            m["content"] = m.get("content") or ""
        out.append(m)
    return out


def hf_policy(path: Path, tools: dict[str, Tool]) -> Any:
    """`SHOPBOT_ENGINE=hf:path`: a directory `shopbot train llm` wrote (shopbot's command format,
    constrained decoding) or any checkpoint with a tool-calling chat template."""
    from training.train_llm import COMMAND_FORMAT

    card = Path(path) / "model_card.json"
    if card.is_file() and json.loads(card.read_text(encoding="utf-8")).get("format") == COMMAND_FORMAT:
        from policies.llm.policy import LanguageModelPolicy
        from policies.llm.runtime import TorchRuntime

        budget = int(json.loads(card.read_text(encoding="utf-8")).get("config", {}).get("max_length", 1024))
        return LanguageModelPolicy(TorchRuntime(Path(path) / "merged"), tools, budget=budget)
    return HFProposer(Path(path), tools)


class HFProposer:
    """A local transformers causal LM with a tool-calling chat template."""

    def __init__(self, path: Path, tools: dict[str, Tool], max_new_tokens: int = 200) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face checkpoint directory (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        self.system = SYSTEM_PROMPT + _policy_text()
        self.tools = tools

    def prompt_ids(self, messages: list[dict[str, Any]]) -> Any:
        chat = [{"role": "system", "content": self.system}] + hf_messages(messages)
        return self.tokenizer.apply_chat_template(
            chat, tools=[t.schema() for t in self.tools.values()], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def propose(self, messages: list[dict[str, Any]], **_ignored: Any) -> Decoded:
        """One step (`exclude`, `force` and streaming are the constrained decoder's: ignored here)."""
        import torch

        inputs = self.prompt_ids(messages)
        with torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id
            )
        text = self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return parse_generation(text, set(self.tools))


class OpenAIProposer:
    """An OpenAI-compatible chat-completions server with tool calling and streaming."""

    def __init__(self, base_url: str, model: str, tools: dict[str, Tool], api_key: str | None = None, timeout: float = 60.0) -> None:
        self.tools = tools
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key or os.environ.get('SHOPBOT_ENGINE_API_KEY', 'none')}"}
        self.timeout = timeout
        self.system = SYSTEM_PROMPT + _policy_text()

    def request_body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": self.system}] + [_openai_message(m) for m in messages],
            "tools": [t.schema() for t in self.tools.values()],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
            "stream": True,
            "temperature": 0,
        }

    def propose(self, messages: list[dict[str, Any]], on_token: Any = None, **_ignored: Any) -> Decoded:
        """One step; reply text streams through `on_token` as the server sends it (it returns
        False to stop: the engine's grounding guard)."""
        import httpx

        text_parts: list[str] = []
        stopped = False
        calls: dict[int, dict[str, str]] = {}
        with httpx.Client(timeout=self.timeout) as client:
            with client.stream("POST", self.url, json=self.request_body(messages), headers=self.headers) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    for choice in chunk.get("choices", []):
                        delta = choice.get("delta") or {}
                        if delta.get("content") and not stopped:
                            if on_token is not None and not on_token(delta["content"]):
                                stopped = True
                            else:
                                text_parts.append(delta["content"])
                        for tc in delta.get("tool_calls") or []:
                            slot = calls.setdefault(int(tc.get("index", 0)), {"name": "", "arguments": ""})
                            fn = tc.get("function") or {}
                            slot["name"] += fn.get("name") or ""
                            slot["arguments"] += fn.get("arguments") or ""
        if calls:
            first = calls[min(calls)]  # one tool call at a time: extra parallel calls are dropped
            try:
                args = json.loads(first["arguments"] or "{}")
            except json.JSONDecodeError:
                args = None
            if first["name"] in self.tools and isinstance(args, dict):
                return _decision(first["name"], args)
            return _decision("respond")
        text = "".join(text_parts).strip()
        return _decision("respond", None, text or None)


def _openai_message(message: dict[str, Any]) -> dict[str, Any]:
    """A transcript message as OpenAI's API takes it (shopbot's own `act` and training marks dropped)."""
    return {k: v for k, v in message.items() if k not in ("act", "train", "train_said")}
