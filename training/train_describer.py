"""Train the product describer: `shopbot train describer [--force] [--steps N] [--quick]`.

Read top to bottom; every step is one function below `train_describer`.

1. Pairs: the public catalogs that have descriptions (DummyJSON, Best Buy cell phones), read from
   SHOPBOT_DATA_DIR with the importers in `retrieval/public.py` (never copied into the repo). Input:
   the product's attributes as a prompt ("name: ...; brand: ...; category: ...; options: ...;
   price: ..."). Target: up to two sentences of its description (<= 64 word pieces) that mostly
   say what the attributes say (>= 60% of words groundable), with the product's own values
   replaced by slots ([NAME], [BRAND], [CATEGORY], [PRICE]).
2. Split by product: every 10th product (by a hash of its id) is held out for the dev report.
3. Vocabulary: the MiniLM word pieces seen in the training pairs, plus the describer's generic
   words and specials (retrieval/describe_model.py); the rest read as [UNK].
4. Train a 2-layer, 128-wide decoder-only transformer (retrieval/describe_model.py) on CPU with
   AdamW for a fixed number of steps (a wall-clock cap keeps `shopbot up` short on a busy machine).
5. Dev report on held-out products: perplexity of their (slotted) descriptions, and on a sample of
   them: for unconstrained greedy decoding and for the shipped constrained decoding, the share
   finished, the share passing the grounding checks, the share kept (grounded and above the
   fluency bar, which is set here from the unconstrained scores), and the copy-rate of attribute
   values (name, brand, category, price) in kept text. Save model.pt, pieces.json and
   describer.json (config, data hash, date, steps, dev metrics) under models/describer.

Idempotent: when the model exists and the data hash matches, it does nothing (unless force=True).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.settings import Settings
from retrieval.catalog import CatalogProduct
from retrieval.describe_model import (
    GENERIC_WORDS,
    MIN_SCORE,
    PUNCTUATION,
    SPECIALS,
    DescriberConfig,
    DescriberModel,
    Pieces,
    build_gpt,
    copyable_values,
    load_tokenizer,
    serialise_prompt,
    slot_values,
)
from retrieval.public import PUBLIC_CATALOGS, read_public_catalog

log = logging.getLogger(__name__)
CODE_VERSION = "describer-train-2"  # bump when the recipe changes: it is part of the data hash
SOURCES = ("dummyjson", "bestbuy")  # the public catalogs with descriptions
MAX_TARGET = 64
SCORE_MARGIN = 0.25  # nats per token below the unconstrained median that a constrained lead may score
TARGET_SHARE = 0.6  # a description sentence is a target when this share of its words is groundable
_TARGET_WORD = re.compile(r"[a-z][a-z']*")


class MissingData(FileNotFoundError):
    """No public catalog with descriptions in SHOPBOT_DATA_DIR."""


@dataclass
class TrainConfig:
    seed: int = 0
    steps: int = 700
    batch_size: int = 24
    lr: float = 2e-3
    max_seconds: float = 170.0  # cap on the training loop (keeps first start short on 2 cores)
    dev_every: int = 10  # every 10th product is held out
    dev_generations: int = 40  # held-out products decoded for the grounding / copy-rate report
    max_pairs: int | None = None  # --quick and the tests use fewer


def describer_dir(settings: Settings) -> Path:
    return settings.models_dir / "describer"


def train_describer(settings: Settings, config: TrainConfig | None = None, *, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train and save the describer; returns its sidecar (describer.json)."""
    config = config or TrainConfig()
    products = read_products(settings.data_dir)
    out = describer_dir(settings)
    digest = data_hash(products, config)
    sidecar = out / "describer.json"
    if not force and sidecar.is_file() and (out / "model.pt").is_file():
        meta = json.loads(sidecar.read_text())
        if meta.get("data_hash") == digest:
            return {**meta, "skipped": True}
    tokenizer = load_tokenizer()
    train, dev = split(products, config.dev_every)
    if config.max_pairs:
        train = train[: config.max_pairs]
        dev = dev[: max(10, config.max_pairs // 10)]
    pieces = Pieces(tokenizer, vocabulary(tokenizer, train))
    model_cfg = DescriberConfig(vocab_size=len(pieces.pieces))
    train_rows = [encode_pair(pieces, p, model_cfg) for p in train]
    dev_rows = [encode_pair(pieces, p, model_cfg) for p in dev]
    net, steps_done, seconds = fit(model_cfg, train_rows, config, progress)
    model = DescriberModel(net, pieces, {})
    metrics = evaluate(model, dev_rows, dev, config)  # sets model.meta["min_score"]
    metrics.update(train_pairs=len(train_rows), dev_pairs=len(dev_rows), steps=steps_done, train_seconds=round(seconds, 1))
    model.meta = {
        "min_score": model.meta["min_score"],
        "model": "describer-gpt",
        "code_version": CODE_VERSION,
        "config": asdict(model_cfg),
        "train_config": asdict(config),
        "data_hash": digest,
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sources": sorted({p.source for p in products}),
        "dev_metrics": metrics,
    }
    model.save(out)
    return model.meta


# 1. pairs -------------------------------------------------------------------------------------


def read_products(data_dir: Path | None) -> list[CatalogProduct]:
    """Products of the public catalogs whose description has a usable target sentence."""
    found = []
    for catalog in PUBLIC_CATALOGS:
        path = Path(data_dir) / catalog.relative_path if data_dir else None
        if catalog.source in SOURCES and path is not None and path.is_file():
            good, _errors = read_public_catalog(catalog, path)
            found.extend(p for _, p in good if p.description and target_text(p))
    if not found:
        raise MissingData(f"no DummyJSON or Best Buy catalog with descriptions under {data_dir} (set SHOPBOT_DATA_DIR)")
    return found


def target_text(product: CatalogProduct) -> str:
    """Up to two sentences of the description that mostly say what the attributes say, slotted.

    A sentence is kept when at least `TARGET_SHARE` of its words are slots, words of the product's
    attribute values or generic words: the model should learn the language of grounded sentences,
    not the feature lists ("5-inch AMOLED screen") that decoding would have to mask anyway.
    Empty when no sentence qualifies (the product is not used).
    """
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", (product.description or "").strip()):
        slotted = _slotted(sentence, product)
        if grounded_share(slotted, product) >= TARGET_SHARE:
            kept.append(slotted)
        if len(kept) == 2:
            break
    return " ".join(kept)


def _slotted(text: str, product: CatalogProduct) -> str:
    for slot, value in sorted(slot_values(product).items(), key=lambda kv: -len(kv[1])):
        if slot == "[PRICE]":
            value = value.removeprefix("from ")
            text = re.sub(re.escape(value) + r"|" + re.escape(value.lstrip("$")), f" {slot} ", text)
        else:
            text = re.sub(r"(?<!\w)" + re.escape(value) + r"(?!\w)", f" {slot} ", text, flags=re.I)
    return re.sub(r"\s+", " ", text).strip()


def grounded_share(slotted: str, product: CatalogProduct) -> float:
    """Share of a slotted sentence's words a constrained generation could write for this product."""
    words = _TARGET_WORD.findall(re.sub(r"\[(?:NAME|BRAND|CATEGORY|PRICE)\]", " ", slotted).lower())
    if len(words) < 3:
        return 0.0
    allowed = set(_TARGET_WORD.findall(" ".join(copyable_values(product)).lower())) | GENERIC_WORDS
    return sum(w in allowed for w in words) / len(words)


def data_hash(products: list[CatalogProduct], config: TrainConfig) -> str:
    h = hashlib.sha256(CODE_VERSION.encode())
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    for p in products:
        h.update(p.content_hash().encode())
    return h.hexdigest()[:16]


# 2-3. split and vocabulary --------------------------------------------------------------------


def split(products: list[CatalogProduct], every: int) -> tuple[list[CatalogProduct], list[CatalogProduct]]:
    def bucket(p: CatalogProduct) -> int:
        return int(hashlib.sha1(p.product_id.encode()).hexdigest(), 16) % every

    return [p for p in products if bucket(p) != 0], [p for p in products if bucket(p) == 0]


def vocabulary(tokenizer: Any, train: list[CatalogProduct]) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(SPECIALS)
    for text in [serialise_prompt(p) + " " + target_text(p) for p in train] + sorted(GENERIC_WORDS) + list(PUNCTUATION):
        for chunk in re.split(r"\[(?:NAME|BRAND|CATEGORY|PRICE)\]", text):
            seen.update(dict.fromkeys(tokenizer.tokenize(chunk)))
    return list(seen)


def encode_pair(pieces: Pieces, product: CatalogProduct, cfg: DescriberConfig) -> tuple[list[int], int]:
    """[BOS] prompt [SEP] target [EOS], and where the target starts."""
    ids = pieces.ids
    prompt = pieces.encode(serialise_prompt(product))[: (cfg.block_size - 4) // 2]
    target = pieces.encode(target_text(product))[:MAX_TARGET] + [ids["[EOS]"]]
    seq = [ids["[BOS]"], *prompt, ids["[SEP]"], *target][: cfg.block_size]
    return seq, len(prompt) + 2


# 4. training ----------------------------------------------------------------------------------


def batch(rows: list[tuple[list[int], int]], pad: int) -> tuple[Any, Any]:
    import torch

    width = max(len(seq) for seq, _ in rows) - 1
    x = torch.full((len(rows), width), pad, dtype=torch.long)
    y = torch.full((len(rows), width), -100, dtype=torch.long)
    for r, (seq, start) in enumerate(rows):
        x[r, : len(seq) - 1] = torch.tensor(seq[:-1])
        y[r, start - 1 : len(seq) - 1] = torch.tensor(seq[start:])  # loss on the description only
    return x, y


def fit(cfg: DescriberConfig, rows: list[tuple[list[int], int]], config: TrainConfig, progress: bool) -> tuple[Any, int, float]:
    import torch
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    net = build_gpt(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0.01)
    warmup = max(1, config.steps // 20)

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay
        if step < warmup:
            return config.lr * (step + 1) / warmup
        return config.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    net.train()
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="describer", disable=not progress, unit="step")
    done = 0
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x, y = batch(rng.sample(rows, min(config.batch_size, len(rows))), pad=0)
        loss = net.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        done = step + 1
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if time.perf_counter() - started > config.max_seconds:
            log.warning("describer training stopped at step %d by the %.0fs cap", done, config.max_seconds)
            break
    bar.close()
    return net.eval(), done, time.perf_counter() - started


# 5. dev report --------------------------------------------------------------------------------


def perplexity(net: Any, rows: list[tuple[list[int], int]]) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(rows), 32):
            x, y = batch(rows[start : start + 32], pad=0)
            n = int((y != -100).sum())
            total += float(net.loss(x, y)) * n
            count += n
    return math.exp(total / max(1, count))


def copy_rate(text: str, product: CatalogProduct) -> float:
    """Share of the prompt's slot values (name, brand, category, price) the text states."""
    values = [v.removeprefix("from ") for v in slot_values(product).values()]
    return sum(v.lower() in text.lower() for v in values) / len(values)


def evaluate(model: DescriberModel, rows: list[tuple[list[int], int]], dev: list[CatalogProduct], config: TrainConfig) -> dict[str, Any]:
    """Perplexity on all held-out pairs; generation numbers on the first `dev_generations` of them.

    constrained_*: the shipped decoding (forced opening, copy constraint). `*_kept` is what the
    describer would actually use: finished, above the fluency bar (min_score) and grounded.
    unconstrained_*: plain greedy decoding of the same model, to show what the constraint prevents.
    """
    from retrieval.describe import model_text_problems

    sample = dev[: config.dev_generations]
    n = max(1, len(sample))
    report: dict[str, Any] = {"dev_perplexity": round(perplexity(model.net, rows), 2), "dev_generated": len(sample)}
    runs: dict[str, list[tuple[bool, float, float]]] = {}  # (grounded, score, copy-rate) per finished lead
    for name, constrained in (("unconstrained", False), ("constrained", True)):
        runs[name] = []
        for product in sample:
            generation = model.generate_scored(product, constrained=constrained)
            if generation is not None:
                text, score = generation
                runs[name].append((not model_text_problems(text, product), score, copy_rate(text, product)))
    # The fluency bar: keep a constrained lead only when the model finds it about as likely as what
    # it writes unconstrained (median mean log-prob of its unconstrained leads, less a margin).
    free = sorted(score for _, score, _ in runs["unconstrained"])
    model.meta["min_score"] = round(free[len(free) // 2] - SCORE_MARGIN, 3) if free else MIN_SCORE
    for name, results in runs.items():
        kept = [c for ok, score, c in results if ok and score >= model.min_score]
        scores = sorted(score for _, score, _ in results)
        report[f"{name}_finished"] = round(len(results) / n, 3)
        report[f"{name}_grounded"] = round(sum(ok for ok, _, _ in results) / n, 3)
        report[f"{name}_kept"] = round(len(kept) / n, 3)
        report[f"{name}_median_score"] = round(scores[len(scores) // 2], 3) if scores else None
        report[f"{name}_copy_rate"] = round(sum(kept) / max(1, len(kept)), 3)
    report["min_score"] = model.min_score
    return report
