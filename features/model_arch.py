"""Derive the numbers the roofline needs from a Hugging Face ``config.json``.

Parameter counts follow the module shapes of the Hugging Face implementations (attention
projections, gated or plain MLP, routed and shared experts, embeddings, untied LM head); norms
and biases are left out (well under 0.1% of any model here). KV-cache sizes follow what the
serving engines store per token: K and V per KV head for MHA/GQA/MQA, the compressed latent
plus the RoPE key for MLA (DeepSeek-V2 paper, arXiv 2405.04434, section 2.1.2), nothing per
token for linear-attention or Mamba layers, and at most ``sliding_window`` tokens for
sliding-window layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from features.errors import ConfigError

__all__ = ["ModelArch", "arch_from_config"]

# Families whose MLP has two matrices (up, down) instead of three (gate, up, down).
_PLAIN_MLP_TYPES = frozenset({"opt", "gptj", "bloom", "falcon", "gpt2", "gpt_neox", "phi", "gpt_bigcode"})
# Layer kinds that keep a per-token KV cache.
_ATTENTION_LAYER_KINDS = frozenset({"full_attention", "attention", "global", "full"})
_SLIDING_LAYER_KINDS = frozenset({"sliding_attention", "local", "sliding", "chunked_attention"})


@dataclass(frozen=True)
class ModelArch:
    """Architecture numbers of one model, all per model (not per device)."""

    model_id: str
    model_type: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: float = field(metadata={"help": "mean KV heads over attention layers"})
    qk_head_dim: int
    v_head_dim: int
    vocab_size: int
    total_params: float
    active_params: float = field(metadata={"help": "parameters touched per token (MoE: routed top-k)"})
    matmul_params_per_token: float = field(metadata={"help": "weights multiplied per token (no lookup)"})
    embedding_params: float
    ffn_active_width: float = field(metadata={"help": "active MLP columns per token per layer"})
    expert_params: float = field(metadata={"help": "parameters of all routed experts"})
    num_experts: int
    experts_per_token: int
    kv_values_per_token_full: float = field(metadata={"help": "K+V elements per token, unbounded layers"})
    kv_values_per_token_window: float = field(metadata={"help": "K+V elements per token, windowed layers"})
    sliding_window: int = field(metadata={"help": "tokens kept by windowed layers; 0 if none"})
    attn_flops_per_ctx_full: float = field(metadata={"help": "FLOPs per query token per context token"})
    attn_flops_per_ctx_window: float
    is_mla: bool
    native_weight_dtype: str = field(metadata={"help": "precision of the published checkpoint"})
    max_position_embeddings: int

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    def weight_bytes(self, bytes_per_param: float) -> float:
        """Bytes of all weights at a given precision."""
        return self.total_params * bytes_per_param

    def kv_bytes_per_token(self, bytes_per_value: float, context_len: int | None = None) -> float:
        """KV-cache bytes one token adds; windowed layers count only if within the window."""
        window_part = self.kv_values_per_token_window
        if context_len is not None and self.sliding_window and context_len > self.sliding_window:
            window_part *= self.sliding_window / context_len
        return (self.kv_values_per_token_full + window_part) * bytes_per_value

    def flops_per_token(self, context_len: int = 0) -> float:
        """Forward FLOPs for one token attending to ``context_len`` earlier tokens."""
        window_ctx = min(context_len, self.sliding_window) if self.sliding_window else context_len
        return (
            2.0 * self.matmul_params_per_token
            + self.attn_flops_per_ctx_full * context_len
            + self.attn_flops_per_ctx_window * window_ctx
        )


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal checkpoints nest the language model under ``text_config``; use it."""
    text = config.get("text_config")
    if isinstance(text, dict) and ("hidden_size" in text or "num_hidden_layers" in text):
        merged = {k: v for k, v in config.items() if k not in ("text_config", "vision_config")}
        merged.update(text)
        return merged
    return config


