"""Disaggregated serving: prefill workers and decode workers on separate devices, the KV cache shipped between.

The design followed is DistServe's (Zhong et al., OSDI 2024, arXiv 2401.09670) and Splitwise's (Patel et al.,
ISCA 2024, arXiv 2311.18677), as NVIDIA Dynamo and aiconfigurator deploy it ("xPyD": x prefill workers, y
decode workers): a request's prompt is prefilled on a prefill worker, which produces the first token; its KV
cache moves to a decode worker, which generates the rest. Each pool is priced with the aggregated model of
:mod:`features.analytic` on one worker's shape (tensor, pipeline, attention-data and expert parallelism):

* **decode**: a worker runs its share of the requests in flight (``concurrency`` / decode workers, capped by
  ``decode_batch_size`` per attention-DP rank and by the requests whose KV cache its memory holds) as one
  batch that only decodes (no prompts interleave, which is the point of the split): ITL is the static decode
  step at that batch (its attention-data-parallel ranks share it); requests beyond what the workers hold
  wait (in TTFT);
* **prefill**: a worker prefills ``prefill_batch_size`` prompts at a time (1 where not recorded), as a static
  batch's prefill: ``prefill_s``;
* **KV transfer**: the request's whole KV cache (every layer, the prompt's tokens, the cache's format) over
  the link between the pools: NVLink when every worker sits in one scale-up domain (an NVL72 rack), the
  network otherwise; each of ``min(prefill tp, decode tp)`` device pairs carries its share in parallel;
* **first-token wait**: the served request's wait the aggregated model fits (``Efficiency.first_token_steps``
  decode steps, scaled per engine by ``framework_log_wait``: the engine's scheduling and the token's way back
  to the client), counted in the decode worker's steps: the same engine serves the same client here;
* **rate matching**: the client keeps ``concurrency`` requests in flight (closed loop), so requests arrive at
  ``rate = concurrency / (TTFT + (output - 1) x ITL)`` (Little's law). The prefill pool serves at most
  ``prefill workers x batch / prefill_s`` requests/s and queues the rest (an M/D/1 wait,
  ``rho / (2 (1 - rho)) x prefill_s`` at utilisation ``rho``); the decode pool at most ``decode workers x
  batch / ((output - 1) x ITL)``. The rate solves that fixed point (bisection; the left side rises with it),
  never above either pool's capacity; ``bound_by`` names the pool that caps it;
* **lockstep wave**: clients asking the same lengths finish together and ask again together, so a prefill
  worker is handed its ``concurrency / prefill workers`` prompts at once; a prompt waits the aggregated
  model's share ``wave_fraction`` of the others' prefill (``wave_s``). The M/D/1 queue prices the same wait
  for arrivals spread at random: the wait behind other prompts is the larger of the two, not their sum
  (the rate then follows Little's law at that TTFT).

Without the wait and the wave the physics was 5.2x too fast at the median of the 264 scored aiconfigurator
rows (1,024-token prompts measured 0.2-3 s where one prefill took 0.04 s; median APE 84%); with them 1.6x
(median APE 42%; an ad hoc comparison at the shipped efficiency, on rows it was not fitted to:
``benchmarks/disaggregated.py`` reports the held-out figures).

TTFT = the wait behind other prompts + prefill + KV transfer + the first-token wait;
latency = TTFT + (output - 1) x ITL; throughput = rate x tokens.
Peak bounds: TTFT at least one prompt's prefill on one prefill worker at the datasheet peaks (no queue, free
transfer), ITL at least the decode step of the same batch at the peaks. Rows that do not record their worker
counts do not describe their deployment (its size is unknown) and are refused.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from features.analytic import estimate
from features.configs import gather_specs, normalize_configs
from features.efficiency import Efficiency, default_efficiency
from features.errors import ConfigError
from features.roofline import link_bandwidth_gbps, link_latency_s

__all__ = ["WORKER_COLUMNS", "DISAGGREGATED_COLUMNS", "estimate_disaggregated", "worker_configs"]

# One worker's shape per pool (canonical columns of the measurement table).
WORKER_COLUMNS = [f"{pool}_{name}" for pool in ("prefill", "decode")
                  for name in ("workers", "tp", "pp", "dp", "ep", "batch_size")]
DISAGGREGATED_COLUMNS = [
    "ttft_s", "itl_s", "latency_s", "throughput_tok_s", "output_throughput_tok_s", "queue_s", "prefill_s",
    "kv_transfer_s", "first_token_wait_s", "wave_s", "kv_bytes_per_request", "decode_batch", "request_rate_req_s",
    "prefill_capacity_req_s", "decode_capacity_req_s", "bound_by", "fits", "mem_per_device_gb", "mem_usable_gb",
    "max_batch_size", "peak_ttft_s", "peak_itl_s", "peak_latency_s", "num_devices",
]
_SHARED = ["hardware", "model", "framework", "framework_version", "weight_dtype", "kv_dtype", "input_len", "output_len",
           "engine_memory_fraction"]  # the engine's memory share, where set, is every worker's
_BISECTIONS = 80


def _counts(configs: pd.DataFrame, name: str, default: float | None) -> np.ndarray:
    values: np.ndarray
    if name in configs:
        values = pd.to_numeric(configs[name], errors="coerce").to_numpy(dtype=float)
    else:
        values = np.full(len(configs), np.nan)
    if default is not None:
        values = np.asarray(np.where(np.isnan(values), default, values), dtype=float)
    bad = ~np.isnan(values) & (values < 1)
    if bad.any():
        raise ConfigError(f"row {int(np.argmax(bad))}: {name} must be at least 1, got {values[bad][0]:g}")
    return values


def worker_configs(configs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """One prefill worker and one decode worker of each row as aggregated static configurations, and the
    decode batch per worker (the requests in flight each decode worker holds). ``*_batch_size`` counts
    per attention-data-parallel rank: a decode worker of dp 4 and batch size 16 holds 64."""
    missing = [c for c in ("prefill_workers", "decode_workers", "concurrency") if c not in configs]
    if missing:
        raise ConfigError(f"a disaggregated configuration needs {', '.join(missing)}")
    shape = {c: _counts(configs, c, None if c.endswith(("workers", "batch_size")) else 1.0) for c in WORKER_COLUMNS}
    concurrency = _counts(configs, "concurrency", None)
    for name, values in (("prefill_workers", shape["prefill_workers"]), ("decode_workers", shape["decode_workers"]),
                         ("concurrency", concurrency)):
        if np.isnan(values).any():
            raise ConfigError(f"row {int(np.argmax(np.isnan(values)))}: {name} is not recorded; a disaggregated "
                              "deployment is described by its worker counts and the client concurrency")
    per_decoder = concurrency / shape["decode_workers"]
    # Batch sizes are per attention-data-parallel rank (aiconfigurator's convention, as for aggregated rows).
    decode_most = shape["decode_batch_size"] * shape["decode_dp"]
    decode_batch = np.where(np.isnan(decode_most), per_decoder, np.minimum(per_decoder, decode_most))
    decode_batch = np.maximum(decode_batch, 1.0)
    prefill_batch = np.where(np.isnan(shape["prefill_batch_size"]), 1.0, shape["prefill_batch_size"])
    base = configs[[c for c in _SHARED if c in configs]].reset_index(drop=True)
    pools = []
    for pool, batch in (("prefill", prefill_batch), ("decode", decode_batch)):
        tp, pp, dp, ep = (shape[f"{pool}_{n}"] for n in ("tp", "pp", "dp", "ep"))
        frame = base.copy()
        frame["tp"], frame["pp"], frame["dp"], frame["ep"] = tp, pp, dp, ep
        frame["num_devices"] = tp * pp * dp
        frame["batching"] = "static"
        # The worker's batch is shared by its attention-data-parallel ranks (each a replica here).
        frame["batch_size"] = np.ceil(batch / dp)
        frame["concurrency"] = np.nan
        pools.append(frame)
    return pools[0], pools[1], decode_batch


def _kv_bytes(cfg: pd.DataFrame, specs: pd.DataFrame) -> np.ndarray:
    """Bytes of one request's KV cache after its prompt (all layers; windowed layers keep their window), with its
    recurrent state (linear-attention and Mamba layers), which moves to the decode worker too."""
    length = cfg["input_len"].to_numpy(dtype=float)
    window = specs["sliding_window"].to_numpy(dtype=float)
    windowed = np.where(window > 0, np.minimum(length, window), length)
    values = (specs["kv_values_per_token_full"].to_numpy(dtype=float) * length
              + specs["kv_values_per_token_window"].to_numpy(dtype=float) * windowed)
    out: np.ndarray = (values * specs["kv_bytes_per_value"].to_numpy(dtype=float)
                       + specs["recurrent_state_bytes_per_sequence"].to_numpy(dtype=float))
    return out


def _settle(concurrency: np.ndarray, service_s: np.ndarray, prefill_s: np.ndarray, prefill_capacity: np.ndarray,
            decode_capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closed-loop request rate and the prefill queue's wait: rate x (wait(rate) + service) = concurrency,
    with wait = rho / (2 (1 - rho)) x prefill_s (M/D/1), rho = rate / prefill capacity; at most either
    pool's capacity. ``service_s`` is everything but the wait (prefill, transfer, decode)."""
    ceiling = np.minimum(prefill_capacity, decode_capacity)
    low, high = np.zeros_like(concurrency), np.minimum(concurrency / service_s, ceiling)

    def excess(rate: np.ndarray) -> np.ndarray:
        rho = np.minimum(rate / prefill_capacity, 1.0 - 1e-12)
        out: np.ndarray = rate * (rho / (2.0 * (1.0 - rho)) * prefill_s + service_s) - concurrency
        return out

    # Where even the capped rate leaves clients idle, the pool is saturated: the rate is its capacity.
    saturated = excess(high) < 0
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2.0
        above = excess(middle) > 0
        high = np.where(above, middle, high)
        low = np.where(above, low, middle)
    rate = np.where(saturated, high, (low + high) / 2.0)
    wait = np.maximum(concurrency / rate - service_s, 0.0)
    return rate, wait


