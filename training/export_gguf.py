"""Write a fine-tuned model as GGUF for llama.cpp: the base GGUF with the LoRA-changed weights.

Every tensor LoRA did not touch is copied byte for byte (in its original quantisation). Each
changed weight is the base weight (dequantised) plus the adapter's product B·A·scale, stored as
Q8_0 (8-bit blocks, near-lossless) or F16 when its rows do not divide into Q8_0 blocks. llama.cpp
orders the rows of Llama's query and key projections differently from Hugging Face (rotary
pairs): the delta is permuted the way llama.cpp's converter permutes those weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

Q8_BLOCK = 32


def lora_deltas(model: Any) -> dict[str, np.ndarray]:
    """{Hugging Face module name: delta weight (out, in), float32} for every LoRA layer of a peft model."""
    deltas: dict[str, np.ndarray] = {}
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        a = module.lora_A["default"].weight.detach().float()
        b = module.lora_B["default"].weight.detach().float()
        scale = module.scaling["default"]
        clean = name.removeprefix("base_model.model.")
        deltas[clean] = (b @ a * scale).cpu().numpy()
    return deltas


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Hugging Face -> llama.cpp row order of a Llama query/key projection."""
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _field(reader: Any, key: str) -> Any:
    found = reader.fields.get(key)
    return found.contents() if found is not None else None


def write_gguf(base: Path, out: Path, deltas: dict[str, np.ndarray], name: str = "") -> Path:
    import gguf

    reader = gguf.GGUFReader(str(base))
    arch_name = _field(reader, "general.architecture")
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    n_blocks = int(_field(reader, f"{arch_name}.block_count"))
    n_head = int(_field(reader, f"{arch_name}.attention.head_count"))
    n_kv = int(_field(reader, f"{arch_name}.attention.head_count_kv") or n_head)
    names = gguf.get_tensor_name_map(arch, n_blocks)
    by_tensor: dict[str, np.ndarray] = {}
    for hf_name, delta in deltas.items():
        mapped = names.get_name(hf_name)
        if mapped is None:
            raise ValueError(f"no GGUF tensor for {hf_name}")
        if arch_name == "llama" and hf_name.endswith("q_proj"):
            delta = _permute(delta, n_head)
        elif arch_name == "llama" and hf_name.endswith("k_proj"):
            delta = _permute(delta, n_kv)
        by_tensor[mapped + ".weight"] = delta

    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch_name, endianess=reader.endianess)
    for fld in reader.fields.values():
        if fld.name == gguf.Keys.General.ARCHITECTURE or fld.name.startswith("GGUF."):
            continue
        value_type = fld.types[0]
        sub_type = fld.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        value = fld.contents()
        if fld.name == gguf.Keys.General.NAME and name:
            value = name
        writer.add_key_value(fld.name, value, value_type, sub_type=sub_type)
    tensors: list[tuple[str, np.ndarray, Any]] = []
    for tensor in reader.tensors:
        if tensor.name in by_tensor:
            base_weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            merged = base_weight + by_tensor.pop(tensor.name).astype(np.float32)
            if merged.shape[-1] % Q8_BLOCK == 0:
                data, qtype = gguf.quants.quantize(merged, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
            else:
                data, qtype = merged.astype(np.float16), gguf.GGMLQuantizationType.F16
            tensors.append((tensor.name, data, qtype))
        else:
            tensors.append((tensor.name, tensor.data, tensor.tensor_type))
    if by_tensor:
        raise ValueError(f"tensors not in the base model: {sorted(by_tensor)[:3]}")
    for tname, data, qtype in tensors:
        writer.add_tensor_info(tname, data.shape, data.dtype, data.nbytes, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _tname, data, _qtype in tensors:
        writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    writer.close()
    return out
