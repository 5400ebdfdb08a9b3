"""`shopbot train llm --base DIR`: LoRA fine-tuning of a local causal LM on the engine transcripts.

Each transcript is rendered with the checkpoint's own chat template (system prompt with the store
policy, the tool schemas, then the conversation with its tool calls and results) and trained with
the causal LM loss on the assistant turns (the tokens the engine will have to produce). LoRA
adapters (peft) are merged into the weights at the end so `SHOPBOT_ENGINE=hf:OUT` loads a plain
checkpoint. See docs/engine.md for the GPU recipe; on CPU this is a smoke test only.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from policies.llm_backends import SYSTEM_PROMPT, _policy_text, hf_messages
from training.transcripts import read_jsonl


@dataclass
class LoraConfigLite:
    epochs: float = 1.0
    lr: float = 2e-4
    rank: int = 8
    alpha: int = 16
    max_length: int = 2048
    max_conversations: int | None = None
    seed: int = 0


def _target_modules(model) -> list[str]:  # type: ignore[no-untyped-def]
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    preferred = [m for m in ("q_proj", "k_proj", "v_proj", "o_proj") if m in names]
    return preferred or [m for m in ("c_attn", "query_key_value") if m in names]


def assistant_mask(tokenizer, chat: list[dict], tools: list[dict], max_length: int) -> tuple[list[int], list[int]]:  # type: ignore[no-untyped-def]
    """Token ids of the whole chat and labels that keep only tokens added by assistant turns."""
    ids: list[int] = []
    labels: list[int] = []
    for n in range(1, len(chat) + 1):
        text = tokenizer.apply_chat_template(chat[:n], tools=tools, tokenize=False)
        full = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
        new = full[len(ids) :]
        ids = full
        labels += new if chat[n - 1]["role"] == "assistant" else [-100] * len(new)
        if len(ids) >= max_length:
            break
    return ids, labels[: len(ids)]


def train_llm(base: Path, transcripts: Path, out: Path, config: LoraConfigLite | None = None) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.registry import default_tools

    config = config or LoraConfigLite()
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.05, target_modules=_target_modules(model), task_type="CAUSAL_LM"))
    tools = [t.schema() for t in default_tools().values()]
    system = {"role": "system", "content": SYSTEM_PROMPT + _policy_text()}
    data = read_jsonl(transcripts)
    random.Random(config.seed).shuffle(data)
    if config.max_conversations:
        data = data[: config.max_conversations]
    examples = [assistant_mask(tokenizer, [system] + hf_messages(t.messages), tools, config.max_length) for t in tqdm(data, desc="tokenising")]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    steps = max(1, int(len(examples) * config.epochs))
    model.train()
    progress = tqdm(range(steps), desc="LoRA fine-tuning")
    for step in progress:
        ids, labels = examples[step % len(examples)]
        if not any(l != -100 for l in labels):
            continue
        output = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        progress.set_postfix(loss=f"{output.loss.item():.3f}")
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
