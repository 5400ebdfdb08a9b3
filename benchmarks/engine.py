"""Decision latency of the default engine on CPU: `python -m benchmarks.engine [--n 300]`.

Loads the trained model from $SHOPBOT_HOME/models/engine and times `DecisionPolicy.decide` on
decision points of its dev transcripts, in conversation order. Three regimes:
- cold: the text-embedding cache is cleared before every decision (all three texts are encoded);
- live: the engine's own reply and the shopper's previous message were encoded at earlier
  turns (moderation reads the reply; `ShopEngine.run_turn` warms it too): only the shopper's new
  message is encoded. (In the server the moderator has encoded that one as well, just before the
  decision: retrieval/minilm_int8.py shares the pass.)
- conversation: decisions in order with the cache kept (what `shopbot evaluate` sees: several
  decisions share the same last shopper and agent messages).
Prints medians and tail percentiles in milliseconds.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="decision points to time")
    args = parser.parse_args()

    from bot.engine import load_policy
    from bot.settings import Settings
    from training.transcripts import decision_points, read_jsonl

    settings = Settings.from_env()
    policy = load_policy(settings)
    encoder = policy.proposer.router.encoder.encoder  # the shared int8 encoder (retrieval/minilm_int8.py)
    dev = read_jsonl(settings.models_dir / "engine" / "dev.jsonl")
    points = [ctx for t in dev for ctx, _ in decision_points(t)][: args.n]
    for ctx in points[:5]:  # warm-up (lazy init, allocator)
        policy.decide(ctx)
    results = {}
    from bot.engine_args import ConversationView
    from policies.router import previous_user_text, texts_of

    for regime in ("cold", "live", "conversation"):
        encoder.clear_cache()
        times = []
        for ctx in points:
            if regime in ("cold", "live"):
                encoder.clear_cache()
            if regime == "live":  # encoded at earlier turns: our last reply, the shopper's previous message
                view = ConversationView.parse(ctx)
                policy.proposer.router.encoder.encode([texts_of(view)[1], previous_user_text(view)])
            started = time.perf_counter()
            policy.decide(ctx)
            times.append((time.perf_counter() - started) * 1000)
        results[regime] = {
            "n": len(times),
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "p99_ms": round(percentile(times, 99), 2),
            "mean_ms": round(statistics.fmean(times), 2),
        }
    import os

    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch threads 1, no GPU"
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
