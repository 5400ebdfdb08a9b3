"""Decision latency of the default engine on CPU: `python -m benchmarks.engine [--n 300]`.

Loads the trained engine from $SHOPBOT_HOME/models/engine and times `Decider.decide` on the
decision points of its dev transcripts, in conversation order (the language model keeps each
conversation's cache between decisions, as in the server). Decisions are reported by who took
them: the fast model alone, the fast model with the language model writing the arguments, the
language model alone; medians and tail percentiles in milliseconds, and a histogram
(`--plot FILE`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import defaultdict

import numpy as np


def summary(times: list[float]) -> dict[str, float]:
    a = np.asarray(times)
    return {"n": len(times), "p50_ms": round(float(np.percentile(a, 50)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1), "mean_ms": round(float(a.mean()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="decision points to time")
    parser.add_argument("--transcripts", default=None, help="JSONL (default: the engine's dev.jsonl)")
    parser.add_argument("--threshold", type=float, default=None, help="the cascade threshold (default: the model card's)")
    parser.add_argument("--plot", default=None, help="write a latency histogram (PNG) here")
    args = parser.parse_args()

    from bot.settings import Settings
    from training.train_engine import load_default_decider
    from training.transcripts import read_jsonl

    settings = Settings.from_env()
    decider = load_default_decider(settings, threshold=args.threshold)
    dev = read_jsonl(args.transcripts or settings.models_dir / "engine" / "dev.jsonl")
    points = [(t.id, t.messages[:n]) for t in dev for n, m in enumerate(t.messages) if m.get("role") == "assistant"][: args.n]
    for tid, ctx in points[:5]:  # warm-up (lazy init, allocator)
        decider.decide(ctx, conversation="warm-up")
    by_source: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    for tid, ctx in points:
        started = time.perf_counter()
        decision = decider.decide(ctx, conversation=tid)
        ms = (time.perf_counter() - started) * 1000
        by_source[decision.source].append(ms)
        every.append(ms)
    results = {"all": summary(every), **{source: summary(times) for source, times in sorted(by_source.items())}}
    results["threshold"] = decider.threshold
    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, no GPU"
    print(json.dumps(results, indent=2))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        bins = np.logspace(0, np.log10(max(every) + 1), 40)
        for source, times in sorted(by_source.items()):
            ax.hist(times, bins=bins, alpha=0.6, label=f"{source} (n={len(times)})")
        ax.set_xscale("log")
        ax.set_xlabel("decision latency (ms, log scale)")
        ax.set_ylabel("decisions")
        ax.legend()
        ax.set_title("engine decisions on 2 CPU cores")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
