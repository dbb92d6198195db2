"""Bands and trust measured on held-out rows: split conformal residual quantiles, least-squares shrinks."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from surrogate.model._calibration import (
    CALIBRATION_FOLDS,
    CELL_PREFIX,
    KV_CACHE_FULL_CELL,
    MEASURED_PREFIX,
    MIN_CELL_ROWS,
    Band,
    Fade,
    WorkloadFades,
    added_growth_power,
    added_time,
    band_cells,
    cell_bands,
    deployment_folds,
    fade_share,
    growth_slack,
    model_folds,
    out_of_fold,
    pooled_slope,
    read_off_quantile,
    residual_band,
    row_bands,
    row_folds,
    shrunk_band,
    widest,
    workload_fade,
)


class _Mean:
    """A 'model' predicting its training targets' mean; records what it was trained on."""

    def __init__(self, target: np.ndarray, seen: list[int]) -> None:
        self.value = float(np.mean(target))
        seen.append(len(target))

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.full(len(data), self.value)


def test_out_of_fold_predicts_each_fold_from_the_others_and_never_holds_out_negative_folds() -> None:
    feats = pd.DataFrame({"x": np.arange(6.0)})
    target = np.array([1.0, 1.0, 4.0, 4.0, 10.0, 10.0])
    seen: list[int] = []
    predicted = out_of_fold(lambda f, t: _Mean(t, seen), feats, target, np.array([0, 0, 1, 1, -1, -1]))
    # fold 0 from rows 2-5: (4+4+10+10)/4 = 7; fold 1 from rows 0,1,4,5: 5.5; fold -1 is never held out
    np.testing.assert_allclose(predicted, [7.0, 7.0, 5.5, 5.5, np.nan, np.nan])
    assert seen == [4, 4]


def test_residual_band_takes_the_conformal_ranks() -> None:
    residuals = np.arange(-4.0, 6.0)  # ten residuals -4..5
    band = residual_band(residuals)
    # low level 0.1 * 1.1 - 0.1 = 0.01 -> the lowest (-4); high level 0.9 * 1.1 = 0.99 -> 'higher' = 5
    assert (band.low_log, band.high_log, band.shrink, band.rows) == (-4.0, 5.0, 1.0, 10)
    # a band never excludes zero: all-positive residuals still reach down to the prediction itself
    assert residual_band(np.array([1.0, 2.0, 3.0])).low_log == 0.0
    assert residual_band(np.array([np.nan])) == Band(0.0, 0.0, 1.0, 0)


def test_shrunk_band_is_the_least_squares_shrink_clipped_to_0_1() -> None:
    correction = np.array([1.0, 2.0, -1.0])
    # needed = 0.5 x correction exactly: lambda = sum(c*y)/sum(c*c) = 0.5, residuals all zero
    band = shrunk_band(correction, 0.5 * correction)
    assert band.shrink == pytest.approx(0.5) and band.low_log == 0.0 and band.high_log == 0.0
    # a correction that points the wrong way is not trusted at all; the band is the prior's own error
    assert shrunk_band(correction, -correction).shrink == 0.0
    assert shrunk_band(correction, 3.0 * correction).shrink == 1.0
    assert shrunk_band(np.zeros(3), np.ones(3)).shrink == 0.0


