"""Open-loop traffic: requests that arrive at a rate (Poisson, as MLPerf's Server scenario and production
traffic do) instead of a fixed number of clients that each wait for their answer.

A continuous-batching replica fed ``lambda`` requests/s settles where the requests in flight ``N`` obey
Little's law, ``N = lambda x latency(N)``. Requests that arrive one by one do not wait the steps a
closed-loop client was measured to wait (``features.analytic``): an arrival joins the running batch at
the next step, its prompt is prefilled in the step after (chunked with the decodes), and it then decodes
with the rest. So its TTFT is about ``1.5 x ITL(N) + S`` (half a step's wait on average, the step that
carries its prefill) with ``S`` the achievable prefill time of that prompt alone (the analytic TTFT of
one Poisson arrival in flight, less its 1.5 steps), and its latency ``TTFT + (output_len - 1) x ITL(N)``,
with ``ITL(N)`` the model's learned ITL at ``N`` in flight (the closed-loop TTFT, with its measured wait,
is not used). ITL is non-decreasing in ``N`` (the monotone constraint of the learned correction), so the
latency is too and the settling point is the smallest whole ``N`` with ``lambda x latency(N) <= N``, found
by bisection, each step one vectorised prediction of every row. When even the most requests its KV cache holds (the
analytic ``max_batch_size``, at most ``max_concurrency``) cannot keep up, the rate is above what the
deployment serves: its capacity, ``max N / latency(N)`` over the points tried, is reported instead.

Poisson arrivals come in bursts, and a burst of prompts waits for the prefill of the ones ahead of it:
the M/D/1 mean wait of the Pollaczek-Khinchine formula, ``W = rho x S / (2 (1 - rho))`` with
``rho = lambda x S``, is added to TTFT and latency (their intervals too) and reported as
``queue_wait_s``; ``rho >= 1`` (prefill alone saturates the replica) is over capacity as well. In a
steady state every arriving request is served, so the throughputs are the arrival rate's tokens.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from features.analytic import POISSON_STEPS_BEFORE_FIRST_TOKEN, estimate
from features.errors import ConfigError

__all__ = ["predict_at_rate", "DEFAULT_MAX_CONCURRENCY", "OPEN_LOOP_COLUMNS"]

DEFAULT_MAX_CONCURRENCY = 8192
OPEN_LOOP_COLUMNS = ["request_rate_per_s", "concurrency", "queue_wait_s", "capacity_req_s"]


class _Predictor(Protocol):
    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame: ...


def _at(model: _Predictor, cfg: pd.DataFrame, concurrency: np.ndarray) -> pd.DataFrame:
    trial = cfg.copy()
    trial["concurrency"] = concurrency.astype(np.int64)
    trial["batch_size"] = trial["concurrency"]
    return model.predict(trial, normalized=True)


def _steady_flow(itl_s: np.ndarray, prefill_s: np.ndarray, output_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(TTFT, latency) of a request that joins a running batch whose steps take ``itl_s``."""
    ttft = POISSON_STEPS_BEFORE_FIRST_TOKEN * itl_s + prefill_s
    return ttft, ttft + (output_len - 1.0) * itl_s


