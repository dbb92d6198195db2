"""Derive the numbers the roofline needs from a Hugging Face ``config.json``.

Parameter counts follow the module shapes of the Hugging Face implementations (attention
projections, gated or plain MLP, routed and shared experts, embeddings, untied LM head); norms
and biases are left out (well under 0.1% of any model here). KV-cache sizes follow what the
serving engines store per token: K and V per KV head for MHA/GQA/MQA, the compressed latent
plus the RoPE key for MLA (DeepSeek-V2 paper, arXiv 2405.04434, section 2.1.2), nothing per
token for linear-attention or Mamba layers, and at most ``sliding_window`` tokens for
sliding-window layers. Linear-attention and Mamba layers (:mod:`features.recurrent`) are counted as the
modules they are, and their per-sequence recurrent state apart from the per-token cache
(``recurrent_state_bytes_per_sequence``). Hybrid Mamba-Transformer models (Nemotron-H:
``hybrid_override_pattern``) count attention only in their ``*`` layers, Mamba-2 mixers in ``M``, MLPs in
``-`` and experts in ``E`` layers. A full-attention layer with ``attn_output_gate`` (Qwen3-Next, Qwen3.5)
projects a gate as wide as its queries. Where layers differ (attention full, windowed or absent, shapes per
kind, which layers route to experts: :mod:`features.layer_layout`) each layer is counted as it is.
DeepSeek-V4's compressed attention keeps, beside each layer's window, one entry per ``compress_ratios[i]``
tokens of the whole context. Not modelled: DeepSeek-V4's low-rank output projection and hyper-connections,
Kimi Linear's output gate on its MLA layers, and a recurrent layer's own arithmetic on its state (about 7 x
heads x key x value width FLOPs per token: Qwen3.5-27B's 5.5M against some 760M of matmuls in the layer).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from features.checkpoint_precision import kv_cache_format, weight_format
from features.errors import ConfigError
from features.layer_layout import (
    block_configs,
    first,
    has_layer_shapes,
    hybrid_pattern,
    layer_kinds,
    layer_shapes,
    moe_layers,
    nas_ffn_width,
)
from features.recurrent import mamba2_layer, recurrent_layer

__all__ = ["ModelArch", "arch_from_config"]

# Families whose MLP has two matrices (up, down) instead of three (gate, up, down).
_PLAIN_MLP_TYPES = frozenset({"opt", "gptj", "bloom", "falcon", "gpt2", "gpt_neox", "phi", "gpt_bigcode"})


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
    native_kv_dtype: str | None = field(default=None, metadata={
        "help": "KV-cache precision the checkpoint was calibrated for (hf_quant_config.json or "
                "quantization_config); None when it says nothing (engines then use the model dtype)"})
    recurrent_state_bytes_per_sequence: float = field(default=0.0, metadata={
        "help": "bytes of recurrent and conv state one sequence keeps in linear-attention / Mamba layers, "
                "whatever its length (features.recurrent)"})

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


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal checkpoints nest the language model under ``text_config``; use it."""
    text = config.get("text_config")
    if isinstance(text, dict) and ("hidden_size" in text or "num_hidden_layers" in text):
        merged = {k: v for k, v in config.items() if k not in ("text_config", "vision_config")}
        merged.update(text)
        return merged
    return config


@dataclass(frozen=True)
class _Attention:
    """Attention shape of a model, from which its KV cache and attention FLOPs follow."""

    is_mla: bool
    qk_dim: int
    v_dim: int
    params_per_layer: float
    kv_values_per_layer: list[float]  # K+V elements (MLA: latent + RoPE key) one token adds, per layer
    kv_heads_mean: float
    # FLOPs per query token per context token, per layer, where layers differ in shape (else every layer
    # does 2 * heads * (qk_dim + v_dim)).
    flops_per_layer: list[float] | None = None
    # Whether params_per_layer is the mean over all layers, those without attention counting 0 (per-layer
    # shapes), rather than the parameters of each attention layer.
    averages_absent_layers: bool = False


@dataclass(frozen=True)
class _Mlp:
    """MLP and expert parameters of a model; ``num_experts`` is 0 for dense models."""

    num_experts: int
    experts_per_token: int
    expert_params: float
    total_params: float
    active_params: float


