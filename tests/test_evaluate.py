"""Held-out scoring: error summaries by hand, and cross-validation folds that hold each row out once."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table

from features.errors import ConfigError, DataError
from surrogate.model import METRICS, SPLITS, VARIANTS, Evaluation, cross_validate, error_summary, learned_rows
from surrogate.model._evaluate import NOT_MEASURED, TOO_FEW_ROWS, rule_checks, summarize
from surrogate.model._splits import fold_masks

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


def test_continuous_latency_is_learned_only_where_ttft_and_itl_both_are() -> None:
    held = pd.DataFrame({"batching": ["static", "continuous", None]})
    rows = learned_rows(held, {"latency_s": True, "ttft_s": True, "itl_s": False})
    assert rows["latency_s"].tolist() == [True, False, True]
    assert rows["ttft_s"].tolist() == [True] * 3 and rows["itl_s"].tolist() == [False] * 3
    both = learned_rows(held, {"latency_s": False, "ttft_s": True, "itl_s": True})
    assert both["latency_s"].tolist() == [False, True, False]


def test_splits_and_variants_are_the_documented_ones() -> None:
    assert SPLITS == ["random", "hardware", "model", "framework", "source", "vendor", "batch", "input_length",
                      "version"]
    assert VARIANTS == ["peak", "achievable", "lightgbm_no_physics", "surrogate"]


# --- fold masks on a hand-built table --------------------------------------------------------------

NA = pd.NA
# hardware, framework, framework_version, batching, batch_size, concurrency, input_len
_ROWS = [
    ("h100-sxm", "vllm", "0.9.2", "continuous", 64, 8, 512),                  # 0
    ("mi300x", "vllm", "0.19.0", "continuous", 1, 32, 2048),                  # 1
    ("gaudi2", "tensorrt-llm", "1.2.0rc6.post3", "static", 16, NA, 1024),     # 2
    ("h100-sxm", "tensorrt-llm", "1.3.0rc1", "static", 24, NA, 2000),         # 3
    ("a100-sxm4-40gb", "tensorrt-llm", "gpt-oss-dev", "static", 256, NA, 8192),  # 4
    ("sn40l", "sglang", "nightly-dev", "continuous", 1, 17, 4096),            # 5
    ("intel-max-1550", "sglang", "0.5.6.post2", "continuous", 1, NA, NA),     # 6
    ("mi250", "llama.cpp", NA, "static", 32, NA, 128),                        # 7
    ("h100-sxm", "sglang", "0.5.9", "continuous", 1, 16, 1025),               # 8
]


@pytest.fixture()
def hand_table() -> pd.DataFrame:
    table = pd.DataFrame(_ROWS, columns=["hardware", "framework", "framework_version", "batching", "batch_size",
                                         "concurrency", "input_len"])
    for column in ["batch_size", "concurrency", "input_len"]:
        table[column] = table[column].astype("Int64")
    table["framework_version"] = table["framework_version"].astype("string")
    return table


def _rows(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()


def test_batch_split_uses_concurrency_for_continuous_and_batch_size_for_static(hand_table: pd.DataFrame) -> None:
    # Sequences: 8, 32, 16, 24, 256, 17, NA, 32, 16 -> train <= 16, test >= 32; 24, 17 and NA in neither.
    [fold] = fold_masks(hand_table, "batch", seed=0, n_folds=5)
    assert _rows(fold.train) == [0, 2, 8]
    assert _rows(fold.test) == [1, 4, 7]
    assert set(fold.group[fold.test]) == {"sequences >= 32"}


def test_input_length_split_leaves_the_middle_and_unrecorded_out(hand_table: pd.DataFrame) -> None:
    # input_len: 512, 2048, 1024, 2000, 8192, 4096, NA, 128, 1025 -> train <= 1024, test >= 2048.
    [fold] = fold_masks(hand_table, "input_length", seed=0, n_folds=5)
    assert _rows(fold.train) == [0, 2, 7]
    assert _rows(fold.test) == [1, 4, 5]
    assert set(fold.group[fold.test]) == {"input_len >= 2048"}


def test_version_split_holds_out_each_frameworks_newest_release(hand_table: pd.DataFrame) -> None:
    # vllm: 0.19.0 > 0.9.2 (version order, not string order); tensorrt-llm: 1.3.0rc1 > 1.2.0rc6.post3, and
    # gpt-oss-dev does not parse; sglang: 0.5.9 > 0.5.6.post2, nightly-dev does not parse; llama.cpp has none.
    [fold] = fold_masks(hand_table, "version", seed=0, n_folds=5)
    assert _rows(fold.test) == [1, 3, 8]
    assert _rows(fold.train) == [0, 2, 4, 5, 6, 7]  # unparsable and unrecorded versions train
    assert fold.group[fold.test].tolist() == ["vllm 0.19.0", "tensorrt-llm 1.3.0rc1", "sglang 0.5.9"]


def test_vendor_split_leaves_each_catalog_vendor_out_once(hand_table: pd.DataFrame) -> None:
    folds = fold_masks(hand_table, "vendor", seed=0, n_folds=5)
    tests = {fold.group[fold.test][0]: _rows(fold.test) for fold in folds}
    assert tests == {"AMD": [1, 7], "Intel": [6], "Intel (Habana)": [2], "NVIDIA": [0, 3, 4, 8], "SambaNova": [5]}
    for fold in folds:
        assert (fold.train == ~fold.test).all()


def test_group_and_random_folds_train_on_every_other_row(hand_table: pd.DataFrame) -> None:
    for split in ["random", "framework"]:
        folds = fold_masks(hand_table, split, seed=0, n_folds=3)
        assert all((f.train == ~f.test).all() for f in folds)
        assert np.sum([f.test for f in folds], axis=0).tolist() == [1] * len(hand_table)


def test_fold_masks_errors_name_the_problem(hand_table: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown split 'week'"):
        fold_masks(hand_table, "week", seed=0, n_folds=5)
    with pytest.raises(DataError, match="the version split needs a 'framework_version' column"):
        fold_masks(hand_table.drop(columns="framework_version"), "version", seed=0, n_folds=5)
    with pytest.raises(DataError, match="hardware not in the catalog.*: my-asic"):
        fold_masks(hand_table.assign(hardware="my-asic"), "vendor", seed=0, n_folds=5)


# --- summaries: physics-only metrics, overlap, rule checks ------------------------------------------

def _predictions(learned: dict[str, list[bool]], training_rows: dict[str, list[int]]) -> pd.DataFrame:
    """Two held-out sources, two rows each. Source a measures latency and TTFT, b TTFT and ITL; every
    predictor is 10% high (surrogate band covers), except where a metric is physics only (no band)."""
    frame = pd.DataFrame({"fold": [0, 0, 1, 1], "group": ["a", "a", "b", "b"]})
    measured = {"latency_s": [1.0, 2.0, np.nan, np.nan], "ttft_s": [1.0, 2.0, 3.0, 4.0],
                "itl_s": [np.nan, np.nan, 3.0, 4.0]}
    for metric in METRICS:
        values = np.array(measured[metric])
        frame[f"{metric}_measured"] = values
        for variant in VARIANTS:
            frame[f"{metric}_{variant}"] = np.nan_to_num(values, nan=1.0) * 1.1
        frame[f"{metric}_surrogate_p10"] = np.nan_to_num(values, nan=1.0) * 0.9
        frame[f"{metric}_surrogate_p90"] = np.nan_to_num(values, nan=1.0) * 1.2
        frame[f"{metric}_learned"] = learned[metric]
        frame[f"{metric}_training_rows"] = training_rows[metric]
    return frame


def test_source_summary_scores_only_metrics_training_measured() -> None:
    # Holding out a (fold 0) trains on b: TTFT and ITL, no latency. Holding out b trains on a: latency and
    # TTFT, no ITL; in this example b's TTFT rows are too few for the model to learn a correction from.
    predictions = _predictions(
        learned={"latency_s": [False, False, True, True], "ttft_s": [True, True, False, False],
                 "itl_s": [True, True, False, False]},
        training_rows={"latency_s": [0, 0, 2, 2], "ttft_s": [2, 2, 2, 2], "itl_s": [2, 2, 0, 0]})
    summary = summarize(predictions, "source")
    assert summary["overlap"] == {
        "a": {"measured": ["latency_s", "ttft_s"], "overlap": ["ttft_s"], "physics_only": {"latency_s": NOT_MEASURED}},
        "b": {"measured": ["ttft_s", "itl_s"], "overlap": [], "physics_only": {"ttft_s": TOO_FEW_ROWS,
                                                                                "itl_s": NOT_MEASURED}},
    }
    assert list(summary["metrics"]) == ["ttft_s"]  # the scored metrics: a's TTFT rows only
    assert summary["metrics"]["ttft_s"]["surrogate"]["rows"] == 2
    assert set(summary["metrics"]["ttft_s"]["by_group"]) == {"a"}
    physics = summary["physics_only"]
    assert {m: (e["surrogate"]["rows"], e["note"]) for m, e in physics.items()} == {
        "latency_s": (2, NOT_MEASURED), "ttft_s": (2, TOO_FEW_ROWS), "itl_s": (2, NOT_MEASURED)}
    assert NOT_MEASURED == "not measured by any training source (physics only)"
    json.dumps(summary)  # plain JSON types throughout


def test_summary_without_learned_columns_scores_every_row() -> None:
    predictions = _predictions(learned={m: [True] * 4 for m in METRICS}, training_rows={m: [2] * 4 for m in METRICS})
    predictions = predictions.drop(columns=[c for c in predictions if c.endswith(("_learned", "_training_rows"))])
    summary = summarize(predictions, "random", dropped_rows=3)
    assert {m: e["surrogate"]["rows"] for m, e in summary["metrics"].items()} == {
        "latency_s": 2, "ttft_s": 4, "itl_s": 2}
    assert summary["physics_only"] == {} and "overlap" not in summary
    assert summary["dropped_rows"] == 3 and summary["split_rule"] == "random k-fold (seeded)"


def test_summary_scores_each_data_source_apart_and_the_report_shows_them() -> None:
    from surrogate.report import evaluation_report

    predictions = _predictions(learned={m: [True] * 4 for m in METRICS}, training_rows={m: [2] * 4 for m in METRICS})
    predictions["source"] = ["lab", "lab", "vendor", "vendor"]
    predictions.loc[2, ["ttft_s_surrogate", "ttft_s_surrogate_p10"]] = [6.0, 5.0]  # 100% off, band misses 3.0
    summary = summarize(predictions, "random")
    by_source = summary["metrics"]["ttft_s"]["by_source"]
    assert {s: v["surrogate"]["rows"] for s, v in by_source.items()} == {"lab": 2, "vendor": 2}
    assert by_source["lab"]["surrogate"]["mape_pct"] == pytest.approx(10.0)
    assert by_source["vendor"]["surrogate"]["mape_pct"] == pytest.approx(55.0)
    assert by_source["vendor"]["surrogate"]["p10_p90_coverage_pct"] == pytest.approx(50.0)
    assert "by_source" not in summary["metrics"]["latency_s"]  # one source measures it
    titles = [getattr(part, "title", None) for part in evaluation_report(summary)]
    assert "per data source (MAPE / median APE %)" in titles
    assert "by_source" not in summarize(predictions, "source")["metrics"]["ttft_s"]  # groups are sources there


def test_summary_scores_each_engine_and_batching_mode_apart_and_the_report_shows_them() -> None:
    from surrogate.report import evaluation_report

    predictions = _predictions(learned={m: [True] * 4 for m in METRICS}, training_rows={m: [2] * 4 for m in METRICS})
    predictions["framework"] = ["vllm", "vllm", "vllm", "llama.cpp"]
    predictions["batching"] = ["static", "continuous", "continuous", "static"]
    predictions.loc[2, ["ttft_s_surrogate", "ttft_s_surrogate_p10"]] = [6.0, 5.0]  # 100% off, band misses 3.0
    by_engine = summarize(predictions, "random")["metrics"]["ttft_s"]["by_engine"]
    assert {c: v["surrogate"]["rows"] for c, v in by_engine.items()} == {
        "llama.cpp/static": 1, "vllm/continuous": 2, "vllm/static": 1}
    assert by_engine["vllm/continuous"]["surrogate"]["mape_pct"] == pytest.approx(55.0)
    assert by_engine["vllm/continuous"]["surrogate"]["p10_p90_coverage_pct"] == pytest.approx(50.0)
    assert by_engine["vllm/static"]["surrogate"]["p10_p90_coverage_pct"] == pytest.approx(100.0)
    assert set(by_engine["vllm/static"]) == {"surrogate"}  # the band is the surrogate's alone
    titles = [getattr(part, "title", None) for part in evaluation_report(summarize(predictions, "hardware"))]
    assert "surrogate per engine and batching mode" in titles


def _scores(surrogate: tuple[float, float, float], achievable: tuple[float, float]) -> dict[str, Any]:
    keys = ["mape_pct", "median_ape_pct"]
    return {"surrogate": {**dict(zip(keys, surrogate[:2], strict=True)), "p10_p90_coverage_pct": surrogate[2]},
            "achievable": dict(zip(keys, achievable, strict=True))}


def test_rule_checks_list_the_exceptions() -> None:
    metrics = {"latency_s": _scores((10.0, 5.0, 80.0), (20.0, 5.0)),    # ties pass; coverage inside
               "ttft_s": _scores((30.0, 12.0, 65.5), (25.0, 15.0)),    # MAPE worse; coverage low
               "itl_s": _scores((10.0, 9.0, 90.0), (12.0, 8.0))}       # median worse; 90% is inside
    achievable, coverage = rule_checks(metrics)
    assert achievable == {"rule": "surrogate <= achievable on every metric", "passed": False,
                          "exceptions": ["ttft_s MAPE 30.0% > 25.0%", "itl_s median APE 9.0% > 8.0%"],
                          "line": "surrogate <= achievable on every metric: NO "
                                  "(ttft_s MAPE 30.0% > 25.0%; itl_s median APE 9.0% > 8.0%)"}
    assert coverage["line"] == "coverage within 70-90%: NO (ttft_s 65.5%)"
    passing = rule_checks({"latency_s": metrics["latency_s"]})
    assert [c["line"] for c in passing] == ["surrogate <= achievable on every metric: yes",
                                            "coverage within 70-90%: yes"]


def test_coverage_rule_counts_physics_only_rows_and_says_so() -> None:
    learned = {"itl_s": _scores((10.0, 9.0, 80.0), (12.0, 9.0))}
    physics = {"ttft_s": {**_scores((900.0, 800.0, 10.1), (900.0, 800.0)),
                          "note": "too few training rows to learn a correction (physics only)"},
               "latency_s": _scores((20.0, 10.0, 71.3), (20.0, 10.0))}
    physics["ttft_s"]["surrogate"]["rows"] = 2315
    physics["latency_s"]["surrogate"]["rows"] = 4537
    achievable, coverage = rule_checks(learned, physics)
    assert achievable["passed"]  # the prior against itself: never an exception
    assert coverage["exceptions"] == ["ttft_s 10.1% (physics only, 2,315 rows)"]
    assert coverage["line"] == "coverage within 70-90%: NO (ttft_s 10.1% (physics only, 2,315 rows))"
    assert rule_checks(learned, {"latency_s": physics["latency_s"]})[1]["passed"]


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
        assert set(entry) == {*VARIANTS, "by_group", "by_engine"}
        assert set(entry["by_engine"]) == {"sglang/continuous", "tensorrt-llm/continuous", "vllm/continuous"}
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


def test_random_folds_are_the_same_for_the_same_rows_in_another_order() -> None:
    # The shared datasets read directly and an ingested dataset hold the same rows in other orders; each
    # measurement (source, file, line) must land in the same fold either way.
    rows = synthetic_table().assign(source="s", source_file="f.csv")
    rows["source_line"] = np.arange(2, len(rows) + 2)
    shuffled = rows.sample(frac=1.0, random_state=7).reset_index(drop=True)

    def fold_by_line(table: pd.DataFrame) -> dict[int, int]:
        tests = np.array([fold.test for fold in fold_masks(table, "random", 0, 3)])
        return dict(zip(table["source_line"].tolist(), np.argmax(tests, axis=0).tolist(), strict=True))

    assert fold_by_line(shuffled) == fold_by_line(rows)
    assert sorted(set(fold_by_line(rows).values())) == [0, 1, 2]


def test_source_split_scores_the_overlap_and_flags_the_rest(table: pd.DataFrame) -> None:
    # Source a: the Llama rows, measuring latency and TTFT; source b: the Qwen rows, TTFT and ITL (all
    # continuous batching).
    two = table.copy()
    a = (two["model"] == "meta-llama/Meta-Llama-3-8B").to_numpy()
    two["source"] = np.where(a, "a", "b")
    two.loc[a, "itl_s"] = np.nan
    two.loc[~a, "latency_s"] = np.nan
    evaluation = cross_validate(two, "source", seed=0, n_estimators=10)
    summary = evaluation.summary
    # a's rows are continuous: their latency is TTFT + steps x ITL, both learned from b, so it is scored.
    assert summary["overlap"] == {
        "a": {"measured": ["latency_s", "ttft_s"], "overlap": ["latency_s", "ttft_s"], "physics_only": {}},
        "b": {"measured": ["ttft_s", "itl_s"], "overlap": ["ttft_s"], "physics_only": {"itl_s": NOT_MEASURED}},
    }
    assert list(summary["metrics"]) == ["latency_s", "ttft_s"]
    assert summary["metrics"]["ttft_s"]["surrogate"]["rows"] == len(two)
    assert summary["metrics"]["latency_s"]["surrogate"]["rows"] == int(a.sum())
    assert {m: e["surrogate"]["rows"] for m, e in summary["physics_only"].items()} == {"itl_s": int((~a).sum())}
    pred = evaluation.predictions
    assert pred.loc[a, "latency_s_learned"].all() and (pred.loc[a, "latency_s_training_rows"] == (~a).sum()).all()
    assert pred.loc[~a, "ttft_s_learned"].all() and (pred.loc[~a, "ttft_s_training_rows"] == a.sum()).all()
    assert [c["rule"] for c in summary["rule_checks"]] == ["surrogate <= achievable on every metric",
                                                           "coverage within 70-90%"]


def test_batch_split_predicts_the_large_batches_and_counts_the_dropped_middle(table: pd.DataFrame) -> None:
    # Sequences 1, 16 and 128; vllm's 16s moved to 24 fall between the thresholds and leave both sides.
    moved = table.copy()
    middle = ((moved["framework"] == "vllm") & (moved["concurrency"] == 16)).to_numpy()
    moved.loc[middle, ["batch_size", "concurrency"]] = 24
    evaluation = cross_validate(moved, "batch", seed=0, n_estimators=10)
    pred = evaluation.predictions
    assert pred.index.tolist() == np.flatnonzero(moved["concurrency"] >= 32).tolist()
    assert set(pred["group"]) == {"sequences >= 32"}
    assert evaluation.summary["dropped_rows"] == int(middle.sum()) > 0
    assert set(evaluation.summary["metrics"]["latency_s"]["by_group"]) == {"sequences >= 32"}


def test_held_out_rows_are_predicted_for_the_software_they_were_measured_with() -> None:
    from surrogate.model import SurrogateModel
    from surrogate.model._evaluate import _predict_fold

    rows = synthetic_table()
    older = rows.assign(framework_version="2024-07-01", source="mine")
    for metric in ("latency_s", "ttft_s", "itl_s"):
        older[metric] = older[metric] * 1.5  # the 2024 engines ran slower
    train = pd.concat([older, rows.assign(framework_version="2026-01-01", source="mine")], ignore_index=True)
    # No recorded version: LLM-Inference-Bench's era (mid-2024), not the newest release training saw.
    held = rows.iloc[:12].assign(source="llm-inference-bench")
    fold, _ = _predict_fold(train, held, np.zeros(len(held)), 0, 0, {})
    model = SurrogateModel(seed=0).fit(train)
    as_measured = model.predict(held.assign(framework_version="2024-07-01"))
    newest = model.predict(held.drop(columns="source"))
    for metric in ("ttft_s", "itl_s"):
        np.testing.assert_allclose(fold[f"{metric}_surrogate"].to_numpy(), as_measured[metric].to_numpy())
        assert (fold[f"{metric}_surrogate"].to_numpy() > newest[metric].to_numpy() * 1.1).all(), metric
