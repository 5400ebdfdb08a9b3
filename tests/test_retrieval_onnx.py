"""The ONNX Runtime sentence encoder gives the PyTorch model's vectors (so indexes and trained
heads stay valid), exports once into SHOPBOT_HOME, and steps aside when told to."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

TEXTS = ["thanks", "a red hoodie, size M, under $40", "Over-Ear Headphones with noise cancelling " * 20, ""]


@pytest.fixture(scope="module")
def torch_model():  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    from retrieval.embed import model_path

    model = SentenceTransformer(model_path(), device="cpu")
    model.max_seq_length = 128
    return model


def test_same_vectors_as_pytorch_in_batches_with_padding(torch_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from retrieval.onnx_minilm import ONNX_FILE, onnx_encoder

    from retrieval.embed import model_path

    loads = []
    encoder = onnx_encoder(lambda: loads.append(1) or torch_model, model_path(), tmp_path / "onnx")
    assert encoder is not None and (tmp_path / "onnx" / ONNX_FILE).is_file() and loads == [1]
    expected = torch_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    for batch_size in (1, 3, 64):
        got = encoder.encode(TEXTS, batch_size=batch_size, normalize_embeddings=True)
        assert got.shape == (len(TEXTS), 384)
        assert np.min(np.sum(expected * got, axis=1)) > 0.9999
    assert encoder.encode("thanks", normalize_embeddings=True).shape == (384,)
    mtime = (tmp_path / "onnx" / ONNX_FILE).stat().st_mtime_ns
    again = onnx_encoder(lambda: loads.append(1) or torch_model, model_path(), tmp_path / "onnx")
    assert again is not None and loads == [1]  # the exported file again; the PyTorch weights stay unloaded
    assert (tmp_path / "onnx" / ONNX_FILE).stat().st_mtime_ns == mtime
    assert not list((tmp_path / "onnx").glob("*.tmp"))


def test_setting_keeps_pytorch(torch_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from retrieval.onnx_minilm import onnx_encoder

    from retrieval.embed import model_path

    monkeypatch.setenv("SHOPBOT_ENCODER", "torch")
    assert onnx_encoder(lambda: torch_model, model_path(), tmp_path / "onnx") is None


def test_a_broken_export_falls_back(torch_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from retrieval.onnx_minilm import ONNX_FILE, onnx_encoder

    from retrieval.embed import model_path

    assert onnx_encoder(lambda: torch_model, model_path(), tmp_path / "onnx") is not None
    (tmp_path / "onnx" / ONNX_FILE).write_bytes(b"not a model")
    assert onnx_encoder(lambda: torch_model, model_path(), tmp_path / "onnx") is None
