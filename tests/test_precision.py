"""Number formats as tables write them, read as the formats the model prices."""

from __future__ import annotations

import pytest

from features.errors import UnknownNameError
from features.precision import canonical_dtype


@pytest.mark.parametrize(("written", "dtype"), [
    ("bfloat16", "bf16"), ("FP16", "fp16"), ("fp8_e4m3", "fp8"), ("NVFP4", "fp4"), ("AWQ", "int4"),
    # compounds whose format words all name one format; qualifiers say how, not what
    ("gptq-int4", "int4"), ("int4-awq", "int4"), ("fp8-dynamic", "fp8"), ("FP8-block", "fp8"),
    ("fp8_per_tensor", "fp8"), ("int4_weight_only", "int4"),
    # the weights of a weights-activations pair; llama.cpp's 4-bit k-quants
    ("W4A8", "int4"), ("w8a16", "int8"), ("Q4_K_M", "int4"), ("q4_1", "int4"),
    # a qualifier in brackets, PyTorch's dtype names, SmoothQuant, and bits beside the format they are
    ("FP8 (E4M3)", "fp8"), ("fp4 (nvfp4)", "fp4"), ("torch.float8_e4m3fn", "fp8"), ("torch.bfloat16", "bf16"),
    ("int8 (smoothquant)", "int8"), ("W8A8-FP8", "fp8"), ("w8a8_int8", "int8"), ("w8a8", "int8"),
])
def test_a_format_written_another_way_is_read(written: str, dtype: str) -> None:
    assert canonical_dtype(written) == dtype


@pytest.mark.parametrize("written", ["fp8-int4", "q5_k_m", "dynamic", "fp8kv", "FP16/BF16", "w8a8-fp8-int4"])
def test_two_formats_none_or_a_bare_qualifier_is_refused(written: str) -> None:
    with pytest.raises(UnknownNameError, match=f"^unknown precision '{written}'"):
        canonical_dtype(written)