def _first(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = config.get(key)
        if value is not None:
            return value
    return default


def _native_dtype(config: dict[str, Any], quant_config: dict[str, Any] | None) -> str:
    """Checkpoint precision from ``quantization_config`` or an ``hf_quant_config.json``."""
    if quant_config:
        algo = str(quant_config.get("quantization", {}).get("quant_algo", "")).lower()
        if "fp4" in algo:
            return "fp4"
        if "fp8" in algo:
            return "fp8"
        if "int4" in algo or "w4" in algo:
            return "int4"
    quant = config.get("quantization_config") or {}
    method = str(quant.get("quant_method", "")).lower()
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if "fp4" in method:
        return "fp4"
    if method in ("gptq", "awq", "compressed-tensors"):
        bits = quant.get("bits")
        groups = quant.get("config_groups") or {}
        for group in groups.values():
            bits = (group.get("weights") or {}).get("num_bits", bits)
        return "int4" if bits == 4 else "int8" if bits == 8 else "fp16"
    dtype = str(_first(config, "torch_dtype", "dtype", default="bfloat16"))
    # Engines serve fp32 checkpoints in fp16 (vLLM `--dtype auto`: "FP16 for FP32 and FP16 models").
    return {"float32": "fp16", "float16": "fp16", "bfloat16": "bf16"}.get(dtype, "bf16")


def _layer_kinds(config: dict[str, Any], num_layers: int) -> list[str]:
    """Per-layer attention kind: 'full', 'window' or 'none' (linear attention / Mamba)."""
    types = config.get("layer_types")
    if isinstance(types, list) and len(types) == num_layers:
        kinds = []
        for t in types:
            t = str(t)
            kinds.append("full" if t in _ATTENTION_LAYER_KINDS else "window" if t in _SLIDING_LAYER_KINDS
                         else "none")
        return kinds
    pattern = config.get("hybrid_override_pattern")
    if isinstance(pattern, str) and len(pattern) == num_layers:  # Nemotron-H: '*' = attention
        return ["full" if ch == "*" else "none" for ch in pattern]
    window = config.get("sliding_window")
    use_window = config.get("use_sliding_window", True) and window
    if config.get("model_type") in ("gemma2", "gemma3_text", "gemma3") and window:
        return ["window" if i % 2 == 0 else "full" for i in range(num_layers)]
    if use_window and int(window) < int(_first(config, "max_position_embeddings", default=10**9)):
        return ["window"] * num_layers
    return ["full"] * num_layers


def arch_from_config(
    model_id: str, config: dict[str, Any], quant_config: dict[str, Any] | None = None
) -> ModelArch:
    """Build a :class:`ModelArch` from a parsed config.json; raise ``ConfigError`` if keys are missing."""
    cfg = _text_config(config)
    model_type = str(cfg.get("model_type", "unknown"))
    hidden = _first(cfg, "hidden_size", "n_embd", "n_embed", "d_model")
    layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers")
    heads = _first(cfg, "num_attention_heads", "n_head", "num_heads")
    vocab = _first(cfg, "vocab_size")
    if None in (hidden, layers, heads, vocab):
        raise ConfigError(
            f"config for '{model_id}' lacks hidden_size, num_hidden_layers, num_attention_heads or vocab_size"
        )
    hidden, layers, heads, vocab = int(hidden), int(layers), int(heads), int(vocab)

    # --- attention -------------------------------------------------------------------------
    kv_lora = cfg.get("kv_lora_rank")
    is_mla = kv_lora is not None
    kv_per_layer = cfg.get("num_key_value_heads_per_layer")
    if is_mla:
        rope_dim = int(cfg.get("qk_rope_head_dim", 64))
        nope_dim = int(cfg.get("qk_nope_head_dim", 128))
        qk_dim = nope_dim + rope_dim
        v_dim = int(cfg.get("v_head_dim", nope_dim))
        q_lora = cfg.get("q_lora_rank")
        q_params = hidden * heads * qk_dim if not q_lora else hidden * q_lora + q_lora * heads * qk_dim
        attn_params = (q_params + hidden * (kv_lora + rope_dim) + kv_lora * heads * (nope_dim + v_dim)
                       + heads * v_dim * hidden)
        kv_values_layer = [float(kv_lora + rope_dim)] * layers
        kv_heads_mean = float(heads)
    else:
        head_dim = int(_first(cfg, "head_dim", default=hidden // heads))
        qk_dim = v_dim = head_dim
        if cfg.get("multi_query") and not cfg.get("new_decoder_architecture"):
            kv_default = 1  # Falcon-7B style multi-query attention
        else:
            kv_default = _first(cfg, "num_key_value_heads", "n_head_kv", "num_kv_heads", default=heads)
        kv_heads = [int(k) for k in kv_per_layer] if isinstance(kv_per_layer, list) else [int(kv_default)] * layers
        kv_values_layer = [2.0 * k * head_dim for k in kv_heads]
        kv_heads_mean = sum(kv_heads) / len(kv_heads)
        attn_params = None  # per layer, below

    kinds = _layer_kinds(cfg, layers)
    window = int(cfg.get("sliding_window") or 0) if "window" in kinds else 0
    kv_full = sum(v for v, k in zip(kv_values_layer, kinds, strict=True) if k == "full")
    kv_window = sum(v for v, k in zip(kv_values_layer, kinds, strict=True) if k == "window")
    attn_flops_layer = 2.0 * heads * (qk_dim + v_dim)  # QK^T and AV, per context token
    flops_full = attn_flops_layer * kinds.count("full")
    flops_window = attn_flops_layer * kinds.count("window")

    if not is_mla:
        attn_params = hidden * heads * qk_dim + 2 * hidden * kv_heads_mean * qk_dim + heads * v_dim * hidden
    total_attn = attn_params * layers

    # --- MLP / experts ------------------------------------------------------------------------
    num_experts = int(_first(cfg, "n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts",
                             default=0) or 0)
    top_k = int(_first(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", default=0) or 0)
    inter = int(_first(cfg, "intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size", default=4 * hidden)
                or 4 * hidden)
    mats = 2 if model_type in _PLAIN_MLP_TYPES else 3
    if num_experts > 1:
        expert_inter = int(_first(cfg, "moe_intermediate_size", default=inter))
        shared_inter = int(_first(cfg, "shared_expert_intermediate_size", "shared_intermediate_size", default=0)
                           or 0)
        shared_inter += int(cfg.get("n_shared_experts") or 0) * expert_inter
        dense_layers = int(cfg.get("first_k_dense_replace") or 0)
        mlp_only = cfg.get("mlp_only_layers") or []
        step = int(cfg.get("decoder_sparse_step") or cfg.get("moe_layer_freq") or 1)
        moe_layers = [i for i in range(dense_layers, layers) if i not in mlp_only and (i + 1) % step == 0] \
            if step > 1 else [i for i in range(dense_layers, layers) if i not in mlp_only]
        n_moe = len(moe_layers)
        n_dense = layers - n_moe
        expert_params = float(n_moe * num_experts * mats * hidden * expert_inter)
        router = n_moe * hidden * num_experts
        shared = n_moe * mats * hidden * shared_inter
        dense_mlp = n_dense * mats * hidden * inter
        total_mlp = expert_params + router + shared + dense_mlp
        active_mlp = n_moe * top_k * mats * hidden * expert_inter + router + shared + dense_mlp
    else:
        num_experts, top_k, expert_params = 0, 0, 0.0
        total_mlp = active_mlp = float(layers * mats * hidden * inter)

    # --- embeddings ---------------------------------------------------------------------------
    tied = bool(cfg.get("tie_word_embeddings", model_type not in ("llama", "mistral", "mixtral", "gptj")))
    embed = float(vocab * hidden)
    lm_head = 0.0 if tied else embed
    total = total_attn + total_mlp + embed + lm_head
    active = total_attn + active_mlp + embed + lm_head
    # Input embeddings are looked up, not multiplied; the LM head (tied or not) is one
    # vocab x hidden matmul per token.
    matmul = total_attn + active_mlp + embed

    return ModelArch(
        model_id=model_id,
        model_type=model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=float(kv_heads_mean),
        qk_head_dim=int(qk_dim),
        v_head_dim=int(v_dim),
        vocab_size=vocab,
        total_params=float(total),
        active_params=float(active),
        matmul_params_per_token=float(matmul),
        embedding_params=embed,
        ffn_active_width=float(active_mlp) / (layers * hidden),
        expert_params=expert_params,
        num_experts=num_experts,
        experts_per_token=top_k,
        kv_values_per_token_full=float(kv_full),
        kv_values_per_token_window=float(kv_window),
        sliding_window=window,
        attn_flops_per_ctx_full=float(flops_full),
        attn_flops_per_ctx_window=float(flops_window),
        is_mla=is_mla,
        native_weight_dtype=_native_dtype(cfg, quant_config),
        max_position_embeddings=int(_first(cfg, "max_position_embeddings", "n_positions", "seq_length",
                                           default=2048)),
    )
