"""Disaggregated (xPyD) rows in `surrogate evaluate` and `surrogate predict --input`: held out like the aggregated
rows, scored apart, the unpredictable ones counted; a mixed CSV predicted row for row, a bad row named by line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table
from click.testing import CliRunner

import surrogate
from features.disaggregated import estimate_disaggregated
from surrogate.cli import cli
from surrogate.model import Evaluation, SurrogateModel, cross_validate
from surrogate.model._evaluate import FASTER_THAN_PHYSICS, NO_WORKER_COUNTS, NOT_HELD_OUT
from surrogate.model._splits import disaggregated_folds
from surrogate.report import evaluation_report

# The synthetic table's two models, so that leaving one out holds out both kinds of its rows.
_MODELS = ["meta-llama/Meta-Llama-3-8B", "Qwen/Qwen2.5-14B"]
_TTFT_FACTOR, _ITL_FACTOR = 1.6, 1.2
_SHARED = {"hardware": "h100-sxm", "framework": "vllm", "weight_dtype": "bf16", "kv_dtype": "bf16",
           "output_len": 128}


def _disaggregated(models: list[str] = _MODELS) -> pd.DataFrame:
    """'Measured' disaggregated rows: the default xPyD physics x a known factor per metric (what the correction
    must learn), 60 per model, source ``synthetic`` like the aggregated rows they are compared with."""
    rows = [{**_SHARED, "model": model, "mode": "disaggregated", "concurrency": concurrency, "prefill_workers": prefill,
             "decode_workers": decode, "prefill_tp": tp, "decode_tp": tp, "input_len": length, "source": "synthetic",
             "batching": "continuous"}
            for model, concurrency, prefill, decode, tp, length in itertools.product(
                models, [1, 8, 64], [1, 2], [1, 2, 4], [1, 2], [512, 2048]) if not (prefill == 2 and decode == 4)]
    table = pd.DataFrame(rows)
    physics = estimate_disaggregated(table)
    table["ttft_s"] = physics["ttft_s"].to_numpy() * _TTFT_FACTOR
    table["itl_s"] = physics["itl_s"].to_numpy() * _ITL_FACTOR
    return table


def _aggregated() -> pd.DataFrame:
    return synthetic_table().assign(source="synthetic")


@pytest.fixture(scope="module")
def unpredictable() -> pd.DataFrame:
    """The disaggregated rows with 3 missing a decode worker count and 2 flagged faster than physics."""
    table = _disaggregated().assign(faster_than_physics=False)
    table.loc[[0, 1, 2], "decode_workers"] = np.nan
    table.loc[[3, 4], "faster_than_physics"] = True
    return table


@pytest.fixture(scope="module")
def random_split(unpredictable: pd.DataFrame) -> tuple[Evaluation, Evaluation]:
    """The same random 2-fold evaluation with and without the disaggregated rows (the whole table passed)."""
    aggregated = _aggregated()
    mixed = pd.concat([aggregated, unpredictable], ignore_index=True)
    # The shipped efficiency on both sides (the rows' physics and the folds' prior), as the factors assume.
    params = {"seed": 0, "n_folds": 2, "n_estimators": 10, "calibrate": False, "fit_efficiency": False}
    return (cross_validate(aggregated, "random", disaggregated=mixed, **params),  # type: ignore[arg-type]
            cross_validate(aggregated, "random", **params))  # type: ignore[arg-type]


def test_aggregated_numbers_do_not_change_with_disaggregated_rows(random_split: tuple[Evaluation, Evaluation]) -> None:
    with_rows, without = random_split
    assert "disaggregated" in with_rows.summary and "disaggregated" not in without.summary
    same = {k: v for k, v in with_rows.summary.items() if k != "disaggregated"}
    assert json.dumps(same, sort_keys=True) == json.dumps(without.summary, sort_keys=True)
    pd.testing.assert_frame_equal(with_rows.predictions, without.predictions)


def test_random_split_holds_each_predictable_row_out_once_and_counts_the_rest(
        random_split: tuple[Evaluation, Evaluation], unpredictable: pd.DataFrame) -> None:
    evaluation = random_split[0]
    section = evaluation.summary["disaggregated"]
    assert section["rows"] == len(unpredictable) == 120
    assert section["not_scored"] == {NO_WORKER_COUNTS: 3, FASTER_THAN_PHYSICS: 2}
    assert section["scored_rows"] == 115
    held = evaluation.disaggregated_predictions
    assert held is not None and len(held) == 115 and held.index.is_unique
    assert set(held["group"]) == {"0", "1"} and set(held["fold"]) == {0, 1}
    for metric in ("ttft_s", "itl_s"):
        entry = section["metrics"][metric]
        assert entry["surrogate"]["rows"] == entry["achievable"]["rows"] == 115
        assert 0.0 <= entry["surrogate"]["p10_p90_coverage_pct"] <= 100.0
        # The physics is off by the known factor; each fold's correction, trained on the other fold, learns it.
        assert entry["surrogate"]["median_ape_pct"] < entry["achievable"]["median_ape_pct"] / 2
        assert entry["aggregated"]["sources"] == ["synthetic"]
        assert entry["ratio_to_aggregated"] == pytest.approx(
            entry["surrogate"]["median_ape_pct"] / entry["aggregated"]["median_ape_pct"])
    # The physics' own error on TTFT is the factor, by construction (default efficiency on both sides).
    assert section["metrics"]["ttft_s"]["achievable"]["median_ratio_measured_over_predicted"] == pytest.approx(
        _TTFT_FACTOR, rel=0.25)


def _rendered(evaluation: Evaluation) -> str:
    from rich.console import Console

    console = Console(width=250, record=True)
    for part in evaluation_report(evaluation.summary):
        console.print(part)
    return console.export_text()


def test_the_table_and_notes_show_the_disaggregated_section(random_split: tuple[Evaluation, Evaluation]) -> None:
    text = _rendered(random_split[0])
    assert "held-out disaggregated (xPyD) rows, split = random" in text
    assert "disaggregated rows: 120, 115 predicted and scored" in text
    assert f"3 disaggregated rows not scored: {NO_WORKER_COUNTS}" in text
    assert f"2 disaggregated rows not scored: {FASTER_THAN_PHYSICS}" in text
    assert "disaggregated median APE within 1.5x aggregated:" in text


def test_model_split_holds_out_a_models_disaggregated_rows_with_its_aggregated_ones() -> None:
    aggregated = _aggregated()
    # A third model only disaggregated rows have: no aggregated fold holds it out, so it is counted, not scored.
    disagg = _disaggregated([*_MODELS, "meta-llama/Llama-3.1-8B"])
    evaluation = cross_validate(aggregated, "model", seed=0, n_estimators=10, calibrate=False, disaggregated=disagg)
    held = evaluation.disaggregated_predictions
    assert held is not None and len(held) == 120 and set(held["model"]) == set(_MODELS)
    assert (held["group"] == held["model"]).all()
    # Each model's correction was learned without it: every held-out row is off the data by its model.
    assert held["off_support"].eq("model").all() and held["ttft_s_learned"].all()
    section = evaluation.summary["disaggregated"]
    assert section["not_scored"] == {NOT_HELD_OUT: 60} and section["scored_rows"] == 120 and section["rows"] == 180
    assert set(section["metrics"]["itl_s"]["by_group"]) == set(_MODELS)
    text = _rendered(evaluation)
    for model in _MODELS:
        assert f"held-out {model}, disaggregated median APE: ttft_s" in text
    assert f"60 disaggregated rows not scored: {NOT_HELD_OUT}" in text


def test_too_few_training_rows_leave_the_held_out_ones_to_physics_and_say_so() -> None:
    # 30 rows in 2 random folds: 15 train each fold's correction, fewer than the 20 it needs.
    disagg = _disaggregated(_MODELS[:1]).head(30)
    evaluation = cross_validate(_aggregated(), "random", seed=0, n_folds=2, n_estimators=10, calibrate=False,
                                disaggregated=disagg)
    section = evaluation.summary["disaggregated"]
    assert section["metrics"] == {} and section["physics_only"]["ttft_s"]["surrogate"]["rows"] == len(disagg)
    assert "fewer than 20 disaggregated training rows" in section["physics_only"]["ttft_s"]["note"]
    # Physics alone has no interval, so no coverage is claimed for it.
    assert "p10_p90_coverage_pct" not in section["physics_only"]["ttft_s"]["surrogate"]
    assert section["rule_check"]["line"] == ("disaggregated median APE within 1.5x aggregated: not checked (no "
                                             "metric scored on both)")


def test_disaggregated_folds_follow_the_split_rule() -> None:
    table = _disaggregated()
    assert disaggregated_folds(table, "version", seed=0, n_folds=5) == {}
    by_model = disaggregated_folds(table, "model", seed=0, n_folds=5)
    assert set(by_model) == set(_MODELS)
    for model, fold in by_model.items():
        assert (table["model"][fold.test] == model).all() and (table["model"][fold.train] != model).all()
    by_draw = disaggregated_folds(table, "random", seed=0, n_folds=3)
    assert set(by_draw) == {"0", "1", "2"}
    assert sum(int(f.test.sum()) for f in by_draw.values()) == len(table)


def test_evaluate_command_reports_disaggregated_rows_in_json_and_files(tmp_path: Path) -> None:
    table = pd.concat([_aggregated().iloc[::6], _disaggregated().iloc[::2]], ignore_index=True)
    table.loc[table.index[-1], "decode_workers"] = np.nan
    table.to_csv(tmp_path / "mine.csv", index=False)
    runner = CliRunner()
    ingest = runner.invoke(cli, ["data", "ingest", "csv", str(tmp_path / "mine.csv"), "--into", str(tmp_path / "d")])
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(cli, ["evaluate", "--data", str(tmp_path / "d"), "--split", "model", "--json",
                                 "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    section = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["disaggregated"]
    assert section["rows"] == 60 and section["not_scored"] == {NO_WORKER_COUNTS: 1}
    assert section["metrics"]["ttft_s"]["surrogate"]["rows"] == 59
    written = pd.read_csv(tmp_path / "eval" / "disaggregated_predictions.csv")
    assert len(written) == 59 and set(written["group"]) == set(_MODELS)


# --- predict --input with disaggregated rows -------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = SurrogateModel(seed=0, n_estimators=20, calibrate=False).fit(_aggregated(), disaggregated=_disaggregated())
    return model.save(tmp_path_factory.mktemp("bundle") / "m.joblib")


_CSV = """hardware,model,framework,input_len,output_len,concurrency,tp,mode,prefill_workers,decode_workers,decode_tp
h100-sxm,meta-llama/Meta-Llama-3-8B,vllm,512,128,8,2,,,,
h100-sxm,meta-llama/Meta-Llama-3-8B,vllm,512,128,8,,disaggregated,1,2,2
h100-sxm,meta-llama/Meta-Llama-3-8B,vllm,512,128,8,,disaggregated,1,,2
h100-sxm,meta-llama/Meta-Llama-3-8B,vllm,512,128,8,,disagg,1,2,2
h100-sxm,meta-llama/Meta-Llama-3-8B,vllm,512,128,16,,disaggregated,2,x,2
h100-sxm,Qwen/Qwen2.5-14B,vllm,2048,128,64,,disaggregated,2,4,1
"""


def test_predict_input_takes_disaggregated_rows_and_names_bad_ones(bundle_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(_CSV)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle_path), "--input", str(path),
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert (f"{path}:4: a disaggregated row needs decode_workers (its worker counts and the client's requests in "
            "flight describe the deployment)") in result.output
    assert (f"{path}:5: mode 'disagg' is neither aggregated nor disaggregated (leave it empty for aggregated "
            "serving)") in result.output
    assert f"{path}:6: not a number: decode_workers 'x'" in result.output
    assert f"3 of 6 rows of {path} could not be predicted" in result.output and "Traceback" not in result.output
    got = pd.read_csv(out)
    assert list(got.columns[:11]) == _CSV.splitlines()[0].split(",")
    assert list(got["mode"].fillna("")) == ["", "disaggregated", "disaggregated"]  # file order: lines 2, 3, 7
    model = surrogate.load(bundle_path)
    frame = pd.read_csv(path).iloc[[0, 1, 5]].reset_index(drop=True)
    expected = pd.concat([model.predict(frame.iloc[[0]].drop(columns=["mode"])), model.predict(frame.iloc[[1, 2]])],
                         ignore_index=True)
    assert np.allclose(got["ttft_s"], expected["ttft_s"]) and np.allclose(got["itl_s"], expected["itl_s"])
    assert got["disagg_num_devices"].isna().tolist() == [True, False, False]
    assert got.loc[2, "disagg_num_devices"] == 2 * 1 + 4 * 1
    strict = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle_path), "--input", str(path), "--strict"])
    assert strict.exit_code == 1 and "(--strict)" in strict.output


def test_predict_input_json_and_table_carry_the_disaggregated_columns(bundle_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("\n".join(_CSV.splitlines()[i] for i in (0, 1, 2)) + "\n")
    as_json = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle_path), "--input", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [r["mode"] for r in rows] == [None, "disaggregated"]
    assert rows[1]["disaggregated_learned"] and rows[1]["disagg_bound_by"] in ("prefill pool", "decode pool")
    assert rows[1]["ttft_s_p10"] <= rows[1]["ttft_s"] <= rows[1]["ttft_s_p90"]
    table = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle_path), "--input", str(path)])
    assert table.exit_code == 0, table.output
    assert "disaggregated: 1 prefill worker(s) x tp1 dp1, 2 decode worker(s) x tp2 dp1, 8 requests in flight" in \
        table.output
    assert "memory per device" in table.output  # the aggregated row's own table


def test_estimate_input_lists_disaggregated_rows_instead_of_pricing_them_as_aggregated(tmp_path: Path) -> None:
    csv = tmp_path / "mixed.csv"
    csv.write_text("hardware,model,input_len,output_len,concurrency,mode,prefill_workers,decode_workers\n"
                   "h100-sxm,meta-llama/Llama-3.1-8B,1024,128,8,,,\n"
                   "h100-sxm,meta-llama/Llama-3.1-8B,1024,128,8,disaggregated,1,1\n"
                   "h100-sxm,meta-llama/Llama-3.1-8B,1024,128,8,weird,,\n", encoding="utf-8")
    out = tmp_path / "estimates.csv"
    result = CliRunner().invoke(cli, ["estimate", "--input", str(csv), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{csv}:3: a disaggregated row: `surrogate predict --input` prices xPyD deployments" in result.output
    assert f"{csv}:4: mode 'weird' is neither aggregated nor disaggregated" in result.output
    assert "2 of 3 rows" in result.output
    written = pd.read_csv(out)
    assert len(written) == 1 and written["mode"].isna().all()
    strict = CliRunner().invoke(cli, ["estimate", "--input", str(csv), "--strict"])
    assert strict.exit_code == 1
