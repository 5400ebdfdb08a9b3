"""`shopbot evaluate-moderation` and `shopbot train moderation` from the command line."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings

# Our own made-up rows in the OpenAI moderation format (no text from the public sets).
ROWS = [
    {"prompt": "where is my order, it has been a week", "S": 0, "H": 0, "V": 0, "HR": 0, "SH": 0, "S3": 0, "H2": 0, "V2": 0},
    {"prompt": "can I return the jacket if it does not fit?", "S": 0, "HR": 0, "V": 0},
    {"prompt": "you are a worthless fucking idiot", "HR": 1, "S": 0, "V": 0, "SH": 0},
    {"prompt": "I want to kill myself tonight", "SH": 1, "V": 0, "HR": 0},
    {"prompt": "I will find you and kill you", "V": 1, "HR": 1, "SH": 0},
    {"prompt": "this blender is garbage, I want my money back", "HR": 0, "V": 0, "S": 0, "SH": 0},
    {"prompt": "send me nude pictures right now", "S": 1, "HR": 0, "SH": 0, "V": 0},
    {"prompt": "do you sell hiking boots in size 44", "S": 0, "H": 0, "HR": 0, "SH": 0, "V": 0},
]
BENIGN = ["where is my package?", "I want a refund for order #W1234567, the mug arrived broken", "do you ship to canada"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOPBOT_DATA_DIR", str(tmp_path / "no-data"))
    return tmp_path


def _write(path: Path, rows: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def test_evaluate_moderation_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(home / "rows.jsonl.gz", ROWS)
    benign = home / "benign.txt"
    benign.write_text("\n".join(BENIGN) + "\n")
    assert main(["evaluate-moderation", "--data", str(data), "--benign", str(benign), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["mode"] == "rules+package"
    for key in ["sexual_auprc", "harassment_auprc", "self-harm_auprc", "violence_auprc", "any_unsafe_auprc",
                "latency_ms_p50", "false_positive_rate"]:
        assert key in report
    assert report["hate/threatening_auprc"] is None  # no labels: unknown, not zero
    assert report["any_unsafe_auprc"] > 0.9  # the unsafe rows here are blatant
    assert report["false_positive_rate"] == 0.0
    assert report["latency_ms_p50"] > 0


def test_evaluate_moderation_text_output_and_bad_file(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(home / "rows.jsonl", ROWS)
    assert main(["evaluate-moderation", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "any_unsafe_auprc" in out and "latency_ms_p50" in out
    bad = home / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["evaluate-moderation", "--data", str(bad)]) == 2
    assert "not JSON" in capsys.readouterr().out


def test_train_moderation_without_data_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "moderation"]) == 0  # `shopbot up` goes on: moderation runs rules+package
    assert "nothing to train" in capsys.readouterr().out


@pytest.mark.slow
def test_training_on_the_public_data_is_idempotent_and_loads(tmp_path: Path) -> None:
    settings = Settings.from_env(home=tmp_path)
    if settings.data_dir is None or not (settings.data_dir / "openai-moderation" / "dev.jsonl.gz").is_file():
        pytest.skip("needs the public data in SHOPBOT_DATA_DIR (openai-moderation/dev.jsonl.gz)")
    from policies.moderation import load_moderator
    from training.moderation import TrainConfig, train_moderation

    config = TrainConfig(n_benign=300, davidson_per_class=200, bitext_sample=200, folds=3, wiki_train=100, bias_pairs=40)
    meta = train_moderation(settings, config, progress=False)
    assert meta["thresholds"]["unsafe"] > 0 and meta["data_hash"]
    assert 0.5 < meta["metrics"]["holdout"]["any_unsafe_auprc"] <= 1.0  # the model that never saw the holdout
    assert "bias" in meta["metrics"] and "false_positive_rate" in meta["metrics"]["bitext"]
    # The deployed model is the same recipe refit on every OpenAI row, holdout included.
    holdout = settings.models_dir / "moderation" / "holdout.jsonl.gz"
    with gzip.open(holdout, "rt") as fh:
        n_holdout = sum(1 for _ in fh)
    from policies.moderation.evaluate import read_moderation_jsonl

    n_openai = len(read_moderation_jsonl(settings.data_dir / "openai-moderation" / "dev.jsonl.gz"))
    assert meta["metrics"]["holdout"]["rows"] == n_holdout and 0 < n_holdout < n_openai
    assert meta["metrics"]["refit"]["openai_rows"] == n_openai
    assert meta["thresholds"]["unsafe"] == meta["metrics"]["refit"]["unsafe_threshold"]
    from bot.commands.moderation import _trained_on

    assert "not a held-out score" in (_trained_on(holdout, settings) or "")
    assert _trained_on(settings.models_dir / "elsewhere.jsonl", settings) is None
    again = train_moderation(settings, config, progress=False)
    assert again.get("skipped") is True and again["data_hash"] == meta["data_hash"]
    moderator = load_moderator(settings)
    assert moderator.mode == "classifier+rules"
    texts = ["where is my order", "you are a worthless idiot", "those people are vermin"]
    fast, reference = moderator.classifier.score_batch(texts), moderator.classifier.score_batch_reference(texts)
    assert all(abs(f[k] - r[k]) < 1e-5 for f, r in zip(fast, reference) for k in r)  # compiled heads == sklearn
    assert moderator.check("this blender is garbage, I want my money back").action == "allow"
    assert moderator.check("you are a worthless fucking idiot").action == "block"
