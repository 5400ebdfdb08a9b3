"""Train the default dialogue engine (`shopbot train`): transcripts -> fast model, yes check,
fine-tuned language model -> the cascade threshold picked on dev -> `$SHOPBOT_HOME/models/engine/`.

1. Transcripts: built by training/build_data.py (or read from `--transcripts`), split by user.
2. The fast model (policies/router.py): MiniLM sentence features + dialogue state -> MLP over
   step classes (`call:<tool>`, `confirm:<tool>`, `reply:<act>`).
3. The yes check (policies/affirm.py): CLINC150's yes / no / maybe and other utterances, and the
   shoppers' replies to listings in the transcripts.
4. The language model (training/train_llm.py): LoRA fine-tune of the base GGUF model.
5. The cascade: on dev decisions, the fast model's confidence against whether it was right, and
   the language model's answer where it would be asked (training/cascade.py); the threshold with
   the best accuracy that sends the language model the fewest decisions is kept.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bot.conversation import ConversationView
from bot.settings import Settings
from retrieval.minilm_int8 import OnnxEncoder, shared_encoder
from policies.router import FEATURES, Router, TextEncoder, featurize, step_class
from training.train_llm import LLMConfig
from training.transcripts import Transcript, read_jsonl, write_jsonl

log = logging.getLogger(__name__)


@dataclass
class EngineConfig:
    seed: int = 0
    n_generated: int = 600
    tau_repeats: int = 2
    hidden: int = 256
    alpha: float = 1e-4
    max_iter: int = 200
    max_train_points: int | None = None  # cap for quick runs and tests
    dev_conversations: int = 25  # dev conversations the cascade threshold is picked on
    llm: LLMConfig = field(default_factory=LLMConfig)


def engine_dir(settings: Settings) -> Path:
    return settings.models_dir / "engine"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# -- 1. transcripts ---------------------------------------------------------------------------------

def build_transcripts(settings: Settings, config: EngineConfig, progress: bool = True) -> tuple[list[Transcript], list[Transcript], list[str]]:
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
        stores, seed=config.seed, tau_tasks=tau_tasks, data_dir=settings.data_dir, n_generated=config.n_generated,
        tau_repeats=config.tau_repeats, policy_search=default_index().search, progress=progress,
    )
    sources = result.sources + [f"store: {name} ({data.summary()}, digest {data.digest()})" for name, data in stores.items()]
    return result.train, result.dev, sources


def decision_points(transcripts: list[Transcript]) -> list[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    """(transcript id, the conversation before, the assistant message) for every step."""
    return [(t.id, t.messages[:n], m) for t in transcripts for n, m in enumerate(t.messages) if m.get("role") == "assistant"]


# -- 2. the fast model --------------------------------------------------------------------------------

def fit_head(x: np.ndarray, labels: list[str], config: EngineConfig) -> tuple[Any, list[str]]:
    """One hidden layer over [state features, MiniLM(shopper), MiniLM(agent), MiniLM(shopper before)]."""
    from sklearn.neural_network import MLPClassifier

    classes = sorted(set(labels))
    y = np.asarray([classes.index(a) for a in labels])
    head = MLPClassifier((config.hidden,), alpha=config.alpha, early_stopping=True, random_state=config.seed, max_iter=config.max_iter)
    head.fit(x, y)
    return head, classes


def train_fast_model(train: list[Transcript], encoder: TextEncoder, config: EngineConfig, progress: bool) -> tuple[Any, list[str], int]:
    points = decision_points(train)
    if config.max_train_points is not None and len(points) > config.max_train_points:
        keep = np.random.default_rng(config.seed).choice(len(points), config.max_train_points, replace=False)
        points = [points[i] for i in sorted(keep)]
    views = [ConversationView.parse(context) for _tid, context, _m in points]
    labels = [step_class(m) for _tid, _c, m in points]
    x = featurize(views, encoder, progress=progress)
    log.info("fitting the fast model on %d decisions x %d features", x.shape[0], x.shape[1])
    head, classes = fit_head(x, labels, config)
    return head, classes, len(labels)


# -- 3. the yes check ---------------------------------------------------------------------------------

def affirmation_data(train: list[Transcript], data_dir: Path | None, rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """(texts, labels, sources): shoppers' replies right after a listing in the transcripts (yes
    when the listed call followed), CLINC150's yes / no / maybe / other utterances."""
    from training.phrasing import Phrasing

    texts, labels, sources = [], [], ["shopbot transcripts (replies to listings)"]
    for t in train:
        for n in range(1, len(t.messages) - 1):
            prev, m, nxt = t.messages[n - 1], t.messages[n], t.messages[n + 1]
            if m.get("role") == "user" and (prev.get("act") or {}).get("verb") == "confirm":
                texts.append(str(m.get("content") or ""))
                labels.append("yes" if nxt.get("tool_calls") else "no")
    phr = Phrasing(rng)
    for _ in range(200):
        texts.append(phr.yes())
        labels.append("yes")
        texts.append(phr.no())
        labels.append("no")
    others = [str(m.get("content") or "") for t in train[:300] for m in t.messages if m.get("role") == "user"]
    for text in rng.sample(others, min(600, len(others))):
        texts.append(text)
        labels.append("other")
    clinc = data_dir / "clinc150" / "data_full.json" if data_dir is not None else None
    if clinc is not None and clinc.is_file():
        data = json.loads(clinc.read_text(encoding="utf-8"))
        rows = data.get("train", [])
        for text, intent in rows:
            if intent in ("yes", "no"):
                texts.append(text)
                labels.append(intent)
            elif intent == "maybe" or rng.random() < 0.05:
                texts.append(text)
                labels.append("other")
        sources.append("CLINC150 train (yes, no, maybe, others)")
    return texts, labels, sources


