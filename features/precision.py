"""Number formats: canonical names and bytes per value."""

from __future__ import annotations

from features.errors import UnknownNameError, closest_names

__all__ = ["BYTES_PER_VALUE", "canonical_dtype"]

# Storage size of one weight or KV value; 4-bit formats ignore their per-block scales
# (1 byte per 16 values for NVFP4, 1 per 32 for MXFP4: under 7%).
BYTES_PER_VALUE: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
}

_SPELLINGS = {
    "float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
    "float8": "fp8", "fp8_e4m3": "fp8", "e4m3": "fp8", "fp8_block": "fp8", "fp8_e5m2": "fp8",
    "nvfp4": "fp4", "mxfp4": "fp4", "w4a16": "int4", "int4_wo": "int4", "awq": "int4", "gptq": "int4",
    "q4_0": "int4", "q8_0": "int8", "w8a8": "int8", "auto": "fp16",
}


def canonical_dtype(name: str) -> str:
    """'bfloat16' -> 'bf16', 'nvfp4' -> 'fp4'; ``UnknownNameError`` for anything else."""
    key = str(name).strip().lower()
    key = _SPELLINGS.get(key, key)
    if key not in BYTES_PER_VALUE:
        raise UnknownNameError("precision", str(name), closest_names(str(name), list(BYTES_PER_VALUE)))
    return key
