"""The fast model of the cascade: a next-step classifier over MiniLM sentence features plus
dialogue state.

The conversation is serialised compactly: the shopper's last message, the agent's last words and
the shopper's message before (each normalised as for moderation and embedded with the pretrained
all-MiniLM-L6-v2 encoder, int8: the same pass moderation reads), and a vector of dialogue-state
features read from the messages and the tool results (last message role, last tool and whether it
failed, who is authenticated, the act of the agent's last reply, the formats in the shopper's
message: an email, a zip code, an order id; the status of the order under discussion, which ids the
conversation holds). A small MLP head, trained on transcripts, ranks the next steps as commands
without arguments: `call:<tool>`, `confirm:<tool>`, `reply:<act>` (policies/decide.py turns the
confident ones into commands, the language model writes the arguments).
"""
from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.conversation import ACTS, ConversationView

from bot.store.records import ORDER_STATUSES as STATUSES  # noqa: E402
from retrieval.minilm_int8 import EMBED_DIM as DIMENSION  # noqa: E402  (all-MiniLM-L6-v2: 384)
from retrieval.minilm_int8 import MAX_CHARS  # noqa: E402
from policies.moderation.normalize import normalize  # noqa: E402
from tools.registry import EXTRA_TOOLS, STORE_TOOLS, default_tools  # noqa: E402

RESPOND = "respond"
TOOL_NAMES = STORE_TOOLS + EXTRA_TOOLS
CONSEQUENTIAL = frozenset(name for name, tool in default_tools().items() if tool.consequential)
# Formats, not phrasings: what kind of token the shopper's message holds.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ORDER_ID = re.compile(r"#?W\d{7}\b")
ITEM_ID = re.compile(r"\b\d{10}\b")
ZIP = re.compile(r"\b\d{5}\b")
PM_ID = re.compile(r"\b(?:credit_card|gift_card|paypal)_\d+\b")
REPLY_KINDS = tuple(f"reply:{act}" for act in ACTS) + ("confirm", "none")
PROJECTIONS_KEPT = 4096  # texts whose first-layer products the router keeps (1 KB each)
MAX_TEXT = 400  # characters of the shopper's messages given to the encoder (the agent's: MAX_CHARS)


def step_class(message: dict[str, Any]) -> str:
    """An assistant message's step as the fast model names it: `call:<tool>`, `confirm:<tool>`,
    `reply:<act>` (`reply:say` for words without a recorded act)."""
    calls = message.get("tool_calls") or []
    if calls:
        return "call:" + str(calls[0].get("function", {}).get("name", ""))
    act = message.get("act")
    if isinstance(act, dict) and act.get("name"):
        return f"{act.get('verb', 'reply')}:{act['name']}"
    return "reply:say"


def _last_reply_kind(view: ConversationView) -> str:
    for m in reversed(view.messages):
        if m.get("role") == "assistant" and not m.get("tool_calls"):
            kind = step_class(m)
            return "confirm" if kind.startswith("confirm:") else kind
    return "none"


def _last_call_names(view: ConversationView, n: int) -> list[str]:
    names = [name for name, _a, _t in view.calls]
    return names[-n:]


def state_features(view: ConversationView) -> np.ndarray:
    """The dialogue-state part of the serialisation (fixed length, float32)."""
    f: list[float] = []
    msgs = view.messages
    last = msgs[-1] if msgs else {}
    role = last.get("role", "none")
    f += [role == "user", role == "tool", role == "assistant", role == "none"]
    last_tool = view.calls[-1][0] if view.calls and role == "tool" else ""
    f += [last_tool == t for t in TOOL_NAMES] + [bool(last_tool) and last_tool not in TOOL_NAMES]
    prev = _last_call_names(view, 2)
    prev2 = prev[0] if len(prev) == 2 else ""
    f += [prev2 == t for t in TOOL_NAMES]
    last_text = view.calls[-1][2] if view.calls and role == "tool" else ""
    f += [last_text.startswith("Error"), last_text.strip() in ("[]", "")]
    since = view.since_last_user()
    ncalls = sum(1 for m in since if m.get("role") == "tool")
    f += [ncalls == 0, ncalls == 1, ncalls == 2, ncalls >= 3, min(ncalls, 6) / 6]
    consequential_done = any(name in CONSEQUENTIAL for name, _a, _t in view.calls[len(view.calls) - ncalls :]) if ncalls else False
    f += [consequential_done]
    f += [view.user_id is not None, view.profile is not None, view.auth_failures > 0, min(view.auth_failures, 3) / 3]
    user = view.last_user
    mentioned = view.mentioned_orders(user)
    f += [
        bool(EMAIL.search(user)),
        bool(ZIP.search(user)),
        bool(mentioned),
        any(o not in view.orders for o in mentioned),
        bool(PM_ID.search(user)),
        bool(ITEM_ID.search(user)),
        len(user) < 25,
        "?" in user,
    ]
    kind = _last_reply_kind(view)
    f += [kind == k for k in REPLY_KINDS]
    said = view.last_assistant
    f += [bool(ORDER_ID.search(said)), bool(ITEM_ID.search(said)), said.rstrip().endswith("?")]
    order = view.current_order()
    status = order.get("status") if order else None
    f += [status == s for s in STATUSES] + [order is None]
    unfetched = [o for o in (view.profile or {}).get("orders", []) if o not in view.orders]
    n_orders = len((view.profile or {}).get("orders", []))
    f += [bool(unfetched), len(view.orders) / 5, len(view.products) / 3, n_orders <= 5, n_orders / 10]
    f += [bool(view.hits), min(len(view.hits), 5) / 5, bool(view.product_types)]
    return np.asarray(f, dtype=np.float32)