def test_the_shrink_pools_each_held_out_group_s_slope_as_a_random_effects_mean() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(size=1000)
    other = rng.normal(size=100)
    # 1,000 rows of one engine where the correction carries over (slope 1), 100 of another where it should
    # have been 0 (slope 0): by rows the slope is about 1000/1100; as groups, two engines that disagree.
    correction = np.r_[big, other]
    needed = np.r_[big + 0.1 * rng.normal(size=1000), 0.1 * rng.normal(size=100)]
    groups = np.array(["vllm"] * 1000 + ["llama.cpp"] * 100)
    assert shrunk_band(correction, needed).shrink == pytest.approx(0.9, abs=0.02)
    assert shrunk_band(correction, needed, groups).shrink == pytest.approx(0.5, abs=0.01)
    # groups that agree pool to their common slope (no between-group variance: weights by precision)
    assert pooled_slope(correction, 0.6 * correction, groups) == pytest.approx(0.6)
    # clipped to [0, 1]; a group with no correction says nothing; none left is the prior (0)
    assert pooled_slope(correction, 3.0 * correction, groups) == 1.0
    assert pooled_slope(correction, -correction, groups) == 0.0
    assert pooled_slope(np.r_[correction, np.zeros(5)], np.r_[0.6 * correction, np.ones(5)],
                        np.append(groups, ["sglang"] * 5)) == pytest.approx(0.6)
    assert pooled_slope(np.zeros(3), np.ones(3), np.array(["a", "b", "c"])) == 0.0
    # a group of one row (zero residual, so zero variance: infinite precision) or two says nothing either: before,
    # one accelerator's single row at slope -15 outweighed the other groups' 1,100 rows and set the trust to 0
    for rows in (1, 2):
        lone = np.full(rows, 0.5)
        assert pooled_slope(np.r_[correction, lone], np.r_[0.6 * correction, -15 * lone],
                            np.append(groups, ["h100-pcie"] * rows)) == pytest.approx(0.6)
    # a group whose correction pointed the right way but fell short (slope 6) asks for the whole correction, not
    # six times it: three engines that agree at 0.5, 0.5 and 1 (clipped from 6) pool to 2/3, where unclipped
    # slopes pooled to 1 (their mean, 2.33, clipped)
    rng2 = np.random.default_rng(1)
    parts = [rng2.normal(size=200) for _ in range(3)]
    needed3 = np.concatenate([0.5 * parts[0], 0.5 * parts[1], 6.0 * parts[2]])
    groups3 = np.repeat(["vllm", "sglang", "sambaflow"], 200)
    assert pooled_slope(np.concatenate(parts), needed3, groups3) == pytest.approx(2 / 3, abs=1e-6)
    # rows the rehearsal could not predict (NaN) are skipped
    assert shrunk_band(np.r_[correction, np.nan], np.r_[needed, 1.0], np.append(groups, "sglang")).shrink == \
        pytest.approx(0.5, abs=0.01)


def test_the_between_engine_variance_is_paule_mandel_s_so_one_tight_engine_does_not_set_the_trust() -> None:
    # vLLM's 2,000 tight rows carry over with slope 1.3, TensorRT-LLM's 0.8, DeepSpeed's 0.25; 40 noisy rows of
    # a fourth engine needed the opposite sign (-2.0). Each slope is clipped to the trusts on offer (1.3 -> 1,
    # -2.0 -> 0), then the pooled trust is the mean at the tau^2 where the generalised Q equals k - 1
    # (Paule-Mandel), solved here by bisection from the per-group slopes and variances; DerSimonian-Laird's
    # moment tau^2 is smaller and gives the tight engines more say.
    rng = np.random.default_rng(0)
    sizes = {"vllm": 2000, "trt": 500, "ds": 300, "samba": 40}
    slope = {"vllm": 1.3, "trt": 0.8, "ds": 0.25, "samba": -2.0}
    noise = {"vllm": 0.3, "trt": 0.3, "ds": 0.3, "samba": 3.0}
    parts = []
    for engine, rows in sizes.items():
        x = rng.normal(size=rows)
        parts.append((x, slope[engine] * x + noise[engine] * rng.normal(size=rows), [engine] * rows))
    c = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = np.concatenate([p[2] for p in parts])
    b, v = [], []
    for engine in sizes:
        mine = groups == engine
        energy = c[mine] @ c[mine]
        slope = c[mine] @ y[mine] / energy
        residual = y[mine] - slope * c[mine]
        b.append(np.clip(slope, 0.0, 1.0))  # each group's best trust on offer
        v.append(residual @ residual / (mine.sum() - 1) / energy)
    slopes, variances = np.array(b), np.array(v)

    def q_minus_expected(tau2: float) -> float:
        w = 1 / (variances + tau2)
        return float(w @ (slopes - w @ slopes / w.sum()) ** 2) - (len(slopes) - 1)

    low, high = 0.0, 100.0
    for _ in range(200):
        low, high = (low, (low + high) / 2) if q_minus_expected((low + high) / 2) < 0 else ((low + high) / 2, high)
    w = 1 / (variances + low)
    paule_mandel = float(w @ slopes / w.sum())
    w0 = 1 / variances
    q = float(w0 @ (slopes - w0 @ slopes / w0.sum()) ** 2)
    tau2_dl = max(0.0, (q - (len(slopes) - 1)) / (w0.sum() - (w0 @ w0) / w0.sum()))
    w = 1 / (variances + tau2_dl)
    dersimonian_laird = float(w @ slopes / w.sum())
    assert pooled_slope(c, y, groups) == pytest.approx(paule_mandel, abs=1e-4)
    assert paule_mandel == pytest.approx(0.595, abs=0.01)
    assert dersimonian_laird == pytest.approx(0.607, abs=0.01)


