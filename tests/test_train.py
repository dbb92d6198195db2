"""Training: which rows a model learns from, the compact CV scores, and what train_bundle records."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table

from features.errors import DataError
from surrogate.model import METRICS, VARIANTS, compact_scores, fingerprint, train_bundle, training_rows

NAN = float("nan")


def _rows() -> pd.DataFrame:
    """One row per case; ``case`` names it."""
    return pd.DataFrame({
        "case": ["plain", "disaggregated", "too fast", "unmeasured", "no mode", "ttft only"],
        "mode": ["aggregated", "disaggregated", "aggregated", "aggregated", None, "aggregated"],
        "faster_than_physics": [False, False, True, False, None, False],
        "latency_s": [1.0, 2.0, 0.1, NAN, 3.0, NAN],
        "ttft_s": [NAN, NAN, NAN, NAN, NAN, 0.2],
    })


def test_training_rows_leave_out_disaggregated_too_fast_and_unmeasured_rows(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="surrogate.model"):
        rows = training_rows(_rows())
    assert rows["case"].tolist() == ["plain", "no mode", "ttft only"]
    assert rows.index.tolist() == [0, 1, 2]
    assert "1 disaggregated" in caplog.text and "1 rows faster than the analytic lower bound" in caplog.text


def test_training_rows_keep_too_fast_rows_when_asked() -> None:
    rows = training_rows(_rows(), include_faster_than_physics=True)
    assert rows["case"].tolist() == ["plain", "too fast", "no mode", "ttft only"]


def test_training_rows_without_the_optional_columns_keep_every_measured_row() -> None:
    rows = training_rows(_rows().drop(columns=["mode", "faster_than_physics"]))
    assert rows["case"].tolist() == ["plain", "disaggregated", "too fast", "no mode", "ttft only"]


def test_training_rows_name_what_is_missing() -> None:
    with pytest.raises(DataError, match="training data has none of the metric columns latency_s, ttft_s, itl_s"):
        training_rows(_rows().drop(columns=["latency_s", "ttft_s"]))
    only_unusable = _rows().iloc[[1, 2, 3]]
    with pytest.raises(DataError, match="no rows to train on after leaving out disaggregated and faster-than-physics"):
        training_rows(only_unusable)


def test_ttft_is_not_learned_where_the_prompt_length_is_assumed(caplog: pytest.LogCaptureFixture) -> None:
    table = pd.DataFrame({"case": ["recorded", "assumed", "assumed, ttft only"],
                          "input_len_assumed": [False, True, True], "latency_s": [NAN, 10.0, NAN],
                          "ttft_s": [0.2, 0.3, 0.4], "itl_s": [0.01, 0.02, NAN]})
    with caplog.at_level(logging.INFO, logger="surrogate.model"):
        rows = training_rows(table)
    # The assumed-prompt rows keep latency and ITL, lose TTFT; one with nothing else left is dropped.
    assert rows["case"].tolist() == ["recorded", "assumed"]
    assert rows["ttft_s"].tolist()[0] == 0.2 and np.isnan(rows["ttft_s"].tolist()[1])
    assert table["ttft_s"].tolist() == [0.2, 0.3, 0.4]  # the caller's table is untouched
    assert "not learning TTFT from 2 rows whose prompt length is assumed" in caplog.text


def test_latency_trees_learn_from_static_rows_only() -> None:
    from surrogate.model._bundle import learned_values, measured_values

    table = pd.DataFrame({"batching": ["static", "continuous", "static"], "latency_s": [1.0, 2.0, NAN],
                          "itl_s": [NAN, 0.1, NAN]})
    assert measured_values(table, "latency_s")[1].tolist() == [True, True, False]
    assert learned_values(table, "latency_s")[1].tolist() == [True, False, False]
    assert learned_values(table, "itl_s")[1].tolist() == [False, True, False]


def test_a_metric_is_learned_from_twenty_rows_continuous_latency_never() -> None:
    from surrogate.model import learned_metrics

    table = pd.DataFrame({"batching": ["static"] * 19 + ["continuous"] * 21,
                          "latency_s": [1.0] * 40, "ttft_s": [0.1] * 20 + [NAN] * 20,
                          "itl_s": [NAN] * 21 + [0.01] * 19})
    # 19 static latencies (the 21 continuous ones are TTFT + steps x ITL), 20 TTFTs, 19 ITLs.
    assert learned_metrics(table) == ["ttft_s"]
    assert learned_metrics(table.assign(batching="static")) == ["latency_s", "ttft_s"]


def test_canonical_order_is_the_same_for_rows_in_any_order() -> None:
    from surrogate.model import canonical_order

    table = pd.DataFrame({"hardware": ["h100-sxm", "a100-sxm4-80gb", "l40s", "h200"], "batch_size": [1, 2, 4, 8],
                          "latency_s": [0.4, 0.3, NAN, 0.1]})
    shuffled = table.sample(frac=1.0, random_state=3)
    assert not shuffled.index.equals(table.index)
    pd.testing.assert_frame_equal(canonical_order(shuffled), canonical_order(table))
    assert canonical_order(table).index.tolist() == [0, 1, 2, 3]


def test_compact_scores_round_and_drop_per_group_detail() -> None:
    summary = {"split": "hardware", "metrics": {"latency_s": {
        "achievable": {"rows": 12, "mape_pct": 12.34567, "median_ape_pct": 10.0004},
        "surrogate": {"rows": 12, "mape_pct": 3.14159, "p10_p90_coverage_pct": 83.33333},
        "by_group": {"h100-sxm": {"surrogate": {"rows": 12, "mape_pct": 3.1}}},
    }}}
    assert compact_scores(summary) == {"latency_s": {
        "achievable": {"rows": 12, "mape_pct": 12.346, "median_ape_pct": 10.0},
        "surrogate": {"rows": 12, "mape_pct": 3.142, "p10_p90_coverage_pct": 83.333},
    }}
    assert compact_scores({"split": "random"}) == {}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """The synthetic table on one accelerator (108 rows), with two rows marked faster than physics."""
    rows = synthetic_table()
    rows = rows[rows["hardware"] == "h100-sxm"].reset_index(drop=True)
    rows["faster_than_physics"] = np.arange(len(rows)) < 2
    return rows


def test_train_bundle_without_cv_records_no_scores(table: pd.DataFrame) -> None:
    model = train_bundle(table, seed=3, cv_folds=0, n_estimators=10)
    assert model.n_estimators == 10 and model.seed == 3
    assert model.metadata["cv_scores"] == {}
    # The two rows faster than physics are not trained on; the rows are continuous, so their latency
    # (TTFT + steps x ITL) trains no latency trees.
    assert model.metadata["rows_by_metric"] == {"ttft_s": len(table) - 2, "itl_s": len(table) - 2}
    assert model.metadata["data_fingerprint"] == fingerprint(table.iloc[2:])


def test_train_bundle_with_cv_records_compact_random_fold_scores(table: pd.DataFrame) -> None:
    model = train_bundle(table, seed=3, cv_folds=2, n_estimators=10)
    scores = model.metadata["cv_scores"]
    assert scores["split"] == "random 2-fold"
    assert set(scores) == {"split", *METRICS}
    for metric in METRICS:
        assert set(scores[metric]) == set(VARIANTS)  # no by_group
        surrogate = scores[metric]["surrogate"]
        assert surrogate["rows"] == len(table) - 2  # every training row held out once
        assert surrogate["mape_pct"] == round(surrogate["mape_pct"], 3)
        assert 0 <= surrogate["p10_p90_coverage_pct"] <= 100
        # The synthetic data is physics times a smooth factor: the surrogate beats physics alone.
        assert surrogate["mape_pct"] < scores[metric]["achievable"]["mape_pct"]