def _settle(model: _Predictor, cfg: pd.DataFrame, rate: np.ndarray, prefill_s: np.ndarray,
            top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest whole N with ``rate x latency(N) <= N`` per row (0 where none up to its ``top``), and the
    best throughput seen (N / latency(N)), the capacity of rows that never settle."""
    output_len = cfg["output_len"].to_numpy(dtype=float)

    def latency_at(rows: np.ndarray, n: np.ndarray) -> np.ndarray:
        itl = _at(model, cfg.loc[rows], n)["itl_s"].to_numpy(dtype=float)
        return _steady_flow(itl, prefill_s[rows], output_len[rows])[1]

    everyone = np.ones(len(cfg), dtype=bool)
    low = np.ones(len(cfg), dtype=np.int64)
    high = np.maximum(top.astype(np.int64), 1)
    latency_low = latency_at(everyone, low)
    latency_high = latency_at(everyone, high)
    capacity = np.maximum(low / latency_low, high / latency_high)
    settled_at_one = rate * latency_low <= 1
    never = rate * latency_high > high
    active = ~settled_at_one & ~never
    # Invariant for active rows: rate x latency(low) > low and rate x latency(high) <= high.
    while active.any() and (high[active] - low[active] > 1).any():
        rows = active & (high - low > 1)
        middle = (low + high) // 2
        latency = latency_at(rows, middle[rows])
        capacity[rows] = np.maximum(capacity[rows], middle[rows] / latency)
        fits = rate[rows] * latency <= middle[rows]
        index = np.flatnonzero(rows)
        high[index[fits]] = middle[index[fits]]
        low[index[~fits]] = middle[index[~fits]]
    settled = np.where(settled_at_one, 1, high)
    return np.where(never, 0, settled), capacity


def predict_at_rate(model: _Predictor, configs: pd.DataFrame, request_rate_per_s: float | np.ndarray, *,
                    max_concurrency: int = DEFAULT_MAX_CONCURRENCY) -> tuple[pd.DataFrame, dict[int, str]]:
    """Predictions for continuous-batching deployments fed ``request_rate_per_s`` (whole deployment, split
    evenly over its ``dp`` replicas), and ``{position: reason}`` for rows the rate overwhelms.

    ``configs`` are normalised rows (``features.configs.normalize_configs``); their concurrency is
    replaced by the settling point. The returned frame holds the model's columns plus
    :data:`OPEN_LOOP_COLUMNS`, for the rows that settle, indexed like ``configs``.
    """
    if max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}")
    rate = np.broadcast_to(np.asarray(request_rate_per_s, dtype=float), (len(configs),)).copy()
    if not (np.isfinite(rate) & (rate > 0)).all():
        raise ConfigError("request rate must be a positive number of requests per second")
    cfg = configs.copy()
    cfg["batching"] = "continuous"
    per_replica = rate / cfg["dp"].to_numpy(dtype=float)
    alone = cfg.copy()
    alone["concurrency"] = 1
    alone["batch_size"] = 1
    alone["request_rate_per_s"] = rate  # one Poisson arrival in flight: its TTFT is 1.5 steps and S
    physics = estimate(alone, normalized=True)
    # In flight at the settling point, the steps carry Poisson arrivals' prefill (``features.analytic``).
    cfg["request_rate_per_s"] = rate
    prefill_s = (physics["ttft_s"] - POISSON_STEPS_BEFORE_FIRST_TOKEN * physics["itl_s"]).to_numpy(dtype=float)
    # The engine holds no more sequences than its KV cache fits; arrivals beyond that wait in its queue.
    top = np.clip(np.nan_to_num(physics["max_batch_size"].to_numpy(dtype=float), nan=1.0), 1, max_concurrency)
    settled, capacity = _settle(model, cfg, per_replica, prefill_s, top)
    rho = per_replica * prefill_s
    problems: dict[int, str] = {}
    for position in np.flatnonzero((settled == 0) | (rho >= 1)):
        served = capacity[position] * float(cfg["dp"].iloc[position])
        if rho[position] >= 1:
            served = min(served, float(cfg["dp"].iloc[position]) / prefill_s[position])
        problems[int(position)] = (
            f"request rate {rate[position]:g}/s exceeds what this deployment serves: about {served:.3g} "
            f"requests/s (no steady state up to {int(top[position])} requests in flight per replica, as many as "
            "its memory holds); add replicas "
            "(--dp), devices or a faster accelerator, or lower the rate")
    ok = np.array([i not in problems for i in range(len(cfg))], dtype=bool)
    if not ok.any():
        return pd.DataFrame(columns=OPEN_LOOP_COLUMNS), problems
    final = cfg[ok].copy()
    final["concurrency"] = settled[ok]
    final["batch_size"] = final["concurrency"]
    out = model.predict(final, normalized=True)
    wait_s = rho[ok] * prefill_s[ok] / (2.0 * (1.0 - rho[ok]))
    # The learned quantiles, and the achievable physics beside them, in the same steady flow.
    for itl_column, ttft_column, latency_column in [
            *((f"itl_s{q}", f"ttft_s{q}", f"latency_s{q}") for q in ("", "_p10", "_p90")),
            ("analytic_itl_s", "analytic_ttft_s", "analytic_latency_s")]:
        if itl_column not in out:
            continue
        ttft, latency = _steady_flow(out[itl_column].to_numpy(dtype=float), prefill_s[ok],
                                     final["output_len"].to_numpy(dtype=float))
        out[ttft_column] = ttft + wait_s
        out[latency_column] = latency + wait_s
    # In a steady state every request that arrives is served: throughput is the arrival rate's tokens.
    in_len, out_len = final["input_len"].to_numpy(dtype=float), final["output_len"].to_numpy(dtype=float)
    for suffix in ("", "_p10", "_p90"):
        for column, tokens in ((f"throughput_tok_s{suffix}", in_len + out_len),
                               (f"output_throughput_tok_s{suffix}", out_len)):
            if column in out:
                out[column] = rate[ok] * tokens
    out["request_rate_per_s"] = rate[ok]
    out["concurrency"] = settled[ok]
    out["queue_wait_s"] = wait_s
    out["capacity_req_s"] = capacity[ok] * cfg["dp"].to_numpy(dtype=float)[ok]
    return out, problems
