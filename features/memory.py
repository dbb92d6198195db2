"""Memory per device: weights, KV cache, activations, runtime overhead, against what the engine lets itself use.

Pure functions over arrays. Two things come from the engine (``features/data/frameworks.csv``, sources in
its ``memory_source`` column):

- **its budget** (``kv_budget``): vLLM sizes its KV pool as ``gpu_memory_utilization`` x device memory
  minus everything else (``of_total``); TensorRT-LLM gives the KV cache ``free_gpu_memory_fraction`` of
  the memory still free after weights and activations, and DeepSpeed FastGen all of it but a 1 GB reserve
  (``of_free``); SGLang keeps a fixed reserve for activations and CUDA graphs and gives the rest to
  weights and the KV pool (``sglang_reserve``). vLLM captures its CUDA graphs (``cuda_graph_gb``) after
  sizing the pool, from what its budget leaves of the device (every version measured here, < 0.21);
- **how it admits sequences** (``engine_batching``): a continuous-batching engine (vLLM, TensorRT-LLM,
  SGLang, DeepSpeed-MII) admits as many sequences as its KV pool holds and queues or preempts the rest,
  whatever the client submits (an offline ``generate`` of 256 prompts included), so a configuration runs
  when weights, activations, reservations and the KV cache of **one** sequence at full length fit. A
  static engine (llama.cpp, DeepSpeed on Gaudi, SambaFlow) must hold the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import DataError
from features.roofline import (
    ACTIVATION_BYTES_PER_VALUE,
    FloatArray,
    kv_shards,
    numeric_columns,
    recurrent_state_bytes_per_device,
    weight_bytes_per_device,
    window_tokens,
)

__all__ = ["MemoryBreakdown", "memory_per_device", "usable_bytes", "sglang_reserved_bytes", "RUNTIME_BYTES",
           "nccl_bytes", "MEMORY_FRACTION_SETTINGS"]

# CUDA context, allocator and library workspaces outside the framework's own accounting.
# Source: ai-dynamo/aiconfigurator systems yaml, `other_mem` before its safety margin ("551MB").
RUNTIME_BYTES = 551e6
# NCCL buffers by tensor-parallel size; source: aiconfigurator systems yaml `nccl_mem` (342 MB at 2, 392 MB at 4+).
_NCCL_BYTES_TP2 = 358_612_992.0
_NCCL_BYTES_TP4_PLUS = 411_041_792.0
# Logits are kept in fp32 for the last position of every sequence in a step.
_LOGIT_BYTES_PER_VALUE = 4.0
_GB = 1e9
_MIB = 2.0**20

# SGLang's default mem_fraction_static (sglang python/sglang/srt/server_args.py, _handle_gpu_memory_settings,
# PR #10975): reserved_mem (MiB) = 512 + 1.5 * max(chunked_prefill_size, 2048) + 2 * cuda_graph_max_bs
# + 1024 * tp * pp / 8, at least 10 GiB on GPUs over 60 GiB; mem_fraction_static = 1 - reserved / gpu_mem.
_SGLANG_BASE_MIB = 512.0
_SGLANG_MIB_PER_PREFILL_TOKEN = 1.5
_SGLANG_MIN_PREFILL_TOKENS = 2048.0
_SGLANG_MIB_PER_GRAPH_SEQUENCE = 2.0
_SGLANG_MIB_PER_RANK = 1024.0 / 8.0
_SGLANG_FLOOR_MIB = 10.0 * 1024.0
_SGLANG_FLOOR_ABOVE_MIB = 60.0 * 1024.0
# Its defaults by GPU memory: (below MiB, chunked_prefill_size, cuda_graph_max_bs at tp < 4, at tp >= 4).
_SGLANG_BUCKETS = (
    (20.0 * 1024, 2048.0, 8.0, 8.0),        # T4, 4080
    (35.0 * 1024, 2048.0, 24.0, 80.0),      # A10, 4090, 5090
    (60.0 * 1024, 4096.0, 32.0, 160.0),     # A100 40GB, L40
    (90.0 * 1024, 8192.0, 256.0, 512.0),    # H100, A100 80GB
    (160.0 * 1024, 8192.0, 256.0, 512.0),   # H20, H200
    (np.inf, 16384.0, 512.0, 512.0),        # B200, MI300
)
_SGLANG_LARGE_TP = 4
# Engines whose share of device memory can be set (a configuration's ``engine_memory_fraction``), and the
# launch flag that sets it (vLLM engine arguments; SGLang server arguments; trtllm-serve options, "Free GPU
# memory fraction reserved for KV Cache, after allocating model weights and buffers"). Each engine reads it as
# its default: vLLM's KV pool is the share of all memory less the rest (``of_total``); TensorRT-LLM's KV cache
# the share of what weights and activations leave (``of_free``); SGLang's weights and KV pool the share,
# activations and CUDA graphs the rest (``sglang_reserve``).
MEMORY_FRACTION_SETTINGS = {"vllm": "--gpu-memory-utilization", "sglang": "--mem-fraction-static",
                            "tensorrt-llm": "--kv_cache_free_gpu_memory_fraction"}


def nccl_bytes(group: FloatArray) -> FloatArray:
    """NCCL buffer bytes per device for a tensor-parallel group of ``group`` devices."""
    return np.select([group >= 4, group >= 2], [_NCCL_BYTES_TP4_PLUS, _NCCL_BYTES_TP2], 0.0)


def sglang_reserved_bytes(capacity_bytes: FloatArray, tp: FloatArray, pp: FloatArray) -> FloatArray:
    """Memory SGLang's default ``mem_fraction_static`` leaves for activations and CUDA graphs (one device).

    Attention data parallelism adds more in SGLang; it is not modelled (a configuration's ``dp`` counts
    replicas, which SGLang runs as separate servers).
    """
    gpu_mib = capacity_bytes / _MIB
    uppers = np.array([b[0] for b in _SGLANG_BUCKETS])
    bucket = np.searchsorted(uppers, gpu_mib, side="right")
    chunk = np.array([b[1] for b in _SGLANG_BUCKETS])[bucket]
    graph_bs = np.where(tp < _SGLANG_LARGE_TP, np.array([b[2] for b in _SGLANG_BUCKETS])[bucket],
                        np.array([b[3] for b in _SGLANG_BUCKETS])[bucket])
    reserved = (_SGLANG_BASE_MIB + _SGLANG_MIB_PER_PREFILL_TOKEN * np.maximum(chunk, _SGLANG_MIN_PREFILL_TOKENS)
                + _SGLANG_MIB_PER_GRAPH_SEQUENCE * graph_bs + _SGLANG_MIB_PER_RANK * tp * pp)
    reserved = np.where(gpu_mib > _SGLANG_FLOOR_ABOVE_MIB, np.maximum(reserved, _SGLANG_FLOOR_MIB), reserved)
    return np.asarray(reserved * _MIB, dtype=float)


def usable_bytes(specs: pd.DataFrame, tp: FloatArray, pp: FloatArray, fixed_bytes: FloatArray,
                 activation_bytes: FloatArray, *, numeric: dict[str, FloatArray] | None = None,
                 fraction: FloatArray | None = None) -> FloatArray:
    """Bytes the engine lets weights, KV cache, activations and runtime buffers use on one device.

    ``fixed_bytes`` is everything but the KV cache (weights, activations, runtime buffers): an
    ``of_free`` engine sizes its pool from what that leaves. ``numeric``: :func:`numeric_columns` of
    ``specs`` when the caller has them. ``fraction``: the share of memory set on the engine per row
    (``engine_memory_fraction``; NaN: the engine's default), read by the engine's own rule.
    """
    s = numeric if numeric is not None else numeric_columns(specs)
    capacity = s["memory_gb"] * _GB
    share = s["usable_memory_fraction"]
    reserve = sglang_reserved_bytes(capacity, tp, pp)
    if fraction is not None:
        given = np.isfinite(np.asarray(fraction, dtype=float))
        share = np.where(given, fraction, share)
        reserve = np.where(given, capacity * (1.0 - np.where(given, fraction, 0.0)), reserve)
    of_total = capacity * share
    of_free = fixed_bytes + share * (capacity - fixed_bytes) - s["kv_reserve_gb"] * _GB
    # Activations live in SGLang's reserve; what they do not use of it is still not the engine's.
    sglang = capacity - reserve + np.minimum(activation_bytes, reserve)
    usable: FloatArray = np.select([_engine_is(specs, "kv_budget", "of_free"),
                                    _engine_is(specs, "kv_budget", "sglang_reserve")], [of_free, sglang], of_total)
    return usable


def _engine_is(specs: pd.DataFrame, name: str, value: str) -> npt.NDArray[np.bool_]:
    """Whether each row's engine rule ``name`` (a string column of the specs) is ``value``."""
    if name not in specs.columns:
        raise DataError(f"specs lack '{name}'; build them with features.configs.gather_specs")
    rows: npt.NDArray[np.bool_] = specs[name].eq(value).to_numpy(dtype=bool, na_value=False)
    return rows


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per device for each part, what the engine lets itself use, and what fits.

    ``kv_bytes`` is the KV cache of the sequences the engine holds at once: the whole batch for a
    static engine; for a continuous one the requested sequences it can admit, at least one (the
    rest queue). A sequence's cache includes its recurrent state (``state_bytes_per_sequence``: linear-attention
    and Mamba layers), which does not grow with its length. ``requested_sequences`` is the batch or
    concurrency asked for.
    """

    weight_bytes: FloatArray
    kv_bytes: FloatArray
    activation_bytes: FloatArray
    overhead_bytes: FloatArray
    usable_bytes: FloatArray
    kv_bytes_per_sequence: FloatArray
    requested_sequences: FloatArray
    admits_by_kv: npt.NDArray[np.bool_]
    kv_bytes_per_token_full: FloatArray
    kv_bytes_per_token_window: FloatArray
    window: FloatArray
    context_limit: FloatArray
    state_bytes_per_sequence: FloatArray

    @property
    def total_bytes(self) -> FloatArray:
        return self.weight_bytes + self.kv_bytes + self.activation_bytes + self.overhead_bytes

    @property
    def state_bytes(self) -> FloatArray:
        """The recurrent state of the sequences held (a part of ``kv_bytes``)."""
        held = self.kv_bytes / np.maximum(self.kv_bytes_per_sequence, 1.0)
        return held * self.state_bytes_per_sequence

    @property
    def free_for_kv_bytes(self) -> FloatArray:
        """What the engine's budget leaves for the KV cache beside weights, activations and overhead."""
        return self.usable_bytes - self.weight_bytes - self.activation_bytes - self.overhead_bytes

    @property
    def fits(self) -> npt.NDArray[np.bool_]:
        """The engine can run it: one sequence at full length (continuous) or the whole batch (static)."""
        return self.total_bytes <= self.usable_bytes

    @property
    def max_sequences(self) -> FloatArray:
        """Most sequences whose full-length KV cache fits beside weights, activations and overhead."""
        return np.maximum(np.floor(self.free_for_kv_bytes / np.maximum(self.kv_bytes_per_sequence, 1.0)), 0.0)

    @property
    def max_context_tokens(self) -> FloatArray:
        """Longest sequence (tokens) of which ``requested_sequences`` hold their KV cache at once,
        capped at the model's context window: the dual of :attr:`max_sequences`."""
        budget = self.free_for_kv_bytes / np.maximum(self.requested_sequences, 1.0) - self.state_bytes_per_sequence
        full, windowed, window = self.kv_bytes_per_token_full, self.kv_bytes_per_token_window, self.window
        # KV(L) = full * L + windowed * min(L, window): piecewise linear, so invert each piece.
        per_token = full + windowed
        inside = budget / np.where(per_token > 0, per_token, 1.0)
        beyond = np.where(full > 0, (budget - windowed * window) / np.where(full > 0, full, 1.0), np.inf)
        longest = np.where((window > 0) & (inside <= window), inside, beyond)
        longest = np.where(per_token > 0, longest, np.inf)
        longest = np.where(budget < 0, 0.0, longest)
        return np.clip(np.floor(np.minimum(longest, self.context_limit)), 0.0, None)