def test_widest_covers_every_band_with_the_least_trust() -> None:
    assert widest([Band(-0.1, 0.2, 0.8, 5), Band(-0.3, 0.1, 0.4, 7)]) == Band(-0.3, 0.2, 0.4, 12)
    assert widest([]) == Band(0.0, 0.0, 0.0, 0)


def _support(hardware: list[bool], distance: list[float]) -> pd.DataFrame:
    n = len(hardware)
    return pd.DataFrame({"vendor_seen_in_training": [True] * n, "hardware_seen_in_training": hardware,
                         "model_seen_in_training": [True] * n, "framework_seen_in_training": [True] * n,
                         "software_seen_in_training": [True] * n, "support_distance": distance})


def test_row_bands_combine_kinds_range_and_distance() -> None:
    bands = {"seen": Band(-0.1, 0.1), "prior": Band(-0.5, 0.9, 0.0), "hardware": Band(-0.3, 0.4, 0.5),
             "workload": Band(-0.2, 0.6)}
    # Sequences were rehearsed log 0.25 beyond the range above (band -0.2..0.6) and below (-0.4..0.3);
    # prompts log 1.0 above (-0.1..0.2), never below.
    fades = WorkloadFades(above=(Fade(0.5, 0.25, -0.2, 0.6), Fade(0.5, 1.0, -0.1, 0.2)),
                          below=(Fade(0.5, 0.25, -0.4, 0.3), Fade()))
    support = _support([True, False, True, True, True, True], [0.0, 0.5, 0.0, 0.0, 4.0, 0.0])
    # Row 2 lies log 0.5 beyond the range in sequences (twice the rehearsed 0.25) and log 2.0 in prompts
    # (twice the rehearsed 1.0): each tail's band widened in proportion, the widest. Row 3 lies log 0.3 below
    # it in sequences: 1.2 times. Row 5 lies log 0.75 below in prompts, never rehearsed there: the band of
    # every tail (``workload``) at the least rehearsed distance, 0.25 (3 times).
    above = np.array([[0.0, 0.0], [0.0, 0.0], [0.5, 2.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    below = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.3, 0.0], [0.0, 0.0], [0.0, 0.75]])
    shrink, low, high = row_bands(bands, support, above, below, fades)
    np.testing.assert_allclose(shrink, [1.0, 0.5, 1.0, 1.0, 0.25, 1.0])
    # above the range both sides widen; below it only the low side (P90 never falls as the workload grows)
    np.testing.assert_allclose(low, [-0.1, -0.3, -0.2 * 2.0, -0.4 * 1.2, 0.25 * -0.1 + 0.75 * -0.5, -0.2 * 3.0])
    np.testing.assert_allclose(high, [0.1, 0.4, 0.6 * 2.0, 0.1, 0.25 * 0.1 + 0.75 * 0.9, 0.1])
    # The pooled band's rows lay log 0.5 past their ranges at the median: row 5, never rehearsed there, takes
    # it at that distance (1.5 times), not at the least distance a tail was rehearsed at.
    _, low, _ = row_bands(bands, support, above, below, replace(fades, pooled_extent_log=0.5))
    np.testing.assert_allclose(low[[2, 3, 5]], [-0.2 * 2.0, -0.4 * 1.2, -0.2 * 1.5])
    # Nothing rehearsed at all: the band of every tail beyond the range, never widened.
    _, low, high = row_bands(bands, support, above, below)
    np.testing.assert_allclose(low[[2, 3, 5]], [-0.2, -0.2, -0.2])
    np.testing.assert_allclose(high[[2, 3, 5]], [0.6, 0.1, 0.1])