def _readable(build: Callable[..., ModelArch]) -> Callable[..., ModelArch]:
    """``ConfigError`` naming the model for a config.json whose values are of the wrong kind (text where a
    number belongs, a per-layer list of the wrong length) or describe no KV cache (zero KV heads)."""

    @functools.wraps(build)
    def checked(model_id: str, config: dict[str, Any], quant_config: dict[str, Any] | None = None) -> ModelArch:
        try:
            arch = build(model_id, config, quant_config)
        except ConfigError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, KeyError, AttributeError, IndexError) as exc:
            raise ConfigError(f"config for '{model_id}' holds a value this tool cannot read ({exc}); check its "
                              "config.json") from exc
        if not arch.num_kv_heads > 0:
            raise ConfigError(f"config for '{model_id}': num_key_value_heads must be at least 1, got "
                              f"{arch.num_kv_heads:g}")
        return arch

    return checked


@_readable
def arch_from_config(
    model_id: str, config: dict[str, Any], quant_config: dict[str, Any] | None = None
) -> ModelArch:
    """Build a :class:`ModelArch` from a parsed config.json; raise ``ConfigError`` if keys are missing."""
    cfg = _text_config(config)
    model_type = str(cfg.get("model_type", "unknown"))
    hidden, layers, heads, vocab = _dimensions(model_id, cfg)
    attn = _attention(cfg, hidden, layers, heads)
    kinds = layer_kinds(cfg, layers)
    window = int(cfg.get("sliding_window") or 0) if "window" in kinds else 0
    kv_full = sum(v for v, k in zip(attn.kv_values_per_layer, kinds, strict=True) if k == "full")
    kv_window = sum(v for v, k in zip(attn.kv_values_per_layer, kinds, strict=True) if k == "window")
    flops = attn.flops_per_layer or [2.0 * heads * (attn.qk_dim + attn.v_dim)] * layers  # QK^T and AV
    flops_full = sum(f for f, k in zip(flops, kinds, strict=True) if k == "full")
    compressed_kv, compressed_flops = _compressed_cache(cfg, attn, flops)
    total_attn, mlp, state_bytes = _layer_params(cfg, model_type, attn, hidden, layers)

    tied = bool(cfg.get("tie_word_embeddings", model_type not in ("llama", "mistral", "mixtral", "gptj")))
    embed = float(vocab * hidden)
    lm_head = 0.0 if tied else embed
    # Input embeddings are looked up, not multiplied; the LM head (tied or not) is one
    # vocab x hidden matmul per token.
    matmul = total_attn + mlp.active_params + embed

    return ModelArch(
        model_id=model_id,
        model_type=model_type,
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=float(attn.kv_heads_mean),
        qk_head_dim=int(attn.qk_dim),
        v_head_dim=int(attn.v_dim),
        vocab_size=vocab,
        total_params=float(total_attn + mlp.total_params + embed + lm_head),
        active_params=float(total_attn + mlp.active_params + embed + lm_head),
        matmul_params_per_token=float(matmul),
        embedding_params=embed,
        ffn_active_width=float(mlp.active_params) / (layers * hidden),
        expert_params=mlp.expert_params,
        num_experts=mlp.num_experts,
        experts_per_token=mlp.experts_per_token,
        kv_values_per_token_full=float(kv_full + compressed_kv),
        kv_values_per_token_window=float(kv_window),
        sliding_window=window,
        attn_flops_per_ctx_full=float(flops_full + compressed_flops),
        attn_flops_per_ctx_window=float(sum(f for f, k in zip(flops, kinds, strict=True) if k == "window")),
        is_mla=attn.is_mla,
        native_weight_dtype=weight_format(cfg, quant_config),
        max_position_embeddings=int(first(cfg, "max_position_embeddings", "n_positions", "seq_length",
                                           default=2048)),
        native_kv_dtype=kv_cache_format(cfg, quant_config),
        recurrent_state_bytes_per_sequence=state_bytes,
    )