def memory_per_device(
    specs: pd.DataFrame,
    tp: FloatArray,
    pp: FloatArray,
    ep: FloatArray,
    sequences: FloatArray,
    seq_len: FloatArray,
    prefill_tokens: FloatArray,
    *,
    numeric: dict[str, FloatArray] | None = None,
    fraction: FloatArray | None = None,
) -> MemoryBreakdown:
    """Memory of one device asked to serve ``sequences`` sequences of up to ``seq_len`` tokens each.

    ``prefill_tokens`` is the largest number of tokens one forward pass processes (the framework's
    prefill budget), which sets the activation peak. ``numeric``: :func:`numeric_columns` of ``specs``
    when the caller has them. ``fraction``: the engine's memory share where set (:func:`usable_bytes`).
    """
    s = numeric if numeric is not None else numeric_columns(specs)
    tp, pp, ep = (np.asarray(x, dtype=float) for x in (tp, pp, ep))
    sequences, seq_len, prefill_tokens = (np.asarray(x, dtype=float) for x in (sequences, seq_len, prefill_tokens))
    weight_bytes = weight_bytes_per_device(s, tp, pp, ep)
    shards = kv_shards(s, tp, pp)
    full_per_token = s["kv_values_per_token_full"] * s["kv_bytes_per_value"] / shards
    window_per_token = s["kv_values_per_token_window"] * s["kv_bytes_per_value"] / shards
    state_per_seq = recurrent_state_bytes_per_device(s, tp, pp)
    kv_per_seq = (full_per_token * seq_len + window_per_token * window_tokens(seq_len, s["sliding_window"])
                  + state_per_seq)
    # Peak activations: the residual stream plus the widest MLP intermediate for the prefill
    # tokens of one layer, and fp32 logits for the last token of each sequence.
    hidden_values = prefill_tokens * (2.0 * s["hidden_size"] + s["ffn_active_width"] / tp)
    logits = np.minimum(sequences, prefill_tokens) * s["vocab_size"] / tp * _LOGIT_BYTES_PER_VALUE
    activation_bytes = hidden_values * ACTIVATION_BYTES_PER_VALUE + logits
    overhead = RUNTIME_BYTES + nccl_bytes(tp)
    # The CUDA graph pool is captured after the KV pool is sized, from the memory the budget leaves.
    usable = np.minimum(usable_bytes(specs, tp, pp, weight_bytes + activation_bytes + overhead, activation_bytes,
                                     numeric=s, fraction=fraction),
                        s["memory_gb"] * _GB - s["cuda_graph_gb"] * _GB)
    admits_by_kv = _engine_is(specs, "engine_batching", "continuous")
    free = usable - weight_bytes - activation_bytes - overhead
    most = np.maximum(np.floor(free / np.maximum(kv_per_seq, 1.0)), 0.0)
    held = np.where(admits_by_kv, np.maximum(np.minimum(sequences, most), 1.0), sequences)
    return MemoryBreakdown(
        weight_bytes=weight_bytes,
        kv_bytes=kv_per_seq * held,
        activation_bytes=activation_bytes,
        overhead_bytes=overhead,
        usable_bytes=usable,
        kv_bytes_per_sequence=kv_per_seq,
        requested_sequences=sequences,
        admits_by_kv=admits_by_kv,
        kv_bytes_per_token_full=full_per_token,
        kv_bytes_per_token_window=window_per_token,
        window=np.where(s["sliding_window"] > 0, s["sliding_window"], 0.0),
        context_limit=s["max_position_embeddings"],
        state_bytes_per_sequence=state_per_seq,
    )