def test_each_engine_and_batching_mode_with_enough_residuals_gets_its_own_band() -> None:
    cfg = pd.DataFrame({"framework": ["vllm", "llama.cpp", "vllm"], "batching": ["static", "static", "continuous"]})
    assert band_cells(cfg).tolist() == ["vllm/static", "llama.cpp/static", "vllm/continuous"]
    quiet = np.linspace(-0.05, 0.05, MIN_CELL_ROWS)  # 30 residuals -0.05..0.05
    loud = np.linspace(-0.3, 0.3, MIN_CELL_ROWS)
    few = np.array([-2.0] * (MIN_CELL_ROWS - 1))
    residuals = np.concatenate([quiet, loud, few, [np.nan]])
    cells = np.array(["llama.cpp/static"] * MIN_CELL_ROWS + ["vllm/static"] * MIN_CELL_ROWS
                     + ["sambaflow/static"] * (MIN_CELL_ROWS - 1) + ["llama.cpp/static"])
    bands = cell_bands(residuals, cells)
    # n = 30 (the NaN is not a residual): levels 0.1 * 31/30 - 1/30 = 0.07, position 0.07 * 29 = 2.03,
    # 'lower': index 2 (the third smallest); 0.9 * 31/30 = 0.93, position 26.97, 'higher': index 27
    step = 0.1 / (MIN_CELL_ROWS - 1)
    assert bands.keys() == {CELL_PREFIX + "llama.cpp/static", CELL_PREFIX + "vllm/static"}
    quiet_band = bands[CELL_PREFIX + "llama.cpp/static"]
    expected = (-0.05 + 2 * step, 0.05 - 2 * step, 30)
    assert (quiet_band.low_log, quiet_band.high_log, quiet_band.rows) == pytest.approx(expected)
    assert bands[CELL_PREFIX + "vllm/static"].high_log == pytest.approx(6 * (0.05 - 2 * step))  # six times as loud


def test_a_seen_row_takes_its_cells_band_and_off_the_data_never_less_than_the_kinds() -> None:
    bands = {"seen": Band(-0.2, 0.2), "prior": Band(-0.5, 0.9, 0.0), "hardware": Band(-0.3, 0.4, 0.5),
             CELL_PREFIX + "llama.cpp/static": Band(-0.05, 0.04), CELL_PREFIX + "vllm/static": Band(-0.3, 0.25)}
    support = _support([True, True, True, False], [0.0, 0.0, 0.0, 0.0])
    cells = np.array(["llama.cpp/static", "vllm/static", "sglang/continuous", "llama.cpp/static"])
    none = np.zeros((4, 3))
    shrink, low, high = row_bands(bands, support, none, none, cells=cells)
    # an engine with no band of its own takes the pooled one; an unseen accelerator the hardware band
    np.testing.assert_allclose(low, [-0.05, -0.3, -0.2, -0.3])
    np.testing.assert_allclose(high, [0.04, 0.25, 0.2, 0.4])
    np.testing.assert_allclose(shrink, [1.0, 1.0, 1.0, 0.5])
    # without cells every seen row takes the pooled band, as before
    _, low, high = row_bands(bands, support, none, none)
    np.testing.assert_allclose(low[:3], [-0.2, -0.2, -0.2])


def test_a_row_beyond_its_kv_cache_takes_the_wider_of_its_cell_and_its_engines_band() -> None:
    bands = {"seen": Band(-0.2, 0.2), "prior": Band(-0.5, 0.9, 0.0), CELL_PREFIX + KV_CACHE_FULL_CELL: Band(-1.0, 0.1),
             CELL_PREFIX + "vllm/continuous": Band(-0.3, 0.25)}
    support = _support([True, True], [0.0, 0.0])
    cells, engines = np.array(["vllm/continuous", KV_CACHE_FULL_CELL]), np.array(["vllm/continuous"] * 2)
    none = np.zeros((2, 3))
    _, low, high = row_bands(bands, support, none, none, cells=cells, engine_cells=engines)
    # The second row, grown past what its cache holds, keeps its engine's P90 side (never narrower as it grows).
    np.testing.assert_allclose(low, [-0.3, -1.0])
    np.testing.assert_allclose(high, [0.25, 0.25])
    _, low, high = row_bands(bands, support, none, none, cells=cells)
    np.testing.assert_allclose(high, [0.25, 0.1])


