"""Predicted metrics that agree with each other: one is derived from the others, never fitted apart."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DERIVED_METRIC", "make_consistent", "reads_own_trees"]

# Per batching mode, the metric derived from the other two (never read from its own trees).
DERIVED_METRIC = {"continuous": "latency_s", "static": "itl_s"}


def reads_own_trees(batching: np.ndarray, metric: str) -> np.ndarray:
    """Per row (its batching mode), whether ``metric`` comes from its own trees rather than the other two."""
    return ~np.isin(batching, [mode for mode, derived in DERIVED_METRIC.items() if derived == metric])


def make_consistent(cfg: pd.DataFrame, out: MutableMapping[str, Any],
                    floors: dict[str, np.ndarray] | None = None) -> None:
    """Continuous rows: latency from TTFT and ITL. Static rows: ITL from latency and TTFT.

    Throughputs always follow from latency, so no two predicted numbers contradict each other: for
    each of median, ``_p10`` and ``_p90``, TTFT <= latency, and P10 <= median <= P90 for every metric.
    A static row's latency (predicted apart from its TTFT) is at least its TTFT plus (output_len - 1)
    decode steps at the floor's ITL (zero steps' time without ``floors``): a maximum of two times that
    each grow with the output, so a longer output never takes less time. (Taking TTFT + steps x the
    predicted ITL only where latency fell below TTFT made latency fall where the switch let go: 166 of
    7,951 output-length steps of the measured deployments.) A static ITL derived per quantile need not keep the
    quantiles' order (the difference of two intervals is not an interval); its P10-P90 is then
    widened to hold the median.

    ``out`` (median, ``_p10`` and ``_p90`` of each metric: a frame, or a dict of arrays a prediction is
    building) is updated in place; ``floors`` (per metric,
    e.g. the peak-hardware times) bound the derived values from below before throughputs are taken.
    """
    continuous = cfg["batching"].eq("continuous").to_numpy()
    steps = (cfg["output_len"].to_numpy(dtype=float) - 1.0)
    step_floor_s = (floors or {}).get("itl_s", np.zeros(len(steps)))
    for suffix in ["", "_p10", "_p90"]:
        ttft, itl, lat = (np.asarray(out[f"{m}{suffix}"]) for m in ("ttft_s", "itl_s", "latency_s"))
        lat = np.where(continuous, ttft + steps * itl, np.maximum(lat, ttft + steps * step_floor_s))
        derived_itl = np.where(steps > 0, (lat - ttft) / np.maximum(steps, 1.0), itl)
        out[f"latency_s{suffix}"] = lat
        out[f"itl_s{suffix}"] = np.where(continuous | (derived_itl <= 0), itl, derived_itl)
        for metric, floor in (floors or {}).items():
            out[f"{metric}{suffix}"] = np.maximum(np.asarray(out[f"{metric}{suffix}"]), floor)
    for metric in ("ttft_s", "itl_s", "latency_s"):
        _hold_the_median(out, metric)
    sequences = np.where(continuous, cfg["concurrency"], cfg["batch_size"]).astype(float)
    tokens = cfg["dp"].to_numpy(dtype=float) * sequences
    in_len, out_len = cfg["input_len"].to_numpy(dtype=float), cfg["output_len"].to_numpy(dtype=float)
    # A fast P10 latency is a high P90 throughput.
    for suffix, latency_suffix in [("", ""), ("_p10", "_p90"), ("_p90", "_p10")]:
        latency = np.asarray(out[f"latency_s{latency_suffix}"])
        out[f"throughput_tok_s{suffix}"] = tokens * (in_len + out_len) / latency
        out[f"output_throughput_tok_s{suffix}"] = tokens * out_len / latency


def _hold_the_median(out: MutableMapping[str, Any], metric: str) -> None:
    """P10 <= median <= P90: an interval that misses its median is widened to hold it (never narrowed).

    Keeps TTFT <= latency per quantile: the minimum (maximum) of two quantiles that each satisfy it
    satisfies it too.
    """
    median = np.asarray(out[metric])
    out[f"{metric}_p10"] = np.minimum(np.asarray(out[f"{metric}_p10"]), median)
    out[f"{metric}_p90"] = np.maximum(np.asarray(out[f"{metric}_p90"]), median)
