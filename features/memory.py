"""Memory per device: weights, KV cache for the resident sequences, activations, runtime overhead.

Pure functions over arrays. A configuration fits when the sum stays within the part of device
memory the framework lets itself use (e.g. vLLM's ``gpu_memory_utilization`` of 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.roofline import (
    ACTIVATION_BYTES_PER_VALUE,
    FloatArray,
    kv_shards,
    numeric_columns,
    weight_bytes_per_device,
    window_tokens,
)

__all__ = ["MemoryBreakdown", "memory_per_device", "RUNTIME_BYTES", "nccl_bytes"]

# CUDA context, allocator and library workspaces outside the framework's own accounting.
# Source: ai-dynamo/aiconfigurator systems yaml, `other_mem` before its safety margin ("551MB").
RUNTIME_BYTES = 551e6
# NCCL buffers by tensor-parallel size; source: aiconfigurator systems yaml `nccl_mem` (342 MB at 2, 392 MB at 4+).
_NCCL_BYTES_TP2 = 358_612_992.0
_NCCL_BYTES_TP4_PLUS = 411_041_792.0
# Logits are kept in fp32 for the last position of every sequence in a step.
_LOGIT_BYTES_PER_VALUE = 4.0


def nccl_bytes(group: FloatArray) -> FloatArray:
    """NCCL buffer bytes per device for a tensor-parallel group of ``group`` devices."""
    return np.select([group >= 4, group >= 2], [_NCCL_BYTES_TP4_PLUS, _NCCL_BYTES_TP2], 0.0)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per device for each part, plus what fits."""

    weight_bytes: FloatArray
    kv_bytes: FloatArray
    activation_bytes: FloatArray
    overhead_bytes: FloatArray
    usable_bytes: FloatArray
    kv_bytes_per_sequence: FloatArray

    @property
    def total_bytes(self) -> FloatArray:
        return self.weight_bytes + self.kv_bytes + self.activation_bytes + self.overhead_bytes

    @property
    def fits(self) -> npt.NDArray[np.bool_]:
        return self.total_bytes <= self.usable_bytes

    @property
    def max_sequences(self) -> FloatArray:
        """Most sequences whose KV cache fits beside weights, activations and overhead."""
        free = self.usable_bytes - self.weight_bytes - self.activation_bytes - self.overhead_bytes
        return np.maximum(np.floor(free / np.maximum(self.kv_bytes_per_sequence, 1.0)), 0.0)


def memory_per_device(
    specs: pd.DataFrame,
    tp: FloatArray,
    pp: FloatArray,
    ep: FloatArray,
    sequences: FloatArray,
    seq_len: FloatArray,
    prefill_tokens: FloatArray,
) -> MemoryBreakdown:
    """Memory of one device holding ``sequences`` sequences of up to ``seq_len`` tokens each.

    ``prefill_tokens`` is the largest number of tokens one forward pass processes (the framework's
    prefill budget), which sets the activation peak.
    """
    s = numeric_columns(specs)
    tp, pp, ep = (np.asarray(x, dtype=float) for x in (tp, pp, ep))
    sequences, seq_len, prefill_tokens = (np.asarray(x, dtype=float) for x in (sequences, seq_len, prefill_tokens))
    weight_bytes = weight_bytes_per_device(s, tp, pp, ep)
    window_len = window_tokens(seq_len, s["sliding_window"])
    kv_per_seq = (s["kv_values_per_token_full"] * seq_len + s["kv_values_per_token_window"] * window_len) \
        * s["kv_bytes_per_value"] / kv_shards(s, tp, pp)
    # Peak activations: the residual stream plus the widest MLP intermediate for the prefill
    # tokens of one layer, and fp32 logits for the last token of each sequence.
    hidden_values = prefill_tokens * (2.0 * s["hidden_size"] + s["ffn_active_width"] / tp)
    logits = np.minimum(sequences, prefill_tokens) * s["vocab_size"] / tp * _LOGIT_BYTES_PER_VALUE
    activation_bytes = hidden_values * ACTIVATION_BYTES_PER_VALUE + logits
    overhead = RUNTIME_BYTES + nccl_bytes(tp)
    usable = s["memory_gb"] * 1e9 * s["usable_memory_fraction"]
    return MemoryBreakdown(
        weight_bytes=weight_bytes,
        kv_bytes=kv_per_seq * sequences,
        activation_bytes=activation_bytes,
        overhead_bytes=overhead,
        usable_bytes=usable,
        kv_bytes_per_sequence=kv_per_seq,
    )
