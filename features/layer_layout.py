"""Which layer of a model is what, where a ``config.json`` says layers differ.

Most configs describe one layer repeated; newer ones list layers by kind: attention that is full, a sliding
window or absent (linear attention, Mamba: ``layer_types``, Nemotron-H's ``hybrid_override_pattern`` or
``layers_block_type``, MiMo-V2's ``hybrid_layer_pattern``, Kimi Linear's ``linear_attn_config``, DeciLM's
``block_configs``), attention shapes per kind (Gemma 4's global heads, MiMo-V2's ``swa_*``), and which
layers route to experts (a per-layer ``moe_layer_freq`` list). :mod:`features.model_arch` counts parameters
and cache from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["first", "layer_kinds", "hybrid_pattern", "block_configs", "LayerShape", "layer_shapes",
           "has_layer_shapes", "moe_layers", "nas_ffn_width"]

# Layer kinds that keep a per-token KV cache.
_ATTENTION_LAYER_KINDS = frozenset({"full_attention", "attention", "global", "full",
                                    # DeepSeek sparse attention (V3.2, GLM-5.2) caches every token's latent
                                    # and reads the top-k of them: a full cache.
                                    "deepseek_sparse_attention"})
_SLIDING_LAYER_KINDS = frozenset({"sliding_attention", "local", "sliding", "chunked_attention"})


def first(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    """The value of the first of ``keys`` the config sets (not None), else ``default``: families name one number
    differently (``num_key_value_heads``, ``n_head_kv``)."""
    for key in keys:
        value = config.get(key)
        if value is not None:
            return value
    return default


def layer_kinds(config: dict[str, Any], num_layers: int) -> list[str]:
    """Per-layer attention kind: 'full', 'window' or 'none' (linear attention / Mamba)."""
    types = config.get("layer_types")
    if isinstance(types, list) and len(types) == num_layers:
        kinds = []
        for t in types:
            t = str(t)
            kinds.append("full" if t in _ATTENTION_LAYER_KINDS else "window" if t in _SLIDING_LAYER_KINDS
                         else "none")
        return kinds
    pattern = hybrid_pattern(config, num_layers)
    if pattern is not None:  # Nemotron-H: '*' = attention
        return ["full" if ch == "*" else "none" for ch in pattern]
    swa = config.get("hybrid_layer_pattern")
    if isinstance(swa, list) and len(swa) == num_layers:  # MiMo-V2: 1 = sliding-window layer, 0 = full
        return ["window" if int(flag) else "full" for flag in swa]
    linear = config.get("linear_attn_config")
    if isinstance(linear, dict) and isinstance(linear.get("full_attn_layers"), list):
        # Kimi Linear: the listed layers (numbered from 1) attend in full; the rest are KDA (linear) layers.
        full = {int(i) for i in linear["full_attn_layers"]}
        return ["full" if i + 1 in full else "none" for i in range(num_layers)]
    interval = config.get("full_attention_interval")
    if interval and config.get("linear_num_value_heads"):  # Qwen3-Next without layer_types: every n-th is full
        return ["full" if (i + 1) % int(interval) == 0 else "none" for i in range(num_layers)]
    blocks = block_configs(config, num_layers)
    if blocks is not None:  # DeciLM / Nemotron-NAS: some layers have no attention at all
        return ["none" if block["attention"].get("no_op") else "full" for block in blocks]
    window = config.get("sliding_window")
    if not window:
        return ["full"] * num_layers
    if config.get("model_type") in ("gemma2", "gemma3_text", "gemma3"):
        return ["window" if i % 2 == 0 else "full" for i in range(num_layers)]
    if not config.get("use_sliding_window", True):
        return ["full"] * num_layers
    # A window at least as long as the context never slides.
    max_len = int(first(config, "max_position_embeddings", default=10**9))
    return ["window"] * num_layers if int(window) < max_len else ["full"] * num_layers


# Nemotron-H's ``layers_block_type`` names as the letters of its ``hybrid_override_pattern``.
_BLOCK_LETTERS = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}


def hybrid_pattern(cfg: dict[str, Any], layers: int) -> str | None:
    """Nemotron-H's per-layer kinds ('M' Mamba-2, '*' attention, '-' MLP, 'E' experts), or None. Newer
    checkpoints (Nemotron 3 Ultra, 3.5) list them by name in ``layers_block_type`` instead."""
    pattern = cfg.get("hybrid_override_pattern")
    if isinstance(pattern, str) and len(pattern) == layers:
        return pattern
    names = cfg.get("layers_block_type")
    if isinstance(names, list) and len(names) == layers:
        return "".join(_BLOCK_LETTERS[str(name)] for name in names)
    return None


def block_configs(cfg: dict[str, Any], layers: int) -> list[dict[str, Any]] | None:
    """DeciLM / Llama-Nemotron NAS layers (``block_configs``: per layer an attention and an FFN, either of
    which may be a no-op), or None."""
    blocks = cfg.get("block_configs")
    return blocks if isinstance(blocks, list) and len(blocks) == layers else None


# Keys by which a config gives layers of different attention shapes (or values of another width than keys).
_LAYER_SHAPE_KEYS = frozenset({"global_head_dim", "num_global_key_value_heads", "attention_k_eq_v", "swa_head_dim",
                               "swa_num_key_value_heads", "swa_num_attention_heads", "swa_v_head_dim", "v_head_dim"})


@dataclass(frozen=True)
class LayerShape:
    """One layer's attention: query and KV heads, key and value widths, and whether V has its own projection."""

    heads: int
    kv_heads: float
    qk_dim: int
    v_dim: int
    own_v: bool = True

    def params(self, hidden: int) -> float:
        kv = self.kv_heads * (self.qk_dim + (self.v_dim if self.own_v else 0))
        return float(hidden * self.heads * self.qk_dim + hidden * kv + self.heads * self.v_dim * hidden)


