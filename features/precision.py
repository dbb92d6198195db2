"""Number formats: canonical names and bytes per value."""

from __future__ import annotations

import re
from collections.abc import Collection

from features.errors import UnknownNameError, closest_names
from features.host import is_cpu_vendor

__all__ = ["BYTES_PER_VALUE", "PEAK_COLUMNS_BY_WEIGHT", "canonical_dtype", "native_peak", "runs_natively"]

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

# Which datasheet peak a matmul with weights in each format runs at, best first. A SKU without the
# first peak falls back to the next one the tensor cores run (fp8 weights on A100 run as fp16 Marlin
# kernels); weight-only int4 always dequantises to fp16. Columns of ``features/data/hardware.csv``.
PEAK_COLUMNS_BY_WEIGHT: dict[str, tuple[str, ...]] = {
    "fp4": ("fp4_tflops", "fp8_tflops", "fp16_tflops"),
    "fp8": ("fp8_tflops", "fp16_tflops"),
    "int8": ("int8_tops", "fp16_tflops"),
    "int4": ("fp16_tflops",),
    "fp16": ("fp16_tflops",),
    "bf16": ("bf16_tflops",),
    "fp32": ("fp32_tflops",),
    "tf32": ("tf32_tflops", "fp32_tflops"),
}
# Weight formats worth choosing only where the hardware has their own tensor-core peak.
_NEEDS_OWN_PEAK = ("fp8", "fp4", "int8")

_SPELLINGS = {
    "float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
    "float8": "fp8", "fp8_e4m3": "fp8", "e4m3": "fp8", "fp8_block": "fp8", "fp8_e5m2": "fp8",
    "nvfp4": "fp4", "mxfp4": "fp4", "w4a16": "int4", "int4_wo": "int4", "awq": "int4", "gptq": "int4",
    "q4_0": "int4", "q8_0": "int8", "w8a8": "int8", "auto": "fp16",
    # Weights are what these name: int4 weights with int8 activations, int8 weights with 16-bit ones;
    # llama.cpp's 4-bit k-quants (about 4.5 bits a weight with their scales) and q4_1.
    "w4a8": "int4", "w8a16": "int8", "q4_k": "int4", "q4_k_m": "int4", "q4_k_s": "int4", "q4_1": "int4",
    # PyTorch's dtype names ('torch.float8_e4m3fn') and SmoothQuant's int8 weights and activations.
    "e4m3fn": "fp8", "e5m2": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "smoothquant": "int8",
}
# Words that give the weights' bits but not their kind: beside a format word ('W8A8-FP8', llm-compressor's FP8
# scheme) the format word says which; alone they read as integers (above).
_BITS_ONLY = frozenset({"w8a8", "w4a16", "w4a8", "w8a16"})
# Words a compound spelling may add that say how, not what ('fp8-dynamic', 'int4-awq', 'gptq-int4').
_QUALIFIERS = frozenset({"dynamic", "static", "block", "blockwise", "channel", "tensor", "per", "quantized",
                         "weight", "only", "wo", "torch"})


def canonical_dtype(name: str) -> str:
    """'bfloat16' -> 'bf16', 'nvfp4' -> 'fp4', 'gptq-int4' -> 'int4', 'FP8 (E4M3)' -> 'fp8', 'W8A8-FP8' -> 'fp8';
    ``UnknownNameError`` for anything else (a compound whose words name two formats, 'fp8-int4', or none we
    model, 'q5_k_m')."""
    key = str(name).strip().lower()
    key = _SPELLINGS.get(key, key)
    if key in BYTES_PER_VALUE:
        return key
    # A compound spelling whose format words all name one format ('gptq-int4', 'fp8-dynamic', 'FP8 (E4M3)').
    words = [w for w in re.split(r"[-_\s.()]+", key) if w and w not in _QUALIFIERS]
    named = {_SPELLINGS.get(w, w) for w in words}
    if len(named) > 1:  # bits beside a format word: the format word says which ('W8A8-FP8')
        named = {_SPELLINGS.get(w, w) for w in words if w not in _BITS_ONLY} or named
    if words and len(named) == 1 and (only := named.pop()) in BYTES_PER_VALUE:
        return only
    raise UnknownNameError("precision", str(name), closest_names(str(name), list(BYTES_PER_VALUE)))


def native_peak(dtype: str) -> str | None:
    """The ``HardwareSpec.peak_tflops`` key a weight format needs to be worth running, or None if any will do.

    fp8, fp4 and int8 weights pay off only on tensor cores for that format; elsewhere they are
    dequantised and run at the 16-bit peak, so the optimizer does not offer them.
    """
    if dtype not in _NEEDS_OWN_PEAK:
        return None
    return PEAK_COLUMNS_BY_WEIGHT[dtype][0].rsplit("_", 1)[0]


def runs_natively(dtype: str, peaks: Collection[str], vendor: str) -> bool:
    """Whether ``dtype`` weights run at their own rate on hardware with these datasheet ``peaks``
    (``HardwareSpec.peak_tflops`` keys) from this ``vendor``: fp8, fp4 and int8 need tensor cores of their own
    on an accelerator, else they are weight-only. A CPU runs int8 weights in any case: its engine (llama.cpp's
    q8_0) takes integer dot products in the SIMD units every x86 and Arm server core has (AVX2, AVX-512 VNNI,
    NEON), halving the bytes a memory-bound decode reads against 16-bit; priced at the 16-bit peak, as the
    catalog lists no integer peak for CPUs."""
    needed = native_peak(dtype)
    return needed is None or needed in peaks or (dtype == "int8" and is_cpu_vendor(vendor))
