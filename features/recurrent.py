"""Layers that mix tokens through a recurrent state instead of a KV cache: their parameters and that state.

Three kinds are described by the configs here, each counted as its Hugging Face module builds it:

- Gated DeltaNet (Qwen3-Next, Qwen3.5/3.6: ``linear_num_value_heads`` ...; ``Qwen3NextGatedDeltaNet``):
  projections to q, k (``linear_num_key_heads`` x ``linear_key_head_dim`` each), v and the output gate z
  (``linear_num_value_heads`` x ``linear_value_head_dim`` each), one decay and one update gate per value head,
  a depthwise conv over q, k and v, and ``out_proj``;
- Kimi Delta Attention (Kimi Linear, K3: ``linear_attn_config``; ``KimiDeltaAttention``): q, k, v and output
  projections of ``num_heads`` x ``head_dim``, a conv over each of q, k and v, a low-rank per-channel decay
  gate (hidden -> head_dim -> heads x head_dim), an output gate of the same form (full rank with
  ``use_full_rank_gate``) and one update gate per head;
- Mamba-2 (Nemotron-H: ``mamba_num_heads`` ...; ``NemotronHMamba2Mixer``).

Each sequence keeps, per such layer, a recurrent state (heads x key width x value width; Mamba-2: heads x
head_dim x ``ssm_state_size``) and the conv's last ``kernel - 1`` inputs. The recurrent state is held at
``mamba_ssm_dtype`` / ``mamba_ssm_cache_dtype`` where the config names one (Qwen3.5 and Nemotron 3 say
float32), else at the model's 16 bits, as vLLM's ``mamba_ssm_cache_dtype="auto"`` does; the conv state at 16
bits. A decode step reads and writes all of it; its size does not grow with the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from features.layer_layout import first

__all__ = ["RecurrentLayer", "recurrent_layer", "mamba2_layer"]

_BYTES_BY_DTYPE = {"float32": 4.0, "fp32": 4.0, "float": 4.0, "bfloat16": 2.0, "float16": 2.0, "half": 2.0}
_CONV_STATE_BYTES_PER_VALUE = 2.0


@dataclass(frozen=True)
class RecurrentLayer:
    """One recurrent token-mixing layer: its parameters and the bytes of state one sequence keeps in it."""

    params: float
    state_values: float
    conv_state_values: float
    state_bytes_per_value: float

    @property
    def state_bytes_per_sequence(self) -> float:
        return self.state_values * self.state_bytes_per_value + self.conv_state_values * _CONV_STATE_BYTES_PER_VALUE


def _state_bytes_per_value(cfg: dict[str, Any]) -> float:
    name = str(first(cfg, "mamba_ssm_dtype", "mamba_ssm_cache_dtype", default="bfloat16")).removeprefix("torch.")
    return _BYTES_BY_DTYPE.get(name.lower(), 2.0)


def recurrent_layer(cfg: dict[str, Any], hidden: int) -> RecurrentLayer | None:
    """The linear-attention layer a transformer config interleaves with its attention layers (Gated DeltaNet or
    Kimi Delta Attention), or None where it names none."""
    if cfg.get("linear_num_value_heads"):
        return _gated_deltanet(cfg, hidden)
    linear = cfg.get("linear_attn_config")
    if isinstance(linear, dict) and linear.get("num_heads") and linear.get("head_dim"):
        return _kimi_delta(cfg, linear, hidden)
    return None


def _gated_deltanet(cfg: dict[str, Any], hidden: int) -> RecurrentLayer:
    v_heads = int(cfg["linear_num_value_heads"])
    k_heads = int(first(cfg, "linear_num_key_heads", default=v_heads))
    k_dim = int(first(cfg, "linear_key_head_dim", default=128))
    v_dim = int(first(cfg, "linear_value_head_dim", default=128))
    kernel = int(first(cfg, "linear_conv_kernel_dim", default=4))
    key_width, value_width = k_heads * k_dim, v_heads * v_dim
    conv_channels = 2 * key_width + value_width
    params = (hidden * (2 * key_width + 2 * value_width)  # q, k, v, z
              + hidden * 2 * v_heads  # decay and update gates
              + conv_channels * kernel
              + value_width * hidden)  # out_proj
    return RecurrentLayer(params=float(params), state_values=float(v_heads * k_dim * v_dim),
                          conv_state_values=float(conv_channels * (kernel - 1)),
                          state_bytes_per_value=_state_bytes_per_value(cfg))


def _kimi_delta(cfg: dict[str, Any], linear: dict[str, Any], hidden: int) -> RecurrentLayer:
    heads, head_dim = int(linear["num_heads"]), int(linear["head_dim"])
    kernel = int(linear.get("short_conv_kernel_size") or 4)
    width = heads * head_dim
    low_rank_gate = hidden * head_dim + head_dim * width
    output_gate = hidden * width if linear.get("use_full_rank_gate") else low_rank_gate
    params = (4 * hidden * width  # q, k, v, o
              + 3 * width * kernel  # q, k, v convs
              + low_rank_gate + output_gate
              + hidden * heads)  # update gate
    return RecurrentLayer(params=float(params), state_values=float(heads * head_dim * head_dim),
                          conv_state_values=float(3 * width * (kernel - 1)),
                          state_bytes_per_value=_state_bytes_per_value(cfg))


def mamba2_layer(cfg: dict[str, Any], hidden: int) -> RecurrentLayer:
    """One Mamba-2 mixer as Hugging Face's NemotronHMamba2Mixer builds it: ``in_proj`` to x, z, B, C and one dt
    per head (2*inner + 2*n_groups*state + heads), a depthwise conv over x, B and C, ``out_proj``."""
    heads = int(first(cfg, "mamba_num_heads", default=0))
    head_dim = int(first(cfg, "mamba_head_dim", default=0))
    inner = heads * head_dim
    state_size = int(first(cfg, "ssm_state_size", default=0))
    groups_state = 2 * int(first(cfg, "n_groups", default=1)) * state_size
    kernel = int(first(cfg, "conv_kernel", default=4))
    conv_channels = inner + groups_state
    params = hidden * (2 * inner + groups_state + heads) + conv_channels * kernel + inner * hidden
    return RecurrentLayer(params=float(params), state_values=float(heads * head_dim * state_size),
                          conv_state_values=float(conv_channels * (kernel - 1)),
                          state_bytes_per_value=_state_bytes_per_value(cfg))