def test_a_row_on_the_data_takes_its_p10_from_rows_held_out_at_random() -> None:
    # Rows held out at random (their deployments' other rows trained on) needed a narrower band than whole
    # deployment groups held out. It is a measured deployment's, seen in every kind and inside the range.
    bands = {"seen": Band(-0.2, 0.2), "prior": Band(-0.5, 0.9, 0.0), "hardware": Band(-0.3, 0.4, 0.5),
             "measured": Band(-0.1, 0.1), CELL_PREFIX + "vllm/static": Band(-0.3, 0.25),
             MEASURED_PREFIX + "vllm/static": Band(-0.15, 0.12)}
    support = _support([True, True, True, False, True], [0.0] * 5).assign(
        deployment_measured=[True, True, False, True, True])
    cells = np.array(["vllm/static", "sglang/continuous", "vllm/static", "vllm/static", "vllm/static"])
    above = np.zeros((5, 3))
    above[4, 0] = 0.5  # beyond the trained batch: not on the data
    _, low, high = row_bands(bands, support, above, np.zeros((5, 3)), cells=cells)
    # P10: measured, its cell's random band; an engine with none, the pooled one; not measured, the group band;
    # off in hardware, the group band widened by the kind's; beyond the range, the group band (no fades given).
    np.testing.assert_allclose(low, [-0.15, -0.1, -0.3, -0.3, -0.3])
    # P90 is the group band's everywhere (measured lengths can give way to unmeasured ones and back as they grow)
    np.testing.assert_allclose(high, [0.25, 0.2, 0.25, 0.4, 0.25])


