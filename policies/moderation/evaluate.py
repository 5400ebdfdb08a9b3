"""Evaluation on the OpenAI moderation data format: AUPRC per category, any-unsafe AUPRC, latency.

Rows: {"prompt": str, "S": 0/1, "H": ..., "V", "HR", "SH", "S3", "H2", "V2"}; a missing key (or
null) means the label is unknown, and that row is left out of that category's AUPRC. A row is
unsafe when any label is 1. Files may be gzipped (`.gz`).
"""
from __future__ import annotations

import gzip
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from policies.moderation.config import OPENAI_CODES


class DataFormatError(ValueError):
    """The evaluation file is not in the expected format."""


def read_moderation_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    rows: list[dict[str, Any]] = []
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
                raise DataFormatError(f"{path}:{n}: expected an object with a string 'prompt'")
            rows.append(row)
    return rows


def read_lines(path: Path) -> list[str]:
    """One text per line (blank lines skipped)."""
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_unsafe(row: dict[str, Any]) -> int:
    return int(any(row.get(code) == 1 for code in OPENAI_CODES))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision (area under the precision-recall curve); None without both classes."""
    from sklearn.metrics import average_precision_score

    if len(labels) == 0 or labels.min() == labels.max():
        return None
    return float(average_precision_score(labels, scores))


def score_texts(moderator: Any, texts: list[str]) -> tuple[list[dict[str, float]], list[float]]:
    """Scores for each text and the wall time of a full `check` per message in milliseconds
    (one message at a time, as the server calls it: normalise, redact, rules, classifier, decide)."""
    scores, times = [], []
    for text in texts:
        start = time.perf_counter()
        result = moderator.check(text)
        times.append((time.perf_counter() - start) * 1000.0)
        scores.append(result.scores)
    return scores, times


RULE_CATEGORIES_OF_TAXONOMY = ("self-harm", "violence", "sexual/minors")


def unsafe_of(scores: dict[str, float], threshold: float = 0.5) -> float:
    """The any-unsafe score the deployed moderator acts on: the classifier's probability, lifted to
    at least the threshold when a taxonomy rule fired (those messages are acted on either way), and
    ranked among themselves by the classifier. Without a classifier, rule hits score 1.0."""
    unsafe = scores.get("unsafe")
    rule_hit = any(scores.get(c, 0.0) >= 1.0 for c in RULE_CATEGORIES_OF_TAXONOMY)
    if unsafe is None:
        return 1.0 if rule_hit else 0.0
    return max(unsafe, threshold + (1.0 - threshold) * unsafe) if rule_hit else unsafe


def evaluate(
    moderator: Any,
    rows: list[dict[str, Any]],
    benign: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The report `shopbot evaluate-moderation` prints. `moderator` is a `ShopModerator`."""
    texts = [row["prompt"] for row in rows]
    moderator.check("warm-up")  # load models before timing
    scores, times = score_texts(moderator, texts)
    threshold = moderator.config.unsafe_threshold
    unsafe = np.array([unsafe_of(s, threshold) for s in scores])
    report: dict[str, Any] = {"mode": moderator.mode, "rows": len(rows)}
    for code, name in OPENAI_CODES.items():
        known = [i for i, row in enumerate(rows) if row.get(code) in (0, 1)]
        labels = np.array([rows[i][code] for i in known])
        # The category's own score where the classifier has one; the unsafe score otherwise.
        cat = np.array([scores[i].get(name, unsafe[i]) for i in known])
        value = auprc(labels, np.maximum(cat, 0.0) * unsafe[known] if known else cat)
        report[f"{name}_auprc"] = None if value is None else round(value, 4)
    report["any_unsafe_auprc"] = auprc(np.array([is_unsafe(r) for r in rows]), unsafe)
    if report["any_unsafe_auprc"] is not None:
        report["any_unsafe_auprc"] = round(report["any_unsafe_auprc"], 4)
    if all("unsafe" in s for s in scores):  # the classifier alone, without the rules
        alone = auprc(np.array([is_unsafe(r) for r in rows]), np.array([s["unsafe"] for s in scores]))
        report["classifier_unsafe_auprc"] = None if alone is None else round(alone, 4)
    report["latency_ms_p50"] = round(statistics.median(times), 3) if times else None
    report["latency_ms_p95"] = round(float(np.percentile(times, 95)), 3) if times else None
    if benign is not None:
        report.update(false_positives(moderator, benign))
    return report


def false_positives(moderator: Any, benign: list[str]) -> dict[str, Any]:
    """Share of ordinary messages blocked or flagged at the deployed thresholds, and why."""
    decisions = []
    for start in range(0, len(benign), 256):  # batched: the false-positive rate needs no timing
        decisions += moderator.check_batch(benign[start:start + 256])
    blocked_or_flagged = [d for d in decisions if d.action in ("block", "flag")]
    return {
        "benign_messages": len(benign),
        "false_positive_rate": round(len(blocked_or_flagged) / max(len(benign), 1), 5),
        "false_positive_reasons": _count(r for d in blocked_or_flagged for r in d.reasons),
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
