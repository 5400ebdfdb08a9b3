"""One int8 MiniLM pass per message, shared by moderation and the next-step router.

The real exported encoder (retrieval/minilm_int8.py) in a temporary models directory: moderating a
message and then routing on it runs the encoder once; the cache holds only what it computed;
a moderation model's own encoder file is used through the shared one when the bytes agree.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.conversation import ConversationView
from retrieval.minilm_int8 import EMBED_DIM, ONNX_FILE, SHARED_DIR, OnnxEncoder, export_onnx, file_digest, shared_encoder
from policies.moderation.classifier import PackageClassifier, trained_encoder
from policies.moderation.moderator import ShopModerator
from policies.router import TextEncoder, texts_of


class Counting(OnnxEncoder):
    """The real encoder, counting its forward passes."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.passes: list[str] = []

    def _forward(self, text: str) -> np.ndarray:
        self.passes.append(text)
        return super()._forward(text)


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tmp_path_factory.mktemp("models") / SHARED_DIR / ONNX_FILE)


def test_moderation_then_routing_encodes_each_message_once(onnx_file: Path) -> None:
    encoder = Counting(onnx_file, cache_size=64)
    moderator = ShopModerator(PackageClassifier(encoder))
    router_text = TextEncoder(encoder)
    encoder.embed(["warm up"])  # loads; the package head fits on its examples below
    moderator.check("hello")
    encoder.passes.clear()

    message = "Do you have a waterproof Bluetooth speaker under $100??"
    reply = "Here is one: the Tidal Speaker. It floats, plays for 12 hours and costs $79.00."
    assert moderator.check(message).action == "allow"
    assert moderator.check(reply, "bot").action == "allow"
    view = ConversationView.parse([{"role": "assistant", "content": reply}, {"role": "user", "content": message}])
    user_text, agent_text = texts_of(view)
    vectors = router_text.encode([user_text, agent_text])
    assert len(encoder.passes) == 2  # one per message, whoever asked first
    assert vectors.shape == (2, EMBED_DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # The router reads block 0 of the very vector the moderator's head read.
    np.testing.assert_array_equal(vectors[0], encoder.embed([encoder.passes[0]])[0][:EMBED_DIM])


def test_router_knows_which_texts_still_need_a_pass(onnx_file: Path) -> None:
    """`uncached` names exactly the texts whose vectors a decision would still compute (the
    engine runs those passes in a worker thread and the rest of the decision on the loop)."""
    encoder = Counting(onnx_file, cache_size=64)
    router_text = TextEncoder(encoder)
    texts = ["Where is my order #W1234567?", "ＷＨＥＲＥ is my order #W1234567?", "a new question"]
    assert router_text.uncached(texts) == texts
    router_text.encode(texts[:1])
    assert router_text.uncached(texts) == texts[2:]  # the full-width spelling normalises to the first
    passes = len(encoder.passes)
    router_text.encode(texts[:2])
    assert len(encoder.passes) == passes  # answered from the cache, as `uncached` said
    assert TextEncoder(Counting(onnx_file)).uncached(texts[:1]) == texts[:1]  # no cache: every text


def test_cache_is_bounded_and_optional(onnx_file: Path) -> None:
    cached = Counting(onnx_file, cache_size=2)
    for text in ["one", "two", "three", "three"]:
        cached.embed([text])
    assert cached.passes == ["one", "two", "three"]
    cached.embed(["one"])  # evicted: encoded again
    assert cached.passes[-1] == "one" and len(cached._cache) == 2
    uncached = Counting(onnx_file)
    uncached.embed(["one"])
    uncached.embed(["one"])
    assert uncached.passes == ["one", "one"] and not uncached._cache
    np.testing.assert_array_equal(cached.embed(["one"]), uncached.embed(["one"]))


def test_threads_asking_for_one_text_share_one_pass(onnx_file: Path) -> None:
    """The server moderates the bot's reply while the engine encodes the same reply for its next
    decision: whichever thread comes second waits for the first one's pass."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()

    class Slow(Counting):
        def _forward(self, text: str) -> np.ndarray:
            release.wait(5)  # hold the pass open until every thread has asked
            return super()._forward(text)

    encoder = Slow(onnx_file, cache_size=16)
    release.set()
    encoder.embed(["warm up"])
    encoder.passes.clear()
    release.clear()
    reply = "Here is one: the Tidal Speaker. It floats, plays for 12 hours and costs $79.00."
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(encoder.embed, [reply]) for _ in range(4)] + [pool.submit(encoder.embed, ["something else"])]
        for _ in range(400):
            if len(encoder._pending) == 2:  # both texts in flight
                break
            threading.Event().wait(0.01)
        release.set()
        vectors = [f.result(timeout=10) for f in futures]
    assert sorted(encoder.passes) == sorted([reply, "something else"])
    for v in vectors[1:4]:
        np.testing.assert_array_equal(v, vectors[0])
    assert not encoder._pending

    class Failing(Counting):
        def _forward(self, text: str) -> np.ndarray:
            raise RuntimeError("encoder broke")

    broken = Failing(onnx_file, cache_size=16)
    with pytest.raises(RuntimeError):
        broken.embed(["anything"])
    assert not broken._pending and not broken._cache  # a failed pass is not remembered


def test_trained_moderation_uses_the_shared_encoder_when_its_file_is_the_same(onnx_file: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / SHARED_DIR).mkdir(parents=True)
    shutil.copyfile(onnx_file, models / SHARED_DIR / ONNX_FILE)
    own = models / "moderation"
    own.mkdir()
    export_onnx(own / ONNX_FILE)  # as `shopbot train moderation` does
    assert file_digest(own / ONNX_FILE) == file_digest(onnx_file)  # the export is deterministic
    meta = json.loads(json.dumps({"max_tokens": 128, "encoder": {"backend": "onnx", "file": ONNX_FILE, "pooling": "multi"}}))
    assert trained_encoder(own, meta) is shared_encoder(models)
    assert trained_encoder(own, meta, cache=False) is shared_encoder(models, cache=False)
    assert shared_encoder(models, cache=False).cache_size == 0

    (own / ONNX_FILE).write_bytes((own / ONNX_FILE).read_bytes()[:-1] + b"\0")  # any other file: its own encoder
    other = trained_encoder(own, meta)
    assert isinstance(other, OnnxEncoder) and other is not shared_encoder(models) and other.onnx_path == own / ONNX_FILE
