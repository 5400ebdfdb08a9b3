"""The fast model of the cascade: its numpy forward pass, its per-text cache, stale models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.conversation import ConversationView


def test_missing_or_stale_model_gives_a_clear_error(tmp_path: Path) -> None:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from bot.engine import EngineNotReady, NotReadyEngine, load_decider, load_engine
    from bot.settings import Settings
    from policies.router import saved_model_problem, state_features

    settings = Settings.from_env(home=tmp_path / "home")
    assert isinstance(load_engine(settings, None), NotReadyEngine)  # type: ignore[arg-type]
    with pytest.raises(EngineNotReady, match="run `shopbot train`"):
        load_decider(settings)
    stale = LogisticRegression().fit(np.eye(5), [0, 1, 0, 1, 0])  # trained on another feature layout
    (settings.models_dir / "engine").mkdir(parents=True)
    joblib.dump({"head": stale, "actions": ["reply:answer", "call:calculate"]}, settings.models_dir / "engine" / "router_head.joblib")
    with pytest.raises(EngineNotReady, match="expects 5 features"):
        load_decider(settings)
    # The right layout, but fitted on other sentence vectors (a card from before this feature version).
    width = len(state_features(ConversationView.parse([]))) + 3 * 384
    head = LogisticRegression().fit(np.random.default_rng(0).normal(size=(6, width)), [0, 1, 0, 1, 0, 1])
    joblib.dump({"head": head, "actions": ["reply:answer", "call:calculate"]}, settings.models_dir / "engine" / "router_head.joblib")
    (settings.models_dir / "engine" / "model_card.json").write_text(json.dumps({"model": "older"}))
    assert "other sentence features" in (saved_model_problem(settings.models_dir / "engine") or "")
    with pytest.raises(EngineNotReady, match="other sentence features"):
        load_decider(settings)


def test_router_head_fast_path_matches_sklearn() -> None:
    """The numpy forward pass the server uses gives sklearn's predict_proba, to float precision."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from policies.router import Router

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    router = Router.__new__(Router)
    router.head = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0).fit(x, y)
    np.testing.assert_allclose(router._probabilities(x[:7]), router.head.predict_proba(x[:7]), rtol=1e-5, atol=1e-6)


def test_router_decision_with_cached_text_products_equals_the_full_forward_pass(tmp_path) -> None:
    """The server's forward pass (first layer block by block, the sentence vectors' products kept
    per text) gives the probabilities of the whole feature row, on a head of the real layout and
    the real encoder, over a conversation whose texts come back turn after turn."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    from policies.router import Router, TextEncoder, featurize, state_features
    from retrieval.minilm_int8 import ONNX_FILE, SHARED_DIR, OnnxEncoder, export_onnx

    encoder = TextEncoder(OnnxEncoder(export_onnx(tmp_path / SHARED_DIR / ONNX_FILE), cache_size=64))
    width = len(state_features(ConversationView.parse([]))) + 3 * 384
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, width)).astype(np.float32)
    head = MLPClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0)
    with pytest.warns(Warning):  # not converged: any weights will do here
        head.fit(x, rng.integers(0, 4, size=60))
    router = Router(encoder, head, ["reply:answer", "call:search_products", "call:calculate", "call:get_order_details"])
    messages: list[dict] = []
    for said in ["hi there", "do you have a desk lamp?", "hi there", "my email is ana@example.com"]:
        messages = messages + [{"role": "user", "content": said}]
        view = ConversationView.parse(messages)
        full = router._probabilities(featurize([view], encoder))[0]
        np.testing.assert_allclose(router._view_probabilities(view), full, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(router._view_probabilities(view), full, rtol=1e-4, atol=1e-6)  # from the cache
        messages = messages + [{"role": "assistant", "content": f"You said: {said}"}]
