"""`shopbot train llm` with the real pretrained base model. The engine fixture's short LoRA
fine-tune (`shopbot train --quick`, tests/conftest.py), written as GGUF for llama.cpp, beats the
base model on dev conversations; an impossible window fails loudly (slow)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.store.generate import generate_store
from policies.llm.models import base_gguf
from tools.search_policy import default_index
from training.build_data import build
from training.train_llm import LLMConfig, NoLabels, score_llm, train
from training.transcripts import read_jsonl

pytestmark = pytest.mark.slow


def test_a_short_fine_tune_writes_commands_the_base_model_cannot(trained_engine_home: Settings, tmp_path: Path) -> None:
    engine = trained_engine_home.models_dir / "engine"
    tuned = engine / "llm"
    card = json.loads((tuned / "model_card.json").read_text())
    assert (tuned / "engine.gguf").is_file() and (tuned / "adapter").is_dir()
    assert card["final_loss"] < card["loss_curve"][0] and card["base_licence"].startswith("Gemma")
    dev = read_jsonl(engine / "dev.jsonl")[:4]
    untuned = tmp_path / "untuned"
    untuned.mkdir()
    (untuned / "engine.gguf").symlink_to(base_gguf("gemma3-270m", trained_engine_home.models_dir))
    tuned_score = score_llm(tuned, dev, card["config"]["max_length"])
    base_score = score_llm(untuned, dev, card["config"]["max_length"])
    assert tuned_score["decisions"] >= 20
    assert tuned_score["action_accuracy"] > base_score["action_accuracy"] + 0.1, (tuned_score, base_score)
    assert tuned_score["args_exact"] > base_score["args_exact"], (tuned_score, base_score)


def test_no_labels_fails_loudly(tmp_path: Path) -> None:
    built = build({"demo": generate_store(2, 10)}, seed=1, n_generated=4, policy_search=default_index().search, progress=False)
    base = base_gguf("gemma3-270m", tmp_path / "models")
    with pytest.raises(NoLabels):
        train(built.train[:2], base, tmp_path / "out", LLMConfig(tokens=100, max_length=8))
