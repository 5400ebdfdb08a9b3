"""Latency of the moderation filter per message, one message at a time (how the server calls it).

    .venv/bin/python -m benchmarks.moderation [--n 300] [--threads 1] [--plot docs/moderation_latency.png]

Measures each stage (normalise, PII redaction, rules, full `check`) for every mode available here:
"rules only", "rules+package" and, when `shopbot train moderation` has run, "classifier+rules".
Two message sets: short support messages (our generator) and, when SHOPBOT_DATA_DIR has it, the
longer OpenAI moderation prompts (median ~90 tokens, truncated to 128). Prints medians and p95/p99.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot.settings import Settings
from retrieval.minilm_int8 import shared_encoder
from policies.moderation import ShopModerator, load_moderator
from policies.moderation.benign_text import generate_benign
from policies.moderation.classifier import PackageClassifier
from policies.moderation.normalize import normalize
from policies.moderation.pii import redact
from policies.moderation.rules import rule_categories


def timed(fn: Callable[[str], object], texts: list[str]) -> dict[str, float]:
    fn(texts[0])  # warm-up (lazy model loads)
    ms = []
    for text in texts:
        start = time.perf_counter()
        fn(text)
        ms.append((time.perf_counter() - start) * 1000.0)
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "n": len(ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="messages per set")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--plot", type=Path, default=None, help="write a latency histogram PNG here")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = Settings.from_env()
    sets = {"support messages": generate_benign(args.n, seed=42)}
    openai = settings.data_dir / "openai-moderation" / "dev.jsonl.gz" if settings.data_dir else None
    if openai is not None and openai.is_file():
        from policies.moderation.evaluate import read_moderation_jsonl

        sets["openai prompts"] = [r["prompt"] for r in read_moderation_jsonl(openai)][: args.n]
    # No cache of recent texts: every message is encoded, as a message the server sees first.
    package = PackageClassifier(shared_encoder(settings.models_dir, cache=False))
    moderators: dict[str, ShopModerator] = {"rules only": ShopModerator(None), "rules+package": ShopModerator(package)}
    trained = load_moderator(settings, cache=False)
    if trained.mode == "classifier+rules":
        moderators["classifier+rules"] = trained
    report: dict[str, object] = {"cpu_count": os.cpu_count(), "threads": args.threads, "results": {}}
    results: dict[str, dict[str, object]] = {}
    for set_name, texts in sets.items():
        row: dict[str, object] = {
            "normalize": timed(normalize, texts),
            "redact": timed(redact, texts),
            "rules": timed(lambda t: rule_categories(normalize(t)), texts),
        }
        for mode, moderator in moderators.items():
            row[f"check [{mode}]"] = timed(moderator.check, texts)
        results[set_name] = row
        for stage, stats in row.items():
            print(f"{set_name:<17} {stage:<28} p50 {stats['p50_ms']:>8.3f} ms  p95 {stats['p95_ms']:>8.3f}  p99 {stats['p99_ms']:>8.3f}")  # type: ignore[index]
    report["results"] = results
    print(json.dumps(report))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        labels, values = [], []
        for set_name, row in results.items():
            for stage, stats in row.items():
                if stage.startswith("check"):
                    labels.append(f"{set_name}\n{stage[7:-1]}")
                    values.append(stats["p50_ms"])  # type: ignore[index]
        ax.barh(labels, values)
        ax.axvline(5.0, color="red", linestyle="--", label="5 ms budget")
        ax.set_xlabel("p50 ms per message (2-core CPU, shared)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
