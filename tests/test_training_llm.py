"""`shopbot train llm` smoke test: LoRA on a tiny random Llama (CPU), then load it as backend (b)."""
from __future__ import annotations

import random
from pathlib import Path

from bot.store.generate import generate_store
from policies.llm_backends import HFProposer
from tests.test_engine_backends import make_tiny_checkpoint
from training.build_data import Builder, generated_tasks
from training.phrasing import Phrasing
from training.train_llm import LoraConfigLite, assistant_mask, train_llm
from training.transcripts import write_jsonl


def test_lora_fine_tune_smoke(tmp_path: Path) -> None:
    base = make_tiny_checkpoint(tmp_path / "base")
    store = generate_store(2, 6)
    rng = random.Random(0)
    builder = Builder({"demo": store}, Phrasing(rng), None)
    transcripts = [builder.conversation(t, random.Random(n)) for n, t in enumerate(generated_tasks("demo", store, 3, rng, "t"))]
    path = tmp_path / "train.jsonl"
    write_jsonl(path, transcripts)
    out = train_llm(base, path, tmp_path / "out", LoraConfigLite(epochs=1, max_length=256, max_conversations=3))
    assert (out / "config.json").is_file()
    proposer = HFProposer(out, max_new_tokens=4)
    ids, labels = assistant_mask(proposer.tokenizer, [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hello yes"}], [], 64)
    assert len(ids) == len(labels) and any(l == -100 for l in labels) and any(l != -100 for l in labels)