def has_layer_shapes(cfg: dict[str, Any], layers: int) -> bool:
    """Whether the config gives layers of different attention shapes (:func:`layer_shapes`)."""
    return bool(_LAYER_SHAPE_KEYS & cfg.keys()) or block_configs(cfg, layers) is not None


def layer_shapes(cfg: dict[str, Any], hidden: int, layers: int, heads: int) -> list[LayerShape | None]:
    """Each layer's attention shape (None: no attention), where layers differ:

    - Gemma 4: full layers use ``global_head_dim`` and, with ``attention_k_eq_v``, ``num_global_key_value_heads``
      and no V projection (V is K), sliding layers ``head_dim`` and ``num_key_value_heads``;
    - MiMo-V2: sliding layers have their own ``swa_*`` heads and widths, and values may be narrower than keys
      (``v_head_dim``);
    - DeciLM / Llama-Nemotron NAS (``block_configs``): ``n_heads_in_group`` query heads per KV head, or no
      attention (``no_op``).
    """
    head_dim = int(first(cfg, "head_dim", default=hidden // heads))
    kv_heads = int(first(cfg, "num_key_value_heads", default=heads) or heads)
    full_dim = int(first(cfg, "global_head_dim", default=head_dim))
    k_eq_v = bool(cfg.get("attention_k_eq_v"))
    full_kv = float(first(cfg, "num_global_key_value_heads", default=kv_heads)) if k_eq_v else float(kv_heads)
    full_v = full_dim if k_eq_v else int(first(cfg, "v_head_dim", default=full_dim))
    full = LayerShape(heads, full_kv, full_dim, full_v, own_v=not k_eq_v)
    swa_dim = int(first(cfg, "swa_head_dim", default=head_dim))
    window = LayerShape(int(first(cfg, "swa_num_attention_heads", default=heads)),
                        float(first(cfg, "swa_num_key_value_heads", default=kv_heads)), swa_dim,
                        int(first(cfg, "swa_v_head_dim", default=swa_dim)))
    blocks = block_configs(cfg, layers)
    if blocks is not None:
        return [None if b["attention"].get("no_op") else
                LayerShape(heads, heads / int(b["attention"]["n_heads_in_group"]), head_dim, head_dim)
                for b in blocks]
    return [window if kind == "window" else full for kind in layer_kinds(cfg, layers)]


def moe_layers(cfg: dict[str, Any], layers: int) -> list[int]:
    """The layers with routed experts: all but DeepSeek's ``first_k_dense_replace`` and Qwen's
    ``mlp_only_layers``, every ``decoder_sparse_step``-th (``moe_layer_freq``, ``interleave_moe_layer_step``),
    or those a per-layer ``moe_layer_freq`` list marks 1 (MiniMax-M3, MiMo-V2)."""
    freq = cfg.get("moe_layer_freq")
    if isinstance(freq, list) and len(freq) == layers:
        return [i for i, flag in enumerate(freq) if int(flag)]
    dense_layers = int(cfg.get("first_k_dense_replace") or 0)
    mlp_only = cfg.get("mlp_only_layers") or []
    step = int(cfg.get("decoder_sparse_step") or freq or cfg.get("interleave_moe_layer_step") or 1)
    return [i for i in range(dense_layers, layers) if i not in mlp_only and (i + 1) % step == 0] \
        if step > 1 else [i for i in range(dense_layers, layers) if i not in mlp_only]


def nas_ffn_width(ffn: dict[str, Any], hidden: int) -> int:
    """A DeciLM / Llama-Nemotron NAS layer's gated-MLP width: ``ffn_mult`` x 2/3 x hidden, rounded up to a
    multiple of 256 as its modeling code does (``_ffn_mult_to_intermediate_size``); 0 for a no-op."""
    if ffn.get("no_op"):
        return 0
    width = int(2 * float(ffn["ffn_mult"]) * hidden / 3)
    return -(-width // 256) * 256
