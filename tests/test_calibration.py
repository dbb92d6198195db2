"""Conformalized P10-P90 intervals: the offset arithmetic, its coverage, group and per-row offsets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from surrogate.model._calibration import (
    CALIBRATION_FOLDS,
    QUANTILES,
    conformal_offset,
    group_offset,
    model_folds,
    row_offsets,
)


class _Constant:
    """A fitted 'quantile model' that predicts one value everywhere."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.full(len(data), self.value)


QuantileFit = Callable[[pd.DataFrame, np.ndarray, float], _Constant]


def _fixed_band(low: float, high: float, calls: list[tuple[list[int], float]] | None = None) -> QuantileFit:
    """fit_quantile that ignores the data: P10 -> ``low``, P90 -> ``high``; records what it trained on."""

    def fit(feats: pd.DataFrame, target: np.ndarray, alpha: float) -> _Constant:
        if calls is not None:
            calls.append((list(feats.index), alpha))
        return _Constant(low if alpha == QUANTILES["p10"] else high)

    return fit


def _mean_band(feats: pd.DataFrame, target: np.ndarray, alpha: float) -> _Constant:
    """P10 = mean(training target) - 1, P90 = mean + 1: depends on which rows it was trained on."""
    return _Constant(float(np.mean(target)) + (-1.0 if alpha == QUANTILES["p10"] else 1.0))


Y = np.arange(6, dtype=float)  # 0 1 2 3 4 5
FEATS = pd.DataFrame({"x": Y})
TWO_FOLDS = np.array([0, 0, 0, 1, 1, 1])


def test_offset_is_the_finite_sample_quantile_of_the_scores() -> None:
    # Band [1, 3]; score = max(lo - y, y - hi):
    #   y=0: max(1, -3) = 1   y=1: 0   y=2: max(-1, -1) = -1   y=3: 0   y=4: 1   y=5: max(-4, 2) = 2
    # sorted scores [-1, 0, 0, 1, 1, 2]; level = 0.8 * (1 + 1/6) = 14/15;
    # linear quantile position 14/15 * 5 = 4.667 -> 1 + 0.667 * (2 - 1) = 5/3.
    # (Without the (1 + 1/n) correction it would be position 4.0 -> 1.0.)
    calls: list[tuple[list[int], float]] = []
    offset = conformal_offset(_fixed_band(1.0, 3.0, calls), FEATS, Y, TWO_FOLDS)
    assert offset == pytest.approx(5.0 / 3.0)
    # Each fold's models are trained on the other fold only, once per quantile.
    assert sorted((tuple(rows), alpha) for rows, alpha in calls) == [
        ((0, 1, 2), 0.1), ((0, 1, 2), 0.9), ((3, 4, 5), 0.1), ((3, 4, 5), 0.9)]


def test_scores_are_out_of_fold() -> None:
    # Fold 0 (y=0,1,2) is predicted by models trained on y=3,4,5 (mean 4): band [3, 5], scores 3, 2, 1.
    # Fold 1 (y=3,4,5) by models trained on y=0,1,2 (mean 1): band [0, 2], scores 1, 2, 3.
    # sorted [1, 1, 2, 2, 3, 3], position 4.667 -> 3. In-sample (mean 2.5) scores would give 1.17.
    assert conformal_offset(_mean_band, FEATS, Y, TWO_FOLDS) == pytest.approx(3.0)


def test_a_band_that_is_too_wide_gets_a_negative_offset() -> None:
    # Band [-10, 15] around 0..5: scores max(-10 - y, y - 15) = -10 -11 -12 -12 -11 -10,
    # sorted [-12, -12, -11, -11, -10, -10], position 4.667 -> -10: narrowed to [0, 5], just covering.
    assert conformal_offset(_fixed_band(-10.0, 15.0), FEATS, Y, TWO_FOLDS) == pytest.approx(-10.0)


def test_a_single_fold_has_nothing_held_out_and_gives_zero() -> None:
    assert conformal_offset(_fixed_band(1.0, 3.0), FEATS, Y, np.zeros(6, dtype=int)) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_widening_by_the_offset_covers_about_80_percent_of_new_rows(seed: int) -> None:
    # Empirical quantiles of the training fold, deliberately too narrow (40th-60th percentile).
    def narrow(feats: pd.DataFrame, target: np.ndarray, alpha: float) -> _Constant:
        return _Constant(float(np.quantile(target, 0.4 if alpha == QUANTILES["p10"] else 0.6)))

    rng = np.random.default_rng(seed)
    y = rng.lognormal(0.0, 0.5, size=3000)
    folds = rng.permutation(len(y)) % 3
    offset = conformal_offset(narrow, pd.DataFrame({"x": y}), y, folds)
    assert offset > 0
    low, high = np.quantile(y, [0.4, 0.6])  # the band trained on every row
    fresh = rng.lognormal(0.0, 0.5, size=20_000)
    plain = np.mean((fresh >= low) & (fresh <= high))
    widened = np.mean((fresh >= low - offset) & (fresh <= high + offset))
    assert plain < 0.3
    assert 0.77 <= widened <= 0.84  # 0.79-0.81 for these seeds


def test_group_offset_never_narrower_than_its_floor() -> None:
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    # Held out by group the offset is the 5/3 computed above; a wider floor wins, a narrower one does not.
    assert group_offset(_fixed_band(1.0, 3.0), FEATS, Y, groups, floor=10.0) == 10.0
    assert group_offset(_fixed_band(1.0, 3.0), FEATS, Y, groups, floor=0.5) == pytest.approx(5.0 / 3.0)
    assert group_offset(_fixed_band(-10.0, 15.0), FEATS, Y, groups, floor=0.0) == 0.0


def test_group_offset_with_one_group_is_the_floor_without_fitting() -> None:
    calls: list[tuple[list[int], float]] = []
    assert group_offset(_fixed_band(1.0, 3.0, calls), FEATS, Y, np.array(["a"] * 6), floor=0.25) == 0.25
    assert calls == []


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


def test_row_offsets_take_the_widest_that_applies() -> None:
    unseen_hardware = np.array([False, True, False, True])
    unseen_model = np.array([False, False, True, True])
    np.testing.assert_allclose(row_offsets(0.1, 0.5, 0.3, unseen_hardware, unseen_model), [0.1, 0.5, 0.3, 0.5])
    np.testing.assert_allclose(row_offsets(0.1, 0.2, 0.4, unseen_hardware, unseen_model), [0.1, 0.2, 0.4, 0.4])
    # Equal offsets (a group offset at its floor) give every row the same band.
    np.testing.assert_allclose(row_offsets(0.3, 0.3, 0.3, unseen_hardware, unseen_model), [0.3] * 4)
