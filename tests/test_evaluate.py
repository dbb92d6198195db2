"""Held-out scoring: error summaries by hand, and cross-validation folds that hold each row out once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table

from surrogate.model import METRICS, SPLITS, VARIANTS, Evaluation, cross_validate, error_summary

MEASURED = np.array([1.0, 2.0, 4.0, 5.0])
PREDICTED = np.array([1.1, 1.5, 4.0, 6.0])


def test_error_summary_by_hand() -> None:
    # APE % = |pred - meas| / meas: 0.1/1, 0.5/2, 0/4, 1/5 -> 10, 25, 0, 20.
    # MAPE 55/4 = 13.75; median (10 + 20)/2 = 15; p90 of [0, 10, 20, 25] at position 0.9*3 = 2.7 -> 20 + 0.7*5 = 23.5.
    # measured/predicted: 0.909, 1.333, 1, 0.833 -> median (0.909 + 1)/2 = 0.9545.
    summary = error_summary(MEASURED, PREDICTED)
    assert summary == pytest.approx({"rows": 4, "mape_pct": 13.75, "median_ape_pct": 15.0, "p90_ape_pct": 23.5,
                                     "median_ratio_measured_over_predicted": (1 / 1.1 + 1.0) / 2})
    assert isinstance(summary["rows"], int)


def test_error_summary_coverage_counts_bounds_as_inside() -> None:
    # 1 in [0.9, 1.2] yes; 2 in [2.1, 3] no; 4 in [3, 4] yes (upper bound); 5 in [4, 5] yes -> 3 of 4.
    low, high = np.array([0.9, 2.1, 3.0, 4.0]), np.array([1.2, 3.0, 4.0, 5.0])
    summary = error_summary(MEASURED, PREDICTED, low, high)
    assert summary["p10_p90_coverage_pct"] == pytest.approx(75.0)
    assert summary["mape_pct"] == pytest.approx(13.75)


def test_splits_and_variants_are_the_documented_ones() -> None:
    assert SPLITS == ["random", "hardware", "model", "framework", "source"]
    assert VARIANTS == ["peak", "achievable", "lightgbm_no_physics", "surrogate"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """The synthetic table on one accelerator: 108 rows, 36 per framework."""
    rows = synthetic_table()
    return rows[rows["hardware"] == "h100-sxm"].reset_index(drop=True)


@pytest.fixture(scope="module")
def by_framework(table: pd.DataFrame) -> Evaluation:
    return cross_validate(table, "framework", seed=0, n_estimators=10)


def test_framework_split_holds_each_framework_out_exactly_once(table: pd.DataFrame, by_framework: Evaluation) -> None:
    pred = by_framework.predictions
    assert by_framework.split == "framework" and by_framework.seed == 0
    # Every row predicted once, in the table's order, with its own measurement.
    assert pred.index.tolist() == list(range(len(table)))
    for metric in METRICS:
        np.testing.assert_allclose(pred[f"{metric}_measured"], table[metric])
        for variant in VARIANTS:
            assert np.isfinite(pred[f"{metric}_{variant}"]).all()
        assert (pred[f"{metric}_surrogate_p10"] <= pred[f"{metric}_surrogate"]).all()
        assert (pred[f"{metric}_surrogate"] <= pred[f"{metric}_surrogate_p90"]).all()
    # One fold per framework, and a fold's rows are exactly that framework's rows.
    assert pred.groupby("fold")["group"].nunique().eq(1).all()
    assert sorted(pred.groupby("fold")["group"].first()) == ["sglang", "tensorrt-llm", "vllm"]
    assert (pred["group"] == table["framework"]).all()


def test_framework_split_summary_has_per_group_entries(by_framework: Evaluation) -> None:
    summary = by_framework.summary
    assert summary["split"] == "framework"
    assert set(summary["metrics"]) == set(METRICS)
    for metric in METRICS:
        entry = summary["metrics"][metric]
        assert set(entry) == {*VARIANTS, "by_group"}
        assert entry["surrogate"]["rows"] == 108
        assert "p10_p90_coverage_pct" in entry["surrogate"]
        groups = entry["by_group"]
        assert set(groups) == {"sglang", "tensorrt-llm", "vllm"}
        assert all(groups[g][v]["rows"] == 36 for g in groups for v in VARIANTS)


def test_held_out_framework_was_not_trained_on(by_framework: Evaluation) -> None:
    # 'Measured' = physics x 1.0 (tensorrt-llm), 1.10 (sglang), 1.15 (vllm). A model that never saw
    # tensorrt-llm learns the others' slower factor and over-predicts it; one that never saw vllm
    # under-predicts. A model that had seen the held-out rows would be within a few percent.
    groups = by_framework.summary["metrics"]["latency_s"]["by_group"]
    assert groups["tensorrt-llm"]["surrogate"]["median_ratio_measured_over_predicted"] < 0.95
    assert groups["vllm"]["surrogate"]["median_ratio_measured_over_predicted"] > 1.03


def test_random_folds_partition_the_rows_and_follow_the_seed(table: pd.DataFrame) -> None:
    small = table[table["model"] == "meta-llama/Meta-Llama-3-8B"].reset_index(drop=True)  # 54 rows
    folds = {}
    for seed in (0, 1):
        evaluation = cross_validate(small, "random", seed=seed, n_folds=2, n_estimators=10)
        pred = evaluation.predictions
        assert pred.index.tolist() == list(range(len(small)))  # each row in exactly one test fold
        assert pred["fold"].value_counts().sort_index().tolist() == [27, 27]
        assert (pred["group"] == pred["fold"].astype(str)).all()
        assert "by_group" not in evaluation.summary["metrics"]["latency_s"]
        folds[seed] = pred["fold"].to_numpy()
    assert not np.array_equal(folds[0], folds[1])
