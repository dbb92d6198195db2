"""Fitting the achievable model's few parameters on measured rows, shrunk toward global values.

The parameters of ``features.efficiency.Efficiency`` (matmul and attention fractions, the
half-efficiency points, fixed costs per layer and per step, a served first token's wait) are global;
per-vendor and per-accelerator (all rates, and compute alone) and per-framework (all rates, fixed costs, the
wait) log offsets let a family of systems differ, each pulled toward zero by a prior worth ``prior_rows``
measurements (Gaussian near zero, about linear past a few tenths: the loss below), so a vendor with a handful
of rows stays near the global value. The
memory-bandwidth and link fractions are sourced (aiconfigurator's 0.8; NCCL's ~20% protocol overhead on a
link) and held fixed: fitted, the link's took whatever made up for costs the model lacked (1.0, its bound,
while one ring across nodes ran at one device's network link; 0.24 once it ran at the domain's).

The loss is a robust (soft L1) least-squares fit of log(measured / achievable) over every measured metric
(static latency, serving TTFT and ITL), solved with ``scipy.optimize.least_squares``. Step costs that do not
depend on the parameters are computed once, so one evaluation is a few array operations; the Jacobian perturbs a
whole offset family at once (each vendor's or framework's rows are its own), the same differences as scipy's in
15 evaluations instead of 41 on the shared rows. The vendors' compute offsets trade against the global compute
fractions and a fit freeing them from the start stopped at poorer optima (a loss of 604 vs 591 on the shared
rows), so they are freed only once the rest has settled; a fit from scratch tries the global compute fractions
in either stage and keeps the order whose loss is least (``_COMPUTE_ORDERS``). Then each engine's host cost per
sequence of a static batch, with everything else held (:func:`_with_sequence_costs`), and last each
accelerator's offsets on top of its vendor's, refitting the vendors' with them (``_ACCELERATOR_OFFSETS``); how
much of those a vendor keeps is then set where the prior's cost is least (:func:`_recentred`), which prices no
measured row differently. After everything, each engine's extra wait under attention data parallelism, on its
closed-loop rows there alone. A global that no row measures is not fitted: the closed-loop waits stay at the
base's where fewer than 20 served first tokens price them (:func:`_unmeasured_waits`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from features.analytic import AnalyticSteps, analytic_steps, compose, served_closed_loop, waits_for_attention_dp
from features.configs import CONFIG_COLUMNS, gather_specs, invalid_reasons, normalize_configs
from features.efficiency import (
    GLOBAL_PARAMETERS,
    SAME_RELEASE_YEARS,
    Efficiency,
    RowGroups,
    achievable_step,
    default_efficiency,
)
from features.errors import DataError
from features.versions import software_years
from surrogate.model._software import with_source_eras
from surrogate.model._workers import run_all

__all__ = ["fit_efficiency", "efficiency_problem", "era_shares", "FITTED_PARAMETERS", "EfficiencyProblem",
           "MIN_ERA_ROWS", "ERA_SHARE_GRID"]

METRICS = ("latency_s", "ttft_s", "itl_s")
# Fitted globals, as (name, transform): fractions on the logit scale, positive scales on the log scale.
FITTED_PARAMETERS = (("matmul_fraction", "logit"), ("matmul_half_tokens", "log"), ("matmul_half_params", "log"),
                     ("attention_fraction", "logit"), ("link_half_bytes", "log"),
                     ("layer_overhead_s", "log"), ("step_overhead_s", "log"), ("first_token_steps", "log"),
                     ("wave_fraction", "logit"))
# The offsets after the globals in the fitted vector, in this order: (Efficiency field, whose names it is keyed by).
# The accelerators' come last: a problem naming no accelerator (fit_efficiency's shared stages) fits a prefix.
# An engine's wait under attention data parallelism comes after them, keyed by the engines with such rows.
_OFFSETS = (("vendor_log_speed", "vendor"), ("vendor_log_compute", "vendor"), ("framework_log_speed", "framework"),
            ("framework_log_overhead", "framework"), ("framework_log_wait", "framework"),
            ("hardware_log_speed", "hardware"), ("hardware_log_compute", "hardware"),
            ("framework_log_attention_dp_wait", "attention_dp"))
# Each accelerator's offsets (on top of its vendor's) are fitted last, together with the vendors' (what an
# accelerator never measured is priced by), everything else held: the global parameters and the engines' host
# costs come out as they would without them. The offsets' prior is soft-L1 like the data (an offset of
# several tenths counts about linearly), so a vendor keeps what its accelerators share and an accelerator the
# rest: MI250 and MI300X share AMD's slower rates, not MI300X's compute lag (AMD's compute offset 0.00 once
# :func:`_recentred` sets the split the solver leaves where it began; MI300X's own -1.30, MI250's +0.72).
# Fitted from the start with the rest, the global fractions and every vendor's offsets drifted along directions
# the prior alone holds (the matmul fraction from 0.91 to 0.33, NVIDIA's rates e^0.46 up to make it back; 2,818
# Jacobians, 200 s instead of 16 s on the shared rows); fitted before the host costs, they took those in
# (vLLM's from 54 to 5 us without H100 in the fit, whose vLLM static batches held out then came out 13.2% median
# APE instead of 9.6%; ad hoc).
_ACCELERATOR_OFFSETS = ("hardware_log_speed", "hardware_log_compute")
_LAST_OFFSETS = (*_ACCELERATOR_OFFSETS, "vendor_log_speed", "vendor_log_compute")
# An engine's wait under attention data parallelism (``Efficiency.framework_log_attention_dp_wait``) is fitted
# after everything else, on a problem that names it only then: every other parameter comes out as it would
# without it, to the last bit. It moves a few rows (84 TensorRT-LLM TTFTs on the shared data), and the fit has
# local optima that a rounding difference can pick between: with the
# wait's offsets held at zero in the earlier stages (seven more zero prior terms), the fit on prompts of at most
# 1,024 tokens ended with the attention rate at 0.25 instead of 1.0, and the held-out longer prompts' prior TTFT
# went 52.2 / 32.9 -> 58.4 / 41.5% (MAPE / median APE); fitted with the shared parameters, the solver's path took
# the matmul fraction 0.90 -> 0.84 and the wave share 0.077 -> 0.071 to an optimum that fits worse than the
# shared parameters without the wait with the wait alone added (soft-L1 loss 10,200 against 10,193; ad hoc).
_MIN_ROWS = 20
# An accelerator's later releases need this many measured configurations for a share of its offsets
# (:func:`era_shares`): one number fitted on them, and as for a slope (``_calibration.MIN_SLOPE_ROWS``) three
# leave a spread to judge it by. AMD's MLPerf MI300X rows are 4; GB200's later rows, 2 (its offsets are 0.004).
MIN_ERA_ROWS = 3
# The closed-loop waits before a first token (``features.analytic.compose``) price only the first tokens of closed-loop
# serving (TTFT, and latency through it): fitted on fewer measured metrics of such rows than ``_MIN_ROWS`` they
# stay at the base's (:func:`_unmeasured_waits`). NVIDIA held out left none, yet the fit moved them to their bounds
# (half a step, half the wave ahead of every prompt), where no row pulled them back, and the matmul fraction with
# them (0.096 -> 0.076 of peak): NVIDIA's 2,315 served TTFTs came out 325% median APE, 67% with the waits held
# (ad hoc, fitted from the class defaults as training does; the vendor split's NVIDIA fold). A refit from a fitted
# base (a bundle's rehearsals) keeps that base's waits, which the held-out rows helped fit: the default bundle's
# rehearsal with NVIDIA held out prices NVIDIA's first tokens with waits NVIDIA's own rows set.
_WAIT_PARAMETERS = ("first_token_steps", "wave_fraction")
# A fit from scratch frees the vendors' compute offsets in a second stage, after the rest, and tries two orders:
# the global compute fractions in the first stage (the order the fit always took), or held at the base's until the
# vendors' compute offsets are freed with them. The fit keeps the order whose loss is least; each wins somewhere.
# With NVIDIA held out, the first stage had only other vendors' 2024 software to fit, put their compute lag in the
# global matmul fraction (0.096 of peak) and stopped there: loss 3,378, against 2,795 freed together (0.33 of
# peak), where NVIDIA's held-out served TTFTs came out 67.1 -> 50.1% median APE, ITLs 44.3 -> 32.2% and MLPerf
# latencies 87.9 -> 43.0% (the prior alone; ad hoc). On all shared rows the first order costs least (10,570
# against 10,692), so the shipped parameters are the same; it also wins with MI300X, MI250, Intel or
# aiconfigurator's rows held out, and the second with AMD, llama.cpp or MLPerf's.
# Each order names the globals held until the vendors' compute offsets are freed: none, or the compute fractions.
_COMPUTE_ORDERS: tuple[tuple[str, ...], ...] = ((), ("matmul_fraction", "attention_fraction"))
# What one staged fit weighs per measured metric, in the rows x fits that decide whether worker processes start
# (``_workers.run_all``): on the shared rows a fit takes 9-19 s (9,257 metrics), a tree fit on as many rows well
# under a second.
_WORK_PER_METRIC = 10
# The shares tried, a tenth apart: finer steps would let a part whose later rows agree with its offsets drift
# off 1 by the noise of those rows.
ERA_SHARE_GRID = np.round(np.arange(0.0, 1.0001, 0.1), 2)
# Soft-L1 scale of the log residuals: errors beyond ~35% count linearly, not quadratically.
_LOSS_SCALE = 0.3
_FLOOR = 1e-9  # overheads are fitted on the log scale; this stands for zero
_FORWARD_STEP = float(np.sqrt(np.finfo(float).eps))  # scipy's relative step for "2-point" differences
# The relative change in loss (and in the parameters) that ends a fit. From the defaults on every shared row,
# 1e-8 took 16.8 s (359 Jacobians, the last 250 moving no parameter in its third digit) and 1e-7 6.0 s, at
# the same in-sample error (median APE 19.15 vs 19.20%). Held out it is not the same: some parameters are
# barely determined by what a fold keeps, and a fit stopped early leaves them elsewhere (without MI250 the
# attention fraction at 0.25 instead of 1.0 and every vendor's compute offset at 0), so MI250 held out came
# out at 104% median APE instead of 79%, Gaudi 2 at 18.4 instead of 12.7, and aiconfigurator's TTFT at 172
# instead of 149% MAPE (ad hoc fits without each; ``surrogate evaluate --split hardware`` agreed).
_TOLERANCE = 1e-8


@dataclass(frozen=True)
class EfficiencyProblem:
    """The measured rows with their step costs (fixed), and who they belong to; ``table_rows``: each one's
    position in the table it came from (rows no engine could run are not here)."""

    steps: AnalyticSteps
    vendors: npt.NDArray[np.object_]
    frameworks: npt.NDArray[np.object_]
    hardware: npt.NDArray[np.object_]
    measured: dict[str, npt.NDArray[np.float64]]
    vendor_names: tuple[str, ...]
    framework_names: tuple[str, ...]
    hardware_names: tuple[str, ...]
    groups: RowGroups
    table_rows: npt.NDArray[np.intp]
    software_years: npt.NDArray[np.float64]  # each row's engine release (years since 2020; NaN unknown)
    # The engines with closed-loop rows under attention data parallelism: the wait offsets the problem names.
    attention_dp_names: tuple[str, ...] = ()

    @cached_property
    def attention_dp_rows(self) -> npt.NDArray[np.bool_]:
        """The closed-loop rows under attention data parallelism, which an engine may hold before a first token
        (``features.analytic.compose``)."""
        return waits_for_attention_dp(self.steps)

    @cached_property
    def scored(self) -> dict[str, npt.NDArray[np.bool_]]:
        """Per metric, the rows that measured it (finite and positive): the residuals the fit scores."""
        return {metric: np.isfinite(values) & (values > 0) for metric, values in self.measured.items()}

    def without(self, table_mask: npt.NDArray[np.bool_]) -> EfficiencyProblem:
        """The problem of the table's rows outside ``table_mask`` (a group held out): what
        :func:`efficiency_problem` of those rows gives, without normalising and pricing them again."""
        return self.rows_where(~table_mask[self.table_rows])

    def rows_where(self, keep: npt.NDArray[np.bool_]) -> EfficiencyProblem:
        """The problem of its own rows where ``keep`` (a mask over them), priced as they were."""
        return EfficiencyProblem.of(self.steps.take(keep), self.vendors[keep], self.frameworks[keep],
                                    self.hardware[keep], {m: values[keep] for m, values in self.measured.items()},
                                    self.table_rows[keep], self.software_years[keep])

    def log_errors(self, times: dict[str, npt.NDArray[np.float64]]) -> list[npt.NDArray[np.float64]]:
        """Per metric, log(measured / ``times``) on the rows that measured it (the fit's residuals)."""
        return [np.log(self.measured[m][self.scored[m]] / times[m][self.scored[m]]) for m in METRICS]

    @classmethod
    def of(cls, steps: AnalyticSteps, vendors: npt.NDArray[np.object_], frameworks: npt.NDArray[np.object_],
           hardware: npt.NDArray[np.object_], measured: dict[str, npt.NDArray[np.float64]],
           table_rows: npt.NDArray[np.intp], software_years: npt.NDArray[np.float64]) -> EfficiencyProblem:
        """The problem of these rows, with the vendor, framework and accelerator names and groups they make."""
        return cls(steps, vendors, frameworks, hardware, measured, tuple(sorted(set(vendors))),
                   tuple(sorted(set(frameworks))), tuple(sorted(set(hardware))),
                   RowGroups.of(vendors, frameworks, hardware), table_rows, software_years,
                   tuple(sorted(set(frameworks[waits_for_attention_dp(steps)]))))

    def newest_software_years(self) -> dict[str, float]:
        """Per vendor, the newest engine release among its rows (years since 2020; vendors with no dated row
        are left out): how far its fitted offsets reach (``Efficiency.vendor_software_year``)."""
        out = {}
        for vendor in self.vendor_names:
            years = self.software_years[(self.vendors == vendor) & np.isfinite(self.software_years)]
            if len(years) and isinstance(vendor, str):
                out[vendor] = float(np.max(years))
        return out


def efficiency_problem(table: pd.DataFrame) -> EfficiencyProblem:
    """The rows of ``table`` (canonical columns) as :func:`fit_efficiency` sees them; rows that record no engine
    version take their source's era (the newest measured per vendor: ``Efficiency.vendor_software_year``)."""
    table = with_source_eras(table)
    cfg = normalize_configs(table[[c for c in table.columns if c in CONFIG_COLUMNS]])
    specs = gather_specs(cfg)
    valid = invalid_reasons(cfg, specs=specs).eq("").to_numpy()
    cfg, specs = cfg[valid].reset_index(drop=True), specs[valid].reset_index(drop=True)
    kept = table[valid].reset_index(drop=True)
    measured = {m: pd.to_numeric(kept[m], errors="coerce").to_numpy(dtype=float) if m in kept else
                np.full(len(kept), np.nan) for m in METRICS}
    vendors = specs["vendor"].to_numpy(dtype=object)
    frameworks = cfg["framework"].to_numpy(dtype=object)
    hardware = specs["chip"].to_numpy(dtype=object)  # the accelerator whose offsets a row is priced with
    years = (software_years(cfg["framework"], cfg["framework_version"]) if "framework_version" in cfg
             else np.full(len(cfg), np.nan))
    return EfficiencyProblem.of(analytic_steps(cfg, specs), vendors, frameworks, hardware, measured,
                                np.flatnonzero(valid), years)


def _to_free(value: float, transform: str, name: str) -> float:
    if transform == "logit":  # of the position between the bounds: no flat, clipped region the fit can stall in
        low, high = GLOBAL_PARAMETERS[name]
        share = float(np.clip((value - low) / (high - low), 1e-4, 1 - 1e-4))
        return float(np.log(share / (1 - share)))
    return float(np.log(max(value, _FLOOR)))


def _from_free(x: float, transform: str, name: str) -> float:
    low, high = GLOBAL_PARAMETERS[name]
    x = float(np.clip(x, -50.0, 50.0))  # far beyond every bound below; keeps exp finite
    value = low + (high - low) / (1.0 + np.exp(-x)) if transform == "logit" else float(np.exp(x))
    return float(np.clip(value, low, high))


def _keys(problem: EfficiencyProblem, owner: str) -> tuple[str, ...]:
    """The names an offset family is keyed by: the problem's vendors, frameworks, accelerators or engines with
    attention-DP rows."""
    return {"vendor": problem.vendor_names, "framework": problem.framework_names,
            "hardware": problem.hardware_names, "attention_dp": problem.attention_dp_names}[owner]


def _offset_slices(problem: EfficiencyProblem) -> dict[str, slice]:
    """Where each offset family of :data:`_OFFSETS` lies in the fitted vector (after the globals)."""
    slices, at = {}, len(FITTED_PARAMETERS)
    for name, owner in _OFFSETS:
        size = len(_keys(problem, owner))
        slices[name], at = slice(at, at + size), at + size
    return slices


def _unpack(x: npt.NDArray[np.float64], base: Efficiency, problem: EfficiencyProblem) -> Efficiency:
    globals_: dict[str, Any] = {name: _from_free(float(x[i]), t, name)
                                for i, (name, t) in enumerate(FITTED_PARAMETERS)}
    slices = _offset_slices(problem)
    offsets: dict[str, Any] = {
        name: dict(zip(_keys(problem, owner), (float(v) for v in x[slices[name]]), strict=True))
        for name, owner in _OFFSETS}
    # replace, not a round trip through to_dict (which deep-copies every field on each of thousands of calls)
    return replace(base, **globals_, **offsets)


def _residuals(x: npt.NDArray[np.float64], base: Efficiency, problem: EfficiencyProblem,
               prior_weight: float) -> npt.NDArray[np.float64]:
    times = _times(_unpack(x, base, problem), problem)
    offsets = x[len(FITTED_PARAMETERS):]
    return np.concatenate([*problem.log_errors(times), prior_weight * offsets])


def _dependence(problem: EfficiencyProblem) -> npt.NDArray[np.bool_]:
    """Which residuals (rows, in :func:`_residuals`' order) each fitted parameter (columns) can move: a global
    moves every measured row; a vendor's or framework's offset moves that vendor's or framework's rows and its
    own prior term, nothing else (each row is priced with its own offsets alone); an attention-DP offset only
    its framework's closed-loop rows under attention data parallelism."""
    ok = [problem.scored[m] for m in METRICS]
    owners = {"vendor": np.concatenate([problem.vendors[mask] for mask in ok]),
              "framework": np.concatenate([problem.frameworks[mask] for mask in ok]),
              "hardware": np.concatenate([problem.hardware[mask] for mask in ok])}
    # An attention-DP wait's engine, on the rows it moves (None elsewhere: no engine's).
    waits = owners["framework"].copy()
    waits[~np.concatenate([problem.attention_dp_rows[mask] for mask in ok])] = None
    owners["attention_dp"] = waits
    slices = _offset_slices(problem)
    measured_rows = len(owners["vendor"])
    size = len(FITTED_PARAMETERS) + sum(len(_keys(problem, owner)) for _, owner in _OFFSETS)
    moves = np.zeros((measured_rows + size - len(FITTED_PARAMETERS), size), dtype=bool)
    moves[:measured_rows, :len(FITTED_PARAMETERS)] = True
    for name, owner in _OFFSETS:
        for column, key in zip(range(size)[slices[name]], _keys(problem, owner), strict=True):
            moves[:measured_rows, column] = owners[owner] == key
            moves[measured_rows + column - len(FITTED_PARAMETERS), column] = True
    return moves


class _PartResiduals:
    """:func:`_residuals` with the parameters at ``varied`` set to the fitted part and the rest as in ``held``,
    and its Jacobian by forward differences, perturbing at once parameters that move disjoint residuals (one
    offset family: each vendor's or framework's rows are its own): the same numbers as one column at a time
    (scipy's default "2-point" step, sqrt(eps) x max(1, |x|)), in a third of the evaluations."""

    def __init__(self, varied: npt.NDArray[np.intp], held: npt.NDArray[np.float64], base: Efficiency,
                 problem: EfficiencyProblem, prior_weight: float) -> None:
        self.varied, self.held, self.base, self.problem, self.prior_weight = varied, held, base, problem, prior_weight
        self.moves = _dependence(problem)[:, varied]
        self.groups = _disjoint_groups(self.moves)
        self._last: tuple[bytes, npt.NDArray[np.float64]] | None = None

    def __call__(self, part: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self._last is not None and self._last[0] == part.tobytes():
            return self._last[1].copy()
        x = self.held.copy()
        x[self.varied] = part
        residuals = _residuals(x, self.base, self.problem, self.prior_weight)
        self._last = (part.tobytes(), residuals)
        return residuals.copy()

    def jacobian(self, part: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        at = self(part)
        step = _FORWARD_STEP * np.where(part >= 0, 1.0, -1.0) * np.maximum(1.0, np.abs(part))
        # Built column by column and handed over transposed, as scipy's own differences are: the solver's
        # products then add in the same order (a C-ordered matrix moved the fit by 1e-5).
        transposed = np.empty((len(part), len(at)))
        for columns in self.groups:
            moved = part.copy()
            moved[columns] = part[columns] + step[columns]
            change = self(moved) - at
            for column in columns:  # zero where the column moves nothing, signed as 0 / step is
                transposed[column] = np.where(self.moves[:, column], change, 0.0) / (moved[column] - part[column])
        return transposed.T


def _disjoint_groups(moves: npt.NDArray[np.bool_]) -> list[npt.NDArray[np.intp]]:
    """Columns in groups whose members move no residual in common (greedy, in column order)."""
    groups: list[list[int]] = []
    covered: list[npt.NDArray[np.bool_]] = []
    for column in range(moves.shape[1]):
        for members, rows in zip(groups, covered, strict=True):
            if not (rows & moves[:, column]).any():
                members.append(column)
                rows |= moves[:, column]
                break
        else:
            groups.append([column])
            covered.append(moves[:, column].copy())
    return [np.array(members, dtype=np.intp) for members in groups]


def _start(base: Efficiency, problem: EfficiencyProblem) -> npt.NDArray[np.float64]:
    """``base`` as a fitted vector over ``problem``'s names (an offset it lacks: 0)."""
    start = [_to_free(getattr(base, name), t, name) for name, t in FITTED_PARAMETERS]
    for name, owner in _OFFSETS:
        start += [getattr(base, name).get(key, 0.0) for key in _keys(problem, owner)]
    return np.array(start)


def _fit_part(varied: npt.NDArray[np.intp], x: npt.NDArray[np.float64], base: Efficiency, problem: EfficiencyProblem,
              prior_weight: float, max_evaluations: int, tolerance: float) -> npt.NDArray[np.float64]:
    """The parameters at ``varied`` fitted from ``x`` with the rest of ``x`` held."""
    from scipy.optimize import least_squares

    residuals = _PartResiduals(varied, x.copy(), base, problem, prior_weight)
    # A trial step may take an offset far enough that its exp overflows: a time comes back infinite, its log
    # error too, and least_squares rejects the step and shrinks its trust region, as it should (nothing to warn
    # about; the vendor split's SambaNova fold with the attention fraction held at 1 takes such steps).
    with np.errstate(over="ignore", divide="ignore"):
        result = least_squares(residuals, x[varied], jac=residuals.jacobian, loss="soft_l1", f_scale=_LOSS_SCALE,
                               max_nfev=max_evaluations, x_scale="jac", ftol=tolerance, xtol=tolerance)
    fitted: npt.NDArray[np.float64] = result.x
    return fitted


def _offset_cost(offsets: npt.NDArray[np.float64], prior_weight: float) -> float:
    """The fit's prior cost of these offsets: scipy's soft-L1 of ``prior_weight x offset`` at ``_LOSS_SCALE``."""
    return _soft_l1(prior_weight * offsets)


def _recentred(x: npt.NDArray[np.float64], problem: EfficiencyProblem, prior_weight: float) -> npt.NDArray[np.float64]:
    """``x`` with each vendor's offsets moved to where the prior puts them given its accelerators' totals
    (vendor + accelerator, per rate), each accelerator's own taking the rest: every measured row is priced as
    before (it reads the sum), and the prior's cost is the least it can be.

    The fit does not get there itself. Offsets of several tenths lie in the soft-L1 prior's linear part, where
    moving a share between a vendor and its accelerators barely changes the cost, so the solver stops wherever
    the split began: with one accelerator of a vendor (MI300X, MI250 held out), all of its offsets stayed on AMD
    (compute -1.40, speed -0.59), and held-out MI250 was priced with all of MI300X's compute lag. The prior's
    least cost splits a lone accelerator's offset evenly (an even chance the next accelerator shares it) and
    gives a vendor of several about their median (what most of them share)."""
    slices = _offset_slices(problem)
    vendor_of = dict(zip(problem.hardware, problem.vendors, strict=True))
    hardware_vendors = np.array([vendor_of[name] for name in problem.hardware_names], dtype=object)
    out = x.copy()
    for vendor_field, hardware_field in (("vendor_log_speed", "hardware_log_speed"),
                                         ("vendor_log_compute", "hardware_log_compute")):
        hardware_at = np.arange(len(x))[slices[hardware_field]]
        for vendor, v_at in zip(problem.vendor_names, range(len(x))[slices[vendor_field]], strict=True):
            h_at = hardware_at[hardware_vendors == vendor]
            if not len(h_at):
                continue
            totals = out[v_at] + out[h_at]
            out[v_at] = _vendor_share(totals, prior_weight)
            out[h_at] = totals - out[v_at]
    return out


def _vendor_share(totals: npt.NDArray[np.float64], prior_weight: float) -> float:
    """The vendor's offset of least prior cost when its accelerators' offsets add up to ``totals``: between 0
    and the totals (the cost is convex: soft-L1 of each)."""
    from scipy.optimize import minimize_scalar

    low, high = min(0.0, float(totals.min())), max(0.0, float(totals.max()))
    if high - low < 1e-12:
        return 0.0
    best = minimize_scalar(lambda v: _offset_cost(np.r_[v, totals - v], prior_weight), bounds=(low, high),
                           method="bounded", options={"xatol": 1e-9})
    return float(best.x)


# Bound of an engine's host cost per sequence and static decode step, in microseconds.
_MAX_SEQUENCE_US = 1000.0
# Where that fit starts at the least: at the bound of 0 its first step hardly left it, and a tolerance of 1e-6
# or looser stopped it there (every cost 0); from 1 us even 1e-4 found vLLM's 51.4 us (ad hoc, shared rows).
_FIRST_SEQUENCE_US = 1.0


def _with_sequence_costs(fitted: Efficiency, problem: EfficiencyProblem, start: Mapping[str, float],
                         max_evaluations: int, tolerance: float) -> Efficiency:
    """``fitted`` with each engine's host cost per sequence and static decode step, fitted on the static rows
    (the only ones it moves) from ``start`` (the base's costs, in seconds), with every other parameter held.
    The shared parameters are fitted without it first: fitted together, they moved to explain it (in an ad hoc
    joint fit the step overhead went from 2.1 to 1.1 ms and the matmul's half-rate point from 1 to 5.6
    tokens), and served first tokens, which lean on the step time through the steps they wait, got slower (the
    newest releases' TTFT 63.8 -> 73.4% MAPE held out).

    The held parameters price each step once; a cost only adds to a static row's decode steps. Scored on every
    row from zero, a refit's tolerance (``_bundle._REFIT_TOLERANCE``) stopped it at once: every refit behind
    training's held-out rehearsals priced static batches with no cost while the fit they rehearse had one."""
    from scipy.optimize import least_squares

    static = problem.rows_where(~problem.steps.workload.continuous)
    engines = tuple(sorted({str(f) for f in static.frameworks}))
    if not engines:
        return fitted
    rows = fitted.rows(static.groups)
    step_s = [achievable_step(s, rows).time_s for s in static.steps.composed]
    engine_of = np.searchsorted(np.array(engines), static.frameworks.astype(str))

    def residuals(us: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        times = compose(static.steps, *step_s, first_token_steps=rows.first_token_steps,
                        wave_fraction=rows.wave_fraction, sequence_s=us[engine_of] * 1e-6)
        return np.concatenate(static.log_errors(times))

    first = np.array([float(np.clip(start.get(e, 0.0) * 1e6, _FIRST_SEQUENCE_US, _MAX_SEQUENCE_US)) for e in engines])
    with threadpool_limits(limits=1):
        result = least_squares(residuals, first, bounds=(0.0, _MAX_SEQUENCE_US), loss="soft_l1",
                               f_scale=_LOSS_SCALE, max_nfev=max_evaluations, ftol=tolerance, xtol=tolerance)
    # to the nanosecond: a cost at its bound of 0 is 0, not 1e-31
    return replace(fitted, framework_sequence_s={e: round(float(v) * 1e-6, 9)
                                                 for e, v in zip(engines, result.x, strict=True)})


def era_shares(fitted: Efficiency, problem: EfficiencyProblem) -> tuple[dict[str, float], dict[str, float]]:
    """Per accelerator, the oldest release measured on it (years since 2020), and, where :data:`MIN_ERA_ROWS`
    or more of its measured configurations come from later releases, the share of its offsets those rows kept
    (``Efficiency.hardware_era_shares``): the one on :data:`ERA_SHARE_GRID` whose prices of them lose least
    (the fit's soft-L1 loss; the largest of any tie, as rows that cannot tell keep the offsets whole).

    Only where most of the accelerator's measured configurations ran its first release: the offsets were
    fitted mostly there. Without that rule H200, trained without batches past 16 sequences (``surrogate
    evaluate --split batch``), had most of its rows on releases after its first and took a share of 0, so its
    own offsets, fitted on those very rows, were dropped from them. On the shared rows: MI300X 0.3 (AMD's
    MLPerf Llama-2-70B, 4 configurations after LLM-Inference-Bench's 1,108) and H100 SXM 1.0 (464 on
    MLPerf's and aiconfigurator's releases after LLM-Inference-Bench's 938); B200 and H200 ran most of their
    rows on later releases, every other part one release or too few of a later one."""
    first: dict[str, float] = {}
    shares: dict[str, float] = {}
    plain = replace(fitted, vendor_software_year={})  # no fade: the rows are inside the vendor's measured era
    measured = np.logical_or.reduce(list(problem.scored.values()))
    for name in problem.hardware_names:
        dated = (problem.hardware == name) & np.isfinite(problem.software_years)
        if not isinstance(name, str) or not dated.any():
            continue
        first[name] = float(problem.software_years[dated].min())
        after = dated & (problem.software_years > first[name] + SAME_RELEASE_YEARS)
        later_rows, all_rows = int((after & measured).sum()), int((dated & measured).sum())
        # The share asks whether a later release kept offsets fitted on the first: only where most of the
        # accelerator's measured rows ran the first release (else its later rows fitted the offsets themselves).
        if later_rows < MIN_ERA_ROWS or 2 * later_rows >= all_rows:
            continue
        later = problem.rows_where(after)
        losses = [_soft_l1(np.concatenate(later.log_errors(_times(
            replace(plain, hardware_first_year={name: first[name]}, hardware_era_share={name: float(share)}),
            later, with_years=True)))) for share in ERA_SHARE_GRID[::-1]]
        shares[name] = float(ERA_SHARE_GRID[::-1][int(np.argmin(losses))])
    return first, shares


def _times(efficiency: Efficiency, problem: EfficiencyProblem, *, with_years: bool = False
           ) -> dict[str, npt.NDArray[np.float64]]:
    """Each metric's achievable time for the problem's rows (``with_years``: priced for their releases)."""
    rows = efficiency.rows(problem.groups, software_years=problem.software_years if with_years else None)
    steps = problem.steps
    return compose(steps, *(achievable_step(s, rows).time_s for s in steps.composed),
                   first_token_steps=rows.first_token_steps, wave_fraction=rows.wave_fraction,
                   sequence_s=rows.sequence_s, attention_dp_wait=rows.attention_dp_wait)


def _soft_l1(residuals: npt.NDArray[np.float64]) -> float:
    """scipy's soft-L1 loss of ``residuals`` at ``_LOSS_SCALE`` (what the fit minimises)."""
    z = (residuals / _LOSS_SCALE) ** 2
    return float(np.sum(2.0 * (np.sqrt(1.0 + z) - 1.0)))


def _unmeasured_waits(problem: EfficiencyProblem) -> npt.NDArray[np.intp]:
    """Positions in the fitted vector of the closed-loop waits (:data:`_WAIT_PARAMETERS`) when fewer than
    ``_MIN_ROWS`` measured TTFTs and latencies of closed-loop serving rows price them (else none): too few to
    say where they lie, they stay at the base's."""
    closed = served_closed_loop(problem.steps)
    count = sum(int((problem.scored[metric] & closed).sum()) for metric in ("ttft_s", "latency_s"))
    if count >= _MIN_ROWS:
        return np.array([], dtype=np.intp)
    return np.array([i for i, (name, _) in enumerate(FITTED_PARAMETERS) if name in _WAIT_PARAMETERS], dtype=np.intp)


def enough_for_efficiency(table: pd.DataFrame) -> bool:
    """Whether ``table`` measures enough metrics to fit efficiency parameters (else the shipped ones stay)."""
    count = 0
    for metric in METRICS:
        values = pd.to_numeric(table[metric], errors="coerce") if metric in table else pd.Series(dtype=float)
        count += int((values > 0).sum())
    return count >= _MIN_ROWS


def fit_efficiency(table: pd.DataFrame | EfficiencyProblem, base: Efficiency | None = None, prior_rows: float = 50.0,
                   max_evaluations: int = 4000, tolerance: float = _TOLERANCE) -> Efficiency:
    """Efficiency parameters fitted to the measured rows of ``table`` (canonical columns, or its
    :func:`efficiency_problem` already built: refits on parts of one table share it).

    ``base`` supplies the starting point and the parameters that stay fixed (memory fraction);
    ``prior_rows`` is how many measurements a vendor's or framework's offset must outweigh to move
    a factor e away from the global value. ``tolerance`` is the relative change in loss (and in the
    parameters) that ends the fit: a refit starting from a nearby optimum can stop early.
    Deterministic: same rows, same parameters.
    """
    # The engines' per-sequence costs are fitted after the shared parameters, on what they leave, from the base's
    # (:func:`_with_sequence_costs`); the accelerators' offsets last, with the vendors' (_ACCELERATOR_OFFSETS).
    base = base or default_efficiency()
    start_costs = base.framework_sequence_s
    base = replace(base, framework_sequence_s={})
    problem = table if isinstance(table, EfficiencyProblem) else efficiency_problem(table)
    count = sum(int(mask.sum()) for mask in problem.scored.values())
    if count < _MIN_ROWS:
        raise DataError(f"{count} measured rows are too few to fit efficiency parameters (need {_MIN_ROWS})")
    # The offsets' prior: an offset o costs what o in log error on prior_rows rows costs (through the same
    # soft-L1 loss: Gaussian for small offsets, about linear past a few tenths).
    prior_weight = float(np.sqrt(prior_rows))
    settings = (prior_weight, max_evaluations, tolerance)
    # Vendors' compute offsets trade against the global fractions (many local optima): a fit from scratch frees
    # them only once the rest has settled, and tries both orders of freeing (:data:`_COMPUTE_ORDERS`), keeping the
    # one whose fit costs least. A base that already has them is a nearby optimum: one stage.
    new = any(v not in base.vendor_log_compute for v in problem.vendor_names)
    orders = _COMPUTE_ORDERS if new else (None,)
    # The orders are independent fits: on several cores each runs in a worker process (the same numbers).
    fits = run_all([partial(_staged_fit, base, problem, start_costs, order, settings) for order in orders],
                   work=len(orders) * count * _WORK_PER_METRIC)
    fitted, _ = min(fits, key=lambda fit: fit[1])  # the first of any tie: the order the fit always took
    first, shares = era_shares(fitted, problem)
    return replace(fitted, vendor_software_year=problem.newest_software_years(), hardware_first_year=first,
                   hardware_era_share=shares,
                   source=f"fitted on {count} measured metrics ({len(problem.vendors)} configurations)")


def _staged_fit(base: Efficiency, problem: EfficiencyProblem, start_costs: Mapping[str, float],
                order: tuple[str, ...] | None, settings: tuple[float, int, float]) -> tuple[Efficiency, float]:
    """The staged fit from ``base`` (see the module docstring) and what it costs (soft-L1 loss with the
    offsets' prior, before the waits under attention data parallelism): the shared parameters, in two stages by
    ``order`` (one of :data:`_COMPUTE_ORDERS`: the globals held until the vendors' compute offsets are freed;
    None: one stage, everything at once); then the engines' host costs per sequence; then the accelerators'
    offsets with the vendors'; then the engines' waits under attention data parallelism.

    One BLAS thread, here and in worker processes alike: the fit stops on a tolerance, and linear algebra split
    over another number of threads rounds differently (1e-10), which moved some held-out predictions by up to 4%
    between a fold fitted here and one fitted in a worker."""
    with threadpool_limits(limits=1):
        prior_weight, max_evaluations, tolerance = settings
        # The shared parameters are fitted as if no accelerator had offsets and no engine waited longer under
        # attention data parallelism (a problem naming neither), the same numbers to the last bit; then the
        # accelerators' on top, from the base's (_LAST_OFFSETS); then the engines' waits.
        alone = replace(base, hardware_log_speed={}, hardware_log_compute={})
        without_waits = replace(problem, attention_dp_names=())
        shared = replace(without_waits, hardware_names=())
        x = _start(alone, shared)
        free = np.setdiff1d(np.arange(len(x)), _unmeasured_waits(shared))
        names = [name for name, _ in FITTED_PARAMETERS]
        later = np.r_[np.arange(len(x))[_offset_slices(shared)["vendor_log_compute"]],
                      np.array([names.index(name) for name in order or ()], dtype=np.intp)]
        for varied in [np.setdiff1d(free, later), free] if order is not None else [free]:
            x[varied] = _fit_part(varied, x, alone, shared, prior_weight, max_evaluations, tolerance)
        fitted = _with_sequence_costs(_unpack(x, alone, shared), problem, start_costs, max_evaluations, tolerance)
        # The accelerators' offsets close the vector, so the shared fit's is its start, taken as fitted (not back
        # from ``fitted``: a fraction at its bound comes back 3e-4 off it); the accelerators start from the base's.
        full = np.concatenate([x, _start(base, without_waits)[len(x):]])
        slices = _offset_slices(without_waits)
        last = np.concatenate([np.arange(len(full))[slices[name]] for name in _LAST_OFFSETS])
        full[last] = _fit_part(last, full, fitted, without_waits, prior_weight, max_evaluations, tolerance)
        full = _recentred(full, without_waits, prior_weight)
        fitted = _unpack(full, fitted, without_waits)
        # What the fit costs is scored before the waits: with or without them, everything else is the same.
        loss = _soft_l1(_residuals(full, fitted, without_waits, prior_weight))
        # The waits close the vector, from the base's, everything before them held.
        full = np.concatenate([full, _start(base, problem)[len(full):]])
        waits = np.arange(len(full))[_offset_slices(problem)["framework_log_attention_dp_wait"]]
        if len(waits):
            full[waits] = _fit_part(waits, full, fitted, problem, prior_weight, max_evaluations, tolerance)
        return _unpack(full, fitted, problem), loss
