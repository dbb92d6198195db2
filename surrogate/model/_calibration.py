"""P10-P90 bands and trust in the learned correction, measured the way predictions are used: on rows held out.

Each metric's median model predicts the log correction ``c`` over the achievable-physics prior. Its
band is split conformal prediction on the residuals (Lei et al., JASA 2018, arXiv 1604.04173):
out-of-fold residuals ``y - c`` give the 10% and 90% quantiles the band adds to ``c``. The band is
the same width along batch and length (quantile trees could not be monotone: LightGBM refuses
``monotone_constraints`` with the quantile objective), so P10 and P90 move with the median.

Off the data (an accelerator, a model, a software version the rows never saw) the correction is
trusted less. For each such *kind* whole groups are held out in turn: the out-of-group corrections
``c`` are regressed on what the held-out rows needed (``y``, measured against a prior refit
without them), giving the shrink ``lambda``, the slope of ``y`` on ``c`` clipped to [0, 1] (0: the
learned correction does not carry over, predict the prior), and the band of ``y - lambda*c``. The slope
is each held-out group's own, pooled as a random-effects meta-analysis (:func:`pooled_slope`): a new
engine is one more group, and pooled by rows vLLM's 1,951 static rows decided the trust for every new
engine (llama.cpp held out then took the full correction, of the wrong sign:
``surrogate evaluate --split framework``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.analytic import beyond_kv_cache
from surrogate.model._workers import run_all

__all__ = ["BAND_QUANTILES", "CALIBRATION_FOLDS", "Band", "Regressor", "out_of_fold", "held_out", "held_out_fits",
           "rehearsable", "residual_band", "shrunk_band", "pooled_slope", "model_folds", "at_least", "widest",
           "row_bands", "growth_slack", "MAX_GROWTH_SLACK", "Fade", "fade_share", "WorkloadFades", "workload_fade",
           "added_time", "added_growth_power", "ADDED_GROWTH_GRID", "read_off_quantile", "band_cells",
           "kv_cache_cells", "cell_bands", "CELL_PREFIX", "KV_CACHE_FULL_CELL", "MEASURED_PREFIX", "MIN_CELL_ROWS",
           "MIN_SLOPE_ROWS", "row_folds"]

BAND_QUANTILES = (0.1, 0.9)
CALIBRATION_FOLDS = 3
# A seen row's band is its cell's (engine and batching mode) where the cell has this many held-out residuals.
MIN_CELL_ROWS = 30
CELL_PREFIX = "seen:"
# The cell of served configurations whose KV cache holds fewer requests than are in flight (:func:`band_cells`).
KV_CACHE_FULL_CELL = "kv-cache-full/continuous"
# The same for a row on the data whose deployment was measured (its model at its lengths on its engine and
# release), its P10 only: bands of rows held out at random (:func:`row_folds`), whose deployments' other rows
# were trained on.
MEASURED_PREFIX = "measured:"
# A held-out group needs this many rows for its slope to enter the pooled trust: with one row its residual is
# zero, so its slope's variance is zero and, at infinite precision, it alone sets the pool (two leave one
# degree of freedom for a variance). Two accelerators of one row each (H100 PCIe, L40S) set the default's ITL
# trust for a new accelerator (README, "Deployment-like splits").
MIN_SLOPE_ROWS = 3


class Regressor(Protocol):
    """A fitted model with ``predict(features) -> array`` (a LightGBM booster).

    ``lightgbm.Booster.predict`` is typed to return an array, a sparse matrix or a list of them (the
    latter two only for sparse ``pred_contrib``); callers take a dense array with ``np.asarray``.
    """

    def predict(self, data: pd.DataFrame) -> np.ndarray | list[Any]: ...


MedianFit = Callable[[pd.DataFrame, np.ndarray], Regressor]


@dataclass(frozen=True)
class Band:
    """Log-scale band around a shrunk correction: P10 = lambda*c + low_log, P90 = lambda*c + high_log."""

    low_log: float
    high_log: float
    shrink: float = 1.0
    rows: int = 0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def out_of_fold(fit_median: MedianFit, feats: pd.DataFrame, target: np.ndarray,
                folds: np.ndarray) -> npt.NDArray[np.float64]:
    """Each row's correction predicted by a model trained without its fold (NaN where a fold is all rows).

    Integer folds below 0 are never held out (always trained on; their rows stay NaN)."""
    predicted = np.full(len(target), np.nan)
    held: list[npt.NDArray[np.bool_]] = []
    for k in np.unique(folds):
        if isinstance(k, (int, np.integer)) and k < 0:
            continue
        test = folds == k
        if test.all() or not test.any():
            continue
        held.append(test)
    for test, values in zip(held, held_out(fit_median, feats, target, held, [feats[test] for test in held]),
                            strict=True):
        predicted[test] = values
    return predicted


def held_out(fit_median: MedianFit, feats: pd.DataFrame, target: np.ndarray, held: list[npt.NDArray[np.bool_]],
             read: list[pd.DataFrame]) -> list[npt.NDArray[np.float64]]:
    """Per mask in ``held`` (they may overlap), a model trained on the other rows, predicting ``read`` (the
    held rows' features, or where they are read instead: their clamped twins). The fits are independent:
    large ones run in worker processes (:func:`surrogate.model._workers.run_all`), with the same results as
    one after the other (each fit is seeded and single-threaded)."""
    tasks = [partial(_fit_and_predict, fit_median, feats[~test], target[~test], at)
             for test, at in zip(held, read, strict=True)]
    return run_all(tasks, work=len(target) * len(tasks))


def _fit_and_predict(fit_median: MedianFit, train: pd.DataFrame, target: np.ndarray,
                     test: pd.DataFrame) -> npt.NDArray[np.float64]:
    return np.asarray(fit_median(train, target).predict(test), dtype=float)


def held_out_fits(folds: np.ndarray) -> int:
    """How many models :func:`out_of_fold` fits for these folds (what its progress is counted in)."""
    labels = [k for k in np.unique(folds) if not (isinstance(k, (int, np.integer)) and k < 0)]
    return sum(1 for k in labels if 0 < int(np.sum(folds == k)) < len(folds))


def rehearsable(groups: np.ndarray, min_train_rows: int) -> npt.NDArray[np.int64]:
    """``groups`` as integer folds for :func:`out_of_fold`, a group never held out (-1) where holding it out
    would leave fewer than ``min_train_rows`` rows to train on (integer groups below 0 stay -1).

    Such a rehearsal trains a model no fit would ever ship (below that many rows a metric is physics alone),
    and its slope decided the trust: with AMD held out, NVIDIA held out in turn left 3 SambaNova TTFT rows to
    learn from, and their constant said the correction carried to a new vendor.
    """
    labels = np.asarray(groups)
    never = labels < 0 if labels.dtype.kind in "iu" else np.zeros(len(labels), dtype=bool)
    codes: npt.NDArray[np.int64] = np.asarray(pd.factorize(labels.astype(str))[0], dtype=np.int64)
    codes[never] = -1
    sizes = np.bincount(codes[~never], minlength=int(codes.max(initial=-1)) + 1)
    too_big = np.flatnonzero(len(labels) - sizes < min_train_rows)
    codes[np.isin(codes, too_big)] = -1
    return codes


def residual_band(residuals: np.ndarray, shrink: float = 1.0) -> Band:
    """The 10% and 90% quantiles of held-out residuals, with the finite-sample correction of split conformal
    prediction (each quantile moved outwards by one rank in ``n + 1``), never narrower than zero."""
    residuals = residuals[np.isfinite(residuals)]
    n = len(residuals)
    if n == 0:
        return Band(0.0, 0.0, shrink, 0)
    low_level = max(0.0, BAND_QUANTILES[0] * (1.0 + 1.0 / n) - 1.0 / n)
    high_level = min(1.0, BAND_QUANTILES[1] * (1.0 + 1.0 / n))
    low = float(np.quantile(residuals, low_level, method="lower"))
    high = float(np.quantile(residuals, high_level, method="higher"))
    return Band(min(low, 0.0), max(high, 0.0), shrink, n)


def read_off_quantile(median: np.ndarray, p90: np.ndarray, quantile: float) -> npt.NDArray[np.float64]:
    """The level at ``quantile`` (0.5-0.9) read off a prediction's median and P90 as if the band's upper half
    were a log-normal's: median x (P90 / median) ** (z_q / z_0.9). Only P10 and P90 are calibrated; on the
    decision benchmark's unseen groups 21.5% of measured ITLs lay above the P80 read this way (nominal 20%)
    and 33.2% above P70 (30%) (``python benchmarks/regret.py --scenario slo``)."""
    if not 0.5 <= quantile <= 0.9:
        raise ValueError(f"a level between the median and P90 is read off the band, got {quantile}")
    median, p90 = np.asarray(median, dtype=float), np.asarray(p90, dtype=float)
    exponent = NormalDist().inv_cdf(quantile) / NormalDist().inv_cdf(BAND_QUANTILES[1])
    return np.asarray(median * (p90 / median) ** exponent, dtype=float)


def band_cells(cfg: pd.DataFrame, running: np.ndarray | None = None) -> npt.NDArray[np.str_]:
    """Each row's calibration cell: its engine and batching mode (``vllm/static``), what a prediction names.

    With ``running`` (the analytic model's ``running_sequences``), a served configuration asking for more
    requests in flight than its KV cache holds is in one cell of its own, whatever its engine
    (:data:`KV_CACHE_FULL_CELL`): the requests that do not fit wait, and how long is what the analytic model
    knows least (whether the engine queues them or preempts, how many more than the model's count its cache
    really holds). Out of sample such rows missed their engine's band: P10-P90 covered 46% of their TTFTs and
    54% of their ITLs on the decision benchmark's unseen groups, 81-82% elsewhere (``benchmarks/regret.py``
    predictions, 67 such rows of 2,246; ad hoc)."""
    cells = np.asarray(cfg["framework"].astype(str) + "/" + cfg["batching"].astype(str), dtype=str)
    return cells if running is None else kv_cache_cells(cells, cfg, running)


def kv_cache_cells(engine_cells: np.ndarray, cfg: pd.DataFrame, running: np.ndarray) -> npt.NDArray[np.str_]:
    """``engine_cells`` (:func:`band_cells` without the running count) with the served configurations beyond their
    KV cache moved to :data:`KV_CACHE_FULL_CELL`: a prediction needs both, and builds the engine labels once."""
    full = beyond_kv_cache(cfg["batching"].astype(str), cfg["concurrency"], running)
    return np.asarray(np.where(full, KV_CACHE_FULL_CELL, engine_cells), dtype=str)


def cell_bands(residuals: np.ndarray, cells: np.ndarray, prefix: str = CELL_PREFIX) -> dict[str, Band]:
    """Per cell with :data:`MIN_CELL_ROWS` or more finite held-out residuals, its own band (keyed
    ``prefix + cell``): Mondrian conformal prediction (Vovk et al., *Algorithmic Learning in a Random
    World*, 2005, ch. 4), each category calibrated on its own residuals, so the band holds within an engine,
    not only on average over engines. One band pooled over every engine covered 99% of the random split's
    llama.cpp latencies (residuals within +-5%) and 67% of vLLM's (+-28%)."""
    finite = np.isfinite(residuals)
    out = {}
    for cell in np.unique(cells[finite]):
        mine = finite & (cells == cell)
        if int(mine.sum()) >= MIN_CELL_ROWS:
            out[prefix + str(cell)] = residual_band(residuals[mine])
    return out


def shrunk_band(correction: np.ndarray, needed: np.ndarray, groups: np.ndarray | None = None) -> Band:
    """Shrink of out-of-group ``correction`` toward 0 (the prior), and the band it leaves.

    ``needed`` is what each held-out row's log correction should have been (NaN rows are skipped).
    Without ``groups``: the least-squares slope of ``needed`` on ``correction``. With ``groups`` (each
    row's held-out group): each group's own slope, pooled by random-effects weights (below), so one
    well-measured engine does not answer for every new one and a group of three rows does not either.
    """
    rows = np.isfinite(correction) & np.isfinite(needed)
    c, y = correction[rows], needed[rows]
    if groups is None or len(c) == 0:
        energy = float(np.dot(c, c))
        shrink = float(np.clip(np.dot(c, y) / energy, 0.0, 1.0)) if energy > 0 else 0.0
    else:
        shrink = pooled_slope(c, y, np.asarray(groups)[rows])
    return residual_band(y - shrink * c, shrink)


def pooled_slope(c: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """The slope of ``y`` on ``c`` pooled over groups, clipped to [0, 1]: a random-effects meta-analysis of
    each group's least-squares slope clipped to [0, 1], weighted by 1 / (its sampling variance + the
    between-group variance tau^2). Groups whose correction is all zero, or with fewer than ``MIN_SLOPE_ROWS``
    rows, say nothing and are skipped; none left gives 0 (the prior).

    Each group's slope is clipped before pooling: a group's squared error is a parabola in the trust, least at
    its slope, so the best trust on offer for it is the slope clipped to [0, 1]. Unclipped, a group whose small
    correction pointed the right way counted as many times the correction: with MI250 held out, static
    latency's accelerators gave A100 0.74, Gaudi 2 0.25, H100 0.46, Intel Max 4.74, MI300X -1.42 and SN40L
    6.44 (its correction 4% at the median), pooled to 1.0 after clipping, and held-out MI250 took the whole
    of a correction that moved its llama.cpp 70B rows +0.81 (log) where they needed -0.1; clipped first, the
    accelerator split's static latency went from 44.2 / 25.3 to 40.8 / 23.6% MAPE / median APE (the prior
    40.1 / 21.8; ``surrogate evaluate --split hardware``).

    tau^2 is Paule and Mandel's (J. Res. NBS 1982: the tau^2 at which the generalised Q statistic equals
    its expectation k - 1; statsmodels ``combine_effects(method_re="pm")``), recommended over DerSimonian
    and Laird's moment estimate when the groups are few and unequal (Veroniki et al., Res. Synth. Methods
    2016). Here they are five or six engines, one with 1,947 rows: DerSimonian-Laird left tau^2 small, so
    vLLM's tight slope set most of the trust and llama.cpp held out took a correction that made static
    latency worse than the prior (42.5% MAPE against achievable physics' 40.9%); with Paule-Mandel 39.8%
    (``surrogate evaluate --split framework``)."""
    slopes, variances = [], []
    labels = groups.astype(str)
    for label in np.unique(labels):
        mine = labels == label
        rows = int(mine.sum())
        energy = float(np.dot(c[mine], c[mine]))
        if energy <= 0 or rows < MIN_SLOPE_ROWS:
            continue
        slope = float(np.dot(c[mine], y[mine])) / energy
        residual = y[mine] - slope * c[mine]
        spread = float(np.dot(residual, residual)) / (rows - 1)
        slopes.append(float(np.clip(slope, 0.0, 1.0)))
        variances.append(spread / energy)
    if not slopes:
        return 0.0
    b, v = np.array(slopes), np.maximum(np.array(variances), 1e-12)
    if len(b) == 1:
        return float(np.clip(b[0], 0.0, 1.0))
    # imported here: statsmodels takes ~1.8 s to import and only training pools slopes, never a prediction
    from statsmodels.stats.meta_analysis import combine_effects

    with np.errstate(divide="ignore", invalid="ignore"):  # its I^2 divides by zero when the groups agree
        pooled = combine_effects(b, v, method_re="pm").mean_effect_re
    return float(np.clip(pooled, 0.0, 1.0))


def at_least(band: Band, inner: Band) -> Band:
    """``band`` widened where needed to cover ``inner`` (the seen band: no kind's rows are surer than a
    seen deployment's), its trust and rows kept."""
    return Band(min(band.low_log, inner.low_log), max(band.high_log, inner.high_log), band.shrink, band.rows)


def widest(bands: list[Band]) -> Band:
    """One band covering several (pooled priors): the lowest low, the highest high, the least trust."""
    if not bands:
        return Band(0.0, 0.0, 0.0, 0)
    return Band(min(b.low_log for b in bands), max(b.high_log for b in bands), min(b.shrink for b in bands),
                sum(b.rows for b in bands))


# What one deployment group is: a model at one prompt and output length, on any engine. The seen band is
# calibrated on such groups held out whole: a model at lengths never measured with any engine, stricter than
# ``benchmarks/regret.py``'s groups (one engine and batching mode each), which it then covers.
DEPLOYMENT_GROUP_COLUMNS = ["model", "input_len", "output_len"]


def deployment_folds(cfg: pd.DataFrame, seed: int | None) -> npt.NDArray[np.int64]:
    """Each row's calibration fold for the seen band: its deployment group (``DEPLOYMENT_GROUP_COLUMNS``) by a
    stable hash, so a group's rows are held out together; random rows where the groups fall in one fold.

    What users ask is a deployment they have not measured, not a row whose neighbours at the same model,
    lengths and engine were measured. Calibrated on random rows, P10-P90 covered 63.3% of the ITLs of the
    decision benchmark's unseen groups (21.4% above P90) and 68.2% of the newest releases' TTFTs; held out by
    group, 81.4% (11.7% above) and 78.3%, the random split's 80-84% becoming 86-90%
    (``benchmarks/regret.py --scenario slo``, ``surrogate evaluate --split version`` / ``random``).
    """
    keys = cfg[DEPLOYMENT_GROUP_COLUMNS].astype(str).agg("|".join, axis=1).to_numpy(dtype=object)
    folds = (pd.util.hash_array(keys) % np.uint64(CALIBRATION_FOLDS)).astype(np.int64)
    if len(np.unique(folds)) < 2:
        folds = np.random.default_rng(seed).permutation(len(cfg)) % CALIBRATION_FOLDS
    return np.asarray(folds, dtype=np.int64)


def row_folds(rows: int, seed: int | None) -> npt.NDArray[np.int64]:
    """Each row's calibration fold for the P10 of a measured deployment (``measured``): rows dealt at random,
    so a held-out row's deployment keeps its other rows in training, as a prediction for a deployment that
    was measured (another batch, accelerator or layout of it) does.

    Held out by deployment group, the bands of such rows were wider than they needed: TensorRT-LLM's TTFT
    band was -0.95..+0.88 (log) where rows held out at random needed -0.55..+0.64, and the random split's
    P10-P90 covered 90.1% of its TTFTs (``surrogate evaluate --split random``)."""
    folds: npt.NDArray[np.int64] = np.random.default_rng(seed).permutation(rows) % CALIBRATION_FOLDS
    return folds


def model_folds(models: np.ndarray) -> npt.NDArray[np.int64]:
    """Models assigned to a few folds by a stable hash (whole models held out, few fits)."""
    codes: npt.NDArray[np.uint64] = pd.util.hash_array(models.astype(str)) % np.uint64(CALIBRATION_FOLDS + 2)
    return codes.astype(np.int64)


def _cell_offsets(bands: dict[str, Band], prefix: str, pooled: Band, cells: np.ndarray | None,
                  n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per row, the low and high log offsets of its cell's band (keyed ``prefix + cell``: :func:`cell_bands`)
    where the bundle has one, else of ``pooled``."""
    low, high = np.full(n, pooled.low_log), np.full(n, pooled.high_log)
    if cells is not None:
        for key, own in bands.items():
            if key.startswith(prefix):
                mine = cells == key[len(prefix):]
                low[mine], high[mine] = own.low_log, own.high_log
    return low, high


def _joint_cell_offsets(bands: dict[str, Band], prefix: str, pooled: Band, cells: np.ndarray | None,
                        engine_cells: np.ndarray | None, n: int) -> tuple[npt.NDArray[np.float64],
                                                                           npt.NDArray[np.float64]]:
    """:func:`_cell_offsets` of ``cells``, widened to those of ``engine_cells`` where given and another cell (only
    those rows are looked up twice: a search predicts a hundred thousand rows, few of them beyond their cache)."""
    low, high = _cell_offsets(bands, prefix, pooled, cells, n)
    if engine_cells is None or cells is None:
        return low, high
    differs = np.asarray(cells != engine_cells, dtype=bool)
    if differs.any():
        engine_low, engine_high = _cell_offsets(bands, prefix, pooled, engine_cells[differs], int(differs.sum()))
        low[differs], high[differs] = np.minimum(low[differs], engine_low), np.maximum(high[differs], engine_high)
    return low, high


# The kinds of "off the data" a row's band is rehearsed for (the workload's range is asked apart).
_OFF_KINDS = ("vendor", "hardware", "model", "framework", "software")


def row_bands(bands: dict[str, Band], support: pd.DataFrame, above: np.ndarray, below: np.ndarray,
              fades: WorkloadFades | None = None, cells: np.ndarray | None = None,
              engine_cells: np.ndarray | None = None,
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per row: the shrink of the learned correction and the band's low and high log offsets.

    A row starts from its cell's band (``cells``: :func:`band_cells`; :func:`cell_bands`), else the band
    pooled over every cell (``seen``), widened to its engine's cell's where ``engine_cells`` (:func:`band_cells`
    without the running count) says another: a row beyond its KV cache never takes a narrower band than its
    engine's, so as concurrency grows into that cell the P90 cannot fall (the KV cell's ITL band is narrower at
    the top than an engine's: its rows measured faster than predicted); a row on the data (its deployment
    measured: ``support``'s ``deployment_measured``; no kind off; inside the workload range) takes its P10 from
    the bands of rows held out at random (``measured``, its cell's ``MEASURED_PREFIX`` band), where the bundle
    has them.
    A row off the data in hardware, model or software takes the least trust and widest band of the kinds
    it is off in. ``above``/``below``: how far (log) the row lies beyond the trained workload range, per
    dimension (rows x :data:`WORKLOAD_DIMENSIONS`); there the band is the workload tails' as ``fades``
    rehearsed them (:meth:`WorkloadFades.widen`), never narrower than the rest.
    Beyond the reference distance ``d > 1`` the trust is divided by ``d``, and the band of a row off in no
    rehearsed kind moves toward the prior's own band by ``1 - 1/d``.
    A metric with no model (only a ``prior`` band) gets the prior's band everywhere.
    """
    n = len(support)
    prior = bands["prior"]
    if "seen" not in bands:
        return np.zeros(n), np.full(n, prior.low_log), np.full(n, prior.high_log)
    off = {kind: ~support[f"{kind}_seen_in_training"].to_numpy(dtype=bool) for kind in _OFF_KINDS}
    shrink = np.ones(n)
    low, high = _joint_cell_offsets(bands, CELL_PREFIX, bands["seen"], cells, engine_cells, n)
    # On the data: a measured deployment, seen in every kind and inside the workload range, as the rows held out
    # at random were (with their whole band a newer release of a measured deployment held out covered 67.7% of
    # the version split's TTFTs, 73.6% with its deployment group's). Its P10 only: P90 stays the unmeasured
    # deployments', since whether the lengths were measured can flip back as they grow, and a P90 that then
    # narrowed would fall as the workload grows.
    if "measured" in bands and "deployment_measured" in support:
        inside = ~(np.any(np.asarray(above) > 0, axis=1) | np.any(np.asarray(below) > 0, axis=1))
        on_data = support["deployment_measured"].to_numpy(dtype=bool) & inside & ~np.logical_or.reduce(
            list(off.values()))
        low = np.where(on_data, _joint_cell_offsets(bands, MEASURED_PREFIX, bands["measured"], cells, engine_cells,
                                                    n)[0], low)
    for kind, rows in off.items():
        band = bands.get(kind)
        if band is None or not rows.any():
            continue
        shrink = np.where(rows, np.minimum(shrink, band.shrink), shrink)
        low = np.where(rows, np.minimum(low, band.low_log), low)
        high = np.where(rows, np.maximum(high, band.high_log), high)
    workload = bands.get("workload")
    if workload is not None:
        low, high = (fades or WorkloadFades()).widen(low, high, above, below, workload)
    trust = 1.0 / np.maximum(support["support_distance"].to_numpy(dtype=float), 1.0)
    shrink = shrink * trust
    # A row off in a rehearsed kind has that kind's band, measured on whole groups held out, as far from the
    # rest as they lay: moved toward the prior's band by its distance as well, P10-P90 covered 91.5% of the
    # model split's TTFTs (89.2% of its latencies), 89.5% (82.8%) without (``surrogate evaluate --split model``).
    rehearsed = np.logical_or.reduce([np.zeros(n, dtype=bool), *(rows for kind, rows in off.items() if kind in bands)])
    blend = np.where(rehearsed, 1.0, trust)
    low = np.minimum(low, blend * low + (1.0 - blend) * prior.low_log)
    high = np.maximum(high, blend * high + (1.0 - blend) * prior.high_log)
    return shrink, low, high


@dataclass(frozen=True)
class Fade:
    """For one workload dimension (sequences, input or output length) and one side of the trained range:
    the share ``share`` of a correction level its rehearsal rows needed, lying ``extent_log`` beyond the
    range their model kept (median)."""

    share: float = 1.0
    extent_log: float = 0.0
    # The P10-P90 band (log) of those rows' residuals, with every level faded as rehearsed.
    low_log: float = 0.0
    high_log: float = 0.0
    # Above the range: the power of this dimension's distance past it (value / trained maximum) by which a
    # slower-than-prior level's added time grew, never faster than the prior (:func:`added_time`). 0, never
    # rehearsed: the seconds added at the range's edge stay, the ratio falls toward the prior's.
    added_growth: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def at(self, distance: np.ndarray, *, past_rehearsal: bool = False) -> npt.NDArray[np.float64]:
        """The share kept ``distance`` (log) beyond the range: 1 at its edge, ``share`` at ``extent_log``,
        then on as 1 / (1 + (distance / extent) * (1 / share - 1)); 1 everywhere without a rehearsal.
        ``past_rehearsal``: farther than the rehearsal reached, at most extent / distance as well (what
        carried over that far says nothing of farther)."""
        distance = np.asarray(distance, dtype=float)
        if self.extent_log <= 0:
            return np.ones(len(distance))
        odds = 1.0 / max(self.share, 1e-6) - 1.0
        kept = 1.0 / (1.0 + distance / self.extent_log * odds)
        if past_rehearsal:
            kept = np.minimum(kept, self.extent_log / np.maximum(distance, self.extent_log))
        return np.asarray(kept, dtype=float)


def fade_share(fades: tuple[Fade, ...], distance: np.ndarray, *,
               past_rehearsal: bool = False) -> npt.NDArray[np.float64]:
    """Per row, the share of a correction level kept ``distance`` (rows x workload dimensions, log) beyond
    the trained range: the product over dimensions of each one's :meth:`Fade.at`. Each dimension is
    rehearsed on its own tail: one share pooled over all three tails faded longer prompts by what more
    requests in flight needed (the input-length split's TTFT went from 50.3% to 65.6% median APE with it)."""
    kept = np.ones(len(distance))
    for d, fade in enumerate(fades):
        kept *= fade.at(distance[:, d], past_rehearsal=past_rehearsal)
    return kept


@dataclass(frozen=True)
class WorkloadFades:
    """How a learned correction level fades past its model's trained workload range, per dimension: above
    the range the part faster than the prior, below it the part slower.

    Only those parts fade, so the monotone guarantee holds: above the range a faded faster level only
    raises the prediction as the workload grows (the share falls with it), and below the range a faded
    slower level only lowers it as the workload shrinks; fading the other sign would let a prediction
    fall as its workload grows. A correction learned at 128 requests in flight may say little about 950
    (MLPerf's Llama-2-70B held out took aiconfigurator's Llama-3.1-70B correction, made at up to 128),
    nor MLPerf's at 111-1,412 about 4 (aiconfigurator held out: its Llama-3.1-70B rows at 4-32 in flight
    took MLPerf's slower level and came out 44% too slow where the prior was 8% off).

    Below the range the share also falls as extent / distance past the rehearsed distance (``Fade.at``,
    ``past_rehearsal``): a small workload is where the prior is surest (few sequences: one read of the
    weights per step) and a correction learned on many says least. MLPerf's least fifth, a quarter octave
    below the rest, kept all of its slower level, yet aiconfigurator's rows up to five octaves lower needed
    none: with the decay aiconfigurator held out went from 33.4% to 29.1% ITL median APE (the prior's
    24.6%); the same decay above the range took the batch split's TTFT from 28.5% to 37.8% (a faster
    level learned at 16 prompts did carry to 256), so above the range the rehearsed share alone decides
    (ad hoc ``surrogate evaluate --split source`` and ``--split batch``).

    Above the range a slower level is not a ratio that carries on: it is the time it added at the twin,
    grown by a power of the distance its dimension's tail rehearsed (``Fade.added_growth``), never faster
    than the prior (:func:`added_time`); a dimension never rehearsed keeps the added seconds, so the ratio
    falls toward the prior's, which is surest where nothing was measured. As a ratio, TensorRT-LLM's TTFT,
    learned 1.26x slower than the prior at <= 1,024-token prompts (median), stayed 1.26x at 2,048-8,192
    tokens, where it measured 0.92x: the input-length split's TTFT was 65.7% MAPE / 31.7% median APE (the
    prior 56.4 / 29.3), with the added time 46.7 / 24.9; the batch split's TTFT went 43.7 / 29.0 -> 40.1 /
    28.6 and its static latency 25.9 / 15.9 -> 27.1 / 17.3. One share of the prior's growth per metric,
    pooled over its tails, left the input-length split as it was (its prompts could not be rehearsed, the
    other tails kept the ratio). On this CPU's llama.cpp sweep (``benchmarks/closed_loop.py``) the rule
    cost ITL at 8 in flight (31.8% -> 40.6%): its power, rehearsed on 12 rows from 1-2 to 4 in flight,
    said less growth than 4 to 8 had.
    """

    above: tuple[Fade, ...] = ()
    below: tuple[Fade, ...] = ()
    # The median distance (log) past the kept range of the rows whose residuals make the band pooled over every
    # tail: where that band was measured (0: unknown, the least extent of any tail is taken).
    pooled_extent_log: float = 0.0

    def apply(self, correction: np.ndarray, level: np.ndarray, above: np.ndarray,
              below: np.ndarray, growth: np.ndarray | None = None) -> npt.NDArray[np.float64]:
        """The correction with its level faded: beyond the range the correction is the level at the clamped
        twin plus the prior's growth past it, and only the level fades (``above``/``below``: rows x
        dimensions, log distance beyond the range). ``growth``: log(prior / prior at the twin) per row; with
        it, above the range a slower level is the time it added at the twin, grown as each dimension's
        ``Fade.added_growth`` says (:func:`added_time`); without it (no physics) it stays a ratio."""
        faster = fade_share(self.above, above)
        slower = fade_share(self.below, below, past_rehearsal=True)
        faded = correction - level + np.where(level < 0, faster, slower) * level
        if growth is None or not above.size:
            return np.asarray(faded, dtype=float)
        powers = np.array([fade.added_growth for fade in self.above] + [0.0] * (above.shape[1] - len(self.above)))
        lifted = (level > 0) & (above.max(axis=1) > 0)
        added = added_time(slower * level, growth, above @ powers)
        return np.asarray(np.where(lifted, added, faded), dtype=float)

    def widen(self, low: np.ndarray, high: np.ndarray, above: np.ndarray, below: np.ndarray,
              pooled: Band) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The band offsets ``low``/``high`` of rows ``above``/``below`` the range (rows x dimensions, log):
        per dimension and side, that tail's rehearsed band, widened in proportion to the distance over the
        distance it was rehearsed at (a side never rehearsed: the ``pooled`` band of every tail, at the median
        distance its rows lay, ``pooled_extent_log``); the widest of them. Above the range both sides widen,
        below it only the low one (so P90 never falls as the workload grows).

        The pooled band was once read as if measured at the least distance any tail was rehearsed at: trained
        on prompts of at most 1,024 tokens (a tail above them could not be held out: most rows sat at 1,024),
        ITL at 8,192 took the pooled -0.29..+0.25 (log) three times over, -0.88..+0.76, where those 620 rows'
        residuals spanned -0.35..+0.34 (P10, P90), and P10-P90 covered 94.7% of the split's ITLs; read at the
        median distance of its rows, 82.9% (``surrogate evaluate --split input_length``).

        In proportion, as a growth rate learned wrong by some amount errs: P10-P90 covered 62/83/74% (latency,
        TTFT, ITL) of the batch split (four octaves past 16 sequences, rehearsed one octave out) and 77/81/94%
        of the input-length split; as the square root, 60/75/56% and 77/80/84%; one band and extent for every
        tail (their medians), 51/81/55% of the batch split (ad hoc ``surrogate evaluate --split batch`` /
        ``input_length``, the same code otherwise). The extent was once the distance past every other tail's
        rows, mostly 0.06 where each row sat in one tail, so the square root of distance / 0.06 covered
        90-97% of the batch split while rehearsing nothing that far.
        """
        found = [fade.extent_log for fade in (*self.above, *self.below) if fade.extent_log > 0]
        pooled_at = self.pooled_extent_log or (min(found) if found else np.inf)
        for fades, distance, upwards in ((self.above, above, True), (self.below, below, False)):
            for d in range(distance.shape[1]):
                fade = fades[d] if d < len(fades) else Fade()
                band = (fade.low_log, fade.high_log) if fade.extent_log > 0 else (pooled.low_log, pooled.high_log)
                widened = np.maximum(distance[:, d] / (fade.extent_log or pooled_at), 1.0)
                beyond = distance[:, d] > 0
                low = np.where(beyond, np.minimum(low, band[0] * widened), low)
                if upwards:
                    high = np.where(beyond, np.maximum(high, band[1] * widened), high)
        return np.asarray(low, dtype=float), np.asarray(high, dtype=float)

    def to_dict(self, dimensions: list[str]) -> dict[str, dict[str, dict[str, float]]]:
        return {side: {name: fade.to_dict() for name, fade in zip(dimensions, fades, strict=True)}
                for side, fades in (("above", self.above), ("below", self.below)) if fades}


# The powers a rehearsal tries for an added time's growth (``Fade.added_growth``): up to 3, steeper than any
# prior grows in one dimension (TTFT at most as the square of the prompt), so the cap (a ratio) binds.
ADDED_GROWTH_GRID = np.round(np.arange(0.0, 3.0001, 0.05), 2)


def added_time(level: np.ndarray, growth: np.ndarray, powered: np.ndarray) -> npt.NDArray[np.float64]:
    """The log correction of rows above the range whose twin's level ``level`` (log, >= 0) is slower than
    the prior: the time that level added at the twin, grown by exp(``powered``) (per row, the sum over
    dimensions of ``Fade.added_growth`` x the log distance past the range) but never by more than the prior
    grew (``growth``, log prior / prior at the twin), over the prior. 0 keeps the added seconds, so the ratio
    falls toward the prior's (a fixed overhead: scheduling, launch, a first step); a growth as fast as the
    prior's keeps the level (a ratio, how the trees read it). prior + added time is the prior plus the least
    of two terms that never fall as the workload grows: the prediction never falls either."""
    growth = np.maximum(growth, 0.0)
    return np.asarray(np.log1p(np.expm1(level) * np.exp(np.minimum(powered, growth) - growth)), dtype=float)


def added_growth_power(level: np.ndarray, needed: np.ndarray, growth: np.ndarray, distance: np.ndarray) -> float:
    """The power of the distance past the range (log) by which a slower level's added time grew on rehearsal
    rows above their kept range (:func:`added_time`): the one on :data:`ADDED_GROWTH_GRID` whose corrections
    come closest to what the rows ``needed`` (least squares; the least of any tie); 0 without such rows."""
    rows = np.isfinite(level) & np.isfinite(needed) & (level > 0) & (growth > 0) & (distance > 0)
    if not rows.any():
        return 0.0
    errors = [float(np.sum((needed[rows] - added_time(level[rows], growth[rows], power * distance[rows])) ** 2))
              for power in ADDED_GROWTH_GRID]
    return float(ADDED_GROWTH_GRID[int(np.argmin(errors))])


def workload_fade(level: np.ndarray, needed_level: np.ndarray, distance: np.ndarray, *, slower: bool = False) -> float:
    """The share of a level faster than the prior (``slower``: slower than it) that held-out rows beyond the
    trained range needed: the least-squares slope of what they needed on the level, over those rows,
    clipped to [0, 1] (1: it carries over in full; no such rows: 1)."""
    sign = level > 0 if slower else level < 0
    rows = np.isfinite(level) & np.isfinite(needed_level) & (distance > 0) & sign
    energy = float(np.dot(level[rows], level[rows]))
    if energy <= 0:
        return 1.0
    return float(np.clip(np.dot(level[rows], needed_level[rows]) / energy, 0.0, 1.0))


# The workload columns a deployment group holds fixed while its measurements vary batch and lengths.
_DEPLOYMENT_KEYS = ["hardware", "model", "framework", "tp", "pp", "dp", "ep", "weight_dtype", "kv_dtype", "batching"]
# The most the learned correction may undo of the prior's growth (half): the prior keeps the trend.
MAX_GROWTH_SLACK = 0.5


def growth_slack(cfg: pd.DataFrame, log_measured: np.ndarray, log_prior: np.ndarray,
                 keys: Sequence[str] = tuple(_DEPLOYMENT_KEYS)) -> float:
    """How much slower than the prior a metric grows along the workload, as 1 - elasticity, in [0, 0.5].

    The elasticity is the within-deployment slope of log(measured) on log(prior): each deployment's
    rows (same ``keys``: hardware, model, engine, layout, formats) differ only in batch and lengths. 1 means
    the prior scales right (slack 0), as TTFT under continuous batching now does on the shared rows (0.6
    when its prior prefilled a wave of half the running prompts ahead of each one, which grew too fast).
    """
    ok = np.isfinite(log_measured) & np.isfinite(log_prior)
    if ok.sum() < 3:
        return 0.0
    columns = cfg.loc[ok, [k for k in keys if k in cfg]].astype(object)
    # A key a row lacks (a release no source recorded) is one label, not a missing value the join would refuse.
    groups = columns.where(columns.notna(), "").astype(str).agg("|".join, axis=1).to_numpy()
    frame = pd.DataFrame({"g": groups, "y": log_measured[ok], "a": log_prior[ok]})
    y = frame["y"] - frame.groupby("g")["y"].transform("mean")
    a = frame["a"] - frame.groupby("g")["a"].transform("mean")
    spread = float((a * a).sum())
    if spread <= 0:
        return 0.0
    elasticity = float((y * a).sum()) / spread
    return float(np.clip(1.0 - elasticity, 0.0, MAX_GROWTH_SLACK))