def _layer_params(cfg: dict[str, Any], model_type: str, attn: _Attention, hidden: int,
                  layers: int) -> tuple[float, _Mlp, float]:
    """Token-mixer parameters (attention, and linear-attention or Mamba-2 layers where the model has them), the
    MLP/expert parameters, and the recurrent-state bytes one sequence keeps.

    A transformer has a token mixer and an MLP in every layer: attention, or in the layers
    :func:`~features.layer_layout.layer_kinds` marks 'none' the linear attention its config names (Qwen3.5's
    Gated DeltaNet, Kimi Linear's KDA); a Nemotron-H layer is one of the four kinds of its
    ``hybrid_override_pattern``.
    """
    gate = hidden * attn.qk_dim * int(first(cfg, "num_attention_heads", default=0)) \
        if cfg.get("attn_output_gate") else 0
    pattern = hybrid_pattern(cfg, layers)
    if pattern is not None:
        mamba = mamba2_layer(cfg, hidden)
        mixers = (attn.params_per_layer + gate) * pattern.count("*") + mamba.params * pattern.count("M")
        return (mixers, _hybrid_mlp(cfg, hidden, dense_layers=pattern.count("-"), expert_layers=pattern.count("E")),
                mamba.state_bytes_per_sequence * pattern.count("M"))
    mlp = _mlp(cfg, model_type, hidden, layers)
    linear = recurrent_layer(cfg, hidden)
    if linear is None:
        return (attn.params_per_layer + gate) * layers, mlp, 0.0
    recurrent = layer_kinds(cfg, layers).count("none")
    attention_layers = layers if attn.averages_absent_layers else layers - recurrent
    return ((attn.params_per_layer + gate) * attention_layers + linear.params * recurrent, mlp,
            linear.state_bytes_per_sequence * recurrent)


def _hybrid_mlp(cfg: dict[str, Any], hidden: int, dense_layers: int, expert_layers: int) -> _Mlp:
    """Nemotron-H MLPs: squared-ReLU (up, down: two matrices) dense layers and routed experts with a
    shared expert; with ``moe_latent_size`` (Nemotron 3 Super) experts work in a latent space entered and
    left through two hidden x latent projections per layer."""
    mats = 2 if str(cfg.get("mlp_hidden_act", "relu2")) == "relu2" else 3
    dense = float(dense_layers * mats * hidden * int(first(cfg, "intermediate_size", default=4 * hidden)))
    experts = int(first(cfg, "n_routed_experts", default=0) or 0)
    if not expert_layers or experts < 2:
        return _Mlp(num_experts=0, experts_per_token=0, expert_params=0.0, total_params=dense, active_params=dense)
    top_k = int(first(cfg, "num_experts_per_tok", default=1))
    latent = int(cfg.get("moe_latent_size") or 0)
    per_expert = mats * (latent or hidden) * int(first(cfg, "moe_intermediate_size", default=0))
    shared = mats * hidden * int(first(cfg, "moe_shared_expert_intermediate_size", default=0)) \
        * int(first(cfg, "n_shared_experts", default=1))
    always = hidden * experts + shared + (2 * hidden * latent if latent else 0)  # router, shared, latent proj
    expert_params = float(expert_layers * experts * per_expert)
    return _Mlp(num_experts=experts, experts_per_token=top_k, expert_params=expert_params,
                total_params=expert_params + expert_layers * always + dense,
                active_params=float(expert_layers * (top_k * per_expert + always)) + dense)


def _dimensions(model_id: str, cfg: dict[str, Any]) -> tuple[int, int, int, int]:
    """Hidden size, layers, attention heads and vocabulary under any family's key names; every
    other number derives from them, so a config without one raises ``ConfigError``."""
    hidden = first(cfg, "hidden_size", "n_embd", "n_embed", "d_model")
    layers = first(cfg, "num_hidden_layers", "n_layer", "num_layers")
    if layers is None and isinstance(cfg.get("layers_block_type"), list):  # Nemotron 3 Ultra lists them only
        layers = len(cfg["layers_block_type"])
    heads = first(cfg, "num_attention_heads", "n_head", "num_heads")
    vocab = first(cfg, "vocab_size")
    if None in (hidden, layers, heads, vocab):
        raise ConfigError(
            f"config for '{model_id}' lacks hidden_size, num_hidden_layers, num_attention_heads or vocab_size"
        )
    names = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    hidden, layers, heads, vocab = (_positive(model_id, n, v) for n, v in zip(names, (hidden, layers, heads, vocab),
                                                                              strict=True))
    return hidden, layers, heads, vocab


