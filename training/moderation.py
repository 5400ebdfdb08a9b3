"""Train the moderation classifier: `shopbot train moderation [--force] [--holdout 0.3]`.

Read top to bottom; every step is one function below `train_moderation`.

1. Read the public sets from SHOPBOT_DATA_DIR (never copied into the repo):
   - openai-moderation/dev.jsonl.gz: the 8-category labels we are measured on. A fixed, stratified
     30% of it is held out and never trained on; its numbers are the honest ones we report.
   - davidson-hate-offensive (tweets), toxigen-seeds (implicit hate), wikitoxicity-bias-eval
     (Wikipedia comments and their identity-swapped twins; half of the comments are kept back for
     the bias check), jigsaw-toxic-sample: each trains one "external" head.
   - our own examples (policies/moderation/examples.py) and our generator of ordinary, often angry,
     support messages (policies/moderation/benign_text.py) so angry shoppers are not blocked.
2. Embed every text once with the int8 MiniLM (cached under models/moderation/cache).
3. Fit base models with K-fold out-of-fold predictions, then a stacking logistic regression.
4. Pick the "unsafe" threshold on out-of-fold predictions (a precision target, and a cap on our
   own benign messages), never on the holdout.
5. Measure on the holdout (AUPRC, latency): the recipe's honest score on text it never saw.
6. Refit the same recipe (steps 3-4) on every OpenAI row, holdout included, and deploy that one:
   the holdout number is the recipe's, the deployed model has 43% more labelled rows (on dev, 1.43x
   the rows gave +0.013 AUPRC). `refit=False` (`--no-refit`) deploys the measured model instead.
   The deployed model is measured on Bitext support utterances (false-positive rate at its
   threshold) and on the held-back Wikipedia twins (bias gap); `heads.joblib` and the sidecar
   `moderation.json` (model, data hash, date, thresholds, metrics) are written.

Idempotent: when the model exists and the data hash matches, it does nothing (unless force=True).
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policies.moderation.benign_text import generate_benign
from policies.moderation.classifier import ARTIFACT, KNN_K, SIDECAR, STACK_COLUMNS, profanity_probs, stack_features
from policies.moderation.config import OPENAI_CODES
from retrieval.minilm_int8 import EMBED_DIM, MODEL_NAME, ONNX_FILE, Encoder, OnnxEncoder, export_onnx
from policies.moderation.evaluate import auprc, is_unsafe, read_moderation_jsonl
from policies.moderation.examples import BENIGN_EXAMPLES, CATEGORY_PROTOTYPES, UNSAFE_EXAMPLES
from policies.moderation.normalize import normalize

log = logging.getLogger(__name__)
CODE_VERSION = "moderation-train-6"  # bump when the recipe changes: it is part of the data hash


class MissingData(FileNotFoundError):
    """The public moderation sets are not in SHOPBOT_DATA_DIR."""


@dataclass
class TrainConfig:
    seed: int = 0
    holdout: float = 0.3  # fraction of the OpenAI dev half never trained on (0 = train on all of it)
    refit: bool = True  # after measuring on the holdout, deploy the same recipe refit on every OpenAI row
    max_tokens: int = 128
    encoder: str = "onnx"  # "onnx" (ONNX Runtime int8, ~2 ms a message) or "torch" (PyTorch int8)
    pooling: str = "multi"  # onnx only: "mean" (384-d) or "multi" (mean + CLS + layers 4 and 2, 1536-d)
    folds: int = 5
    n_benign: int = 1500  # generated ordinary support messages (negatives)
    benign_weight: float = 0.5  # per generated message, relative to an OpenAI row
    davidson_per_class: int = 1500  # cap per class (hate / offensive / neither) to keep training fast
    precision_target: float = 0.85  # the unsafe threshold is the lowest with this out-of-fold precision
    max_benign_fpr: float = 0.005  # ... and at most this share of our own benign messages above it
    bitext_sample: int = 3000  # Bitext utterances scored for the false-positive rate (0 = all)
    wiki_train: int = 600  # Wikipedia comments (with their twins) for the external head; long texts are slow
    bias_pairs: int = 300  # held-back Wikipedia twin pairs scored for the bias check (0 = all ~750)


# The files each step reads, relative to the data dir. Required ones make training fail without them.
REQUIRED = {"openai": "openai-moderation/dev.jsonl.gz"}
OPTIONAL = {
    "davidson": "davidson-hate-offensive/labeled_data.csv",
    "toxigen": "toxigen-seeds/toxigen_seed_sentences.csv",
    "wiki": "wikitoxicity-bias-eval/toxicity_nonfuzzed_testset.csv",
    "wiki_twin": "wikitoxicity-bias-eval/toxicity_fuzzed_testset.csv",
    "jigsaw": "jigsaw-toxic-sample/test_examples.csv",
    "bitext_utterances": "bitext-customer-support/bitext_cs_intents_21534_utterances.csv",
    "bitext_instructions": "bitext-customer-support/bitext_cs_llm_4514_with_responses.csv",
}


def model_dir(settings: Any) -> Path:
    return Path(settings.models_dir) / "moderation"


def data_files(data_dir: Path | None) -> dict[str, Path]:
    if data_dir is None:
        raise MissingData("SHOPBOT_DATA_DIR is not set and ../shared/data does not exist")
    files = {name: data_dir / rel for name, rel in {**REQUIRED, **OPTIONAL}.items()}
    missing = [str(files[name]) for name in REQUIRED if not files[name].is_file()]
    if missing:
        raise MissingData(f"moderation training data not found: {', '.join(missing)}")
    return {name: path for name, path in files.items() if path.is_file()}


def data_hash(files: dict[str, Path], config: TrainConfig) -> str:
    h = hashlib.sha256(CODE_VERSION.encode())
    h.update(ONNX_FILE.encode())  # the encoder's export version
    h.update(json.dumps([UNSAFE_EXAMPLES, BENIGN_EXAMPLES, CATEGORY_PROTOTYPES], sort_keys=True).encode())  # our own examples
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    for name in sorted(files):
        h.update(name.encode())
        h.update(hashlib.sha256(files[name].read_bytes()).digest())
    return h.hexdigest()[:16]


def is_up_to_date(settings: Any, config: TrainConfig) -> bool:
    sidecar = model_dir(settings) / SIDECAR
    if not sidecar.is_file() or not (model_dir(settings) / ARTIFACT).is_file():
        return False
    try:
        meta = json.loads(sidecar.read_text())
        return meta.get("data_hash") == data_hash(data_files(settings.data_dir), config)
    except (OSError, ValueError, MissingData):
        return False


# ---------------------------------------------------------------------------------------------
# 1. Data
# ---------------------------------------------------------------------------------------------
def _stable_fraction(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by the text itself: the split never depends on file order."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_openai(rows: list[dict[str, Any]], holdout: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Stratified by any-unsafe: the same share of unsafe rows lands in the holdout."""
    train, held = [], []
    for label in (0, 1):
        group = sorted((r for r in rows if is_unsafe(r) == label), key=lambda r: _stable_fraction(r["prompt"], seed))
        n_held = round(len(group) * holdout)
        held += group[:n_held]
        train += group[n_held:]
    return train, held


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def read_external(files: dict[str, Path], config: TrainConfig) -> dict[str, tuple[list[str], list[int]]]:
    """Each external set as (texts, 0/1 labels) for its own head."""
    rng = random.Random(config.seed)
    sets: dict[str, tuple[list[str], list[int]]] = {}
    if "davidson" in files:
        by_class: dict[str, list[str]] = {}
        for row in _csv(files["davidson"]):
            by_class.setdefault(row["class"], []).append(row["tweet"])
        texts, labels = [], []
        for cls, tweets in sorted(by_class.items()):  # 0 hate, 1 offensive, 2 neither
            rng.shuffle(tweets)
            kept = tweets[: config.davidson_per_class]
            texts += kept
            labels += [int(cls != "2")] * len(kept)
        sets["davidson"] = (texts, labels)
    if "toxigen" in files:
        rows = _csv(files["toxigen"])
        sets["toxigen"] = ([r["text"] for r in rows], [int(r["label"] == "hate") for r in rows])
    if "wiki" in files:
        texts, labels = [], []
        twins = {r["rev_id"]: r for r in _csv(files["wiki_twin"])} if "wiki_twin" in files else {}
        kept_rows = [r for r in _csv(files["wiki"]) if _stable_fraction(r["rev_id"], config.seed) >= 0.5]
        kept_rows.sort(key=lambda r: _stable_fraction("train:" + r["rev_id"], config.seed))
        for row in kept_rows[: config.wiki_train // 2]:  # the other half is kept back for the bias check
            for r in (row, twins.get(row["rev_id"])):  # both twins: counterfactual augmentation
                if r is not None:
                    texts.append(r["comment"])
                    labels.append(int(r["toxic"] == "True"))
        if "jigsaw" in files:
            for row in _csv(files["jigsaw"]):
                texts.append(row["comment_text"])
                labels.append(int(row["toxic"] == "1"))
        sets["wiki"] = (texts, labels)
    return sets


def read_bias_pairs(files: dict[str, Path], seed: int, limit: int = 0) -> list[tuple[str, str, int]]:
    """(original, identity-swapped, toxic) for the Wikipedia comments the classifier never saw.

    Only pairs where the swap changed the text; `limit` keeps a fixed, stratified-by-hash sample."""
    if "wiki" not in files or "wiki_twin" not in files:
        return []
    twins = {r["rev_id"]: r["comment"] for r in _csv(files["wiki_twin"])}
    rows = [
        r for r in _csv(files["wiki"])
        if r["rev_id"] in twins and twins[r["rev_id"]] != r["comment"] and _stable_fraction(r["rev_id"], seed) < 0.5
    ]
    rows.sort(key=lambda r: _stable_fraction("bias:" + r["rev_id"], seed))
    if limit:
        toxic = [r for r in rows if r["toxic"] == "True"]
        clean = [r for r in rows if r["toxic"] != "True"]
        n_toxic = max(1, round(limit * len(toxic) / max(len(rows), 1)))
        rows = toxic[:n_toxic] + clean[: limit - n_toxic]
    return [(r["comment"], twins[r["rev_id"]], int(r["toxic"] == "True")) for r in rows]


def read_bitext(files: dict[str, Path], sample: int, seed: int) -> list[str]:
    """Ordinary support utterances (the benign evaluation set; never trained on)."""
    texts: set[str] = set()
    if "bitext_utterances" in files:
        texts.update(r["utterance"].strip() for r in _csv(files["bitext_utterances"]))
    if "bitext_instructions" in files:
        texts.update(r["instruction"].strip() for r in _csv(files["bitext_instructions"]))
    ordered = sorted(t for t in texts if t)
    if sample and len(ordered) > sample:
        ordered = random.Random(seed).sample(ordered, sample)
    return ordered


@dataclass
class MainRows:
    """The rows the main heads train on: the OpenAI rows first, then our own labelled examples, then
    our generated support messages (negatives)."""

    texts: list[str]  # normalised
    y_any: np.ndarray  # 0/1
    y_cat: np.ndarray  # per OpenAI category: 0/1, -1 unknown
    weights: np.ndarray
    generated: np.ndarray  # mask: the generated support messages
    emb: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    profanity: np.ndarray = field(default_factory=lambda: np.zeros(0))


def main_rows(openai_rows: list[dict[str, Any]], config: TrainConfig) -> MainRows:
    """Texts, labels and weights for the main heads (not embedded yet)."""
    codes = list(OPENAI_CODES)
    texts, y_any, y_cat, weights = [], [], [], []
    for row in openai_rows:
        texts.append(row["prompt"])
        y_any.append(is_unsafe(row))
        y_cat.append([row[c] if row.get(c) in (0, 1) else -1 for c in codes])
        weights.append(1.0)
    names = list(OPENAI_CODES.values())
    for category, examples in UNSAFE_EXAMPLES.items():
        for text in examples:
            texts.append(text)
            y_any.append(1)
            y_cat.append([1 if n == category else -1 for n in names])
            weights.append(1.0)
    n_written = len(texts) + len(BENIGN_EXAMPLES)
    benign = BENIGN_EXAMPLES + generate_benign(config.n_benign, seed=config.seed)
    for i, text in enumerate(benign):
        texts.append(text)
        y_any.append(0)
        y_cat.append([0] * len(codes))
        weights.append(1.0 if i < len(BENIGN_EXAMPLES) else config.benign_weight)
    generated = np.zeros(len(texts), dtype=bool)
    generated[n_written:] = True
    return MainRows([normalize(t) for t in texts], np.array(y_any), np.array(y_cat), np.array(weights), generated)


# ---------------------------------------------------------------------------------------------
# 2. Embeddings (cached: re-training with another recipe does not re-embed)
# ---------------------------------------------------------------------------------------------
class EmbeddingCache:
    def __init__(self, path: Path, encoder: Encoder | OnnxEncoder) -> None:
        self.path, self.encoder = path, encoder
        self.table: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as data:
                self.table = dict(zip(data["keys"].tolist(), data["vectors"]))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self.table}.items())
        if todo:
            vectors = self.encoder.embed([t for _, t in todo], progress=progress)
            self.table.update({k: v for (k, _), v in zip(todo, vectors)})
        return np.stack([self.table[k] for k in keys]) if keys else np.zeros((0, getattr(self.encoder, "dim", 384)), np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.table)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.table[k] for k in keys]))
        tmp.replace(self.path)


