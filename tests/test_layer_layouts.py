"""Configs whose layers differ (per-layer MoE lists, hybrid attention, NAS blocks, compressed caches), as the
reference configs of 2026 models write them: hand-computed counts on small configs, and every reference config
read as a user's downloaded ``config.json`` would be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from features import catalog
from features.model_arch import arch_from_config

# One 4-layer model: hidden 64, 4 query heads of 16, 2 KV heads, untied 100-token vocabulary.
BASE = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "tie_word_embeddings": False,
        "max_position_embeddings": 4096}
GQA_ATTN = 64 * 4 * 16 + 2 * 64 * 2 * 16 + 4 * 16 * 64  # q, k, v, o
EMBED = 100 * 64
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hf-configs"


def test_a_per_layer_moe_list_marks_the_expert_layers() -> None:
    # MiniMax-M3 / MiMo-V2: moe_layer_freq lists each layer; dense layers have their own width.
    config = {**BASE, "moe_layer_freq": [0, 1, 0, 1], "n_routed_experts": 8, "num_experts_per_tok": 2,
              "moe_intermediate_size": 32, "dense_intermediate_size": 96}
    arch = arch_from_config("per-layer-moe", config)
    experts = 2 * 8 * 3 * 64 * 32  # two MoE layers of 8 gated experts
    router = 2 * 64 * 8
    dense = 2 * 3 * 64 * 96  # two dense layers at dense_intermediate_size
    assert arch.total_params == 4 * GQA_ATTN + experts + router + dense + 2 * EMBED
    assert arch.active_params == 4 * GQA_ATTN + 2 * 2 * 3 * 64 * 32 + router + dense + 2 * EMBED
    assert arch.num_experts == 8 and arch.experts_per_token == 2


def test_layers_block_type_reads_as_the_hybrid_pattern() -> None:
    # Nemotron 3 Ultra and 3.5 name their layers instead of the '*ME-' string, and may omit the layer count.
    nano = json.loads((Path(catalog.__file__).parent / "data" / "hf_configs"
                       / "nvidia--NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.json").read_text())
    letters = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
    named = {k: v for k, v in nano.items() if k not in ("hybrid_override_pattern", "num_hidden_layers")}
    named["layers_block_type"] = [letters[ch] for ch in nano["hybrid_override_pattern"]]
    assert arch_from_config("named", named) == arch_from_config("named", nano)


def test_hybrid_layer_pattern_gives_sliding_layers_their_own_shape() -> None:
    # MiMo-V2: 1 = sliding-window layer with swa_* heads and widths; values narrower than keys.
    config = {**BASE, "head_dim": 24, "v_head_dim": 16, "hybrid_layer_pattern": [0, 1, 1, 1], "sliding_window": 8,
              "swa_num_key_value_heads": 1, "swa_head_dim": 24, "swa_v_head_dim": 16}
    arch = arch_from_config("mimo-like", config)
    assert arch.kv_values_per_token_full == 2 * (24 + 16)  # one full layer, 2 KV heads of K 24 + V 16
    assert arch.kv_values_per_token_window == 3 * 1 * (24 + 16)  # three sliding layers, 1 KV head each
    assert arch.sliding_window == 8
    full = 64 * 4 * 24 + 64 * 2 * (24 + 16) + 4 * 16 * 64
    window = 64 * 4 * 24 + 64 * 1 * (24 + 16) + 4 * 16 * 64
    assert arch.total_params == full + 3 * window + 4 * 3 * 64 * 128 + 2 * EMBED
    assert arch.attn_flops_per_ctx_full == 2 * 4 * (24 + 16)
    assert arch.attn_flops_per_ctx_window == 3 * 2 * 4 * (24 + 16)


def test_gemma4_full_layers_share_k_and_v() -> None:
    # Gemma 4: full layers at global_head_dim, num_global_key_value_heads, V = K (no V projection); the
    # dense MLP runs beside the routed experts.
    config = {**BASE, "head_dim": 16, "global_head_dim": 32, "num_global_key_value_heads": 1, "attention_k_eq_v": True,
              "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
              "sliding_window": 8, "num_experts": 4, "top_k_experts": 2, "moe_intermediate_size": 32,
              "enable_moe_block": True, "tie_word_embeddings": True}
    arch = arch_from_config("gemma4-like", config)
    assert arch.kv_values_per_token_full == 1 * (32 + 32)  # the engine caches K and V alike
    assert arch.kv_values_per_token_window == 3 * 2 * (16 + 16)
    full = 64 * 4 * 32 + 64 * 1 * 32 + 4 * 32 * 64  # q, k (no v), o
    per_layer_mlp = 4 * 3 * 64 * 32 + 64 * 4 + 3 * 64 * 128  # experts, router, the dense MLP
    assert arch.total_params == full + 3 * GQA_ATTN + 4 * per_layer_mlp + EMBED
    assert arch.experts_per_token == 2
    assert arch.active_params == full + 3 * GQA_ATTN + 4 * (2 * 3 * 64 * 32 + 64 * 4 + 3 * 64 * 128) + EMBED


def test_nas_blocks_skip_attention_and_size_each_ffn() -> None:
    # Llama-Nemotron NAS: per-layer attention (n_heads_in_group query heads per KV head, or none) and FFN
    # width ffn_mult * 2/3 * hidden rounded up to a multiple of 256.
    blocks = [{"attention": {"no_op": False, "n_heads_in_group": 2}, "ffn": {"ffn_mult": 3.0, "no_op": False}},
              {"attention": {"no_op": True, "n_heads_in_group": None}, "ffn": {"ffn_mult": 1.0, "no_op": False}},
              {"attention": {"no_op": False, "n_heads_in_group": 4}, "ffn": {"no_op": True}},
              {"attention": {"no_op": True, "n_heads_in_group": None}, "ffn": {"ffn_mult": 12.0, "no_op": False}}]
    config = {**BASE, "num_key_value_heads": None, "intermediate_size": None, "block_configs": blocks}
    arch = arch_from_config("nas-like", config)
    assert arch.kv_values_per_token_full == 2 * 2 * 16 + 1 * 2 * 16  # 2 and 1 KV heads in layers 0 and 2
    attn = (64 * 4 * 16 + 64 * 2 * 2 * 16 + 4 * 16 * 64) + (64 * 4 * 16 + 64 * 1 * 2 * 16 + 4 * 16 * 64)
    ffn = 3 * 64 * (256 + 256 + 0 + 512)  # 128 -> 256, 42 -> 256, no-op, 512 -> 512
    assert arch.total_params == attn + ffn + 2 * EMBED


def test_kimi_linear_caches_only_its_full_attention_layers() -> None:
    # Kimi Linear: MLA in the layers full_attn_layers numbers from 1; KDA layers keep no per-token cache.
    config = {**BASE, "kv_lora_rank": 32, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
              "linear_attn_config": {"full_attn_layers": [2, 4], "kda_layers": [1, 3]}}
    arch = arch_from_config("kimi-linear-like", config)
    assert arch.is_mla
    assert arch.kv_values_per_token_full == 2 * (32 + 8)


def test_kda_layers_count_their_own_projections_and_state() -> None:
    # KDA layers of 2 heads of 8 (width 16): q, k, v, o; a kernel-3 conv over each of q, k, v; a low-rank decay
    # gate 64 -> 8 -> 16 and a full-rank output gate 64 -> 16; one update gate per head. Each sequence keeps 2 x 8 x 8
    # fp32 state (mamba_ssm_dtype) and the convs' last 2 inputs of 3 x 16 channels in 16 bits.
    mla = {**BASE, "kv_lora_rank": 32, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
           "mamba_ssm_dtype": "float32"}
    kda = {"full_attn_layers": [2, 4], "num_heads": 2, "head_dim": 8, "short_conv_kernel_size": 3,
           "use_full_rank_gate": True}
    plain = arch_from_config("mla", mla)
    hybrid = arch_from_config("kimi-linear-like", {**mla, "linear_attn_config": kda})
    mla_params = 64 * 4 * 24 + 64 * (32 + 8) + 32 * 4 * (16 + 16) + 4 * 16 * 64
    kda_params = 4 * 64 * 16 + 3 * 16 * 3 + (64 * 8 + 8 * 16) + 64 * 16 + 64 * 2
    assert plain.total_params - hybrid.total_params == 2 * (mla_params - kda_params)
    assert hybrid.recurrent_state_bytes_per_sequence == 2 * (2 * 8 * 8 * 4 + 3 * 16 * 2 * 2)
    assert plain.recurrent_state_bytes_per_sequence == 0


def test_qwen3_next_without_layer_types_attends_in_full_every_interval() -> None:
    # Gated DeltaNet in 3 of every 4 layers (full_attention_interval), each with q, k of 1 x 8, v and z of 2 x 8,
    # two gates per value head, a kernel-4 conv over q, k, v and out_proj; the full layer's queries carry a gate.
    config = {**BASE, "full_attention_interval": 4, "linear_num_key_heads": 1, "linear_num_value_heads": 2,
              "linear_key_head_dim": 8, "linear_value_head_dim": 8, "linear_conv_kernel_dim": 4,
              "attn_output_gate": True}
    arch = arch_from_config("qwen3-next-like", config)
    deltanet = 64 * (2 * 8 + 2 * 16) + 64 * 2 * 2 + (2 * 8 + 16) * 4 + 16 * 64
    assert arch.total_params == 3 * deltanet + (GQA_ATTN + 64 * 4 * 16) + 4 * 3 * 64 * 128 + 2 * EMBED
    assert arch.kv_values_per_token_full == 2 * 2 * 16  # one full layer: K and V, 2 KV heads of 16
    # no mamba_ssm_dtype: the state is held at 16 bits, as vLLM's "auto" keeps it
    assert arch.recurrent_state_bytes_per_sequence == 3 * (2 * 8 * 8 * 2 + (2 * 8 + 16) * 3 * 2)


def test_latent_experts_work_at_their_own_width() -> None:
    config = {**BASE, "n_routed_experts": 8, "num_experts_per_token": 2, "moe_intermediate_size": 32,
              "routed_expert_hidden_size": 16, "num_shared_experts": 1}
    arch = arch_from_config("latent-moe", config)
    per_layer = 8 * 3 * 16 * 32 + 64 * 8 + 2 * 64 * 16 + 3 * 64 * 32  # experts, router, in/out projections, shared
    assert arch.total_params == 4 * (GQA_ATTN + per_layer) + 2 * EMBED
    assert arch.experts_per_token == 2


def test_deepseek_sparse_attention_keeps_a_full_cache() -> None:
    config = {**BASE, "layer_types": ["deepseek_sparse_attention"] * 4}
    assert arch_from_config("dsa", config).kv_values_per_token_full == 4 * 2 * 2 * 16


def test_compressed_layers_cache_one_entry_per_ratio_tokens() -> None:
    # DeepSeek-V4: every layer slides a window; a layer with compress ratio r also keeps an entry per r tokens.
    config = {**BASE, "sliding_window": 8, "compress_ratios": [0, 4, 128, 4, 0]}  # the last: the MTP layer
    arch = arch_from_config("v4-like", config)
    per_layer = 2 * 2 * 16
    assert arch.kv_values_per_token_window == 4 * per_layer
    assert arch.kv_values_per_token_full == per_layer / 4 + per_layer / 128 + per_layer / 4
    assert arch.attn_flops_per_ctx_full == pytest.approx(2 * 4 * 32 * (2 / 4 + 1 / 128))


def test_every_reference_config_reads_as_a_download(tmp_path: Path) -> None:
    """Each ``org--name_config.json`` (with its ``_hf_quant_config.json``) laid out as Hugging Face does reads
    without error, with a KV cache, and as the catalog's bundled copy of it."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference configs not found at {REFERENCE}")
    configs = sorted(p for p in REFERENCE.glob("*_config.json") if not p.name.endswith("_hf_quant_config.json"))
    assert len(configs) >= 80
    for source in configs:
        stem = source.name.removesuffix("_config.json")
        folder = tmp_path / stem
        folder.mkdir()
        (folder / "config.json").write_bytes(source.read_bytes())
        quant = REFERENCE / f"{stem}_hf_quant_config.json"
        if quant.is_file():
            (folder / "hf_quant_config.json").write_bytes(quant.read_bytes())
        arch = catalog.get_model(str(folder))
        assert arch.total_params > arch.active_params * 0.999 > 0, stem
        assert arch.kv_values_per_token_full + arch.kv_values_per_token_window > 0, stem
        bundled = stem.replace("--", "/", 1)
        if bundled in catalog.model_ids():
            assert catalog.get_model(bundled).total_params == arch.total_params, stem