def agent_text(said: str) -> str:
    """The part of the agent's last words the encoder reads (as moderation cuts them)."""
    return said[:MAX_CHARS] or "(nothing)"


def texts_of(view: ConversationView) -> tuple[str, str]:
    """The shopper's last message (its end, where the request usually is) and the agent's last words."""
    return view.last_user[-MAX_TEXT:] or "(nothing)", agent_text(view.last_assistant)


def previous_user_text(view: ConversationView) -> str:
    """The shopper's message before the last one: often the request, when the last one only
    answered a question (an email, a yes)."""
    texts = view.texts("user")
    return texts[-2][-MAX_TEXT:] if len(texts) > 1 else "(nothing)"


@lru_cache(maxsize=4096)
def encoder_key(text: str) -> str:
    """What the encoder reads for `text`: its start, normalised. Cached: a turn's decisions read
    the same three texts several times (these are conversation messages, redacted already)."""
    return normalize(text[:MAX_CHARS]) or "(nothing)"


class TextEncoder:
    """Sentence vectors of the normalised text: the first block (the mean-pooled all-MiniLM-L6-v2
    vector) of the shared int8 encoder (retrieval/minilm_int8.py). Moderation reads the same pass, so a
    message the moderator has just checked costs the router nothing more."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder  # a retrieval.minilm_int8.OnnxEncoder: shared_encoder(models_dir) when serving

    @property
    def dim(self) -> int:
        return DIMENSION

    def uncached(self, texts: list[str]) -> list[str]:
        """Those of `texts` whose vectors are not in the encoder's cache (all of them for an
        encoder without one)."""
        cached = getattr(self.encoder, "cached", None)
        if cached is None:
            return list(texts)
        return [t for t in texts if not cached(encoder_key(t))]

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        keys = [encoder_key(t) for t in texts]
        unique = list(dict.fromkeys(keys))
        vectors = self.encoder.embed(unique, progress=progress)[:, :DIMENSION]
        row = {key: i for i, key in enumerate(unique)}
        return vectors[[row[key] for key in keys]]


def sentence_texts(view: ConversationView) -> list[str]:
    """The three texts the encoder reads: the shopper's last message, the agent's last words, the
    shopper's message before."""
    user, agent = texts_of(view)
    return [user, agent, previous_user_text(view)]


def featurize(views: list[ConversationView], encoder: TextEncoder, progress: bool = False) -> np.ndarray:
    items: Any = views
    if progress:  # not even a disabled bar when serving: tqdm takes a process-wide lock to start one
        from tqdm import tqdm

        items = tqdm(views, desc="dialogue-state features")
    states = np.stack([state_features(v) for v in items])
    triples = [sentence_texts(v) for v in views]
    texts = [t[0] for t in triples] + [t[1] for t in triples] + [t[2] for t in triples]
    users, agents, earlier = np.split(encoder.encode(texts, progress=progress), 3)  # one pass per distinct text
    return np.concatenate([states * 2.0, users, agents, earlier], axis=1).astype(np.float32)


@dataclass
class Prediction:
    action: str
    confidence: float
    ranked: list[tuple[str, float]]