def _positive(model_id: str, name: str, value: Any) -> int:
    """A config number others derive from, as a whole number of at least 1 (``ConfigError`` if not)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number >= 1 and number == round(number)):
        raise ConfigError(f"config for '{model_id}': {name} must be a whole number of at least 1, got {value!r}")
    return int(number)


def _attention(cfg: dict[str, Any], hidden: int, layers: int, heads: int) -> _Attention:
    """MLA (a ``kv_lora_rank`` is given) or MHA/GQA/MQA attention; they size the KV cache differently."""
    kv_lora = cfg.get("kv_lora_rank")
    if kv_lora is not None:
        return _mla_attention(cfg, hidden, layers, heads, int(kv_lora))
    if has_layer_shapes(cfg, layers):
        return _per_layer_attention(cfg, hidden, layers, heads)
    head_dim = int(first(cfg, "head_dim", default=hidden // heads))
    if cfg.get("multi_query") and not cfg.get("new_decoder_architecture"):
        kv_default = 1  # Falcon-7B style multi-query attention
    else:
        kv_default = first(cfg, "num_key_value_heads", "n_head_kv", "num_kv_heads", default=heads)
    kv_per_layer = cfg.get("num_key_value_heads_per_layer")
    kv_heads = [int(k) for k in kv_per_layer] if isinstance(kv_per_layer, list) else [int(kv_default)] * layers
    kv_heads_mean = sum(kv_heads) / len(kv_heads)
    return _Attention(
        is_mla=False,
        qk_dim=head_dim,
        v_dim=head_dim,
        params_per_layer=hidden * heads * head_dim + 2 * hidden * kv_heads_mean * head_dim + heads * head_dim * hidden,
        kv_values_per_layer=[2.0 * k * head_dim for k in kv_heads],
        kv_heads_mean=kv_heads_mean,
    )


def _per_layer_attention(cfg: dict[str, Any], hidden: int, layers: int, heads: int) -> _Attention:
    """GQA/MQA attention whose shape varies by layer (:func:`_layer_shapes`); a layer without attention adds
    neither parameters nor cache."""
    shapes = layer_shapes(cfg, hidden, layers, heads)
    present = [s for s in shapes if s is not None]
    if not present:
        raise ConfigError("no layer has attention")
    kinds = layer_kinds(cfg, layers)
    lead = next((s for s, k in zip(shapes, kinds, strict=True) if s is not None and k == "full"), present[0])
    return _Attention(
        is_mla=False,
        qk_dim=lead.qk_dim,
        v_dim=lead.v_dim,
        params_per_layer=sum(s.params(hidden) for s in present) / layers,
        kv_values_per_layer=[0.0 if s is None else s.kv_heads * (s.qk_dim + s.v_dim) for s in shapes],
        kv_heads_mean=sum(s.kv_heads for s in present) / len(present),
        flops_per_layer=[0.0 if s is None else 2.0 * s.heads * (s.qk_dim + s.v_dim) for s in shapes],
        averages_absent_layers=True,
    )


def _compressed_cache(cfg: dict[str, Any], attn: _Attention, flops: list[float]) -> tuple[float, float]:
    """DeepSeek-V4's compressed attention: beside its sliding window, a layer with compress ratio ``r`` > 0
    keeps one compressed entry per ``r`` tokens of the whole context and attends to them. Returns the
    cache values and attention FLOPs that adds per context token (0, 0 without ``compress_ratios``)."""
    ratios = cfg.get("compress_ratios")
    if not isinstance(ratios, list):
        return 0.0, 0.0
    # The list may cover the multi-token-prediction layer too; the model's own layers come first.
    pairs = list(zip(ratios, attn.kv_values_per_layer, flops, strict=False))
    return (sum(kv / int(r) for r, kv, _ in pairs if int(r) > 0),
            sum(f / int(r) for r, _, f in pairs if int(r) > 0))


def _mla_attention(cfg: dict[str, Any], hidden: int, layers: int, heads: int, kv_lora: int) -> _Attention:
    """Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, section 2.1.2): every token caches one
    ``kv_lora_rank`` latent plus the shared RoPE key; queries may be low-rank too (``q_lora_rank``)."""
    rope_dim = int(cfg.get("qk_rope_head_dim", 64))
    nope_dim = int(cfg.get("qk_nope_head_dim", 128))
    qk_dim = nope_dim + rope_dim
    v_dim = int(cfg.get("v_head_dim", nope_dim))
    q_lora = cfg.get("q_lora_rank")
    q_params = hidden * heads * qk_dim if not q_lora else hidden * q_lora + q_lora * heads * qk_dim
    return _Attention(
        is_mla=True,
        qk_dim=qk_dim,
        v_dim=v_dim,
        params_per_layer=(q_params + hidden * (kv_lora + rope_dim) + kv_lora * heads * (nope_dim + v_dim)
                          + heads * v_dim * hidden),
        kv_values_per_layer=[float(kv_lora + rope_dim)] * layers,
        kv_heads_mean=float(heads),
    )


def _mlp(cfg: dict[str, Any], model_type: str, hidden: int, layers: int) -> _Mlp:
    """Gated (gate, up, down) or plain (up, down) MLP in every layer, or routed experts where configured."""
    num_experts = int(first(cfg, "n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts",
                             default=0) or 0)
    top_k = int(first(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", "num_experts_per_token",
                       "top_k_experts", default=0) or 0)
    inter = int(first(cfg, "intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size", default=4 * hidden)
                or 4 * hidden)
    mats = 2 if model_type in _PLAIN_MLP_TYPES else 3
    if num_experts > 1:
        return _moe_mlp(cfg, hidden, layers, inter, mats, num_experts, top_k)
    blocks = block_configs(cfg, layers)
    if blocks is not None:
        dense = float(mats * hidden * sum(nas_ffn_width(b["ffn"], hidden) for b in blocks))
        return _Mlp(num_experts=0, experts_per_token=0, expert_params=0.0, total_params=dense, active_params=dense)
    dense = float(layers * mats * hidden * inter)
    return _Mlp(num_experts=0, experts_per_token=0, expert_params=0.0, total_params=dense, active_params=dense)


def _moe_mlp(cfg: dict[str, Any], hidden: int, layers: int, inter: int, mats: int, num_experts: int,
             top_k: int) -> _Mlp:
    """Routed experts (plus router and shared experts) in the MoE layers, dense MLPs in the rest
    (DeepSeek's ``first_k_dense_replace``, Qwen's ``mlp_only_layers`` and ``decoder_sparse_step``)."""
    expert_inter = int(first(cfg, "moe_intermediate_size", default=inter))
    shared_inter = int(first(cfg, "shared_expert_intermediate_size", "shared_intermediate_size", default=0) or 0)
    if not shared_inter:  # a width given for the shared experts already counts them
        shared_inter = int(first(cfg, "n_shared_experts", "num_shared_experts", default=0) or 0) * expert_inter
    if cfg.get("enable_moe_block"):  # Gemma 4: the dense MLP runs beside the routed experts in every layer
        shared_inter += inter
    if str(cfg.get("model_type", "")).startswith("llama4"):
        # Llama 4 (HF Llama4TextMoe): one shared expert of intermediate_size beside the routed ones, and
        # dense layers (between interleaved MoE layers) of intermediate_size_mlp.
        shared_inter += inter
        inter = int(cfg.get("intermediate_size_mlp") or inter)
    inter = int(cfg.get("dense_intermediate_size") or inter)  # MiniMax-M3 names its dense layers' width apart
    n_moe = len(moe_layers(cfg, layers))
    n_dense = layers - n_moe
    # Kimi's latent experts work at ``routed_expert_hidden_size``, entered and left by two projections per layer.
    latent = int(cfg.get("routed_expert_hidden_size") or 0)
    expert_params = float(n_moe * num_experts * mats * (latent or hidden) * expert_inter)
    router = n_moe * hidden * num_experts + (n_moe * 2 * hidden * latent if latent else 0)
    shared = n_moe * mats * hidden * shared_inter
    dense_mlp = n_dense * mats * hidden * inter
    return _Mlp(
        num_experts=num_experts,
        experts_per_token=top_k,
        expert_params=expert_params,
        total_params=expert_params + router + shared + dense_mlp,
        active_params=n_moe * top_k * mats * (latent or hidden) * expert_inter + router + shared + dense_mlp,
    )
