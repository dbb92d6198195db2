"""P10-P90 intervals that cover: conformalized quantile regression, by random folds and by whole groups.

Quantile trees alone under-cover on rows like their training rows and far more on hardware or models
they never saw, so each metric gets three offsets (log scale): one from random folds, one from
leaving each accelerator out, one from leaving groups of models out. A row gets the widest that
applies to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["QUANTILES", "CALIBRATION_FOLDS", "Regressor", "conformal_offset", "group_offset", "model_folds",
           "row_offsets"]

QUANTILES = {"p10": 0.1, "p90": 0.9}
_COVERAGE = QUANTILES["p90"] - QUANTILES["p10"]
CALIBRATION_FOLDS = 3


class Regressor(Protocol):
    """A fitted model with ``predict(features) -> array`` (a LightGBM booster).

    ``lightgbm.Booster.predict`` is typed to return an array, a sparse matrix or a list of them (the
    latter two only for sparse ``pred_contrib``); callers take a dense array with ``np.asarray``.
    """

    def predict(self, data: pd.DataFrame) -> np.ndarray | list[Any]: ...


QuantileFit = Callable[[pd.DataFrame, np.ndarray, float], Regressor]


def conformal_offset(fit_quantile: QuantileFit, feats: pd.DataFrame, target: np.ndarray, folds: np.ndarray,
                     held_out_target: np.ndarray | None = None) -> float:
    """Conformalized quantile regression (Romano et al., NeurIPS 2019, arXiv 1905.03222).

    Out-of-fold P10/P90 predictions give conformity scores max(lo - y, y - hi); widening (or
    narrowing) both bounds by their 80% quantile makes the P10-P90 band cover 80% of new rows
    drawn like the held-out folds. ``fit_quantile(feats, target, alpha)`` trains one quantile model.
    ``held_out_target`` is each row's target as it would be with its own fold held out of whatever
    the target is measured against (the achievable model's fitted parameters): scores use it, so
    the band also covers the prior's own error off the data.
    """
    scores = np.full(len(target), np.nan)
    for k in np.unique(folds):
        test = folds == k
        if test.all():
            continue
        low = np.asarray(fit_quantile(feats[~test], target[~test], QUANTILES["p10"]).predict(feats[test]))
        high = np.asarray(fit_quantile(feats[~test], target[~test], QUANTILES["p90"]).predict(feats[test]))
        actual = (target if held_out_target is None else held_out_target)[test]
        scores[test] = np.maximum(low - actual, actual - high)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return 0.0
    level = min(1.0, _COVERAGE * (1.0 + 1.0 / len(scores)))
    return float(np.quantile(scores, level))


def group_offset(fit_quantile: QuantileFit, feats: pd.DataFrame, target: np.ndarray, groups: np.ndarray,
                 floor: float, held_out_target: np.ndarray | None = None) -> float:
    """Conformal offset with whole groups held out; never narrower than ``floor``."""
    if len(set(groups)) < 2:
        return floor
    return max(conformal_offset(fit_quantile, feats, target, groups, held_out_target), floor)


def model_folds(models: np.ndarray) -> npt.NDArray[np.int64]:
    """Models assigned to a few folds by a stable hash (whole models held out, few fits)."""
    codes: npt.NDArray[np.uint64] = pd.util.hash_array(models.astype(str)) % np.uint64(CALIBRATION_FOLDS + 2)
    return codes.astype(np.int64)


def row_offsets(seen_offset: float, unseen_hardware_offset: float, unseen_model_offset: float,
                unseen_hardware: np.ndarray, unseen_model: np.ndarray) -> np.ndarray:
    """Per row, the widest offset that applies: off the data in hardware, in model, or neither."""
    return np.maximum(np.where(unseen_hardware, unseen_hardware_offset, seen_offset),
                      np.where(unseen_model, unseen_model_offset, seen_offset))