def clinc_test(data_dir: Path | None) -> tuple[list[str], list[str]]:
    clinc = data_dir / "clinc150" / "data_full.json" if data_dir is not None else None
    if clinc is None or not clinc.is_file():
        return [], []
    rows = json.loads(clinc.read_text(encoding="utf-8")).get("test", [])
    return [t for t, _i in rows], [i if i in ("yes", "no") else "other" for _t, i in rows]


# -- the whole run ------------------------------------------------------------------------------------

def train_engine(settings: Settings, config: EngineConfig | None = None, *, train_file: Path | None = None, dev_file: Path | None = None, progress: bool = True) -> dict[str, Any]:
    import joblib

    from policies import affirm
    from policies.llm.models import base_gguf, base_setting
    from training.train_llm import train as train_llm

    config = config or EngineConfig()
    started = time.time()
    out = engine_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    if train_file is not None:
        train, dev = read_jsonl(train_file), read_jsonl(dev_file) if dev_file is not None else []
        sources = [f"transcripts: {train_file}"]
    else:
        train, dev, sources = build_transcripts(settings, config, progress)
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "dev.jsonl", dev)

    shared = shared_encoder(settings.models_dir)
    batch_encoder = TextEncoder(OnnxEncoder(shared.ensure_file(), shared.max_tokens, shared.pooling))  # no cache: each text once
    head, classes, n_points = train_fast_model(train, batch_encoder, config, progress)
    router = Router(TextEncoder(shared), head, classes, {"features": FEATURES})
    router.save(out)

    rng = random.Random(config.seed)
    texts, labels, affirm_sources = affirmation_data(train, settings.data_dir, rng)
    affirm_head = affirm.fit(batch_encoder, texts, labels, config.seed)
    joblib.dump({"head": affirm_head, "labels": affirm.LABELS}, out / "affirm.joblib")
    test_texts, test_labels = clinc_test(settings.data_dir)
    affirm_report: dict[str, Any] = {"train_utterances": len(texts), "sources": affirm_sources}
    if test_texts:
        checker = affirm.Affirmation(batch_encoder, affirm_head)
        predicted = ["yes" if checker.said_yes(t) else "not yes" for t in tqdm(test_texts, desc="yes check on CLINC150 test", disable=not progress)]
        gold_yes = [label == "yes" for label in test_labels]
        said_yes = [p == "yes" for p in predicted]
        tp = sum(g and s for g, s in zip(gold_yes, said_yes))
        affirm_report["clinc150_test"] = {
            "yes_precision": round(tp / max(1, sum(said_yes)), 4),
            "yes_recall": round(tp / max(1, sum(gold_yes)), 4),
            "no_taken_as_yes": sum(1 for label, s in zip(test_labels, said_yes) if s and label == "no"),
            "utterances": len(test_texts),
        }

    base = base_gguf(config.llm.base or base_setting(), settings.models_dir)
    llm_card = train_llm(train, base, out / "llm", config.llm)

    card: dict[str, Any] = {
        "engine": "cascade: fast model (MiniLM features + MLP over step classes) -> fine-tuned language model (LoRA, constrained decoding) -> policy rules",
        "features": FEATURES,
        "base_model": config.llm.base,
        "data_sources": sources,
        "train_transcripts": len(train),
        "dev_transcripts": len(dev),
        "fast_model": {"train_decisions": n_points, "classes": len(classes)},
        "yes_check": affirm_report,
        "language_model": llm_card,
        "train_hash": file_hash(out / "train.jsonl"),
        "dev_hash": file_hash(out / "dev.jsonl"),
        "settings": {k: v for k, v in asdict(config).items() if k != "llm"},
        "threshold": 1.01,
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    if dev:
        card.update(calibrate(settings, dev[: config.dev_conversations], progress))
    card["train_seconds"] = round(time.time() - started, 1)
    (out / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return card


def uncalibrated(settings: Settings) -> bool:
    """A trained engine whose training stopped before the threshold was picked (the model card
    still says 1.01, the language model for every decision)."""
    card_file = engine_dir(settings) / "model_card.json"
    if not card_file.is_file():
        return False
    card = json.loads(card_file.read_text(encoding="utf-8"))
    return "cascade_curve" not in card and card.get("dev_transcripts", 0) > 0


def finish_calibration(settings: Settings, progress: bool = True) -> dict[str, Any]:
    """Pick the threshold of a trained engine from its own dev transcripts, as training does."""
    out = engine_dir(settings)
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    dev = read_jsonl(out / "dev.jsonl")
    card.update(calibrate(settings, dev[: card["settings"]["dev_conversations"]], progress))
    (out / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return card


def calibrate(settings: Settings, dev: list[Transcript], progress: bool = True) -> dict[str, Any]:
    """Score the fast model and the language model on dev decisions and pick the threshold."""
    from training.cascade import per_action, pick_threshold, score

    rows = score(load_default_decider(settings, threshold=1.01), dev, progress)
    threshold, curve = pick_threshold(rows)
    return {"threshold": threshold, "cascade_curve": curve, "calibration_decisions": len(rows), "dev_per_action": per_action(rows, threshold)}


# -- loading --------------------------------------------------------------------------------------

def engine_problem(settings: Settings) -> str | None:
    """Why the default engine must be (re)trained, or None when the saved one is usable."""
    from policies.router import saved_model_problem

    directory = engine_dir(settings)
    problem = saved_model_problem(directory)
    if problem:
        return problem
    for needed in ("affirm.joblib", "llm/engine.gguf", "model_card.json"):
        if not (directory / needed).is_file():
            return f"no {needed} in {directory}"
    card = json.loads((directory / "model_card.json").read_text(encoding="utf-8"))
    from policies.llm.models import base_setting

    if card.get("base_model") != base_setting():
        return f"the engine was fine-tuned from {card.get('base_model')}, SHOPBOT_ENGINE_BASE asks for {base_setting()}"
    return None


def load_default_decider(settings: Settings, tools: dict[str, Any] | None = None, threshold: float | None = None) -> Any:
    import joblib

    from bot.engine import EngineNotReady
    from policies import affirm
    from policies.decide import Decider
    from policies.llm.policy import load_llama_policy
    from policies.router import StaleModel
    from tools.registry import default_tools

    tools = tools or default_tools()
    directory = engine_dir(settings)
    problem = engine_problem(settings)
    if problem:
        raise EngineNotReady(f"{problem}; run `shopbot train` to build it")
    try:
        router = Router.load(directory)
    except (FileNotFoundError, StaleModel) as exc:
        raise EngineNotReady(f"{exc}; run `shopbot train` to rebuild it") from None
    saved = joblib.load(directory / "affirm.joblib")
    affirmation = affirm.Affirmation(router.encoder, saved["head"])
    card = json.loads((directory / "model_card.json").read_text(encoding="utf-8"))
    budget = int(card.get("language_model", {}).get("config", {}).get("max_length", 1536))
    llm = load_llama_policy(directory / "llm" / "engine.gguf", tools, budget=budget)
    return Decider(tools, llm=llm, router=router, affirmation=affirmation, threshold=card.get("threshold", 1.01) if threshold is None else threshold)
