"""Architecture numbers derived from config.json, checked against hand arithmetic."""

from __future__ import annotations

import pytest

from features import catalog
from features.model_arch import arch_from_config

TINY_LLAMA = {
    "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "tie_word_embeddings": False,
    "max_position_embeddings": 512, "torch_dtype": "bfloat16",
}


def test_tiny_llama_counts_every_matrix() -> None:
    arch = arch_from_config("tiny", TINY_LLAMA)
    head_dim = 64 // 4
    attn = 64 * 4 * head_dim + 2 * 64 * 2 * head_dim + 4 * head_dim * 64  # q, k, v, o
    mlp = 3 * 64 * 128  # gate, up, down
    embed = 100 * 64
    assert arch.total_params == 2 * (attn + mlp) + 2 * embed  # untied lm_head
    assert arch.matmul_params_per_token == 2 * (attn + mlp) + embed  # lookup costs no FLOPs
    assert arch.kv_values_per_token_full == 2 * 2 * 2 * head_dim  # layers * (K+V) * kv_heads * head_dim
    assert arch.native_weight_dtype == "bf16"


def test_llama2_7b_fp16_weights_are_13_5_gb() -> None:
    arch = catalog.get_model("meta-llama/Llama-2-7b-hf")
    # 32 layers * (4 * 4096^2 attention + 3 * 4096 * 11008 MLP) + 2 * 32000 * 4096 embeddings = 6.738e9
    assert arch.total_params == pytest.approx(6.738e9, rel=1e-3)
    assert arch.weight_bytes(2.0) == pytest.approx(13.48e9, rel=1e-3)


def test_llama3_8b_gqa_kv_bytes_per_token() -> None:
    arch = catalog.get_model("meta-llama/Meta-Llama-3-8B")
    # 32 layers * 2 (K and V) * 8 KV heads * 128 head_dim * 2 bytes = 131,072 bytes
    assert arch.kv_bytes_per_token(2.0) == 131_072


def test_deepseek_v3_mla_caches_576_values_per_layer() -> None:
    arch = catalog.get_model("deepseek-ai/DeepSeek-V3")
    assert arch.is_mla
    # kv_lora_rank 512 + qk_rope_head_dim 64 = 576 values per layer, 61 layers
    assert arch.kv_values_per_token_full == 576 * 61
    assert arch.kv_bytes_per_token(2.0) == 576 * 61 * 2
    assert arch.total_params == pytest.approx(671e9, rel=0.01)  # DeepSeek-V3 paper: 671B total
    assert arch.active_params == pytest.approx(37e9, rel=0.03)  # and 37B activated per token


def test_mixtral_active_parameters() -> None:
    arch = catalog.get_model("mistralai/Mixtral-8x7B-v0.1")
    # per layer: attention 4096*(4096 + 2*1024 + 4096) ; 8 experts of 3*4096*14336 ; router 4096*8
    attn = 4096 * (4096 + 2 * 1024 + 4096)
    expert = 3 * 4096 * 14336
    embed = 32000 * 4096
    assert arch.total_params == 32 * (attn + 8 * expert + 4096 * 8) + 2 * embed
    assert arch.active_params == 32 * (attn + 2 * expert + 4096 * 8) + 2 * embed  # 12.88e9
    assert arch.active_params == pytest.approx(12.88e9, rel=2e-3)


def test_sliding_window_layers_cap_kv() -> None:
    arch = catalog.get_model("openai/gpt-oss-120b")
    assert arch.sliding_window == 128
    assert arch.kv_values_per_token_full == arch.kv_values_per_token_window  # 18 full, 18 sliding layers
    long_ctx = arch.kv_bytes_per_token(1.0, context_len=4096)
    assert long_ctx == pytest.approx(arch.kv_values_per_token_full * (1 + 128 / 4096))


def test_falcon_multi_query_has_one_kv_head() -> None:
    config = {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
              "multi_query": True, "vocab_size": 65024, "new_decoder_architecture": False}
    arch = arch_from_config("falcon-like", config)
    assert arch.num_kv_heads == 1
    assert arch.kv_values_per_token_full == 32 * 2 * 64


def test_multimodal_config_uses_text_config() -> None:
    arch = catalog.get_model("moonshotai/Kimi-K2.5")
    assert arch.is_mla and arch.num_experts == 384 and arch.num_layers == 61
