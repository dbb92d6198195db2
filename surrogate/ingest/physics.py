"""Flag measurements faster than the hardware can physically deliver.

``features.analytic.estimate`` runs every kernel at peak bandwidth and peak FLOP/s. Where its time
is a true lower bound, a measured time far below it is not a fast run but a broken one (a run that
stopped early, a mislabelled configuration). Such rows stay in the dataset, flagged, listed by
``file:line``, and out of training unless asked for.

The bounds:

* static batch: the row itself (the whole batch is in flight from the start), for ``latency_s`` and
  ``ttft_s``;
* serving (continuous batching, aggregated or disaggregated): the same deployment serving ONE
  request (one replica, batch 1; the prefill worker's shape for TTFT and the decode worker's for
  ITL when disaggregated; under attention data parallelism, all tp x dp devices its experts span).
  A request's prompt and each of its decode steps cannot take less than that, however many others
  share the step. The estimate of the row itself is not used: it assumes
  all ``concurrency`` requests decode in every step, while engines cap the running batch
  (vLLM ``max_num_seqs``) and queue the rest, so a measured ITL may legitimately be below it.

A bound counts only compute and memory traffic at peak (the larger of the two per step); the
estimate's communication term is left out, because links can be faster than the catalog's
per-device figure and engines overlap communication with compute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.analytic import attention_data_parallel, estimate
from features.configs import normalize_configs
from features.errors import SurrogateError
from surrogate.ingest.account import Note
from surrogate.ingest.checks import analytic_configs, reasons_by_chunk

__all__ = ["PHYSICS_FLOOR_RATIO", "analytic_estimates", "lower_bounds", "flag_faster_than_physics"]

# Empirical: a measurement is flagged when it is below this fraction of its analytic lower bound.
# On LLM-Inference-Bench's static latencies the ratios measured / bound fall in two groups: 13 rows
# at 0.009x-0.49x (all H100 TensorRT-LLM Qwen2 runs at L=2048 plus one Qwen2-72B run, e.g. 0.08 s for
# 2048 decode steps of a 15 GB model: runs that stopped early), then nothing until 0.72x (TensorRT-LLM
# Mixtral on 4 A100s, plausible). aiconfigurator's serving rows all sit above 1.3x their bounds.
PHYSICS_FLOOR_RATIO = 0.5
_ESTIMATED = ["ttft_s", "itl_s", "latency_s", "throughput_tok_s", "output_throughput_tok_s", "prefill_compute_s",
              "prefill_memory_s", "decode_compute_s", "decode_memory_s"]


def _floors(estimated: pd.DataFrame, output_len: pd.Series) -> pd.DataFrame:
    """Compute/memory-only times: prefill (TTFT), one decode step (ITL) and the whole static run."""
    prefill = estimated[["prefill_compute_s", "prefill_memory_s"]].max(axis=1, skipna=False)
    step = estimated[["decode_compute_s", "decode_memory_s"]].max(axis=1, skipna=False)
    steps = output_len.astype(float).to_numpy() - 1.0
    return pd.DataFrame({"ttft_s": prefill, "itl_s": step, "latency_s": prefill + steps * step},
                        index=estimated.index)


def _estimate_rows(cfg: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """``estimate`` of raw config rows; a row that is impossible (``features.configs.invalid_reasons``) or
    in a hardware/model/framework/format chunk the catalog cannot evaluate gets NaN and the reason.

    The possible rows are estimated in one call: one call per chunk, as this once did whenever any row
    was impossible, cost 124 calls and 10 of the 17 s of ingesting the shared data (cProfile), and left
    every row of a chunk holding one impossible row without a bound.
    """
    out = pd.DataFrame(np.nan, index=cfg.index, columns=_ESTIMATED)
    why = pd.Series("", index=cfg.index, dtype=object)
    if cfg.empty:
        return out, why
    why[:] = reasons_by_chunk(cfg).to_numpy(dtype=object)
    possible = why.eq("").to_numpy()
    if not possible.any():
        return out, why
    rows = cfg[possible]
    try:
        out.loc[possible, _ESTIMATED] = estimate(normalize_configs(rows), normalized=True)[_ESTIMATED].to_numpy(
            dtype=float)
        return out, why
    except SurrogateError:
        pass
    for _, chunk in rows.groupby(["hardware", "model", "framework", "weight_dtype"], sort=False, dropna=False):
        try:
            result = estimate(normalize_configs(chunk), normalized=True)
        except SurrogateError as exc:
            why[chunk.index] = str(exc)
            continue
        out.loc[chunk.index, _ESTIMATED] = result[_ESTIMATED].to_numpy(dtype=float)
    return out, why


def analytic_estimates(measurements: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """``estimate`` of every aggregated row as configured (NaN elsewhere) and why a row has none."""
    agg = measurements["mode"].eq("aggregated").to_numpy()
    out, why = _estimate_rows(analytic_configs(measurements[agg]))
    out = out.reindex(measurements.index)
    why = why.reindex(measurements.index).fillna("no analytic model for disaggregated serving")
    return out, why


def _single_request(measurements: pd.DataFrame, phase: str | None) -> pd.DataFrame:
    """One replica of the deployment (one worker of ``phase`` when disaggregated) serving one request.

    Under attention data parallelism (ep > 1 with dp > 1 replicas) the experts are spread over all
    tp x dp devices of a stage, so the replica serving one request is all of them: priced as tensor
    parallel over tp x dp devices (its attention shared by all of them too, which no deployment beats),
    with ep = tp x dp. One replica of dp = 1 would be impossible (ep not dividing its tp devices): such rows
    had no bound at all.
    """
    cfg = analytic_configs(measurements)
    if phase is not None:
        for name in ("tp", "pp", "ep", "dp"):
            cfg[name] = measurements[f"{phase}_{name}"].astype(object)
    tp, dp, ep = (pd.to_numeric(cfg[name], errors="coerce").fillna(1).to_numpy(dtype=float)
                  for name in ("tp", "dp", "ep"))
    attention_dp = attention_data_parallel(ep, dp)
    if attention_dp.any():
        cfg["tp"] = np.where(attention_dp, tp * dp, cfg["tp"].to_numpy(dtype=object)).astype(object)
        cfg["ep"] = np.where(attention_dp, tp * dp, cfg["ep"].to_numpy(dtype=object)).astype(object)
    cfg["dp"] = 1
    cfg["num_devices"] = None
    cfg["batching"] = "static"
    cfg["batch_size"] = 1
    cfg["concurrency"] = 1
    cfg["prefill_chunk_tokens"] = None
    return cfg.astype(object).where(cfg.notna(), None)


def lower_bounds(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per row, the analytic lower bound of latency_s, ttft_s and itl_s (NaN where there is none)."""
    bounds = pd.DataFrame(np.nan, index=measurements.index, columns=["latency_s", "ttft_s", "itl_s"])
    static = measurements["batching"].eq("static") & measurements["mode"].eq("aggregated")
    own, _ = _estimate_rows(analytic_configs(measurements[static]))
    floors = _floors(own, measurements.loc[static, "output_len"])
    bounds.loc[static, ["latency_s", "ttft_s"]] = floors[["latency_s", "ttft_s"]].to_numpy()
    serving = measurements["batching"].eq("continuous")
    agg = serving & measurements["mode"].eq("aggregated")
    disagg = serving & measurements["mode"].eq("disaggregated")
    one, _ = _estimate_rows(_single_request(measurements[agg], None))
    floors = _floors(one, measurements.loc[agg, "output_len"])
    bounds.loc[agg, ["ttft_s", "itl_s"]] = floors[["ttft_s", "itl_s"]].to_numpy()
    for phase, metric in (("prefill", "ttft_s"), ("decode", "itl_s")):
        one, _ = _estimate_rows(_single_request(measurements[disagg], phase))
        bounds.loc[disagg, metric] = _floors(one, measurements.loc[disagg, "output_len"])[metric].to_numpy()
    return bounds


def flag_faster_than_physics(measurements: pd.DataFrame) -> tuple[pd.Series, list[Note]]:
    """Per row, whether a measured time is below ``PHYSICS_FLOOR_RATIO`` x its lower bound, with a note
    naming the metric, the measured value and the bound."""
    flagged = np.zeros(len(measurements), dtype=bool)
    notes: list[Note] = []
    if measurements.empty:
        return pd.Series(flagged, index=measurements.index), notes
    bounds = lower_bounds(measurements)
    for metric in bounds.columns:
        measured = measurements[metric].to_numpy(dtype=float)
        bound = bounds[metric].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = measured / bound
        hit = np.isfinite(ratio) & (ratio < PHYSICS_FLOOR_RATIO)
        for i in np.flatnonzero(hit & ~flagged):
            row = measurements.iloc[i]
            notes.append(Note(str(row["source_file"]), int(row["source_line"]),
                              f"faster than physics: {metric} {measured[i]:.4g} s is {ratio[i]:.3f}x the analytic "
                              f"lower bound {bound[i]:.4g} s"))
        flagged |= hit
    return pd.Series(flagged, index=measurements.index), notes
