"""The analytic performance model: what a deployment should deliver if every part ran at its peak.

Static batches (LLM-Inference-Bench's offline ``generate`` calls, llama-bench): prefill of the
whole batch, then ``output_len - 1`` decode steps at the mean context; llama.cpp rows are one
sequence whose prompt is processed in chunks of ``prefill_chunk_tokens``.

Continuous batching (a serving engine with ``concurrency`` requests in flight per replica, the
aiconfigurator "silicon" rows) is a closed-loop steady state. Each request lives for about
``output_len`` engine steps, so by Little's law ``running / output_len`` new requests arrive per
step; every step decodes one token for each running request and prefills the arrivals (chunked
prefill, as in Sarathi-Serve, arXiv 2403.02310). ITL is that mixed step. Benchmark clients with
equal prompt and output lengths start and finish together, so arrivals come in waves: TTFT is half
a step of waiting for the next step boundary plus the prefill of the prompts ahead of it in its
wave (half the running requests on average, in chunks of the prefill budget). When the KV cache holds
fewer than ``concurrency`` sequences (at their mean length, input + output / 2, since paged caches
grow with the sequence), the rest are preempted and resumed: each request progresses
``running / concurrency`` of the time (Little's law again), which stretches ITL, not TTFT (a
preempted request already has its first token).

No efficiency factor is fitted to benchmark data here; this is the baseline the learned model
corrects and the prior that carries hardware and models no benchmark covered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.configs import gather_specs, invalid_reasons, normalize_configs
from features.errors import ConfigError
from features.memory import memory_per_device
from features.roofline import StepCost, step_cost

__all__ = ["estimate", "ANALYTIC_COLUMNS"]

_GB = 1e9
_PARTS = ("compute", "memory", "communication")

ANALYTIC_COLUMNS = [
    "ttft_s", "itl_s", "latency_s", "throughput_tok_s", "output_throughput_tok_s",
    "mem_per_device_gb", "mem_weights_gb", "mem_kv_gb", "mem_activations_gb", "mem_overhead_gb",
    "mem_usable_gb", "max_batch_size", "fits", "bottleneck",
    "prefill_flops", "prefill_bytes", "prefill_comm_bytes", "prefill_compute_s", "prefill_memory_s",
    "prefill_comm_s", "prefill_bottleneck",
    "decode_flops", "decode_bytes", "decode_comm_bytes", "decode_compute_s", "decode_memory_s",
    "decode_comm_s", "decode_bottleneck",
]


def _bottleneck(compute_s: np.ndarray, memory_s: np.ndarray, comm_s: np.ndarray) -> np.ndarray:
    return np.array(_PARTS, dtype=object)[np.argmax(np.stack([compute_s, memory_s, comm_s]), axis=0)]


def _phase_columns(prefix: str, cost: StepCost) -> dict[str, np.ndarray]:
    return {
        f"{prefix}_flops": cost.flops,
        f"{prefix}_bytes": cost.bytes_moved,
        f"{prefix}_comm_bytes": cost.comm_bytes,
        f"{prefix}_compute_s": cost.compute_s,
        f"{prefix}_memory_s": cost.memory_s,
        f"{prefix}_comm_s": cost.comm_s,
        f"{prefix}_bottleneck": _bottleneck(cost.compute_s, cost.memory_s, cost.comm_s),
    }


def estimate(configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame:
    """Analytic metrics for every row of ``configs`` (columns of ``features.configs.CONFIG_COLUMNS``).

    Returns a frame with the same index holding :data:`ANALYTIC_COLUMNS`. Raises ``ConfigError``
    naming the first impossible row (tp not dividing the heads, device counts that do not add up).
    """
    cfg = configs if normalized else normalize_configs(configs)
    reasons = invalid_reasons(cfg)
    if reasons.ne("").any():
        first = reasons.index[reasons.ne("")][0]
        raise ConfigError(f"row {first}: {reasons[first]}")
    specs = gather_specs(cfg).reset_index(drop=True)
    tp, pp, ep, dp = (cfg[c].to_numpy(dtype=float) for c in ("tp", "pp", "ep", "dp"))
    in_len, out_len = cfg["input_len"].to_numpy(dtype=float), cfg["output_len"].to_numpy(dtype=float)
    continuous = cfg["batching"].eq("continuous").to_numpy()
    chunk = cfg["prefill_chunk_tokens"].to_numpy(dtype=float)
    chunk = np.where(np.isnan(chunk), specs["max_batched_tokens"].to_numpy(dtype=float), chunk)
    sequences = np.where(continuous, cfg["concurrency"], cfg["batch_size"]).astype(float)
    seq_len = in_len + out_len
    decode_ctx = in_len + (out_len - 1.0) / 2.0

    # Memory first: under continuous batching it caps how many requests run at once.
    prefill_tokens = np.where(continuous, np.maximum(sequences / out_len, 1.0) * in_len, sequences * in_len)
    prefill_tokens = np.minimum(prefill_tokens, np.where(np.isnan(chunk), np.inf, chunk))
    mem = memory_per_device(specs, tp, pp, ep, sequences, seq_len, prefill_tokens)
    max_seqs = mem.max_sequences
    # Paged KV caches allocate as sequences grow: a running request holds input + output / 2 tokens
    # on average, so that is what bounds how many run at once.
    mean_len_mem = memory_per_device(specs, tp, pp, ep, sequences, in_len + out_len / 2.0, prefill_tokens)
    running = np.where(continuous, np.clip(np.minimum(sequences, mean_len_mem.max_sequences), 1.0, None),
                       sequences)
    arrivals = np.where(continuous, running / out_len, 0.0)

    # Static: a prefill of the whole batch, then decode steps. Continuous: mixed steps.
    prefill = step_cost(specs, tp, pp, ep, 0.0, 0.0, np.where(continuous, np.maximum(arrivals, 1.0), sequences),
                        in_len, chunk)
    # Closed-loop clients with equal prompt and output lengths arrive together (in waves): on
    # average a request's prompt is prefilled after half of the prompts that arrived with it.
    wave_prefill = step_cost(specs, tp, pp, ep, 0.0, 0.0, (running + 1.0) / 2.0, in_len, chunk)
    decode = step_cost(specs, tp, pp, ep, running, decode_ctx, arrivals, in_len, chunk)

    # Requests beyond what the KV cache holds are preempted and resumed (vLLM) or wait their turn
    # between tokens: each one progresses running / concurrency of the time (Little's law).
    itl = decode.time_s * np.where(continuous, sequences / running, 1.0)
    ttft_static = prefill.time_s
    ttft_continuous = 0.5 * decode.time_s + wave_prefill.time_s
    ttft = np.where(continuous, ttft_continuous, ttft_static)
    latency = ttft + (out_len - 1.0) * itl
    throughput = dp * sequences * seq_len / latency
    output_throughput = dp * sequences * out_len / latency

    steps = out_len - 1.0
    bottleneck = _bottleneck(prefill.compute_s + steps * decode.compute_s,
                             prefill.memory_s + steps * decode.memory_s,
                             prefill.comm_s + steps * decode.comm_s)
    # Memory is what the requested batch or concurrency needs; when it does not fit, the
    # estimates above already include the queueing a continuous engine would fall back to.
    total = mem.total_bytes
    fits = mem.fits
    kv_bytes = mem.kv_bytes

    out = {
        "ttft_s": ttft,
        "itl_s": itl,
        "latency_s": latency,
        "throughput_tok_s": throughput,
        "output_throughput_tok_s": output_throughput,
        "mem_per_device_gb": total / _GB,
        "mem_weights_gb": mem.weight_bytes / _GB,
        "mem_kv_gb": kv_bytes / _GB,
        "mem_activations_gb": mem.activation_bytes / _GB,
        "mem_overhead_gb": np.broadcast_to(mem.overhead_bytes, tp.shape) / _GB,
        "mem_usable_gb": mem.usable_bytes / _GB,
        "max_batch_size": max_seqs.astype(np.int64),
        "fits": fits.astype(bool),
        "bottleneck": bottleneck,
        **_phase_columns("prefill", prefill),
        **_phase_columns("decode", decode),
    }
    return pd.DataFrame(out, index=cfg.index)[ANALYTIC_COLUMNS]
