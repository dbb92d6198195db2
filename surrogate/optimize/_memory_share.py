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

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.analytic import estimate
from features.configs import normalize_configs
from features.disaggregated import worker_configs
from features.memory import MEMORY_FRACTION_SETTINGS

__all__ = ["RAISED_MEMORY_SHARES", "user_shares", "with_raised_memory_shares", "with_raised_disaggregated_shares"]

# Engine -> the share to try where its default leaves too little (SGLang's documented --mem-fraction-static).
RAISED_MEMORY_SHARES = {"sglang": 0.9}
# fits(rows, shares): whether the rows (a mask) fit in memory with these shares (NaN: the engine's default).
_Fits = Callable[[np.ndarray, np.ndarray], np.ndarray]


def user_shares(frameworks: pd.Series, share: float | None) -> np.ndarray:
    """The user's share (``SearchSpace.engine_memory_fraction``) on every row whose engine takes one, else NaN
    (the engine's default, which the search may raise)."""
    settable = frameworks.isin(list(MEMORY_FRACTION_SETTINGS)).to_numpy()
    return np.where(settable, np.nan if share is None else share, np.nan)


def with_raised_memory_shares(configs: pd.DataFrame) -> pd.DataFrame:
    """``configs`` (normalised) with ``engine_memory_fraction`` set to the engine's raised share on the rows
    that do not fit in memory under the engine's default but do under it; every other row as it was."""
    if "engine_memory_fraction" not in configs:
        configs = configs.assign(engine_memory_fraction=np.nan)
    return _raised(configs, lambda rows, shares: _fit([configs[rows]], shares))


def with_raised_disaggregated_shares(table: pd.DataFrame, workers: tuple[pd.DataFrame, pd.DataFrame] | None = None
                                     ) -> pd.DataFrame:
    """The same for disaggregated deployments (rows with worker columns): the raised share where the prefill
    or the decode worker does not fit under the engine's default and both fit under it. ``workers``: the rows'
    prefill and decode workers as normalised configurations (``features.disaggregated.worker_configs``), where
    the caller has them."""
    if workers is None:
        prefill, decode, _ = worker_configs(table)
        prefill, decode = normalize_configs(prefill), normalize_configs(decode)
    else:
        prefill, decode = workers
    return _raised(table, lambda rows, shares: _fit([prefill[rows], decode[rows]], shares))


def _raised(table: pd.DataFrame, fits: _Fits) -> pd.DataFrame:
    """``table`` with the raised share on the rows whose engine has one, whose share is its default, that do not
    fit under that default and do under the raised share."""
    raised = table["framework"].map(RAISED_MEMORY_SHARES).to_numpy(dtype=float)
    open_rows = np.isfinite(raised) & table["engine_memory_fraction"].isna().to_numpy()
    if not open_rows.any():
        return table
    short = open_rows.copy()
    short[open_rows] = ~fits(open_rows, np.full(int(open_rows.sum()), np.nan))
    if not short.any():
        return table
    rows = np.flatnonzero(short)[fits(short, raised[short])]
    out = table.copy()
    out.iloc[rows, out.columns.get_loc("engine_memory_fraction")] = raised[rows]
    return out


def _fit(frames: list[pd.DataFrame], shares: np.ndarray) -> np.ndarray:
    """Whether every frame's row fits in memory with these shares (normalised frames, row for row; each distinct
    row estimated once: a disaggregated search's hundred thousand deployments share a few hundred worker shapes)."""
    fits = np.ones(len(shares), dtype=bool)
    for frame in frames:
        frame = frame.assign(engine_memory_fraction=shares)
        _, first, inverse = np.unique(pd.util.hash_pandas_object(frame, index=False).to_numpy(), return_index=True,
                                      return_inverse=True)
        fits &= estimate(frame.iloc[first], normalized=True)["fits"].to_numpy(dtype=bool)[inverse]
    return fits
