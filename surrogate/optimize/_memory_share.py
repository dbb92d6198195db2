"""An engine's memory share raised where its default leaves too little for the model: the flag a person sets.

SGLang sizes ``mem_fraction_static`` by GPU: it keeps 512 MiB + 1.5 MiB per token of its prefill chunk + 2 MiB
per CUDA-graph sequence + 128 MiB per rank (at least 10 GiB) for activations and graphs, 26 GiB on a B200 at
tp 4, and refuses to start when the weights do not fit in the rest. aiconfigurator measured DeepSeek-V3 and
DeepSeek-R1 in FP8 on 4 B200 under SGLang (``benchmarks/results/memory_check.txt``): 169.8 GB per device
against 165.8 GB the default leaves, so those runs set the flag. Its documented value, 0.9 (docs.sglang.io
server arguments: "The default value is 0.9", the value to lower on out-of-memory errors), holds them.

A configuration is raised only where the engine's default does not fit and the raised share does: a
configuration that fits keeps the default, whose reserve the engine chose for its activations. The launch
line then carries the flag (``surrogate.report``). A disaggregated deployment is raised as a whole, its
prefill and decode workers launched with the same share, where either worker needs it and both then fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.analytic import estimate
from features.configs import normalize_configs
from features.disaggregated import worker_configs

__all__ = ["RAISED_MEMORY_SHARES", "with_raised_memory_shares", "with_raised_disaggregated_shares"]

# Engine -> the share to try where its default leaves too little (SGLang's documented --mem-fraction-static).
RAISED_MEMORY_SHARES = {"sglang": 0.9}


def with_raised_memory_shares(configs: pd.DataFrame) -> pd.DataFrame:
    """``configs`` (normalised) with ``engine_memory_fraction`` set to the engine's raised share on the rows
    that do not fit in memory under the engine's default but do under it; every other row as it was."""
    if "engine_memory_fraction" not in configs:
        configs = configs.assign(engine_memory_fraction=np.nan)
    raised = configs["framework"].map(RAISED_MEMORY_SHARES).to_numpy(dtype=float)
    open_rows = np.isfinite(raised) & configs["engine_memory_fraction"].isna().to_numpy()
    if not open_rows.any():
        return configs
    short = open_rows.copy()
    short[open_rows] = ~estimate(configs[open_rows], normalized=True)["fits"].to_numpy(dtype=bool)
    if not short.any():
        return configs
    trial = configs[short].assign(engine_memory_fraction=raised[short])
    holds = estimate(trial, normalized=True)["fits"].to_numpy(dtype=bool)
    out = configs.copy()
    rows = np.flatnonzero(short)[holds]
    out.iloc[rows, out.columns.get_loc("engine_memory_fraction")] = raised[rows]
    return out


def with_raised_disaggregated_shares(table: pd.DataFrame, workers: tuple[pd.DataFrame, pd.DataFrame] | None = None
                                     ) -> pd.DataFrame:
    """The same for disaggregated deployments (rows with worker columns): the raised share where the prefill
    or the decode worker does not fit under the engine's default and both fit under it. ``workers``: the rows'
    prefill and decode workers as normalised configurations (``features.disaggregated.worker_configs``), where
    the caller has them. Each distinct worker shape is estimated once (a search's hundred thousand deployments
    share a few hundred shapes)."""
    raised = table["framework"].map(RAISED_MEMORY_SHARES).to_numpy(dtype=float)
    open_rows = np.isfinite(raised) & table["engine_memory_fraction"].isna().to_numpy()
    if not open_rows.any():
        return table
    if workers is None:
        prefill, decode, _ = worker_configs(table)
        workers = (normalize_configs(prefill), normalize_configs(decode))
    candidates = [worker[open_rows] for worker in workers]
    short = ~_workers_fit(candidates)
    if not short.any():
        return table
    share = raised[open_rows][short]
    holds = _workers_fit([worker[short].assign(engine_memory_fraction=share) for worker in candidates])
    rows = np.flatnonzero(open_rows)[np.flatnonzero(short)[holds]]
    out = table.copy()
    out.iloc[rows, out.columns.get_loc("engine_memory_fraction")] = raised[rows]
    return out


def _workers_fit(workers: list[pd.DataFrame]) -> np.ndarray:
    """Whether every worker of each row fits in memory (normalised worker frames, row for row; each distinct
    worker estimated once)."""
    fits = np.ones(len(workers[0]), dtype=bool)
    for worker in workers:
        shapes = pd.util.hash_pandas_object(worker, index=False).to_numpy()
        _, first, inverse = np.unique(shapes, return_index=True, return_inverse=True)
        fits &= estimate(worker.iloc[first], normalized=True)["fits"].to_numpy(dtype=bool)[inverse]
    return fits
