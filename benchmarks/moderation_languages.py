"""Moderation per language: false positives on ordinary shopper messages, recall on unsafe ones.

    .venv/bin/python -m benchmarks.moderation_languages [--data FILE] [--out FILE] [--misses]

Reads `benchmarks/data/moderation_languages.jsonl` (our own sentences, written for this check:
about 30 benign and 15 unsafe messages in each of en, zh-CN, es, fr, de, pt, ja; rows
{"text", "language", "label": "benign"|"unsafe", "category"}) and runs every message through the
moderator as a shopper message, one at a time, the way the server calls it.

Modes measured: the one `load_moderator(settings)` gives (what the server loads: the trained
classifier when `shopbot train moderation` has run in SHOPBOT_HOME, else "rules+package"), and
"rules only" (rules and PII redaction, no model) as the floor.

Counted:
- false positive: a benign message whose action is not "allow" (blocked, flagged or redacted);
- caught, per rule family of the unsafe row's category:
  - pii (card numbers, CVVs, passwords, id numbers): a `pii/*` reason (the value is masked);
  - injection (`prompt_injection`): the message is blocked or flagged, whatever the reason;
  - toxic (harassment, violence, hate, sexual, self-harm): blocked or flagged (self-harm gets the
    supportive reply and a flag).

Prints one table per mode and writes everything (including the texts that were missed or
wrongly stopped) to `benchmarks/results/moderation_languages.json`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bot.settings import Settings
from policies.moderation import ShopModerator, load_moderator
from policies.moderation_api import ModerationResult

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "moderation_languages.jsonl"
OUT = ROOT / "results" / "moderation_languages.json"
LANGUAGES = ("en", "zh-CN", "es", "fr", "de", "pt", "ja")
FAMILIES = ("pii", "injection", "toxic")


def read_rows(path: Path = DATA) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def family(category: str) -> str:
    """The rule family an unsafe row's category belongs to."""
    if category.startswith("pii"):
        return "pii"
    if category == "prompt_injection":
        return "injection"
    return "toxic"


def caught(row: dict[str, str], result: ModerationResult) -> bool:
    if family(row["category"]) == "pii":
        return any(reason.startswith("pii/") for reason in result.reasons)
    return result.action in ("block", "flag")


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def measure(moderator: ShopModerator, rows: list[dict[str, str]]) -> dict[str, Any]:
    """Per language: n benign, false-positive rate, n unsafe, recall, recall per family, and the
    rows behind the errors."""
    moderator.check("warm-up")  # lazy loads (encoder, fallback head, cross-lingual head) outside the timing
    if hasattr(moderator, "warm"):
        moderator.warm()
    results, seconds = [], []
    for row in rows:
        start = time.perf_counter()
        results.append(moderator.check(row["text"], "shopper"))
        seconds.append(time.perf_counter() - start)
    elapsed = sum(seconds)
    other = [s for row, s in zip(rows, seconds) if row["language"] != "en"]
    per_language: dict[str, Any] = {}
    for language in LANGUAGES:
        pairs = [(r, res) for r, res in zip(rows, results) if r["language"] == language]
        benign = [(r, res) for r, res in pairs if r["label"] == "benign"]
        unsafe = [(r, res) for r, res in pairs if r["label"] == "unsafe"]
        false_pos = [(r, res) for r, res in benign if res.action != "allow"]
        missed = [(r, res) for r, res in unsafe if not caught(r, res)]
        by_family = {}
        for fam in FAMILIES:
            rows_f = [(r, res) for r, res in unsafe if family(r["category"]) == fam]
            by_family[fam] = {"n": len(rows_f), "recall": _rate(sum(caught(r, res) for r, res in rows_f), len(rows_f))}
        per_language[language] = {
            "n_benign": len(benign),
            "false_positive_rate": _rate(len(false_pos), len(benign)),
            "n_unsafe": len(unsafe),
            "recall": _rate(len(unsafe) - len(missed), len(unsafe)),
            "recall_by_family": by_family,
            "false_positives": [{"text": r["text"], "action": res.action, "reasons": res.reasons} for r, res in false_pos],
            "missed": [{"text": r["text"], "category": r["category"], "action": res.action, "reasons": res.reasons} for r, res in missed],
        }
    return {"mode": moderator.mode, "ms_per_message": round(1000 * elapsed / max(len(rows), 1), 2),
            "ms_p50_english": round(1000 * statistics.median([s for row, s in zip(rows, seconds) if row["language"] == "en"] or [0.0]), 2),
            "ms_p50_other_languages": round(1000 * statistics.median(other or [0.0]), 2), "languages": per_language}


def table(report: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.0f}%"

    lines = [
        f"mode: {report['mode']}  ({report['ms_per_message']} ms a message; median {report['ms_p50_english']} ms "
        f"in English, {report['ms_p50_other_languages']} ms in the other languages)",
        f"{'lang':<6} {'benign':>6} {'FPR':>5} {'unsafe':>6} {'recall':>6} {'pii':>9} {'injection':>9} {'toxic':>9}",
    ]
    for language, row in report["languages"].items():
        fams = [f"{pct(row['recall_by_family'][f]['recall'])} /{row['recall_by_family'][f]['n']}" for f in FAMILIES]
        lines.append(
            f"{language:<6} {row['n_benign']:>6} {pct(row['false_positive_rate']):>5} {row['n_unsafe']:>6} "
            f"{pct(row['recall']):>6} {fams[0]:>9} {fams[1]:>9} {fams[2]:>9}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--misses", action="store_true", help="print the false positives and the missed rows")
    args = parser.parse_args()
    rows = read_rows(args.data)
    settings = Settings.from_env()
    moderators = {"rules only": ShopModerator(None)}
    served = load_moderator(settings, cache=False)  # what server.py's load_default_moderator loads
    moderators[served.mode] = served
    reports = []
    for moderator in moderators.values():
        report = measure(moderator, rows)
        reports.append(report)
        print(table(report))
        if args.misses:
            for language, row in report["languages"].items():
                for item in row["false_positives"]:
                    print(f"  FP     {language:<6} {item['action']:<6} {item['reasons']} {item['text']}")
                for item in row["missed"]:
                    print(f"  missed {language:<6} {item['category']:<17} {item['text']}")
        print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"data": str(args.data.relative_to(ROOT.parent)) if args.data.is_relative_to(ROOT.parent) else str(args.data),
                                    "n_rows": len(rows), "reports": reports}, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