def embed_main_rows(cache: EmbeddingCache, openai_rows: list[dict[str, Any]], config: TrainConfig, progress: bool) -> MainRows:
    """`main_rows` with their embeddings and alt-profanity-check probabilities."""
    rows = main_rows(openai_rows, config)
    rows.emb = cache.embed(rows.texts, progress=progress)
    cache.save()
    rows.profanity = profanity_probs(rows.texts)
    return rows


# ---------------------------------------------------------------------------------------------
# 3. Models
# ---------------------------------------------------------------------------------------------
def fit_base(emb: np.ndarray, texts: list[str], y_any: np.ndarray, y_cat: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """The base heads on the main rows (see policies/moderation/classifier.py for what each is)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    heads: dict[str, Any] = {"emb_any": LogisticRegression(C=1.0, max_iter=3000).fit(emb, y_any, sample_weight=w)}
    heads["categories"] = {}
    for j, name in enumerate(OPENAI_CODES.values()):
        known = y_cat[:, j] >= 0
        if y_cat[known, j].sum() >= 3:
            heads["categories"][name] = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(
                emb[known], y_cat[known, j], sample_weight=w[known]
            )
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=50000)
    grams = vectorizer.fit_transform(texts)
    heads["char_vectorizer"] = vectorizer
    heads["char_lr"] = LogisticRegression(C=4.0, max_iter=3000).fit(grams, y_any, sample_weight=w)
    # Two non-linear views of the same embedding (each +0.01 dev AUPRC, both +0.02: docs/moderation.md).
    heads["svm"] = SVC(C=1.0, kernel="rbf", gamma="scale").fit(emb, y_any, sample_weight=w)
    heads["knn"] = {"vectors": np.ascontiguousarray(emb[:, :EMBED_DIM], dtype=np.float32), "labels": y_any.astype(np.float32), "k": KNN_K}
    return heads


def fit_external(cache: EmbeddingCache, sets: dict[str, tuple[list[str], list[int]]], benign_emb: np.ndarray) -> dict[str, Any]:
    """One head per external set; our benign messages are extra negatives in each."""
    from sklearn.linear_model import LogisticRegression

    heads = {}
    for name, (texts, labels) in sets.items():
        emb = np.vstack([cache.embed([normalize(t) for t in texts], progress=True), benign_emb])
        cache.save()  # long runs keep what they embedded
        y = np.r_[np.array(labels), np.zeros(len(benign_emb), dtype=int)]
        heads[name] = LogisticRegression(C=1.0, max_iter=3000).fit(emb, y)
    return heads


def pick_threshold(p: np.ndarray, y: np.ndarray, benign_mask: np.ndarray, config: TrainConfig) -> float:
    """Lowest threshold with the target precision, raised until our benign messages stay under the cap."""
    candidates = np.unique(np.round(p, 4))
    chosen = 0.5
    for t in candidates:
        above = p >= t
        if above.sum() >= 5 and y[above].mean() >= config.precision_target:
            chosen = float(t)
            break
    benign = np.sort(p[benign_mask])
    if len(benign):
        cap = float(benign[int(np.ceil(len(benign) * (1 - config.max_benign_fpr))) - 1]) + 1e-4
        chosen = max(chosen, cap)
    return round(min(max(chosen, 0.05), 0.99), 4)


def prototype_vectors(cache: EmbeddingCache) -> np.ndarray:
    """Sentence vectors (block 0, unit length) of our category descriptions, for the `prototype` column."""
    texts = [normalize(t) for descriptions in CATEGORY_PROTOTYPES.values() for t in descriptions]
    return np.ascontiguousarray(cache.embed(texts)[:, :EMBED_DIM], dtype=np.float32)


def fit_stack(rows: MainRows, ext_heads: dict[str, Any], prototypes: np.ndarray, config: TrainConfig) -> tuple[dict[str, Any], float, np.ndarray]:
    """Base heads out of fold -> stacking logistic regression -> the unsafe threshold; then the base
    heads again on every row. The external heads and the prototypes are fixed (they never see
    these rows). Returns (heads, threshold, out-of-fold unsafe probabilities)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    texts, emb, y_any = rows.texts, rows.emb, rows.y_any
    oof = np.zeros((len(texts), len(STACK_COLUMNS) + len(ext_heads)))
    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
    for fit_idx, pred_idx in folds.split(texts, y_any):
        heads = fit_base(emb[fit_idx], [texts[i] for i in fit_idx], y_any[fit_idx], rows.y_cat[fit_idx], rows.weights[fit_idx])
        heads["ext"], heads["prototypes"] = ext_heads, prototypes
        oof[pred_idx] = stack_features(heads, emb[pred_idx], [texts[i] for i in pred_idx], rows.profanity[pred_idx])
    stacker = LogisticRegression(C=1.0, max_iter=2000).fit(oof, y_any, sample_weight=rows.weights)
    p_oof = stacker.predict_proba(oof)[:, 1]
    threshold = pick_threshold(p_oof, y_any, rows.generated, config)
    heads = fit_base(emb, texts, y_any, rows.y_cat, rows.weights)
    heads["ext"], heads["prototypes"] = ext_heads, prototypes
    heads["stacker"] = stacker
    heads["stack_columns"] = STACK_COLUMNS[:4] + [f"ext:{n}" for n in sorted(ext_heads)] + STACK_COLUMNS[4:]
    return heads, threshold, p_oof


# ---------------------------------------------------------------------------------------------
# 4. The whole run
# ---------------------------------------------------------------------------------------------
def train_moderation(settings: Any, config: TrainConfig | None = None, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train, evaluate and save. Returns the sidecar dict (with `skipped: True` when up to date)."""
    config = config or TrainConfig()
    files = data_files(settings.data_dir)
    digest = data_hash(files, config)
    out = model_dir(settings)
    if not force and is_up_to_date(settings, config):
        meta = json.loads((out / SIDECAR).read_text())
        return {**meta, "skipped": True}
    started = time.perf_counter()
    say = print if progress else log.info

    # 1. data
    openai_rows = read_moderation_jsonl(files["openai"])
    train_rows, holdout_rows = split_openai(openai_rows, config.holdout, config.seed)
    external = read_external(files, config)

    # 2. embeddings
    encoder: Encoder | OnnxEncoder
    if config.encoder == "onnx":
        # Exported afresh every run (~10 s, deterministic), so the file always matches the recipe.
        encoder = OnnxEncoder(export_onnx(out / ONNX_FILE, config.pooling), max_tokens=config.max_tokens, pooling=config.pooling)
        cache_name = f"embeddings-{Path(ONNX_FILE).stem}-{config.pooling}-{config.max_tokens}.npz"  # the file names its export
    else:
        encoder = Encoder(max_tokens=config.max_tokens)
        cache_name = f"embeddings-single-{config.max_tokens}.npz"
    cache = EmbeddingCache(out / "cache" / cache_name, encoder)
    rows = embed_main_rows(cache, train_rows, config, progress)
    say(f"[moderation] openai train {len(train_rows)} / holdout {len(holdout_rows)}; main rows {len(rows.texts)}; "
        f"external: {', '.join(f'{k} {len(v[0])}' for k, v in external.items()) or 'none'}")
    ext_heads = fit_external(cache, external, rows.emb[rows.generated])
    prototypes = prototype_vectors(cache)
    cache.save()

    # 3-4. heads, stacker and threshold on the training rows
    heads, threshold, p_oof = fit_stack(rows, ext_heads, prototypes, config)
    n_open = len(train_rows)
    oof_auprc = round(float(auprc(rows.y_any[:n_open], p_oof[:n_open]) or 0), 4)
    say(f"[moderation] out-of-fold any-unsafe AUPRC on OpenAI train rows: {oof_auprc}; unsafe threshold {threshold}")
    metrics: dict[str, Any] = {"oof_any_unsafe_auprc_train_rows": oof_auprc}
    meta = save_model(out, heads, threshold, digest, config, files, metrics)

    # 5. the recipe's honest score: the model that never saw the holdout, measured as deployed
    if holdout_rows:
        with gzip.open(out / "holdout.jsonl.gz", "wt", encoding="utf-8") as fh:  # build output, for re-evaluation
            for row in holdout_rows:
                fh.write(json.dumps(row) + "\n")
        metrics["holdout"] = measure_holdout(settings, holdout_rows, say)

    # 6. deploy the same recipe refit on every OpenAI row
    if holdout_rows and config.refit:
        rows = embed_main_rows(cache, train_rows + holdout_rows, config, progress)
        heads, threshold, p_oof = fit_stack(rows, ext_heads, prototypes, config)
        n_open = len(openai_rows)
        metrics["refit"] = {
            "openai_rows": n_open,
            "oof_any_unsafe_auprc_all_rows": round(float(auprc(rows.y_any[:n_open], p_oof[:n_open]) or 0), 4),
            "unsafe_threshold": threshold,
            "note": "deployed model: the holdout's rows are in its training data; metrics.holdout is the recipe's score without them",
        }
        say(f"[moderation] refit on all {n_open} OpenAI rows: out-of-fold AUPRC {metrics['refit']['oof_any_unsafe_auprc_all_rows']}, "
            f"unsafe threshold {threshold}")
        meta = save_model(out, heads, threshold, digest, config, files, metrics)
    metrics.update(measure_deployed(settings, files, config, say))
    meta["train_seconds"] = round(time.perf_counter() - started, 1)
    (out / SIDECAR).write_text(json.dumps(meta, indent=2))
    say(f"[moderation] done in {meta['train_seconds']} s -> {out}")
    return meta


def save_model(out: Path, heads: dict[str, Any], threshold: float, digest: str, config: TrainConfig,
               files: dict[str, Path], metrics: dict[str, Any]) -> dict[str, Any]:
    """Write `heads.joblib` and its sidecar; returns the sidecar (its `metrics` is `metrics` itself)."""
    import joblib
    import sklearn

    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(heads, out / ARTIFACT)
    meta: dict[str, Any] = {
        "model": MODEL_NAME,
        "sklearn_version": sklearn.__version__,  # joblib pickles are only safe to load with the same version
        "max_tokens": config.max_tokens,
        "encoder": {"backend": "onnx", "file": ONNX_FILE, "pooling": config.pooling} if config.encoder == "onnx" else {"backend": "torch"},
        "data_hash": digest,
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": asdict(config),
        "data_files": {k: str(v) for k, v in files.items()},
        "thresholds": {"unsafe": threshold},
        "stack_columns": heads["stack_columns"],
        "stack_weights": [round(float(x), 4) for x in heads["stacker"].coef_[0]],
        "metrics": metrics,
    }
    (out / SIDECAR).write_text(json.dumps(meta, indent=2))
    return meta


def measure_holdout(settings: Any, holdout_rows: list[dict], say: Any) -> dict[str, Any]:
    """AUPRC per category, any-unsafe AUPRC and latency on the holdout, with the saved model."""
    from policies.moderation.evaluate import evaluate
    from policies.moderation.moderator import load_moderator

    report = evaluate(load_moderator(settings, cache=False), holdout_rows)  # latency as for a message seen first
    say(f"[moderation] HOLDOUT ({len(holdout_rows)} rows never trained on): any-unsafe AUPRC "
        f"{report['any_unsafe_auprc']}, p50 {report['latency_ms_p50']} ms")
    return report


def measure_deployed(settings: Any, files: dict[str, Path], config: TrainConfig, say: Any) -> dict[str, Any]:
    """The deployed model's benign false positives (Bitext) and identity-swap bias gap."""
    from policies.moderation.evaluate import false_positives, unsafe_of
    from policies.moderation.moderator import load_moderator

    moderator = load_moderator(settings, cache=False)
    metrics: dict[str, Any] = {}
    bitext = read_bitext(files, config.bitext_sample, config.seed)
    if bitext:
        metrics["bitext"] = false_positives(moderator, bitext)
        say(f"[moderation] Bitext false-positive rate {metrics['bitext']['false_positive_rate']:.4f} on {len(bitext)}")
    pairs = read_bias_pairs(files, config.seed, config.bias_pairs)
    if pairs:
        t = moderator.config.unsafe_threshold
        a = np.array([unsafe_of(x, t) for x in moderator.scores_batch([o for o, _, _ in pairs])])
        b = np.array([unsafe_of(x, t) for x in moderator.scores_batch([s for _, s, _ in pairs])])
        y = np.array([toxic for _, _, toxic in pairs])
        metrics["bias"] = {
            "pairs": len(pairs),
            "auprc_original": round(auprc(y, a) or 0, 4),
            "auprc_swapped": round(auprc(y, b) or 0, 4),
            "mean_abs_score_gap": round(float(np.abs(a - b).mean()), 4),
            "flag_rate_original_nontoxic": round(float((a[y == 0] >= t).mean()), 4),
            "flag_rate_swapped_nontoxic": round(float((b[y == 0] >= t).mean()), 4),
            "decision_flips": round(float(((a >= t) != (b >= t)).mean()), 4),
        }
        say(f"[moderation] bias (held-back Wikipedia twins): {metrics['bias']}")
    return metrics
