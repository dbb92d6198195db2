"""The precision a checkpoint ships in, from hf_quant_config.json or config.json's quantization_config."""

from __future__ import annotations

import pytest

from features import catalog
from features.checkpoint_precision import kv_cache_format, weight_format


@pytest.mark.parametrize(("model", "weight", "kv"), [
    ("nvidia/DeepSeek-V3.1-NVFP4", "fp4", "fp8"),  # hf_quant_config.json: NVFP4, kv_cache_quant_algo FP8
    ("nvidia/DeepSeek-R1-NVFP4", "fp4", None),  # kv_cache_quant_algo null
    ("nvidia/Kimi-K2.5-NVFP4", "fp4", "fp8"),  # quantization_config: modelopt NVFP4, kv_cache_scheme float 8-bit
    ("Qwen/Qwen3-32B-FP8", "fp8", None),  # quantization_config: fp8 blocks, nothing about the KV cache
    ("moonshotai/Kimi-K2.5", "int4", None),  # compressed-tensors int 4-bit groups
])
def test_checkpoint_precision_comes_from_its_quantisation_config(model: str, weight: str, kv: str | None) -> None:
    arch = catalog.get_model(model)
    assert (arch.native_weight_dtype, arch.native_kv_dtype) == (weight, kv)


@pytest.mark.parametrize(("weight_type", "expected"), [("float", "fp8"), ("int", "int8")])
def test_compressed_tensors_8_bit_weights_are_fp8_or_int8_by_type(weight_type: str, expected: str) -> None:
    # RedHatAI/...-FP8-dynamic config.json: float 8-bit weights; ...-quantized.w8a8: int 8-bit weights
    config = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "vocab_size": 100, "quantization_config": {
                  "quant_method": "compressed-tensors",
                  "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": weight_type}}}}}
    assert weight_format(config, None) == expected


@pytest.mark.parametrize(("quant_config", "weight", "kv"), [
    ({"quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8"}}, "fp4", "fp8"),
    ({"quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": None}}, "fp8", None),
    ({"quantization": {"quant_algo": "W4A16_AWQ"}}, "int4", None),
    # MIXED_PRECISION: the narrowest format of the quantised layers (the experts)
    ({"quantization": {"quant_algo": "MIXED_PRECISION", "quantized_layers": {
        "layers.0.self_attn.q_proj": {"quant_algo": "FP8"}, "layers.0.mlp.experts": {"quant_algo": "NVFP4"}}}},
     "fp4", None),
])
def test_hf_quant_config_header(quant_config: dict[str, object], weight: str, kv: str | None) -> None:
    config = {"torch_dtype": "bfloat16"}
    assert (weight_format(config, quant_config), kv_cache_format(config, quant_config)) == (weight, kv)


def test_without_quantisation_the_torch_dtype_decides() -> None:
    assert weight_format({"torch_dtype": "float32"}, None) == "fp16"  # engines serve fp32 checkpoints in fp16
    assert weight_format({"dtype": "bfloat16"}, None) == "bf16"
    assert kv_cache_format({"torch_dtype": "bfloat16"}, None) is None
