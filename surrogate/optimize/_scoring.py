"""Objectives, constraints, ranking and Pareto fronts over predicted configurations (pure, vectorised).

Units: throughput per device counts generated (output) tokens per second per device of the whole
deployment; per-user speed is ``1 / ITL`` in tokens per second seen by one request; cost is US
dollars per million generated tokens at the catalog's on-demand price per device-hour. Objectives
use the median prediction; latency targets are checked on the P90 prediction (``risk="p90"``), a P80
read off the band (``risk="p80"``) or the median (``risk="p50"``). Memory is the analytic model's hard
limit (``fits``, against the ``mem_usable_gb`` every prediction carries).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import catalog
from surrogate.model import read_off_quantile
from surrogate.optimize._request import READ_OFF_RISKS, TARGETS, Objective, Targets

__all__ = ["score", "rank", "pareto_front", "objective_matrix", "constraint_matrix", "CONSTRAINT_COLUMNS"]

_SECONDS_PER_HOUR = 3600.0
_TOKENS_PER_MILLION = 1e6


# capacity_over_req_s: requests/s beyond what the candidate serves (open-loop workloads; 0 otherwise).
CONSTRAINT_COLUMNS = ["memory_over_gb", "ttft_over_s", "itl_over_s", "latency_over_s", "capacity_over_req_s"]


def score(configs: pd.DataFrame, predictions: pd.DataFrame, targets: Targets) -> pd.DataFrame:
    """Configurations beside their predictions, objective columns and constraint violations.

    A violation column is > 0 when the constraint is broken (Optuna's ``constraints_func``
    convention) and <= 0 otherwise; ``feasible`` is true when none is broken.
    """
    out = pd.concat([configs.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    devices = out["num_devices"].to_numpy(dtype=float)
    price = out["hardware"].map(catalog.hardware_table()["price_usd_per_device_hour"]).to_numpy(dtype=float)
    for suffix in ["", "_p10", "_p90"]:
        throughput = out[f"output_throughput_tok_s{suffix}"].to_numpy(dtype=float)
        out[f"throughput_per_device_tok_s{suffix}"] = throughput / devices
    out["per_user_tok_s"] = 1.0 / out["itl_s"].to_numpy(dtype=float)
    out["price_usd_per_device_hour"] = price
    out["cost_usd_per_mtok"] = (price * devices / _SECONDS_PER_HOUR
                                / out["output_throughput_tok_s"].to_numpy(dtype=float) * _TOKENS_PER_MILLION)
    over = out["mem_per_device_gb"].to_numpy(dtype=float) - out["mem_usable_gb"].to_numpy(dtype=float)
    fits = out["fits"].to_numpy(dtype=bool)
    # ``fits`` is the analytic model's verdict; keep the violation's sign consistent with it.
    out["memory_over_gb"] = np.where(fits, np.minimum(over, 0.0), np.maximum(over, 1e-9))
    given = targets.given()
    quantile = READ_OFF_RISKS.get(targets.risk)
    if quantile is not None:
        for metric in given:
            out[targets.column(metric)] = read_off_quantile(out[metric].to_numpy(dtype=float),
                                                            out[f"{metric}_p90"].to_numpy(dtype=float), quantile)
    for metric in TARGETS.values():
        column = f"{metric.removesuffix('_s')}_over_s"
        limit = given.get(metric)
        out[column] = 0.0 if limit is None else out[targets.column(metric)].to_numpy(dtype=float) - limit
    if "capacity_over_req_s" not in out:
        out["capacity_over_req_s"] = 0.0
    out["feasible"] = (out[CONSTRAINT_COLUMNS].to_numpy() <= 0.0).all(axis=1)
    return out


def objective_matrix(scored: pd.DataFrame, objectives: tuple[Objective, ...]) -> np.ndarray:
    """Objective values, one column per objective, in their natural units and directions."""
    return np.column_stack([scored[o.column].to_numpy(dtype=float) for o in objectives])


def constraint_matrix(scored: pd.DataFrame) -> npt.NDArray[np.float64]:
    violations: npt.NDArray[np.float64] = scored[CONSTRAINT_COLUMNS].to_numpy(dtype=float)
    return violations


def rank(scored: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    """Feasible rows, best first; ties go to fewer devices, then lower latency, then input order."""
    feasible = scored[scored["feasible"]]
    key = feasible[objective.column].to_numpy(dtype=float)
    order = np.lexsort((np.arange(len(feasible)), feasible["latency_s"].to_numpy(dtype=float),
                        feasible["num_devices"].to_numpy(), -key if objective.maximize else key))
    return feasible.iloc[order]


def pareto_front(scored: pd.DataFrame, objectives: tuple[Objective, ...]) -> pd.DataFrame:
    """Feasible rows no other feasible row beats on every objective, by throughput per device."""
    feasible = scored[scored["feasible"]]
    if feasible.empty:
        return feasible
    values = objective_matrix(feasible, objectives)
    values = np.where([o.maximize for o in objectives], -values, values)  # all "smaller is better"
    order = np.lexsort(values.T[::-1])
    front: list[int] = []
    for i in order:
        point = values[i]
        if front and (values[front] <= point).all(axis=1).any():
            continue  # dominated, or equal to a point already on the front
        front.append(int(i))
    result = feasible.iloc[front]
    return result.sort_values(objectives[0].column, ascending=not objectives[0].maximize, kind="stable")
