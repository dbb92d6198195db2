"""Training: pick the rows a model may learn from, fit the bundle, record cross-validation scores."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataError
from surrogate.model._bundle import METRICS, SurrogateModel
from surrogate.model._disaggregated import complete_disaggregated, disaggregated_rows
from surrogate.model._evaluate import VARIANTS, cross_validate
from surrogate.model._progress import ProgressFn, scaled

__all__ = ["training_rows", "train_bundle", "compact_scores"]

logger = logging.getLogger(__name__)


def training_rows(table: pd.DataFrame, include_faster_than_physics: bool = False) -> pd.DataFrame:
    """Aggregated deployments with at least one metric; rows faster than physics only when asked.

    Disaggregated serving (separate prefill and decode workers) is left out (and counted in the log): its
    rows train their own correction (:func:`disaggregated_training_rows`).
    """
    keep = pd.Series(True, index=table.index)
    disagg = disaggregated_rows(table)
    if disagg.any():
        logger.info("%d disaggregated rows train the disaggregated correction, not these models", int(disagg.sum()))
    keep &= ~disagg
    if not include_faster_than_physics:
        fast = _faster_than_physics(table)
        if fast.any():
            logger.info("leaving out %d rows faster than the analytic lower bound", int(fast.sum()))
        keep &= ~fast
    metrics = [m for m in METRICS if m in table]
    if not metrics:
        raise DataError(f"training data has none of the metric columns {', '.join(METRICS)}")
    table = _without_assumed_prompt_ttft(table)
    keep &= table[metrics].notna().any(axis=1)
    rows = table[keep].reset_index(drop=True)
    if rows.empty:
        raise DataError("no rows to train on after leaving out disaggregated and faster-than-physics rows")
    return rows


def disaggregated_training_rows(table: pd.DataFrame, include_faster_than_physics: bool = False) -> pd.DataFrame:
    """Disaggregated deployments that record their worker counts (what the xPyD correction learns from)."""
    rows = complete_disaggregated(table)
    if not include_faster_than_physics:
        rows = rows[~_faster_than_physics(rows)].reset_index(drop=True)
    return rows


def _faster_than_physics(table: pd.DataFrame) -> np.ndarray:
    """Rows ingest flagged faster than the analytic lower bound (none where the column is absent)."""
    if "faster_than_physics" not in table:
        return np.zeros(len(table), dtype=bool)
    flagged: np.ndarray = table["faster_than_physics"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return flagged


def _without_assumed_prompt_ttft(table: pd.DataFrame) -> pd.DataFrame:
    """TTFT is left out where the prompt length is an assumption (``input_len_assumed``, MLPerf): prefill
    time scales with the prompt, so a wrong length would teach a wrong TTFT. The table keeps the
    measurement; only the training copy drops it."""
    if "input_len_assumed" not in table or "ttft_s" not in table:
        return table
    assumed = table["input_len_assumed"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    if not (assumed & table["ttft_s"].notna().to_numpy()).any():
        return table
    logger.info("not learning TTFT from %d rows whose prompt length is assumed",
                int((assumed & table["ttft_s"].notna().to_numpy()).sum()))
    out = table.copy()
    out.loc[assumed, "ttft_s"] = float("nan")
    return out


def compact_scores(summary: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers of a cross-validation summary (no per-group detail)."""
    out: dict[str, Any] = {}
    for metric, entry in summary.get("metrics", {}).items():
        out[metric] = {variant: {k: round(v, 3) if isinstance(v, float) else v for k, v in entry[variant].items()}
                       for variant in VARIANTS if variant in entry}
    return out


def train_bundle(table: pd.DataFrame, seed: int | None = 0, cv_folds: int = 0,
                 progress: ProgressFn | None = None, **params: Any) -> SurrogateModel:
    """Fit on every training row; with ``cv_folds`` > 1, store random k-fold scores in the metadata.
    ``progress`` gets each step and the fraction done (each fold costs about one fit)."""
    rows = training_rows(table)
    share = 1.0 / (1 + (cv_folds if cv_folds > 1 else 0))
    model = SurrogateModel(seed=seed, **params).fit(rows, progress=scaled(progress, 0.0, share, "fit: "),
                                                    disaggregated=disaggregated_training_rows(table))
    if cv_folds > 1:
        evaluation = cross_validate(rows, "random", seed=seed, n_folds=cv_folds,
                                    progress=scaled(progress, share, 1.0 - share, "cross-validation "), **params)
        model.metadata["cv_scores"] = {"split": f"random {cv_folds}-fold", **compact_scores(evaluation.summary)}
    return model
