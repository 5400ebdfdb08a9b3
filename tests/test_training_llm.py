"""`shopbot train llm` with the real pretrained base model: a short LoRA fine-tune on a few dozen
simulated transcripts, written as GGUF for llama.cpp, beats the base model on dev conversations
(slow: about five minutes on 2 cores)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.generate import generate_store
from policies.llm.models import base_gguf
from tools.search_policy import default_index
from training.build_data import build
from training.train_llm import LLMConfig, NoLabels, score_llm, train

pytestmark = pytest.mark.slow


def test_a_short_fine_tune_writes_commands_the_base_model_cannot(tmp_path: Path) -> None:
    built = build({"demo": generate_store(2, 40)}, seed=5, n_generated=60, policy_search=default_index().search, progress=False)
    base = base_gguf("gemma3-270m", tmp_path / "models")
    config = LLMConfig(tokens=30_000, max_length=768, lora_layers=6)
    card = train(built.train[:48], base, tmp_path / "tuned", config)
    assert (tmp_path / "tuned" / "engine.gguf").is_file() and (tmp_path / "tuned" / "model_card.json").is_file()
    assert card["final_loss"] < card["loss_curve"][0] and card["base_licence"].startswith("Gemma")
    dev = built.dev[:4]
    untuned = tmp_path / "untuned"
    untuned.mkdir()
    (untuned / "engine.gguf").symlink_to(base)
    tuned_score = score_llm(tmp_path / "tuned", dev, config.max_length)
    base_score = score_llm(untuned, dev, config.max_length)
    assert tuned_score["action_accuracy"] > base_score["action_accuracy"] + 0.1, (tuned_score, base_score)


def test_no_labels_fails_loudly(tmp_path: Path) -> None:
    built = build({"demo": generate_store(2, 10)}, seed=1, n_generated=4, policy_search=default_index().search, progress=False)
    base = base_gguf("gemma3-270m", tmp_path / "models")
    with pytest.raises(NoLabels):
        train(built.train[:2], base, tmp_path / "out", LLMConfig(tokens=100, max_length=8))