class Router:
    """Encoder + trained head. `predict(messages)` ranks the possible next steps."""

    def __init__(self, encoder: TextEncoder, head: Any, actions: list[str], card: dict[str, Any] | None = None) -> None:
        self.encoder = encoder
        self.head = head
        self.actions = actions
        self.card = card or {}
        self._projected: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._projected_lock = threading.Lock()

    def predict_view(self, view: ConversationView) -> Prediction:
        probs = self._view_probabilities(view)
        order = np.argsort(-probs)
        ranked = [(self.actions[i], float(probs[i])) for i in order]
        return Prediction(ranked[0][0], ranked[0][1], ranked)

    def uncached_texts(self, view: ConversationView) -> list[str]:
        """The texts `predict_view(view)` would still have to encode."""
        return self.encoder.uncached(sentence_texts(view))

    def predict(self, messages: list[dict[str, Any]]) -> Prediction:
        return self.predict_view(ConversationView.parse(messages))

    def _plain_mlp(self) -> bool:
        head = self.head
        return type(head).__name__ == "MLPClassifier" and head.activation == "relu" and head.out_activation_ == "softmax"

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        """The head's predict_proba. For the MLP, its forward pass in plain numpy: the same
        arithmetic without sklearn's per-call input validation, which costs more than the
        multiplication itself for one row (the server calls this once per turn)."""
        head = self.head
        if not self._plain_mlp():
            return head.predict_proba(x)
        return self._after_first_layer(np.asarray(x, dtype=head.coefs_[0].dtype) @ head.coefs_[0] + head.intercepts_[0])

    def _after_first_layer(self, h: np.ndarray) -> np.ndarray:
        head = self.head
        for weights, bias in zip(head.coefs_[1:], head.intercepts_[1:]):
            np.maximum(h, 0, out=h)
            h = h @ weights + bias
        h = np.exp(h - h.max(axis=1, keepdims=True))
        return h / h.sum(axis=1, keepdims=True)

    def _view_probabilities(self, view: ConversationView) -> np.ndarray:
        """`_probabilities(featurize([view]))[0]`, up to float rounding. For the MLP the first layer
        is taken block by block: a sentence vector's product with its rows of the first weight
        matrix depends on the text alone, so it is kept per text (`_projected`, a bounded cache),
        and a decision multiplies only the dialogue-state features (the first weight matrix is
        1.3 MB, read from memory on every call otherwise: the largest single cost of a decision)."""
        if not self._plain_mlp():
            return self._probabilities(featurize([view], self.encoder))[0]
        head = self.head
        weights = head.coefs_[0]
        states = state_features(view) * 2.0
        h = states.astype(weights.dtype) @ weights[: len(states)] + head.intercepts_[0]
        for slot, text in enumerate(sentence_texts(view)):
            h += self._projection(slot, text, len(states))
        return self._after_first_layer(h[None, :])[0]

    def _projection(self, slot: int, text: str, offset: int) -> np.ndarray:
        key = (slot, encoder_key(text))
        with self._projected_lock:
            known = self._projected.get(key)
            if known is not None:
                self._projected.move_to_end(key)
                return known
        start = offset + slot * DIMENSION
        rows = self.head.coefs_[0][start : start + DIMENSION]
        projected = self.encoder.encode([text])[0].astype(rows.dtype) @ rows
        with self._projected_lock:
            self._projected[key] = projected
            if len(self._projected) > PROJECTIONS_KEPT:
                self._projected.popitem(last=False)
        return projected

    def save(self, directory: Path) -> None:
        """The head; the engine's model card beside it (training/train_engine.py) names the features."""
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump({"head": self.head, "actions": self.actions}, directory / "router_head.joblib")

    @classmethod
    def load(cls, directory: Path, encoder: TextEncoder | None = None) -> "Router":
        """The saved model in `directory` (models_dir/engine), on the shared encoder by default."""
        import joblib

        path = directory / "router_head.joblib"
        if not path.is_file():
            raise FileNotFoundError(path)
        data = joblib.load(path)
        card = _card(directory)
        problem = _stale(directory, data["head"], card)
        if problem:
            raise StaleModel(problem)
        if encoder is None:
            from retrieval.minilm_int8 import shared_encoder

            encoder = TextEncoder(shared_encoder(directory.parent))
        return cls(encoder, data["head"], list(data["actions"]), card)


class StaleModel(ValueError):
    """The saved model was trained by a different version of the feature code."""


# What the sentence features are; a model card that names others was trained on other vectors.
FEATURES = "all-MiniLM-L6-v2 int8 (ONNX Runtime dynamic quantisation, export v2), mean-pooled block, of normalised text; state v3 (step classes)"


def _card(directory: Path) -> dict[str, Any]:
    card_path = directory / "model_card.json"
    return json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}


def _stale(directory: Path, head: Any, card: dict[str, Any]) -> str | None:
    expected = len(state_features(ConversationView.parse([]))) + 3 * DIMENSION
    found = getattr(head, "n_features_in_", expected)
    if found != expected:
        return f"the model in {directory} expects {found} features, this version computes {expected}"
    if card.get("features") != FEATURES:
        return f"the model in {directory} was trained on other sentence features ({card.get('features', 'fp32 MiniLM')}); this version uses {FEATURES}"
    return None


def saved_model_problem(directory: Path) -> str | None:
    """Why the saved model in `directory` cannot be used (missing, stale), or None. Cheap: no encoder."""
    import joblib

    path = directory / "router_head.joblib"
    if not path.is_file():
        return f"no trained engine model in {directory}"
    return _stale(directory, joblib.load(path)["head"], _card(directory))
