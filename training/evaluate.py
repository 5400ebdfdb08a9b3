"""Score an engine's next-step decisions against gold transcripts.

At every assistant message of every transcript the engine gets the gold conversation up to that
point and proposes a step. Metrics: action accuracy (tool name, or `respond`), argument exact
match over gold calls that carry arguments, precision/recall/F1 per action, a confusion matrix
(PNG with --report) and decision latency. A gold tool the engine does not know is an error.
"""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.transcripts import RESPOND, Transcript, decision_points


def _norm(args: Any) -> Any:
    if isinstance(args, dict):
        return {k: _norm(v) for k, v in args.items() if v is not None}
    if isinstance(args, list):
        return [_norm(v) for v in args]
    if isinstance(args, float) and args.is_integer():
        return int(args)
    return args


def args_match(gold: dict[str, Any] | None, predicted: dict[str, Any] | None) -> bool:
    return _norm(gold or {}) == _norm(predicted or {})


def evaluate(policy: Any, transcripts: list[Transcript], progress: bool = False, report_dir: Path | None = None) -> dict[str, Any]:
    """`policy.decide(messages)` -> Decision(action, arguments)."""
    golds: list[str] = []
    preds: list[str] = []
    latencies: list[float] = []
    with_args = exact = 0
    errors: list[dict[str, Any]] = []
    points = [(t.id, ctx, step) for t in transcripts for ctx, step in decision_points(t)]
    for tid, context, step in tqdm(points, desc="evaluating", disable=not progress):
        started = time.perf_counter()
        try:
            decision = policy.decide(context)
            action, arguments = decision.action, decision.arguments
        except Exception as exc:  # a crash on one decision is scored as a wrong answer, and reported
            action, arguments = "error", None
            errors.append({"transcript": tid, "error": f"{type(exc).__name__}: {exc}"})
        latencies.append((time.perf_counter() - started) * 1000)
        golds.append(step.action)
        preds.append(action)
        if step.action != RESPOND and step.arguments:
            with_args += 1
            if action == step.action and args_match(step.arguments, arguments):
                exact += 1
    labels = sorted(set(golds) | set(preds))
    per_action: dict[str, dict[str, float]] = {}
    tp = Counter(g for g, p in zip(golds, preds) if g == p)
    gold_n, pred_n = Counter(golds), Counter(preds)
    for label in labels:
        precision = tp[label] / pred_n[label] if pred_n[label] else 0.0
        recall = tp[label] / gold_n[label] if gold_n[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_action[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": gold_n[label]}
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g, p in zip(golds, preds):
        confusion[g][p] += 1
    ordered = sorted(latencies)
    report = {
        "transcripts": len(transcripts),
        "decisions": len(golds),
        "action_accuracy": round(sum(tp.values()) / len(golds), 4) if golds else 0.0,
        "args_exact": round(exact / with_args, 4) if with_args else 0.0,
        "calls_with_args": with_args,
        "majority_respond": round(gold_n[RESPOND] / len(golds), 4) if golds else 0.0,
        "latency_ms_p50": round(statistics.median(ordered), 2) if ordered else 0.0,
        "latency_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2) if ordered else 0.0,
        "per_action": per_action,
        "confusion": {g: dict(row) for g, row in confusion.items()},
        "errors": errors[:20],
    }
    if report_dir is not None:
        write_report(report, labels, Path(report_dir))
    return report


def write_report(report: dict[str, Any], labels: list[str], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    matrix = np.array([[report["confusion"].get(g, {}).get(p, 0) for p in labels] for g in labels], dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.6), max(5, len(labels) * 0.55)))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=70, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6, color="black" if shares[i, j] < 0.6 else "white")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"next-step confusion (accuracy {report['action_accuracy']:.3f})")
    fig.tight_layout()
    fig.savefig(directory / "confusion.png", dpi=120)
    plt.close(fig)
    (directory / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