def _held_by_memory(decode_cfg: pd.DataFrame, decode: pd.DataFrame, specs: pd.DataFrame, batch: np.ndarray,
                    efficiency: Efficiency | None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """A decode worker runs at most the requests whose KV cache it holds (``max_batch_size`` per attention-DP
    rank); the rest wait for a slot before their cache moves over, which the closed loop counts as prefill-side
    queueing. Rows offered more are priced again at what they hold."""
    dp = decode_cfg["dp"].to_numpy(dtype=float)
    held = np.minimum(batch, np.maximum(decode["max_batch_size"].to_numpy(dtype=float), 1.0) * dp)
    over = held < batch
    if not over.any():
        return decode_cfg, decode, batch
    decode_cfg = decode_cfg.copy()
    decode_cfg.loc[over, "batch_size"] = np.ceil(held[over] / dp[over])
    again = estimate(decode_cfg[over], normalized=True, specs=specs[over], efficiency=efficiency)
    decode = decode.copy()
    decode.loc[over, again.columns] = again
    return decode_cfg, decode, held


def estimate_disaggregated(configs: pd.DataFrame, efficiency: Efficiency | None = None) -> pd.DataFrame:
    """:data:`DISAGGREGATED_COLUMNS` for every row of ``configs`` (the shared configuration columns, the
    client ``concurrency`` and the :data:`WORKER_COLUMNS`; tp/pp/dp/ep default to 1, batch sizes to
    1 prompt per prefill and the requests each decode worker holds). ``ConfigError`` names a row whose worker
    counts are missing or whose worker shape is impossible (as the aggregated model would say)."""
    index = configs.index
    # A worker is priced as a static batch, but it is a serving engine's: no host cost per sequence of offline
    # static batches (``Efficiency.framework_sequence_s``), as served rows of the aggregated model pay none.
    efficiency = replace(efficiency or default_efficiency(), framework_sequence_s={})
    prefill_cfg, decode_cfg, decode_batch = worker_configs(configs)
    try:
        prefill_cfg, decode_cfg = normalize_configs(prefill_cfg), normalize_configs(decode_cfg)
        decode_specs = gather_specs(decode_cfg)
        prefill = estimate(prefill_cfg, normalized=True, efficiency=efficiency)
        decode = estimate(decode_cfg, normalized=True, specs=decode_specs, efficiency=efficiency)
        decode_cfg, decode, decode_batch = _held_by_memory(decode_cfg, decode, decode_specs, decode_batch,
                                                           efficiency)
    except ConfigError as exc:
        raise ConfigError(f"disaggregated worker: {exc}") from exc
    out_len = decode_cfg["output_len"].to_numpy(dtype=float)
    in_len = decode_cfg["input_len"].to_numpy(dtype=float)
    concurrency = _counts(configs, "concurrency", None)
    workers = {pool: _counts(configs, f"{pool}_workers", None) for pool in ("prefill", "decode")}
    prefill_devices = prefill_cfg["num_devices"].to_numpy(dtype=float)
    decode_devices = decode_cfg["num_devices"].to_numpy(dtype=float)
    devices = workers["prefill"] * prefill_devices + workers["decode"] * decode_devices
    kv_bytes = _kv_bytes(decode_cfg, decode_specs)
    links = np.minimum(prefill_cfg["tp"].to_numpy(dtype=float), decode_cfg["tp"].to_numpy(dtype=float))
    # Across the network it pays the network's latency too, as a collective leaving the domain does.
    kv_s = (link_latency_s(decode_specs, devices)
            + kv_bytes / (link_bandwidth_gbps(decode_specs, devices) * 1e9 * links))
    prefill_s = prefill["ttft_s"].to_numpy(dtype=float)
    itl = decode["itl_s"].to_numpy(dtype=float)
    prefill_batch = prefill_cfg["batch_size"].to_numpy(dtype=float) * prefill_cfg["dp"].to_numpy(dtype=float)
    decode_s = np.maximum(out_len - 1.0, 1.0) * itl
    prefill_capacity = workers["prefill"] * prefill_batch / prefill_s
    decode_capacity = workers["decode"] * decode_batch / decode_s
    params = efficiency.rows(decode_specs["vendor"], decode_cfg["framework"], hardware=decode_specs["chip"])
    first_token_s = params.first_token_steps * itl
    rate, wait = _settle(concurrency, prefill_s + kv_s + first_token_s + decode_s, prefill_s, prefill_capacity,
                         decode_capacity)
    # The others' prompts handed to the same prefill worker at once, in batches of what it prefills together.
    others = np.maximum(concurrency / workers["prefill"] - 1.0, 0.0)
    wave_s = params.wave_fraction * others / prefill_batch * prefill_s
    wait = np.maximum(wait, wave_s)
    ttft = wait + prefill_s + kv_s + first_token_s
    rate = np.minimum(rate, concurrency / (ttft + decode_s))
    latency = ttft + (out_len - 1.0) * itl
    peak_ttft = prefill["peak_ttft_s"].to_numpy(dtype=float)
    peak_itl = decode["peak_itl_s"].to_numpy(dtype=float)
    frame = pd.DataFrame({
        "ttft_s": ttft, "itl_s": itl, "latency_s": latency,
        "throughput_tok_s": rate * (in_len + out_len), "output_throughput_tok_s": rate * out_len,
        "queue_s": wait, "prefill_s": prefill_s, "kv_transfer_s": kv_s, "first_token_wait_s": first_token_s,
        "wave_s": wave_s, "kv_bytes_per_request": kv_bytes,
        "decode_batch": decode_batch, "request_rate_req_s": rate, "prefill_capacity_req_s": prefill_capacity,
        "decode_capacity_req_s": decode_capacity,
        "bound_by": np.where(prefill_capacity <= decode_capacity, "prefill pool", "decode pool"),
        "fits": prefill["fits"].to_numpy(dtype=bool) & decode["fits"].to_numpy(dtype=bool),
        # The fuller of the two workers' devices; the decode worker's batch limit (it holds the running requests).
        "mem_per_device_gb": np.maximum(prefill["mem_per_device_gb"].to_numpy(dtype=float),
                                        decode["mem_per_device_gb"].to_numpy(dtype=float)),
        "mem_usable_gb": np.minimum(prefill["mem_usable_gb"].to_numpy(dtype=float),
                                    decode["mem_usable_gb"].to_numpy(dtype=float)),
        "max_batch_size": decode["max_batch_size"].to_numpy(dtype=float) * decode_cfg["dp"].to_numpy(dtype=float),
        "peak_ttft_s": peak_ttft, "peak_itl_s": peak_itl, "peak_latency_s": peak_ttft + (out_len - 1.0) * peak_itl,
        "num_devices": devices,
    })
    frame.index = index
    return frame[DISAGGREGATED_COLUMNS]