def test_far_off_in_a_rehearsed_kind_the_kinds_band_stands_and_only_the_trust_falls() -> None:
    # The hardware band was measured on accelerators held out whole, as far from the rest as they lay; a row
    # off in no kind but as far moves toward the prior's band by 1 - 1/4.
    bands = {"seen": Band(-0.1, 0.1), "prior": Band(-0.5, 0.9, 0.0), "hardware": Band(-0.3, 0.4, 0.5)}
    support = _support([False, True], [4.0, 4.0])
    shrink, low, high = row_bands(bands, support, np.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_allclose(shrink, [0.5 / 4.0, 1.0 / 4.0])
    np.testing.assert_allclose(low, [-0.3, 0.25 * -0.1 + 0.75 * -0.5])
    np.testing.assert_allclose(high, [0.4, 0.25 * 0.1 + 0.75 * 0.9])


def test_rows_are_dealt_to_calibration_folds_at_random_and_evenly_the_same_for_a_seed() -> None:
    folds = row_folds(10, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [3, 3, 4]
    assert folds.tolist() == row_folds(10, seed=0).tolist()
    assert folds.tolist() != row_folds(10, seed=1).tolist()


def test_a_metric_without_a_model_gets_the_prior_band_everywhere() -> None:
    shrink, low, high = row_bands({"prior": Band(-0.5, 0.9, 0.0)}, _support([True], [0.0]), np.zeros((1, 3)),
                                  np.zeros((1, 3)))
    assert (shrink[0], low[0], high[0]) == (0.0, -0.5, 0.9)


def test_beyond_the_range_a_faster_level_fades_to_the_rehearsed_share_at_the_rehearsed_distance() -> None:
    # Rehearsal: rows log 2 beyond the kept concurrency needed a quarter of the faster level (odds 1/0.25 - 1
    # = 3); rows beyond the kept prompt length needed all of it; output length had no rehearsal.
    fades = (Fade(0.25, np.log(2.0)), Fade(1.0, 0.5), Fade(0.5, 0.0))
    above = np.array([[0.0, 0.0, 0.0], [np.log(2.0), 0.0, 0.0], [np.log(4.0), 3.0, 9.0]])
    np.testing.assert_allclose(fade_share(fades, above), [1.0, 0.25, 1.0 / (1.0 + 2.0 * 3.0)])
    # Each dimension's share multiplies: half at one extent in both of two dimensions is a quarter.
    np.testing.assert_allclose(fade_share((Fade(0.5, 1.0), Fade(0.5, 2.0)), np.array([[1.0, 2.0]])), [0.25])
    np.testing.assert_allclose(fade_share((), above), [1.0, 1.0, 1.0])
    # Past the rehearsed distance the share is also at most extent / distance: a full share rehearsed at
    # log 2 keeps half at log 4; inside the rehearsed distance the share alone counts.
    np.testing.assert_allclose(fade_share((Fade(1.0, np.log(2.0)),), np.array([[np.log(4.0)], [0.5]]),
                                          past_rehearsal=True), [0.5, 1.0])
    np.testing.assert_allclose(fade_share((Fade(0.25, np.log(2.0)),), np.array([[np.log(4.0)]]),
                                          past_rehearsal=True), [1.0 / 7.0])  # 1/7 < 1/2: the share decides


def test_only_a_faster_level_fades_above_the_range_and_only_a_slower_one_below() -> None:
    fades = WorkloadFades(above=(Fade(0.25, np.log(2.0)),), below=(Fade(1.0, np.log(2.0)),))
    # The prior's growth past the twin (correction - level) stays; only the level fades.
    correction, level = np.array([-1.0, 0.5, -0.3, 0.9, -0.4]), np.array([-0.8, 0.7, 0.2, 0.6, -0.5])
    above = np.array([[np.log(2.0)], [np.log(2.0)], [np.log(2.0)], [0.0], [0.0]])
    below = np.array([[0.0], [0.0], [0.0], [np.log(4.0)], [np.log(4.0)]])
    np.testing.assert_allclose(fades.apply(correction, level, above, below),
                               [-0.2 - 0.8 * 0.25, 0.5, -0.3, 0.3 + 0.6 * 0.5, -0.4])
    no_band = {"low_log": 0.0, "high_log": 0.0, "added_growth": 0.0}
    assert fades.to_dict(["sequences"]) == {
        "above": {"sequences": {"share": 0.25, "extent_log": np.log(2.0), **no_band}},
        "below": {"sequences": {"share": 1.0, "extent_log": np.log(2.0), **no_band}}}


def test_an_added_time_grows_by_its_power_of_the_distance_never_faster_than_the_prior() -> None:
    # At the twin the level added half the prior (log 1.5); past it the prior doubled (growth log 2).
    level, growth = np.full(4, np.log(1.5)), np.full(4, np.log(2.0))
    # Fixed seconds: 0.5 of the edge prior over twice it, 0.25; grown by sqrt(2): 0.5 x sqrt(2) / 2; grown as
    # fast as the prior or faster (capped): the ratio stays 1.5.
    powered = np.array([0.0, 0.5 * np.log(2.0), np.log(2.0), 3.0 * np.log(2.0)])
    np.testing.assert_allclose(added_time(level, growth, powered),
                               np.log([1.25, 1.0 + 0.5 * np.sqrt(2.0) / 2.0, 1.5, 1.5]))
    # The prediction (prior x ratio) never falls as the prior and the distance grow, whatever the power.
    grid = np.linspace(0.0, 3.0, 31)
    for power in (0.0, 0.3, 1.0, 3.0):
        prediction = grid + added_time(np.full(31, 0.8), grid, power * grid / 1.5)
        assert (np.diff(prediction) >= 0).all()


def test_above_the_range_a_slower_level_adds_time_as_its_dimension_rehearsed() -> None:
    # Sequences rehearsed: the added time grew as the distance (power 1); prompts never rehearsed (power 0).
    fades = WorkloadFades(above=(Fade(0.25, np.log(2.0), added_growth=1.0), Fade()), below=(Fade(), Fade()))
    level = np.array([np.log(1.5), np.log(1.5), np.log(1.5), -0.8, np.log(1.5)])
    # Row 0: twice the trained sequences, prior grown 4x: 0.5 x 2 over 4. Row 1: twice the longest prompt,
    # prior grown 4x: 0.5 over 4. Row 2: inside the range. Row 3: faster, faded as before. Row 4: both
    # dimensions, prior grown 8x: 0.5 x 2 over 8.
    above = np.log(np.array([[2.0, 1.0], [1.0, 2.0], [1.0, 1.0], [2.0, 1.0], [2.0, 2.0]]))
    growth = np.log([4.0, 4.0, 1.0, 4.0, 8.0])
    expected = np.log([1.25, 1.125, 1.5, np.exp(-0.8 * 0.25), 1.125])
    np.testing.assert_allclose(fades.apply(level, level, above, np.zeros((5, 2)), growth), expected)
    # Without the prior's growth (no physics) a slower level stays a ratio.
    np.testing.assert_allclose(fades.apply(level, level, above, np.zeros((5, 2))), np.log([1.5] * 3 + [
        np.exp(-0.8 * 0.25), 1.5]))


def test_the_added_time_power_is_the_one_the_rehearsal_rows_needed() -> None:
    level = np.array([0.4, 0.8, 0.2, -0.5, 0.6, 0.3])
    growth = np.array([0.5, 1.0, 2.0, 1.0, 0.0, 1.0])  # row 3 faster, row 4 at the edge, row 5 not past it
    distance = np.array([0.4, 0.7, 1.5, 0.7, 0.0, 0.0])
    needed = added_time(level, growth, 0.35 * distance)
    needed[3:] = 9.0
    assert added_growth_power(level, needed, growth, distance) == pytest.approx(0.35)
    assert added_growth_power(level[3:], needed[3:], growth[3:], distance[3:]) == 0.0  # nothing rehearsed


def test_the_workload_share_is_the_slope_over_faster_levels_beyond_the_range() -> None:
    level = np.array([-1.0, -2.0, -4.0, 0.5, -3.0])
    needed = np.array([-0.5, -1.0, 9.0, 5.0, np.nan])
    above = np.array([0.7, 0.7, 0.0, 0.7, 0.7])  # row 2 inside the range, row 3 slower, row 4 unmeasured
    assert workload_fade(level, needed, above) == pytest.approx(0.5)
    assert workload_fade(level, -needed, above) == 0.0  # needed slower: clipped to no trust
    assert workload_fade(level, needed, np.zeros(5)) == 1.0  # nothing beyond the range: nothing to fade
    # Below the range the slower levels count: only row 3 (level 0.5, needed 5 -> clipped to 1; needed 0.1 -> 0.2).
    assert workload_fade(level, needed, above, slower=True) == 1.0
    assert workload_fade(level, np.full(5, 0.1), above, slower=True) == pytest.approx(0.2)


MODELS = np.array([f"org/model-{i}" for i in range(30)] + ["meta-llama/Meta-Llama-3-8B"] * 3)


def test_model_folds_are_deterministic_per_model_and_in_range() -> None:
    folds = model_folds(MODELS)
    assert folds.shape == (len(MODELS),)
    assert np.issubdtype(folds.dtype, np.integer)
    assert ((folds >= 0) & (folds < CALIBRATION_FOLDS + 2)).all()
    assert len(set(folds[:30])) >= 3  # thirty models do not all land in one fold
    # A model's fold is its own: the same in any order and whatever other models are present.
    assert len(set(folds[30:])) == 1
    np.testing.assert_array_equal(model_folds(MODELS[::-1]), folds[::-1])
    np.testing.assert_array_equal(model_folds(MODELS[:5]), folds[:5])


def test_model_folds_do_not_depend_on_the_process_hash_seed() -> None:
    code = ("import numpy as np; from surrogate.model._calibration import model_folds; "
            f"print([int(f) for f in model_folds(np.array({list(MODELS[:10])!r}))])")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    assert runs[0] == runs[1] == f"{[int(f) for f in model_folds(MODELS[:10])]}\n"


def test_read_off_levels_lie_on_the_band() -> None:
    median, p90 = np.array([0.008, 0.025]), np.array([0.012, 0.033])
    np.testing.assert_allclose(read_off_quantile(median, p90, 0.5), median)
    np.testing.assert_allclose(read_off_quantile(median, p90, 0.9), p90)
    # 25 ms x (33 / 25) ** (z_0.7 / z_0.9) = 25 ms x 1.32 ** (0.5244 / 1.2816) = 28.0 ms.
    assert read_off_quantile(median, p90, 0.7)[1] == pytest.approx(0.028008, abs=1e-6)
    with pytest.raises(ValueError, match="between the median and P90"):
        read_off_quantile(median, p90, 0.95)


def _lengths_grid() -> pd.DataFrame:
    """Four models at three prompt lengths, each deployment on two engines at two batch sizes (48 rows)."""
    rows = [{"model": f"m{m}", "input_len": length, "output_len": 128, "framework": engine, "batch_size": batch}
            for m in range(4) for length in (128, 512, 2048) for engine in ("vllm", "sglang") for batch in (1, 16)]
    return pd.DataFrame(rows)


def test_deployment_folds_hold_a_model_at_its_lengths_out_whole_on_every_engine() -> None:
    cfg = _lengths_grid()
    folds = deployment_folds(cfg, seed=0)
    assert folds.dtype == np.int64 and ((folds >= 0) & (folds < CALIBRATION_FOLDS)).all()
    per_group = pd.Series(folds).groupby([cfg["model"], cfg["input_len"]]).nunique()
    assert (per_group == 1).all()  # each (model, lengths) group sits in one fold, engines and batches together
    assert len(np.unique(folds)) >= 2
    # Stable: the same rows in another order keep their folds.
    np.testing.assert_array_equal(deployment_folds(cfg[::-1], seed=0), folds[::-1])


def test_deployment_folds_fall_back_to_random_rows_when_one_group_is_all() -> None:
    cfg = _lengths_grid()
    one = cfg[(cfg["model"] == "m0") & (cfg["input_len"] == 512)]
    folds = deployment_folds(one, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [1, 1, 2]  # 4 rows dealt over 3 folds, not one fold of all


def _deployments(elasticity: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Two deployments whose measured times grow as prior ** elasticity along their rows (offsets differ)."""
    cfg = pd.DataFrame({"hardware": ["h100-sxm"] * 3 + ["b200"] * 3, "model": ["m"] * 6})
    log_prior = np.array([0.0, 1.0, 2.0, 5.0, 6.0, 7.0])
    log_measured = elasticity * log_prior + np.array([0.3] * 3 + [-2.0] * 3)
    return cfg, log_measured, log_prior


@pytest.mark.parametrize(("elasticity", "slack"), [(0.6, 0.4), (1.0, 0.0), (1.2, 0.0), (0.2, 0.5)])
def test_growth_slack_is_one_minus_the_within_deployment_elasticity(elasticity: float, slack: float) -> None:
    assert growth_slack(*_deployments(elasticity)) == pytest.approx(slack)


def test_growth_slack_ignores_differences_between_deployments() -> None:
    # across deployments the measured level falls as the prior rises; within each it grows 1:1
    cfg, log_measured, log_prior = _deployments(1.0)
    log_measured[3:] -= 10.0
    assert growth_slack(cfg, log_measured, log_prior) == 0.0


def test_growth_slack_groups_by_the_keys_given_and_reads_a_missing_key_as_one_label() -> None:
    # Grouped by model alone the two deployments are one: their offsets then read as growth (slope 0.6 -> 0.26).
    cfg, log_measured, log_prior = _deployments(0.6)
    assert growth_slack(cfg, log_measured, log_prior, keys=("model",)) > 0.4
    # A release recorded for neither (missing, as a string column holds it) groups as if the key were absent.
    cfg["framework_version"] = pd.array([None] * 6, dtype="string")
    assert growth_slack(cfg, log_measured, log_prior, keys=("hardware", "model", "framework_version")) \
        == pytest.approx(0.4)


def test_served_rows_beyond_what_the_kv_cache_holds_share_one_cell_whatever_the_engine() -> None:
    cfg = pd.DataFrame({"framework": ["vllm", "sglang", "vllm", "tensorrt-llm"],
                        "batching": ["continuous", "continuous", "static", "continuous"],
                        "concurrency": [64.0, 64.0, np.nan, 8.0]})
    # The static batch runs whole (its running count is its batch); only served rows can wait for a slot.
    running = np.array([40, 64, 32, 8])
    assert band_cells(cfg, running).tolist() == [KV_CACHE_FULL_CELL, "sglang/continuous", "vllm/static",
                                                 "tensorrt-llm/continuous"]
    assert band_cells(cfg).tolist()[0] == "vllm/continuous"
