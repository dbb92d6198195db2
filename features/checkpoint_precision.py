"""The precision a checkpoint ships in, read from its quantisation config.

Two places record it: NVIDIA ModelOpt's ``hf_quant_config.json`` (``quant_algo``, ``kv_cache_quant_algo``)
and ``config.json``'s ``quantization_config`` (``quant_method`` fp8 / mxfp4 / gptq / awq /
compressed-tensors / modelopt, with ``config_groups`` of weight bits and types and a ``kv_cache_scheme``).
Without either, the weights are in the config's ``torch_dtype``. A name alone states a precision only by
the suffix rules of :mod:`features.model_names`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["weight_format", "kv_cache_format"]

# Quantisation algorithm names (ModelOpt ``quant_algo``, compressed-tensors ``format``) -> weight format;
# the first matching substring wins, so the 4-bit names come before the 8-bit ones.
_ALGO_DTYPES = (("fp4", "fp4"), ("int4", "int4"), ("w4", "int4"), ("fp8", "fp8"), ("int8", "int8"),
                ("w8", "int8"))
_NARROWEST_FIRST = ("fp4", "int4", "fp8", "int8")


def _algo_dtype(algo: object) -> str | None:
    """'NVFP4' -> 'fp4', 'FP8' -> 'fp8', 'W4A16_AWQ' -> 'int4'; None for anything else."""
    text = str(algo or "").lower()
    return next((dtype for key, dtype in _ALGO_DTYPES if key in text), None)


def _mixed_dtype(quant: dict[str, Any]) -> str | None:
    """A MIXED_PRECISION ModelOpt checkpoint: the narrowest format of its quantised layers. Its experts or
    MLPs, which hold most of the weights, are the ones quantised hardest (an approximation)."""
    layers = quant.get("quantized_layers") or {}
    algos = {_algo_dtype(v.get("quant_algo")) for v in layers.values() if isinstance(v, dict)}
    groups = quant.get("config_groups") or {}
    algos |= {_group_dtype(g) for g in groups.values() if isinstance(g, dict)}
    return next((d for d in _NARROWEST_FIRST if d in algos), None)


def _group_dtype(group: dict[str, Any]) -> str | None:
    """A compressed-tensors / ModelOpt ``config_groups`` entry: float or int weights of 4 or 8 bits."""
    weights = group.get("weights") or {}
    bits, kind = weights.get("num_bits"), str(weights.get("type", "int")).lower()
    if bits not in (4, 8):
        return None
    return f"{'fp' if kind == 'float' else 'int'}{bits}"


def weight_format(config: dict[str, Any], quant_config: dict[str, Any] | None) -> str:
    """Checkpoint precision from an ``hf_quant_config.json`` or the config's ``quantization_config``."""
    if quant_config:
        header = quant_config.get("quantization", quant_config)
        algo = str(header.get("quant_algo", "")).lower()
        found = _mixed_dtype(header) if algo == "mixed_precision" else _algo_dtype(algo)
        if found:
            return found
    quant = config.get("quantization_config") or {}
    method = str(quant.get("quant_method", "")).lower()
    if method == "modelopt":  # ModelOpt exports since 0.3x carry the hf_quant_config header here
        algo = str(quant.get("quant_algo", "")).lower()
        found = _mixed_dtype(quant) if algo == "mixed_precision" else _algo_dtype(algo)
        if found:
            return found
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if "fp4" in method:
        return "fp4"
    if method in ("gptq", "awq", "compressed-tensors"):
        bits = quant.get("bits")
        groups = [g for g in (quant.get("config_groups") or {}).values() if isinstance(g, dict)]
        typed = {_group_dtype(g) for g in groups}  # compressed-tensors FP8-dynamic: float 8-bit weights
        narrowest = next((d for d in _NARROWEST_FIRST if d in typed), None)
        if narrowest:
            return narrowest
        return "int4" if bits == 4 else "int8" if bits == 8 else "fp16"
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    # Engines serve fp32 checkpoints in fp16 (vLLM `--dtype auto`: "FP16 for FP32 and FP16 models").
    return {"float32": "fp16", "float16": "fp16", "bfloat16": "bf16"}.get(dtype, "bf16")


def kv_cache_format(config: dict[str, Any], quant_config: dict[str, Any] | None) -> str | None:
    """KV-cache precision a quantised checkpoint states: ModelOpt ``kv_cache_quant_algo`` (in
    hf_quant_config.json or quantization_config) or compressed-tensors ``kv_cache_scheme``."""
    header = (quant_config or {}).get("quantization", quant_config or {})
    quant = config.get("quantization_config") or {}
    for algo in (header.get("kv_cache_quant_algo"), quant.get("kv_cache_quant_algo")):
        if algo:
            return _algo_dtype(algo)
    scheme = quant.get("kv_cache_scheme")
    if isinstance(scheme, dict):
        return _group_dtype({"weights": scheme})
    return _algo_dtype(scheme) if scheme else None
